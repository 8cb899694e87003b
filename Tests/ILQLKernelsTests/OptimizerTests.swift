// OptimizerTests.swift: AdamW against a Double re-implementation of PyTorch's documented
// algorithm over several steps, and Polyak averaging (exact copy at α = 1, no change at α = 0).

import Foundation
import ILQLKernels
import TestSupport
import XCTest

final class OptimizerTests: XCTestCase {
    private let u = floatUnitRoundoff

    // MARK: - AdamW

    /// Five steps (t = 1 … 5) with weight decay. Element 0 always has gradient 0 (only the decay
    /// acts), element 1 tiny gradients (√v̂ ≈ 1e-6, so ε = 1e-8 is not negligible), element 2
    /// huge ones (1e3), the rest random of mixed sign (m can cancel towards 0).
    func testAdamWMatchesPyTorchAlgorithmOverFiveSteps() {
        var random = SeededRandom(seed: 801)
        let count = 13
        let h = AdamW.Hyperparameters(learningRate: 1e-2, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.1)
        let initial = random.floats(count)
        let parameters = FloatBuffer(initial), m = FloatBuffer(count: count), v = FloatBuffer(count: count)
        // The reference gets the very same Float hyperparameters, widened exactly.
        var reference = Naive.AdamW(parameters: initial.asDoubles, m: .init(repeating: 0, count: count),
                                    v: .init(repeating: 0, count: count), learningRate: Double(h.learningRate),
                                    beta1: Double(h.beta1), beta2: Double(h.beta2), epsilon: Double(h.epsilon),
                                    weightDecay: Double(h.weightDecay))
        var bounds = AdamWBounds(count: count)
        for t in 1 ... 5 {
            var g = random.floats(count)
            g[0] = 0
            g[1] *= 1e-6
            g[2] *= 1e3
            let gradients = FloatBuffer(g)
            AdamW.update(parameters: parameters.pointer, gradients: gradients.pointer, firstMoment: m.pointer,
                         secondMoment: v.pointer, count: count, step: t, hyperparameters: h)
            let before = reference
            reference.step(gradients: g.asDoubles, t: t)
            bounds.step(before: before, after: reference, gradients: g.asDoubles, t: t)
            assertWithinBound(v.array, reference.v, bound: bounds.v, "AdamW v (count \(count), step \(t))")
            assertWithinBound(m.array, reference.m, bound: bounds.m, "AdamW m (count \(count), step \(t))")
            assertWithinBound(parameters.array, reference.parameters, bound: bounds.parameters,
                              "AdamW parameters (count \(count), step \(t))")
        }
        XCTAssertEqual(m.array[0], 0)
        XCTAssertEqual(v.array[0], 0)
    }

    /// At t = 1 the bias correction makes the update ±lr·g/(|g| + ε): a sign step of size lr.
    func testAdamWFirstStepIsASignStep() {
        let h = AdamW.Hyperparameters(learningRate: 0.5, weightDecay: 0)
        let parameters = FloatBuffer([1, 1, 1]), g = FloatBuffer([3, -0.25, 0])
        let m = FloatBuffer(count: 3), v = FloatBuffer(count: 3)
        AdamW.update(parameters: parameters.pointer, gradients: g.pointer, firstMoment: m.pointer,
                     secondMoment: v.pointer, count: 3, step: 1, hyperparameters: h)
        // 1 − 0.5·g/(|g| + 1e-8): ε shifts it by ~0.5·1e-8/|g|; the Float bias corrections and
        // moments round each of ~8 operations, so the sign step is 0.5 up to ~8u.
        let result = parameters.array
        XCTAssertEqual(result[0], 0.5, accuracy: 8 * Float(u))
        XCTAssertEqual(result[1], 1.5, accuracy: 8 * Float(u))
        XCTAssertEqual(result[2], 1, "a zero gradient with zero moments must not move the parameter")
    }

    /// Late steps: β2ᵗ at t = 10⁴ and 10⁶ must not lose the bias correction's digits.
    func testAdamWAtLargeStepCounts() {
        var random = SeededRandom(seed: 802)
        let count = 7
        let h = AdamW.Hyperparameters(learningRate: 3e-4, weightDecay: 0.01)
        for step in [10, 10_000, 1_000_000] {
            let p0 = random.floats(count), m0 = random.floats(count, in: -0.1 ... 0.1)
            let v0 = random.floats(count, in: 1e-4 ... 1e-2), g = random.floats(count)
            let parameters = FloatBuffer(p0), m = FloatBuffer(m0), v = FloatBuffer(v0), gradients = FloatBuffer(g)
            AdamW.update(parameters: parameters.pointer, gradients: gradients.pointer, firstMoment: m.pointer,
                         secondMoment: v.pointer, count: count, step: step, hyperparameters: h)
            var reference = Naive.AdamW(parameters: p0.asDoubles, m: m0.asDoubles, v: v0.asDoubles,
                                        learningRate: Double(h.learningRate), beta1: Double(h.beta1), beta2: Double(h.beta2),
                                        epsilon: Double(h.epsilon), weightDecay: Double(h.weightDecay))
            let before = reference
            reference.step(gradients: g.asDoubles, t: step)
            var bounds = AdamWBounds(count: count)
            bounds.step(before: before, after: reference, gradients: g.asDoubles, t: step)
            assertWithinBound(parameters.array, reference.parameters, bound: bounds.parameters,
                              "AdamW parameters (count \(count), step \(step))")
            assertWithinBound(m.array, reference.m, bound: bounds.m, "AdamW m (count \(count), step \(step))")
            assertWithinBound(v.array, reference.v, bound: bounds.v, "AdamW v (count \(count), step \(step))")
        }
    }

    /// Elementwise bounds on |Float state − Double reference state|, stepped alongside the
    /// reference: each step scales the carried error by its coefficient and adds one u per
    /// rounding of the kernel's expression (named below) at the magnitude of its operands.
    private struct AdamWBounds {
        var m: [Double], v: [Double], parameters: [Double]

        init(count: Int) {
            m = .init(repeating: 0, count: count)
            v = m
            parameters = m
        }

        mutating func step(before: Naive.AdamW, after: Naive.AdamW, gradients g: [Double], t: Int) {
            let u = floatUnitRoundoff
            let beta1 = before.beta1, beta2 = before.beta2, lr = before.learningRate
            let correction1 = 1 - Foundation.pow(beta1, Double(t)), correction2 = 1 - Foundation.pow(beta2, Double(t))
            let inverseRoot = 1 / correction2.squareRoot(), stepSize = lr / correction1
            let decay = 1 - lr * before.weightDecay
            for i in m.indices {
                // m = β1·m + (1−β1)·g: two products and a sum (1 − β1 is exact: Sterbenz).
                m[i] = beta1 * m[i] + u * (beta1 * abs(before.m[i]) + (1 - beta1) * abs(g[i]) + abs(after.m[i]))
                // v = β2·v + ((1−β2)·g)·g: three products and a sum, all terms ≥ 0.
                v[i] = beta2 * v[i] + u * (beta2 * before.v[i] + 2 * (1 - beta2) * g[i] * g[i] + after.v[i])
                // denominator = √v·(1/√c2, rounded to Float) + ε: √ carries δv/(2√v), then 3 roundings.
                let root = after.v[i].squareRoot(), denominator = root * inverseRoot + before.epsilon
                let deltaDenominator = inverseRoot * (root > 0 ? v[i] / (2 * root) + 3 * u * root : v[i].squareRoot()) + u * denominator
                // ratio m/denominator (one rounding), ×stepSize (Float-rounded: 2 roundings).
                let ratio = after.m[i] / denominator
                let deltaRatio = (m[i] + abs(after.m[i]) * deltaDenominator / denominator) / denominator + u * abs(ratio)
                let deltaUpdate = stepSize * deltaRatio + 2 * u * stepSize * abs(ratio)
                // θ = θ·decay − update, decay = 1 − lr·λ rounded twice in Float.
                let previous = abs(before.parameters[i])
                parameters[i] = decay * parameters[i] + previous * 2 * u + u * previous * decay + deltaUpdate
                    + u * abs(after.parameters[i])
            }
        }
    }

    // MARK: - Polyak

    /// Values whose bits a computed α·x + 0·y could change: −0, NaN with a payload, infinities,
    /// subnormals.
    private let specials: [Float] = [-0.0, Float(nan: 0x1234, signaling: false), .infinity, -.infinity,
                                     Float.leastNonzeroMagnitude, -Float.leastNormalMagnitude / 3, 3.14159, -2.5e30, 0]

    func testPolyakAlphaOneCopiesBitForBit() {
        var random = SeededRandom(seed: 803)
        let online = specials + random.floats(8)
        let target = FloatBuffer(random.floats(online.count)), onlineBuffer = FloatBuffer(online)
        Polyak.update(target: target.pointer, online: onlineBuffer.pointer, count: online.count, alpha: 1)
        assertBitEqual(target.array, online, "Polyak alpha 1 (count \(online.count))")
    }

    func testPolyakAlphaZeroLeavesTargetBitForBit() {
        var random = SeededRandom(seed: 804)
        let original = specials + random.floats(8)
        // Online holds NaN and infinities: 0·NaN would be NaN if α = 0 were computed.
        let online = FloatBuffer([Float](repeating: .nan, count: 8) + [Float](repeating: .infinity, count: original.count - 8))
        let target = FloatBuffer(original)
        Polyak.update(target: target.pointer, online: online.pointer, count: original.count, alpha: 0)
        assertBitEqual(target.array, original, "Polyak alpha 0 (count \(original.count))")
    }

    func testPolyakAlphaPointThreeMatchesReference() {
        var random = SeededRandom(seed: 805)
        for count in [1, 5, 17, 33] {
            let target0 = random.floats(count), online = random.floats(count)
            let target = FloatBuffer(target0), onlineBuffer = FloatBuffer(online)
            let alpha: Float = 0.3
            Polyak.update(target: target.pointer, online: onlineBuffer.pointer, count: count, alpha: alpha)
            let reference = Naive.polyak(target: target0.asDoubles, online: online.asDoubles, alpha: Double(alpha))
            // α·x, (1 − α) (computed in Float), (1 − α)·y and the sum: ≤ 4 roundings of the terms'
            // magnitudes, elementwise (mixed signs can make that large against the result).
            let bound = (0 ..< count).map {
                4 * u * (Double(alpha) * abs(Double(online[$0])) + (1 - Double(alpha)) * abs(Double(target0[$0])))
            }
            assertWithinBound(target.array, reference, bound: bound, "Polyak alpha 0.3 (count \(count))")
        }
    }
}
