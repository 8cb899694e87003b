import ILQLModel

/// The order in which samples are visited: a new seeded shuffle every epoch, batches taken in
/// turn (the last batch of an epoch may be smaller, as with a PyTorch `DataLoader` without
/// `drop_last`). Its whole state is a few numbers, so a checkpoint can resume it exactly.
public struct DataOrder: Codable, Equatable, Sendable {
    /// Number of samples.
    public let sampleCount: Int
    /// Epochs started so far (the current one is `epoch - 1`).
    public private(set) var epoch = 0
    /// Position of the next batch in the current permutation.
    public private(set) var position = 0
    /// The current epoch's order.
    public private(set) var permutation: [Int] = []
    /// Draws each epoch's shuffle.
    public private(set) var generator: SeededGenerator

    /// An order over `sampleCount` samples seeded by `seed`.
    public init(sampleCount: Int, seed: UInt64) {
        precondition(sampleCount >= 1)
        self.sampleCount = sampleCount
        generator = SeededGenerator(seed: seed)
    }

    /// Batches per epoch with batches of `batchSize` (the last one may be partial).
    public func batchesPerEpoch(batchSize: Int) -> Int { (sampleCount + batchSize - 1) / batchSize }

    /// The sample indices of the next batch, starting a new epoch when the current one is done.
    public mutating func nextBatch(size: Int) -> [Int] {
        if epoch == 0 || position >= sampleCount {
            permutation = Array(0..<sampleCount)
            // Fisher–Yates, drawing from the seeded generator.
            for i in stride(from: sampleCount - 1, to: 0, by: -1) {
                let j = Int(generator.next() % UInt64(i + 1))
                permutation.swapAt(i, j)
            }
            epoch += 1
            position = 0
        }
        let end = min(position + size, sampleCount)
        defer { position = end }
        return Array(permutation[position..<end])
    }
}
