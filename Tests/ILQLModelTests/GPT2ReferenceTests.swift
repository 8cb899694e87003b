import Foundation
import XCTest
import ILQLKernels
@testable import ILQLModel
import TestSupport

/// The trunk against `transformers`' GPT-2 (fixtures from tools/reference/make_gpt2_fixture.py):
/// the checkpoint saved by `save_pretrained` loads here, and logits, hidden states, loss and every
/// parameter gradient match PyTorch's float64 computation on the same weights.
final class GPT2ReferenceTests: XCTestCase {
    /// Error measure per tensor: max |ours − reference| / max |reference|. Scaling by the tensor's
    /// largest magnitude (instead of element by element) keeps near-zero entries from dominating,
    /// and cannot be made small by a tensor of tiny values since the scale is the tensor's own.
    func scaledError(_ actual: UnsafeBufferPointer<Float>, _ expected: [Float]) -> Double {
        precondition(actual.count == expected.count)
        var worst = 0.0, scale = 0.0
        for (a, e) in zip(actual, expected) {
            worst = max(worst, abs(Double(a) - Double(e)))
            scale = max(scale, abs(Double(e)))
        }
        return worst / max(scale, .leastNormalMagnitude)
    }

    func testHuggingFaceCheckpointReproducesPyTorch() throws {
        let (config, table, parameters) = try GPT2Checkpoint.load(from: Fixtures.url("gpt2-tiny"))
        XCTAssertEqual(config, GPT2Config(layerCount: 2, headCount: 4, width: 32, maxPositions: 16, vocabularySize: 37))
        let reference = try SafetensorsFile(contentsOf: Fixtures.url("gpt2-tiny-reference.safetensors"))
        let tokens = try reference.int32s("tokens"), targets = try reference.int32s("targets")
        let probe = try reference.floats("hidden_probe")
        let batch = 2, length = 8, rows = batch * length, c = config.width, v = config.vocabularySize

        let model = GPT2(config: config)
        let weights = GPT2Tensors(base: parameters.pointer, table: table, config: config)
        let activations = GPT2Activations(config: config, maxBatch: batch, maxLength: length)
        tokens.withUnsafeBufferPointer { model.forward(parameters: weights, activations: activations, tokens: $0.baseAddress!, batch: batch, length: length) }

        // Float32 forward against a float64 reference through 2 blocks: each output is a chain of
        // a few dozen roundings of 6e-8 (measured: 2e-7 of the tensor's scale). 2e-6 leaves room
        // for other OpenBLAS kernels' summation orders; a wrong term shows up at 1e-3 or worse.
        let forwardTolerance = 2e-6
        let logitsError = scaledError(UnsafeBufferPointer(start: activations.logits, count: rows * v), try reference.floats("logits"))
        let hiddenError = scaledError(UnsafeBufferPointer(start: activations.hidden, count: rows * c), try reference.floats("hidden"))
        print("gpt2-tiny logits: scaled max error \(logitsError)")
        print("gpt2-tiny hidden: scaled max error \(hiddenError)")
        XCTAssertLessThan(logitsError, forwardTolerance)
        XCTAssertLessThan(hiddenError, forwardTolerance)

        // The fixture's loss: mean cross-entropy over every position + Σ hidden · probe.
        var losses = [Float](repeating: 0, count: rows), logSumExp = [Float](repeating: 0, count: rows)
        SoftmaxCrossEntropy.forward(losses: &losses, logSumExp: &logSumExp, logits: activations.logits,
                                    targets: targets, rows: rows, classes: v)
        var loss = losses.reduce(0.0) { $0 + Double($1) } / Double(rows)
        for i in 0..<(rows * c) { loss += Double(activations.hidden[i]) * Double(probe[i]) }
        let referenceLoss = Double(try reference.floats("loss")[0])
        print("gpt2-tiny loss: ours \(loss), PyTorch \(referenceLoss)")
        XCTAssertEqual(loss, referenceLoss, accuracy: 1e-5 * abs(referenceLoss))

        let gradients = FloatBuffer(count: table.totalCount)
        let gradientViews = GPT2Tensors(base: gradients.pointer, table: table, config: config)
        var dLogits = [Float](repeating: 0, count: rows * v)
        let dLosses = [Float](repeating: 1 / Float(rows), count: rows)
        SoftmaxCrossEntropy.backward(dLogits: &dLogits, dLosses: dLosses, logits: activations.logits,
                                     logSumExp: logSumExp, targets: targets, rows: rows, classes: v)
        tokens.withUnsafeBufferPointer { t in
            model.backward(parameters: weights, gradients: gradientViews, activations: activations,
                           tokens: t.baseAddress!, batch: batch, length: length, dLogits: dLogits, dHidden: probe)
        }
        // Gradients go through the forward and the whole backward chain, about twice the roundings
        // (measured: ≤ 3.2e-7 of each tensor's scale), hence a bound 2.5× the forward one; a missing
        // or wrong term is orders of magnitude larger.
        let gradientTolerance = 5e-6
        for (spec, offset) in zip(table.specs, table.offsets) {
            let expected = try reference.floats("grad." + spec.checkpointKey)
            let error = scaledError(UnsafeBufferPointer(start: gradients.pointer + offset, count: spec.count), expected)
            print("gpt2-tiny grad \(spec.checkpointKey) \(spec.shape): scaled max error \(error)")
            XCTAssertLessThan(error, gradientTolerance, spec.checkpointKey)
        }
    }
}
