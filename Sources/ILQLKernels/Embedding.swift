/// GPT-2's input: `out[b, t] = wte[token[b, t]] + wpe[t]`.
public enum Embedding {
    /// out is (rows, features) and tokens (rows), the sequences of `sequences` end to end; wte is
    /// (vocab, features); wpe is (positions ≥ longest length, features). Positions restart at 0
    /// with each sequence. Token ids must be in `0..<vocab` (the model checks them before the
    /// step, so this loop need not).
    public static func forward(
        out: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Int32>,
        wte: UnsafePointer<Float>, wpe: UnsafePointer<Float>, sequences: SequenceLayout, features: Int
    ) {
        for b in 0..<sequences.count {
            let row = sequences.rowStart(b)
            forwardSequence(out: out + row * features, tokens: tokens + row, wte: wte, wpe: wpe,
                            length: sequences.length(b), features: features, firstPosition: 0)
        }
    }

    /// `forward` on `batch` sequences of `length` tokens each; `firstPosition` offsets the
    /// positions, for decoding one token at a time after a cached prefix.
    public static func forward(
        out: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Int32>,
        wte: UnsafePointer<Float>, wpe: UnsafePointer<Float>,
        batch: Int, length: Int, features: Int, firstPosition: Int = 0
    ) {
        for b in 0..<batch {
            forwardSequence(out: out + b * length * features, tokens: tokens + b * length, wte: wte, wpe: wpe,
                            length: length, features: features, firstPosition: firstPosition)
        }
    }

    /// Accumulates `dWte[token] += dOut` and `dWpe[t] += dOut` for every position, laid out as
    /// in `forward(…sequences:…)`.
    public static func backward(
        dWte: UnsafeMutablePointer<Float>, dWpe: UnsafeMutablePointer<Float>,
        dOut: UnsafePointer<Float>, tokens: UnsafePointer<Int32>, sequences: SequenceLayout, features: Int
    ) {
        for b in 0..<sequences.count {
            let row = sequences.rowStart(b)
            backwardSequence(dWte: dWte, dWpe: dWpe, dOut: dOut + row * features, tokens: tokens + row,
                             length: sequences.length(b), features: features)
        }
    }

    /// `backward` on `batch` sequences of `length` tokens each.
    public static func backward(
        dWte: UnsafeMutablePointer<Float>, dWpe: UnsafeMutablePointer<Float>,
        dOut: UnsafePointer<Float>, tokens: UnsafePointer<Int32>,
        batch: Int, length: Int, features: Int
    ) {
        backward(dWte: dWte, dWpe: dWpe, dOut: dOut, tokens: tokens,
                 sequences: SequenceLayout(batch: batch, length: length), features: features)
    }

    @inline(__always)
    static func forwardSequence(
        out: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Int32>, wte: UnsafePointer<Float>,
        wpe: UnsafePointer<Float>, length: Int, features: Int, firstPosition: Int
    ) {
        for t in 0..<length {
            let o = out + t * features
            let tokenRow = wte + Int(tokens[t]) * features
            let positionRow = wpe + (firstPosition + t) * features
            for j in 0..<features { o[j] = tokenRow[j] + positionRow[j] }
        }
    }

    @inline(__always)
    static func backwardSequence(
        dWte: UnsafeMutablePointer<Float>, dWpe: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
        tokens: UnsafePointer<Int32>, length: Int, features: Int
    ) {
        for t in 0..<length {
            let d = dOut + t * features
            let tokenRow = dWte + Int(tokens[t]) * features
            let positionRow = dWpe + t * features
            for j in 0..<features {
                tokenRow[j] += d[j]
                positionRow[j] += d[j]
            }
        }
    }
}
