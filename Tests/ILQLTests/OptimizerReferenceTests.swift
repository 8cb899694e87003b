import Foundation
import XCTest
@testable import ILQL
import TestSupport

/// AdamW and the cosine schedule against `torch.optim.AdamW` + `CosineAnnealingLR`
/// (tools/reference/make_optimizer_fixture.py).
final class OptimizerReferenceTests: XCTestCase {
    func testAdamWWithCosineScheduleMatchesPyTorch() throws {
        let file = try SafetensorsFile(contentsOf: Fixtures.url("optimizer.safetensors", target: "ILQLTests"))
        let steps = Int(file.metadata["steps"]!)!
        var config = TrainerConfig(model: GPT2Config(layerCount: 1, headCount: 1, width: 1, maxPositions: 1, vocabularySize: 1))
        config.optimizer.learningRate = Double(file.metadata["lr"]!)!
        config.optimizer.beta1 = Double(file.metadata["beta1"]!)!
        config.optimizer.beta2 = Double(file.metadata["beta2"]!)!
        config.optimizer.epsilon = Double(file.metadata["eps"]!)!
        config.optimizer.weightDecay = Double(file.metadata["weight_decay"]!)!
        // The fixture's second tensor is in a group without decay: the "matrices only" policy.
        config.optimizer.decayMatricesOnly = true
        config.scheduler.tMax = Int(file.metadata["T_max"]!)!
        config.scheduler.etaMin = Double(file.metadata["eta_min"]!)!
        let rates = try file.withRawBytes("learning_rates") { Array($0.bindMemory(to: Double.self)) }
        for (name, decays) in [("decayed", true), ("undecayed", false)] {
            let parameters = FloatBuffer(try file.floats("\(name).initial"))
            let m = FloatBuffer(count: parameters.count), v = FloatBuffer(count: parameters.count)
            var worst = 0.0
            for step in 1...steps {
                let rate = config.scheduler.learningRate(base: config.optimizer.learningRate, step: step - 1)
                XCTAssertEqual(rate, rates[step - 1], accuracy: 1e-12 * rates[step - 1], "learning rate at step \(step)")
                let gradient = FloatBuffer(try file.floats("\(name).grad.\(step)"))
                AdamW.update(parameters: parameters.pointer, gradients: gradient.pointer, firstMoment: m.pointer,
                             secondMoment: v.pointer, count: parameters.count, step: step,
                             hyperparameters: config.adamW(learningRate: rate, decays: decays))
                let expected = try file.floats("\(name).after.\(step)")
                for (a, e) in zip(parameters.array, expected) {
                    worst = max(worst, abs(Double(a) - Double(e)) / max(abs(Double(e)), 1e-3))
                }
            }
            print("AdamW + cosine schedule, \(name) tensor, \(steps) steps: max relative error \(worst)")
            // Same float32 operations in the same order as PyTorch's single-tensor AdamW, with the
            // scalars formed in double precision as Python does: agreement to a few roundings.
            XCTAssertLessThan(worst, 4 * 6e-8, name)
        }
    }
}
