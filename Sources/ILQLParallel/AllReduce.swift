import Dispatch

/// Sums per-worker gradient buffers into the first one, in parallel over chunks and in a fixed
/// order, so the result does not depend on thread timing.
///
/// Each chunk is reduced by a pairwise tree over the buffers (for four: (b0 + b1) + (b2 + b3)),
/// never in order of arrival. With the trainer's micro-batches assigned to workers in contiguous,
/// equal runs (each worker reducing its own run by the same pairwise tree), the total is the same
/// tree over micro-batches whatever the worker count, hence bit-identical results for 1, 2, 4, …
/// workers.
public enum AllReduce {
    /// `buffers[0][r] = pairwise sum over i of buffers[i][r]` for every range r in `chunks`, then
    /// `afterChunk(c, r)` with the chunk's index c (for instance the optimizer step on those
    /// elements, fusing both into one pass over memory).
    ///
    /// The other buffers are overwritten with partial sums. Chunks are processed concurrently with
    /// `DispatchQueue.concurrentPerform`; they must not overlap, and should start on cache lines
    /// (16 floats) so no two threads write one line.
    ///
    /// - Parameter sumSeconds: when given (`chunks.count` slots), receives the time each chunk's
    ///   sum took, not counting `afterChunk`: what a fused pass spends reducing, as opposed to
    ///   what it does with the sum.
    public static func sum(
        _ buffers: [UnsafeMutablePointer<Float>], chunks: [Range<Int>],
        sumSeconds: UnsafeMutablePointer<Double>? = nil,
        afterChunk: ((Int, Range<Int>) -> Void)? = nil
    ) {
        let count = buffers.count
        precondition(count >= 1, "all-reduce needs at least one buffer")
        DispatchQueue.concurrentPerform(iterations: chunks.count) { c in
            let range = chunks[c]
            let started = sumSeconds == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            var stride = 1
            while stride < count {
                var i = 0
                while i + stride < count {
                    let destination = buffers[i], source = buffers[i + stride]
                    for j in range { destination[j] += source[j] }
                    i += 2 * stride
                }
                stride *= 2
            }
            if let sumSeconds { sumSeconds[c] = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 }
            afterChunk?(c, range)
        }
    }

    /// Splits `0..<count` into ranges of at most `size` elements (a multiple of 16 floats, one
    /// cache line, is best).
    public static func chunks(count: Int, size: Int) -> [Range<Int>] {
        precondition(size >= 1)
        return stride(from: 0, to: count, by: size).map { $0..<min($0 + size, count) }
    }
}
