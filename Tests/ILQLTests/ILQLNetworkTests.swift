import Foundation
import XCTest
@testable import ILQL
import TestSupport

/// Properties of the whole network + loss that need no reference: finite differences, padding
/// invariance, and generation with and without the KV cache.
final class ILQLNetworkTests: XCTestCase {
    let gpt2 = GPT2Config(layerCount: 2, headCount: 4, width: 32, maxPositions: 16, vocabularySize: 11)

    func makeNetwork(beta: Float = 0.5, seed: UInt64 = 3) -> (ILQLNetwork, FloatBuffer) {
        var ilql = ILQLConfig()
        ilql.beta = beta
        let network = ILQLNetwork(gpt2: gpt2, ilql: ilql)
        let parameters = FloatBuffer(count: network.table.totalCount)
        var generator = SeededGenerator(seed: seed)
        network.table.initialize(parameters.pointer, generator: &generator)
        // Nudge the targets away from the online heads, as after training, so min_k and
        // target/online mix-ups are visible.
        for (spec, offset) in zip(network.table.specs, network.table.offsets) where !spec.trainable {
            for i in 0..<spec.count { parameters.pointer[offset + i] += Float(generator.nextNormal() * 0.05) }
        }
        return (network, parameters)
    }

    /// A batch with mixed lengths, a dialogue (non-contiguous actions) and a BOS-only prompt.
    func makeBatch() -> ILQLBatch {
        let samples: [[[Int32]]] = [[[1, 2], [3, 4], [5], [6, 7]], [[8], [0]], [[9], [2, 5, 3, 3, 1, 1]]]
        let rewards = ILQLElementBuilder.standardize([1, 0, 0.3])
        return ILQLBatch(zip(samples, rewards).map {
            ILQLElementBuilder.element(
                phrases: ILQLElementBuilder.truncatedPhrases($0.0, eos: 9, bos: 9, maxLength: 16), standardizedReward: $0.1)
        })
    }

    func run(_ network: ILQLNetwork, _ parameters: FloatBuffer, _ batch: ILQLBatch,
             frozen: ILQLNetwork.FrozenConstants? = nil,
             capture: ((ILQLNetwork.FrozenConstants) -> Void)? = nil) -> (Double, [Float]) {
        let gradients = FloatBuffer(count: network.table.totalCount)
        let workspace = network.makeWorkspace(maxBatch: batch.batchSize, maxLength: batch.length)
        let output = network.accumulateGradients(
            parameters: network.tensors(parameters.pointer), gradients: network.tensors(gradients.pointer),
            batch: batch, normalizer: batch.normalizer, workspace: workspace, frozen: frozen, capture: capture)
        return (output.total(network.ilql), gradients.array)
    }

    /// Directional finite differences of the loss, with ILQL.md §3's constants (target Q, V', the
    /// AWAC weight) frozen at their values at θ, against the analytic gradient, for every tensor.
    func testFiniteDifferencesOfTheWholeLoss() {
        let (network, parameters) = makeNetwork()
        // GPT-2's init (std 0.02) leaves the residual stream near 0.03, where LayerNorm magnifies
        // any step about 30-fold and central differences would need steps below float32's
        // resolution. Larger embeddings give a well-conditioned point to differentiate at.
        for key in ["transformer.wte.weight", "transformer.wpe.weight"] {
            let index = network.table.index(ofKey: key)!
            for i in 0..<network.table.specs[index].count { parameters.pointer[network.table.offsets[index] + i] *= 25 }
        }
        let batch = makeBatch()
        var constants: ILQLNetwork.FrozenConstants?
        let (_, gradient) = run(network, parameters, batch, capture: { constants = $0 })
        var generator = SeededGenerator(seed: 11)
        var worst = 0.0
        for (spec, offset) in zip(network.table.specs, network.table.offsets) where spec.trainable {
            // A random unit direction of ±1/√count entries over the whole tensor: every element
            // takes part, and the step's size does not grow with the tensor.
            let entry = 1 / Float(spec.count).squareRoot()
            let direction = (0..<spec.count).map { _ in generator.next() & 1 == 0 ? entry : -entry }
            let analytic = zip(direction, gradient[offset..<(offset + spec.count)]).reduce(0.0) { $0 + Double($1.0 * $1.1) }
            // A step of norm h moves each element by h/√count: small against the activations'
            // scale and the heads' ReLU kinks, yet large enough that float32 rounding of the loss
            // (about 1e-7 of ~5) stays small against the derivative.
            let h: Float = 3e-3
            func loss(_ sign: Float) -> Double {
                let shifted = FloatBuffer(parameters.array)
                for i in 0..<spec.count { shifted.pointer[offset + i] += sign * h * direction[i] }
                return run(network, shifted, batch, frozen: constants).0
            }
            let numeric = (loss(1) - loss(-1)) / (2 * Double(h))
            // Float32 rounding of the loss (~3e-7 of ~5) makes the quotient uncertain by about
            // 7e-5; curvature over the step adds well under 1% of the derivative. A bound of 1%
            // plus 4× that noise holds every correct tensor, and a missing or misweighted term
            // (tens of percent) cannot pass for the tensors whose derivative stands above it.
            let error = abs(numeric - analytic)
            let bound = 0.01 * abs(analytic) + 3e-4
            print("finite differences \(spec.checkpointKey): analytic \(analytic), numeric \(numeric), error \(error) (bound \(bound))")
            worst = max(worst, error / bound)
            XCTAssertLessThan(error, bound, spec.checkpointKey)
        }
        print("finite differences: worst error / bound \(worst)")
    }

    /// Padding is invisible: changing token ids, indices and rewards at padded positions changes
    /// neither the loss nor any gradient (bit for bit).
    func testPaddedPositionsChangeNothing() {
        let (network, parameters) = makeNetwork()
        let batch = makeBatch()
        let (loss, gradient) = run(network, parameters, batch)
        var scrambled = batch
        let a = batch.actionCount
        for b in 0..<batch.batchSize {
            for t in batch.sequenceLengths[b]..<batch.length { scrambled.inputIDs[b * batch.length + t] = Int32((b + t) % 9) }
            for s in 0..<a where batch.mask(b, s) == 0 {
                scrambled.actionsIxs[b * a + s] = Int32((3 * s + b) % (batch.length - 1))
                scrambled.rewards[b * a + s] = 7.5
            }
            for s in 0...a where batch.dones[b * (a + 1) + s] == 0 && (s == 0 || batch.dones[b * (a + 1) + s - 1] == 0) {
                scrambled.statesIxs[b * (a + 1) + s] = Int32((s + 2 * b) % batch.length)
            }
        }
        XCTAssertNotEqual(scrambled, batch)
        let (scrambledLoss, scrambledGradient) = run(network, parameters, scrambled)
        XCTAssertEqual(scrambledLoss, loss)
        XCTAssertEqual(scrambledGradient, gradient)
    }

    /// Decoding with the KV cache gives exactly the tokens of recomputing every position, for
    /// prompts of different lengths, with sampling and with argmax.
    func testGenerationWithCacheMatchesGenerationWithout() {
        let (network, parameters) = makeNetwork(beta: 1)
        let prompts: [[Int32]] = [[1], [2, 3, 4], [5, 6], [9, 0, 1, 2, 3]]
        let generator = ILQLGenerator(network: network, maxBatch: 4, maxLength: 16)
        for temperature: Float in [1, 0.7, 0] {
            var config = GenerationConfig()
            config.maxNewTokens = 9
            config.topK = 6
            config.beta = 1
            config.temperature = temperature
            var first = SeededGenerator(seed: 5), second = SeededGenerator(seed: 5)
            let cached = generator.generate(parameters: network.tensors(parameters.pointer), prompts: prompts,
                                            config: config, eos: 9, generator: &first)
            let recomputed = generator.generate(parameters: network.tensors(parameters.pointer), prompts: prompts,
                                                config: config, eos: 9, generator: &second, useCache: false)
            print("temperature \(temperature): \(cached)")
            XCTAssertEqual(cached, recomputed)
            XCTAssertEqual(first, second, "both paths drew the same random numbers")
            for (prompt, output) in zip(prompts, cached) {
                XCTAssertFalse(output.isEmpty)
                // Stops at EOS or at max_new_tokens (and at the decoder's length).
                XCTAssertLessThanOrEqual(output.count, min(9, 16 - prompt.count))
                if let eos = output.firstIndex(of: 9) { XCTAssertEqual(eos, output.count - 1) }
            }
        }
    }

    /// The same seed gives the same samples; another seed gives others.
    func testGenerationIsSeeded() {
        let (network, parameters) = makeNetwork(beta: 1)
        let generator = ILQLGenerator(network: network, maxBatch: 2, maxLength: 16)
        var config = GenerationConfig()
        config.maxNewTokens = 12
        config.topK = 11
        func sample(_ seed: UInt64) -> [[Int32]] {
            var random = SeededGenerator(seed: seed)
            return generator.generate(parameters: network.tensors(parameters.pointer), prompts: [[1], [2]],
                                      config: config, eos: 10, generator: &random)
        }
        XCTAssertEqual(sample(1), sample(1))
        XCTAssertNotEqual(sample(1), sample(2))
    }
}
