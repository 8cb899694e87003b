extension ILQLLossOutput {
    /// Doubles `pack` writes for `qHeadCount` Q heads: four loss terms, then six sums per statistic.
    public static func packedCount(qHeadCount: Int) -> Int { 4 + 6 * (qHeadCount + 2) }

    /// Writes every field into `destination[offset...]`, for sending to other processes.
    public func pack(into destination: inout [Double], at offset: Int) {
        var cursor = offset
        func put(_ value: Double) { destination[cursor] = value; cursor += 1 }
        for term in [lossQ, lossV, lossCQL, lossAWAC] { put(term) }
        for statistic in [values, awacWeights] + qValues {
            for field in [statistic.weightedSum, statistic.weightedSquares, statistic.doublyWeightedSum,
                          statistic.squaredWeights, statistic.minimum, statistic.maximum] { put(field) }
        }
    }

    /// The output `pack` wrote at `offset`.
    public init(unpacking source: [Double], at offset: Int, qHeadCount: Int) {
        self.init(qHeadCount: qHeadCount)
        var cursor = offset
        func take() -> Double { defer { cursor += 1 }; return source[cursor] }
        lossQ = take(); lossV = take(); lossCQL = take(); lossAWAC = take()
        func statistic() -> MaskedStatistic {
            var s = MaskedStatistic()
            s.weightedSum = take(); s.weightedSquares = take(); s.doublyWeightedSum = take()
            s.squaredWeights = take(); s.minimum = take(); s.maximum = take()
            return s
        }
        values = statistic()
        awacWeights = statistic()
        for k in 0..<qHeadCount { qValues[k] = statistic() }
    }
}
