/// How one batch is cut into micro-batches and spread over workers.
///
/// The composition depends only on the batch and the micro-batch count, never on the worker
/// count: sequences are sorted by length (longest first, ties by position) and dealt out in turn,
/// so micro-batches have near-equal token counts and little padding. Workers then take
/// contiguous runs: equal runs when the worker count divides the micro-batch count (which makes
/// the reduction tree independent of the worker count), otherwise runs balanced by tokens.
public struct MicroBatchPlan: Equatable, Sendable {
    /// Positions in the batch of each micro-batch's sequences.
    public let microBatches: [[Int]]
    /// The micro-batches each worker computes, as a range of indices into `microBatches`.
    public let runs: [Range<Int>]

    /// Plans a batch whose sequences have `lengths` tokens.
    ///
    /// - Parameters:
    ///   - microBatchCount: wanted micro-batches (fewer when the batch has fewer sequences).
    ///   - workers: wanted workers (fewer are used when there are fewer micro-batches).
    public init(lengths: [Int], microBatchCount: Int, workers: Int) {
        precondition(!lengths.isEmpty && microBatchCount >= 1 && workers >= 1)
        let m = min(microBatchCount, lengths.count)
        let order = lengths.indices.sorted { lengths[$0] != lengths[$1] ? lengths[$0] > lengths[$1] : $0 < $1 }
        var groups = [[Int]](repeating: [], count: m)
        for (rank, position) in order.enumerated() { groups[rank % m].append(position) }
        microBatches = groups
        let w = min(workers, m)
        if m % w == 0 {
            let run = m / w
            runs = (0..<w).map { ($0 * run)..<(($0 + 1) * run) }
        } else {
            // Contiguous runs whose token counts approach total / w: cut where the running total
            // passes each multiple of it, keeping at least one micro-batch per worker.
            let tokens = groups.map { $0.reduce(0) { $0 + lengths[$1] } }
            let total = Double(tokens.reduce(0, +))
            var cuts = [0]
            var running = 0
            for (index, count) in tokens.enumerated().dropLast() {
                running += count
                let remainingWorkers = w - cuts.count
                let remainingBatches = m - (index + 1)
                if remainingWorkers > 0,
                   Double(running) >= total * Double(cuts.count) / Double(w) || remainingBatches == remainingWorkers {
                    cuts.append(index + 1)
                }
            }
            cuts.append(m)
            runs = zip(cuts, cuts.dropFirst()).map { $0..<$1 }
        }
    }

    /// Workers that receive work.
    public var workerCount: Int { runs.count }
}
