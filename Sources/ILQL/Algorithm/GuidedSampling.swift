#if canImport(Glibc)
import Glibc
#endif
import ILQLModel

/// Settings of guided generation: trlx's `gen_kwargs`.
public struct GenerationConfig: Codable, Equatable, Sendable {
    /// Most tokens generated after the prompt.
    public var maxNewTokens = 56
    /// Keep only the k best-scoring tokens (k ≥ vocabulary: keep all).
    public var topK = 20
    /// Weight of the advantage `Q − V` added to the log-probabilities.
    public var beta: Float = 1
    /// Sampling temperature; 0 picks the best-scoring token.
    public var temperature: Float = 1

    /// trlx's defaults.
    public init() {}

    enum CodingKeys: String, CodingKey {
        case maxNewTokens = "max_new_tokens", topK = "top_k", beta, temperature
    }
}

/// One step of ILQL's guided decoding (ILQL.md §5) on one sequence's row of outputs.
public enum GuidedSampling {
    /// `score = log_softmax(logits) + beta · (q − v)`, then entries below the k-th largest score
    /// become −∞. Writes `scores` (V).
    ///
    /// - Parameters:
    ///   - targetQ: the minimum over target Q heads at this position (V values).
    ///   - value: the value head at this position.
    public static func scores(
        into scores: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>, targetQ: UnsafePointer<Float>,
        value: Float, beta: Float, topK: Int, vocabularySize v: Int
    ) {
        var maximum = -Float.infinity
        for j in 0..<v { maximum = max(maximum, logits[j]) }
        var sum = 0.0
        for j in 0..<v { sum += Double(expf(logits[j] - maximum)) }
        let logNormalizer = maximum + Float(log(sum))
        for j in 0..<v { scores[j] = logits[j] - logNormalizer + beta * (targetQ[j] - value) }
        guard topK < v else { return }
        // The k-th largest score; entries strictly below it are dropped (ties are kept, as
        // trlx's `topk_mask` does).
        var sorted = (0..<v).map { scores[$0] }
        sorted.sort(by: >)
        let threshold = sorted[max(topK, 1) - 1]
        for j in 0..<v where scores[j] < threshold { scores[j] = -.infinity }
    }

    /// Writes `softmax(scores / temperature)` into `probabilities` (−∞ scores get probability 0).
    public static func probabilities(
        into probabilities: UnsafeMutablePointer<Float>, scores: UnsafePointer<Float>, temperature: Float,
        vocabularySize v: Int
    ) {
        var maximum = -Float.infinity
        for j in 0..<v { maximum = max(maximum, scores[j] / temperature) }
        var sum = 0.0
        for j in 0..<v {
            let p = scores[j] == -.infinity ? 0 : Double(expf(scores[j] / temperature - maximum))
            probabilities[j] = Float(p)
            sum += p
        }
        for j in 0..<v { probabilities[j] = Float(Double(probabilities[j]) / sum) }
    }

    /// Picks the next token from `scores`: the first best one for temperature 0, otherwise a draw
    /// from `softmax(scores / temperature)` using one uniform number of `generator`.
    public static func choose(
        scores: UnsafePointer<Float>, temperature: Float, vocabularySize v: Int,
        probabilityScratch: UnsafeMutablePointer<Float>, generator: inout SeededGenerator
    ) -> Int32 {
        if temperature == 0 {
            var best = 0
            for j in 1..<max(v, 1) where scores[j] > scores[best] { best = j }
            return Int32(best)
        }
        probabilities(into: probabilityScratch, scores: scores, temperature: temperature, vocabularySize: v)
        let u = generator.nextUnit()
        var cumulative = 0.0
        var last = 0
        for j in 0..<v where probabilityScratch[j] > 0 {
            cumulative += Double(probabilityScratch[j])
            last = j
            if u < cumulative { return Int32(j) }
        }
        // Rounding can leave the cumulative sum a hair below 1: the last possible token.
        return Int32(last)
    }
}
