import ILQLKernels

/// Incremental GPT-2 inference with a key/value cache: one new token per sequence per call.
///
/// Each sequence has its own position, so prompts of different lengths decode together. The
/// cache holds, per block, the keys and values of every position seen so far; a step computes
/// only the new position's rows (M = batch in every matmul) and attends over the cache.
public final class GPT2Decoder {
    /// The model's shape.
    public let config: GPT2Config
    /// Number of sequences decoded together.
    public let batch: Int
    /// Longest sequence the cache holds (≤ n_positions).
    public let maxLength: Int
    /// Next position of each sequence (the number of tokens it has seen).
    public private(set) var positions: [Int]

    private let storage: FloatBuffer
    // Per block: keys and values (B, maxLength, C).
    private let keys: [UnsafeMutablePointer<Float>], values: [UnsafeMutablePointer<Float>]
    // One row per sequence for the token being processed.
    private let x, norm, qkv, attention, projected, fc, statsMean, statsRstd, scores: UnsafeMutablePointer<Float>
    /// (B, C) final hidden state of the last token given to `step`.
    public let hidden: UnsafeMutablePointer<Float>
    /// (B, V) logits of the last token given to `step`.
    public let logits: UnsafeMutablePointer<Float>

    /// A decoder for `batch` sequences of up to `maxLength` tokens (prompt plus generated).
    public init(config: GPT2Config, batch: Int, maxLength: Int) {
        precondition(batch >= 1 && maxLength >= 1 && maxLength <= config.maxPositions,
                     "decoder needs batch ≥ 1 and 1 ≤ maxLength ≤ n_positions")
        self.config = config
        self.batch = batch
        self.maxLength = maxLength
        positions = Array(repeating: 0, count: batch)
        let views: Views
        (storage, views) = ArenaCarver.allocate { Views(config: config, batch: batch, maxLength: maxLength, carver: &$0) }
        keys = views.keys
        values = views.values
        (x, norm, qkv, attention, projected, fc) = (views.x, views.norm, views.qkv, views.attention, views.projected, views.fc)
        (statsMean, statsRstd, scores, hidden, logits) = (views.statsMean, views.statsRstd, views.scores, views.hidden, views.logits)
    }

    /// Every view, in arena order: per block the key and value caches (B, maxLength, C), then one
    /// row per sequence for the token being processed.
    private struct Views {
        var keys: [UnsafeMutablePointer<Float>], values: [UnsafeMutablePointer<Float>]
        var x, norm, qkv, attention, projected, fc, statsMean, statsRstd, scores, hidden, logits: UnsafeMutablePointer<Float>

        init(config: GPT2Config, batch: Int, maxLength: Int, carver: inout ArenaCarver) {
            let c = config.width
            keys = (0..<config.layerCount).map { _ in carver.take(batch * maxLength * c) }
            values = (0..<config.layerCount).map { _ in carver.take(batch * maxLength * c) }
            x = carver.take(batch * c)
            norm = carver.take(batch * c)
            qkv = carver.take(batch * 3 * c)
            attention = carver.take(batch * c)
            projected = carver.take(batch * c)
            fc = carver.take(batch * 4 * c)
            statsMean = carver.take(batch)
            statsRstd = carver.take(batch)
            scores = carver.take(batch * maxLength)
            hidden = carver.take(batch * c)
            logits = carver.take(batch * config.vocabularySize)
        }
    }

    /// Forgets every sequence (positions back to 0); the cache is overwritten as tokens arrive.
    public func reset() {
        for b in 0..<batch { positions[b] = 0 }
    }

    /// Feeds one token per sequence (`tokens` has `batch` ids) at each sequence's next position,
    /// fills `hidden` and `logits` for it, and advances the positions. Sequences listed in
    /// `active` (all if nil) are processed; the others keep their position and cache.
    public func step(parameters p: GPT2Tensors, tokens: UnsafePointer<Int32>, active: [Bool]? = nil) {
        let c = config.width
        for b in 0..<batch where active?[b] ?? true {
            precondition(positions[b] < maxLength, "sequence \(b) is longer than the decoder's maxLength \(maxLength)")
            Embedding.forward(out: x + b * c, tokens: tokens + b, wte: p.tokenEmbedding, wpe: p.positionEmbedding,
                              batch: 1, length: 1, features: c, firstPosition: positions[b])
        }
        // Inactive rows are computed too (M = batch keeps one sgemm per matmul) but never written
        // into the cache, so they change nothing.
        for (l, w) in p.blocks.enumerated() {
            LayerNorm.forward(out: norm, mean: statsMean, rstd: statsRstd, x: x, weight: w.norm1Weight,
                              bias: w.norm1Bias, rows: batch, features: c, epsilon: config.layerNormEpsilon)
            Matmul.forward(out: qkv, input: norm, weight: w.qkvWeight, bias: w.qkvBias,
                           rows: batch, inFeatures: c, outFeatures: 3 * c, layout: .inputMajor)
            for b in 0..<batch where active?[b] ?? true {
                let position = positions[b]
                let cachedKeys = keys[l] + b * maxLength * c, cachedValues = values[l] + b * maxLength * c
                (cachedKeys + position * c).update(from: qkv + b * 3 * c + c, count: c)
                (cachedValues + position * c).update(from: qkv + b * 3 * c + 2 * c, count: c)
                Attention.forwardCached(out: attention + b * c, scores: scores + b * maxLength,
                                        query: qkv + b * 3 * c, keys: cachedKeys, values: cachedValues,
                                        visible: position + 1, features: c, heads: config.headCount)
            }
            Matmul.forward(out: projected, input: attention, weight: w.attentionProjectionWeight,
                           bias: w.attentionProjectionBias, rows: batch, inFeatures: c, outFeatures: c,
                           layout: .inputMajor)
            Residual.forward(out: x, a: x, b: projected, count: batch * c)
            LayerNorm.forward(out: norm, mean: statsMean, rstd: statsRstd, x: x, weight: w.norm2Weight,
                              bias: w.norm2Bias, rows: batch, features: c, epsilon: config.layerNormEpsilon)
            Matmul.forward(out: fc, input: norm, weight: w.fcWeight, bias: w.fcBias,
                           rows: batch, inFeatures: c, outFeatures: 4 * c, layout: .inputMajor)
            GELU.forward(out: fc, x: fc, count: batch * 4 * c)
            Matmul.forward(out: projected, input: fc, weight: w.fcProjectionWeight, bias: w.fcProjectionBias,
                           rows: batch, inFeatures: 4 * c, outFeatures: c, layout: .inputMajor)
            Residual.forward(out: x, a: x, b: projected, count: batch * c)
        }
        LayerNorm.forward(out: hidden, mean: statsMean, rstd: statsRstd, x: x, weight: p.finalNormWeight,
                          bias: p.finalNormBias, rows: batch, features: c, epsilon: config.layerNormEpsilon)
        Matmul.forward(out: logits, input: hidden, weight: p.tokenEmbedding, bias: nil,
                       rows: batch, inFeatures: c, outFeatures: config.vocabularySize, layout: .outputMajor)
        for b in 0..<batch where active?[b] ?? true { positions[b] += 1 }
    }
}
