/// Running sums for trlx's masked tensor statistics (`get_tensor_stats`): over the entries of a
/// batch with mask m and normaliser N, `mean = Σ x·m / N`, `std = sqrt(Σ ((x − mean)·m)² / N)`,
/// min and max over unmasked entries. Sums are kept in Double and can be merged, so workers that
/// each see part of a batch produce the whole batch's statistic.
public struct MaskedStatistic: Sendable, Equatable {
    /// Σ x·m.
    public var weightedSum = 0.0
    /// Σ x²·m².
    public var weightedSquares = 0.0
    /// Σ x·m².
    public var doublyWeightedSum = 0.0
    /// Σ m².
    public var squaredWeights = 0.0
    /// Smallest and largest x over entries with m ≠ 0 (±∞ when there are none).
    public var minimum = Double.infinity, maximum = -Double.infinity

    /// An empty statistic.
    public init() {}

    /// Adds entry x with mask weight m (entries with m = 0 only count towards nothing).
    public mutating func add(_ x: Double, weight m: Double) {
        guard m != 0 else { return }
        weightedSum += x * m
        weightedSquares += x * x * m * m
        doublyWeightedSum += x * m * m
        squaredWeights += m * m
        minimum = Swift.min(minimum, x)
        maximum = Swift.max(maximum, x)
    }

    /// Combines the sums of another part of the same batch.
    public mutating func merge(_ other: MaskedStatistic) {
        weightedSum += other.weightedSum
        weightedSquares += other.weightedSquares
        doublyWeightedSum += other.doublyWeightedSum
        squaredWeights += other.squaredWeights
        minimum = Swift.min(minimum, other.minimum)
        maximum = Swift.max(maximum, other.maximum)
    }

    /// `mean`, `min`, `max`, `std` as trlx logs them, for normaliser `n`. With no unmasked entry,
    /// all are 0 (trlx's value for an empty tensor), never ±∞.
    public func summary(normalizer n: Double) -> [String: Double] {
        guard squaredWeights > 0 else { return ["mean": 0, "min": 0, "max": 0, "std": 0] }
        let mean = weightedSum / n
        // Σ ((x − mean)·m)² expanded, so parts of the batch can be summed separately.
        let squares = weightedSquares - 2 * mean * doublyWeightedSum + mean * mean * squaredWeights
        return ["mean": mean, "min": minimum, "max": maximum, "std": (Swift.max(squares, 0) / n).squareRoot()]
    }
}
