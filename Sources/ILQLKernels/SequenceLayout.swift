/// Where the sequences of a micro-batch lie among the rows of its activations: end to end, with
/// no padding between them. Sequence `b` occupies rows `rowStart(b) ..< rowStart(b) + length(b)`.
///
/// Packing sequences of different lengths this way means positions past a sequence's end are
/// never stored or computed: every row-wise kernel (LayerNorm, the matmuls, GELU) runs over
/// `rowCount` rows, and only the kernels that look across positions (the embedding's positions,
/// causal attention) read the boundaries. Right padding never changed a real position's result
/// (the causal mask hides later positions), so a packed batch computes the same values as a
/// padded one, with less work. Equal lengths give the usual (batch, length) row-major layout.
public struct SequenceLayout: Equatable, Sendable {
    /// The row where each sequence starts, followed by the total row count (`count + 1` entries).
    public let rowStarts: [Int]
    /// Σ length² over the preceding sequences, for each sequence, followed by the total: where
    /// its length × length attention blocks start in a probabilities buffer, per head.
    public let squareStarts: [Int]

    /// Sequences of these lengths (each at least 1), packed in order.
    public init(lengths: some Sequence<Int>) {
        var rows = [0], squares = [0]
        for length in lengths {
            precondition(length >= 1, "a sequence needs at least one position")
            rows.append(rows[rows.count - 1] + length)
            squares.append(squares[squares.count - 1] + length * length)
        }
        rowStarts = rows
        squareStarts = squares
    }

    /// `batch` sequences of `length` positions each: the (batch, length) layout.
    public init(batch: Int, length: Int) {
        self.init(lengths: repeatElement(length, count: batch))
    }

    /// Number of sequences.
    @inlinable public var count: Int { rowStarts.count - 1 }
    /// Rows of all sequences together.
    @inlinable public var rowCount: Int { rowStarts[rowStarts.count - 1] }
    /// First row of sequence `b`.
    @inlinable public func rowStart(_ b: Int) -> Int { rowStarts[b] }
    /// Positions of sequence `b`.
    @inlinable public func length(_ b: Int) -> Int { rowStarts[b + 1] - rowStarts[b] }
    /// The longest sequence's length (0 for no sequences).
    public var longest: Int { (0..<count).map(length).max() ?? 0 }
    /// Floats a probabilities buffer needs for `heads` heads: Σ heads · length².
    public func probabilityCount(heads: Int) -> Int { heads * squareStarts[count] }
    /// Where sequence `b`'s first head's attention block starts in a probabilities buffer.
    @inlinable public func probabilityStart(_ b: Int, heads: Int) -> Int { heads * squareStarts[b] }
}
