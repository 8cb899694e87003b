import ILQLKernels
import ILQLModel

/// Guided generation for a batch of prompts (ILQL.md §5): per new token, the language model's
/// log-probabilities are shifted by `beta · (min_k targetQ_k − V)` at the last position, cut to
/// the top k and sampled.
///
/// Two paths give the same tokens: the KV-cache decoder (one position per step), and a full
/// forward over the whole sequence at every step (the reference the cache is tested against).
public final class ILQLGenerator {
    /// The network whose heads guide the sampling.
    public let network: ILQLNetwork
    /// Most sequences per call.
    public let maxBatch: Int
    /// Longest prompt + generated sequence.
    public let maxLength: Int

    private let decoder: GPT2Decoder
    private let storage: FloatBuffer
    private let targetHidden, targetRows, targetScratch, valueHidden, values, scores, probabilities: UnsafeMutablePointer<Float>

    /// A generator for up to `maxBatch` sequences of up to `maxLength` tokens in all.
    public init(network: ILQLNetwork, maxBatch: Int, maxLength: Int) {
        self.network = network
        self.maxBatch = maxBatch
        self.maxLength = maxLength
        decoder = GPT2Decoder(config: network.gpt2, batch: maxBatch, maxLength: maxLength)
        let d = network.gpt2.width, v = network.gpt2.vocabularySize
        let views: (targetHidden: UnsafeMutablePointer<Float>, targetRows: UnsafeMutablePointer<Float>,
                    targetScratch: UnsafeMutablePointer<Float>, valueHidden: UnsafeMutablePointer<Float>,
                    values: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>,
                    probabilities: UnsafeMutablePointer<Float>)
        (storage, views) = ArenaCarver.allocate { carver in
            (carver.take(maxBatch * 2 * d), carver.take(maxBatch * v), carver.take(maxBatch * v),
             carver.take(maxBatch * 2 * d), carver.take(maxBatch), carver.take(v), carver.take(v))
        }
        (targetHidden, targetRows, targetScratch, valueHidden) = (views.targetHidden, views.targetRows,
                                                                  views.targetScratch, views.valueHidden)
        (values, scores, probabilities) = (views.values, views.scores, views.probabilities)
    }

    /// Generates a continuation of each prompt; returns the new tokens of each, ending with EOS
    /// when one was emitted (a finished sequence stops there).
    ///
    /// - Parameters:
    ///   - prompts: at most `maxBatch` non-empty token sequences.
    ///   - eos: the end-of-sequence token id.
    ///   - useCache: decode with the KV cache (default) or recompute the whole sequence each step.
    ///   - generator: the random source. Each sequence gets its own stream, seeded from one draw
    ///     of `generator` per prompt, and takes one uniform number per token from it: a seed fixes
    ///     every sample whatever order the sequences are decoded in (cached or not, batched or not).
    public func generate(
        parameters p: ILQLTensors, prompts: [[Int32]], config: GenerationConfig, eos: Int32,
        generator: inout SeededGenerator, useCache: Bool = true
    ) -> [[Int32]] {
        precondition(prompts.count <= maxBatch && prompts.allSatisfy { !$0.isEmpty }, "1…maxBatch non-empty prompts")
        let b = prompts.count, v = network.gpt2.vocabularySize, d = network.gpt2.width
        let maxNew = min(config.maxNewTokens, maxLength - (prompts.map(\.count).max() ?? 0))
        var sequences = prompts
        var generated = [[Int32]](repeating: [], count: b)
        var finished = [Bool](repeating: maxNew <= 0, count: b)
        // The decoder consumes each sequence's tokens in order; `fed` counts those it has seen.
        var fed = [Int](repeating: 0, count: b)
        if useCache { decoder.reset() }
        var tokens = [Int32](repeating: 0, count: maxBatch)
        var active = [Bool](repeating: false, count: maxBatch)
        var fullForward: (activations: GPT2Activations, model: GPT2)?
        if !useCache {
            fullForward = (GPT2Activations(config: network.gpt2, maxBatch: b, maxLength: maxLength), GPT2(config: network.gpt2))
        }
        var streams = (0..<b).map { _ in SeededGenerator(seed: generator.next()) }
        var hiddenRows = [UnsafePointer<Float>?](repeating: nil, count: b)
        var logitRows = [UnsafePointer<Float>?](repeating: nil, count: b)

        while finished.contains(false) {
            // Feed the next token of every unfinished sequence.
            if useCache {
                for i in 0..<maxBatch {
                    active[i] = i < b && !finished[i]
                    tokens[i] = active[i] ? sequences[i][fed[i]] : 0
                }
                decoder.step(parameters: p.trunk, tokens: tokens, active: active)
                for i in 0..<b where !finished[i] {
                    fed[i] += 1
                    hiddenRows[i] = UnsafePointer(decoder.hidden + i * d)
                    logitRows[i] = UnsafePointer(decoder.logits + i * v)
                }
            } else if let (activations, model) = fullForward {
                // Recompute every position; each sequence reads its own last position (right
                // padding is invisible to earlier positions under the causal mask).
                let length = sequences.map(\.count).max()!
                var padded = [Int32](repeating: 0, count: b * length)
                for i in 0..<b { for (j, token) in sequences[i].enumerated() { padded[i * length + j] = token } }
                model.forward(parameters: p.trunk, activations: activations, tokens: padded, batch: b, length: length)
                for i in 0..<b where !finished[i] {
                    fed[i] = sequences[i].count
                    let row = i * length + sequences[i].count - 1
                    hiddenRows[i] = UnsafePointer(activations.hidden + row * d)
                    logitRows[i] = UnsafePointer(activations.logits + row * v)
                }
            }
            // Sequences still inside their prompt sample nothing yet.
            for i in 0..<b where !finished[i] && fed[i] == sequences[i].count {
                let token = nextToken(parameters: p, hidden: hiddenRows[i]!, logits: logitRows[i]!, config: config,
                                      generator: &streams[i])
                sequences[i].append(token)
                generated[i].append(token)
                if token == eos || generated[i].count >= maxNew { finished[i] = true }
            }
        }
        return generated
    }

    /// Scores one position and picks its token.
    private func nextToken(
        parameters p: ILQLTensors, hidden: UnsafePointer<Float>, logits: UnsafePointer<Float>,
        config: GenerationConfig, generator: inout SeededGenerator
    ) -> Int32 {
        let d = network.gpt2.width, v = network.gpt2.vocabularySize
        for (k, head) in p.heads.targetQ.enumerated() {
            head.hiddenForward(hidden: targetHidden, input: hidden, rows: 1, width: d)
            let out = k == 0 ? targetRows : targetScratch
            head.outputForward(out: out, hidden: targetHidden, rows: 1, width: d)
            if k > 0 { for j in 0..<v { targetRows[j] = min(targetRows[j], out[j]) } }
        }
        p.heads.value.hiddenForward(hidden: valueHidden, input: hidden, rows: 1, width: d)
        p.heads.value.outputForward(out: values, hidden: valueHidden, rows: 1, width: d)
        GuidedSampling.scores(into: scores, logits: logits, targetQ: targetRows, value: values[0], beta: config.beta,
                              topK: config.topK, vocabularySize: v)
        return GuidedSampling.choose(scores: scores, temperature: config.temperature, vocabularySize: v,
                                     probabilityScratch: probabilities, generator: &generator)
    }
}
