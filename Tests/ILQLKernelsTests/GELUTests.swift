// GELUTests.swift: the tanh-approximated GELU (computed by the kernel through a sigmoid) against
// the literal tanh formula in Double, pointwise and by finite differences, including ±10 and ±300.

import Foundation
import ILQLKernels
import TestSupport
import XCTest

final class GELUTests: XCTestCase {
    private let u = floatUnitRoundoff

    /// z = 2·√(2/π)·(x + 0.044715x³), the argument of the kernel's sigmoid.
    private func z(_ x: Double) -> Double { 2 * (2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x) }

    /// Pointwise relative error bound for GELU(x) = x·sigmoid(z):
    /// sigmoid's own error (≤ 6e-7, FastMathTests), one rounding for x·s, and the error of z
    /// itself: z comes out of ~5 Float roundings (the two Float constants included), so
    /// |δz| ≤ 5u·|z|, and d log sigmoid(z)/dz = 1 − sigmoid(z) ≤ 1 turns that into ≤ 5u·|z|
    /// relative error of the result. Far left (z ≈ −18 at x = −5) this dominates.
    private func pointwiseBound(_ x: Double) -> Double { 6e-7 + u + 5 * u * abs(z(x)) }

    func testSweepMatchesTanhFormulaPointwise() {
        // [-5, 10]: below about −5 the Double reference itself loses its digits, as 1 + tanh(u)
        // cancels (at x = −5.3, 1 + tanh ≈ 1e-8 and Double keeps 8 digits of it). Above ~5 the
        // result is x to within an ulp, which the sweep covers up to 10.
        let count = 15_001
        var worstRatio = 0.0, worstError = 0.0, worstX = 0.0
        for i in 0 ..< count {
            let x = Float(-5 + 15 * Double(i) / Double(count - 1))
            if x == 0 { continue }
            var value: Float = 0, input = x
            GELU.forward(out: &value, x: &input, count: 1)
            let truth = Naive.gelu([Double(x)])[0]
            let error = abs(Double(value) - truth) / abs(truth)
            let ratio = error / pointwiseBound(Double(x))
            if !(ratio <= worstRatio) { worstRatio = ratio; worstError = error; worstX = Double(x) }
        }
        print("GELU sweep [-5, 10] (\(count) points): max rel err \(formatError(worstError)) at x = \(worstX) "
              + "(tolerance 6e-7 + u + 5u·|z|, worst error/bound \(formatError(worstRatio)))")
        XCTAssertLessThanOrEqual(worstRatio, 1, "GELU pointwise bound exceeded at x = \(worstX)")
    }

    func testExtremeInputs() {
        let x: [Float] = [300, -300, 10, -10, 0]
        let xBuffer = FloatBuffer(x), out = FloatBuffer(count: x.count)
        GELU.forward(out: out.pointer, x: xBuffer.pointer, count: x.count)
        let values = out.array
        print("GELU(300, -300, 10, -10, 0) = \(values)")
        // sigmoid(huge) is exactly 1, so GELU is the identity far right.
        XCTAssertEqual(values[0], 300)
        XCTAssertEqual(values[2], 10)
        // Far left the true value is −300·e^(−1.9e6) ≈ −0: anything that is ≤ 0 and negligible
        // (no catastrophic 1 + (−1) garbage, no NaN, no −300) is right.
        XCTAssertTrue(values[1] <= 0 && values[1] > -1e-30, "GELU(-300) = \(values[1])")
        // −10·sigmoid(−87.3) ≈ −1.2e-37, where sigmoid's argument lies just past FastMath.exp's
        // documented flush to zero (results below e^−87 become 0): the error may reach
        // |x|·e^−87 and no more.
        let truth10 = -10 * Naive.sigmoid(z(-10))
        XCTAssertEqual(Double(values[3]), truth10, accuracy: 10 * Foundation.exp(-87.0), "GELU(-10)")
        XCTAssertLessThanOrEqual(values[3], 0)
        XCTAssertEqual(values[4], 0)
        // Against the literal formula, with the floor at 1e-3 of the largest value (300): below
        // the floor the ≈ 1e-36 differences vanish; everything else is 300, 10 or 0 exactly.
        assertRelativeClose(values, Naive.gelu(x.asDoubles), tolerance: u, "GELU out extremes (count 5)")
    }

    func testForwardAndBackwardMatchReferenceAndFiniteDifferences() {
        var random = SeededRandom(seed: 201)
        for count in [1, 5, 7, 13, 17, 33] {
            // [-4, 4] holds the curved part of GELU, where its derivative crosses 0 (x ≈ −0.75).
            let x = random.floats(count, in: -4 ... 4)
            check(x, label: "count \(count)", random: &random)
        }
        // Extremes: the derivative is 1 far right and 0 far left; the kernel must be finite there.
        let extremes: [Float] = [300, -300, 10, -10, 0, 0.5, -0.5]
        check(extremes, label: "extremes", random: &random)
        // The same through the 16-lane chunks of the forward that saves the derivative.
        check(extremes + extremes + extremes, label: "extremes ×3", random: &random)
    }

    private func check(_ x: [Float], label: String, random: inout SeededRandom) {
        let xBuffer = FloatBuffer(x), out = FloatBuffer(count: x.count)
        GELU.forward(out: out.pointer, x: xBuffer.pointer, count: x.count)
        let reference = Naive.gelu(x.asDoubles)
        // The pointwise bound, plus the reference's own error: 1 + tanh(·) cancels in Double far
        // left, losing up to ε_double absolute, i.e. 0.5·|x|·2.2e-16 of GELU (x = −10 gives 0).
        let outBound = x.indices.map { abs(reference[$0]) * pointwiseBound(Double(x[$0])) + 1.1e-16 * abs(Double(x[$0])) }
        assertWithinBound(out.array, reference, bound: outBound, "GELU out (\(label))")
        let inPlace = FloatBuffer(x)
        GELU.forward(out: inPlace.pointer, x: inPlace.pointer, count: x.count)
        assertBitEqual(inPlace.array, out.array, "GELU in place (\(label))")

        let w = random.floats(x.count)
        let gradients = FiniteDifference.gradients(weights: w.asDoubles, at: [x.asDoubles]) { Naive.gelu($0[0]) }
        let prefill = GradientCheck.prefill(like: gradients[0], using: &random)
        let dX = FloatBuffer(prefill), dOut = FloatBuffer(w)
        GELU.backward(dX: dX.pointer, dOut: dOut.pointer, x: xBuffer.pointer, count: x.count)
        let expected = GradientCheck.accumulated(prefill: prefill, gradient: gradients[0])
        // GELU'(x) = s + x·s(1 − s)·z'(x), s = sigmoid(z): s is off by δs = s·(6e-7 + 5u·|z|)
        // (as in the forward); it enters s(1 − s) as |1 − 2s|·δs, and the products x·…·z' with
        // z' = 2√(2/π)(1 + 3·0.044715x²) round ~6 times. Then ×dOut and +prefill, one rounding
        // each; plus 1e-9 of the scale for the finite-difference oracle.
        func bound(prefill: [Float]?, scale: [Double]) -> [Double] {
            let oracle = 1e-9 * scale.reduce(0.0) { max($0, abs($1)) }
            return x.indices.map { i -> Double in
                let v = Double(x[i]), zi = z(v), s = Naive.sigmoid(zi)
                let deltaS = s * (6e-7 + 5 * u * abs(zi))
                let slope = 2 * (2 / Double.pi).squareRoot() * (1 + 3 * 0.044715 * v * v)
                let second = abs(v) * s * (1 - s) * slope
                let deltaDerivative = deltaS + abs(v) * slope * abs(1 - 2 * s) * deltaS + 6 * u * second + u * (s + second)
                let weight = abs(Double(w[i]))
                let prefilled = prefill.map { abs(Double($0[i])) } ?? 0
                return weight * deltaDerivative + u * (prefilled + weight * (s + second)) + oracle
            }
        }
        assertWithinBound(dX.array, expected, bound: bound(prefill: prefill, scale: expected), "GELU dX (\(label))")

        // The forward that saves GELU′: its output and derivative are bit for bit those of
        // `forward` and of `backward` on a unit dOut, also with the derivative written over x.
        let saved = FloatBuffer(count: x.count), slopes = FloatBuffer(count: x.count)
        GELU.forward(out: saved.pointer, derivative: slopes.pointer, x: xBuffer.pointer, count: x.count)
        assertBitEqual(saved.array, out.array, "GELU forward saving the derivative, out (\(label))")
        let unitSlopes = FloatBuffer(count: x.count), ones = FloatBuffer([Float](repeating: 1, count: x.count))
        GELU.backward(dX: unitSlopes.pointer, dOut: ones.pointer, x: xBuffer.pointer, count: x.count)
        assertBitEqual(slopes.array, unitSlopes.array, "GELU forward saving the derivative, slope (\(label))")
        let overwritten = FloatBuffer(x), overwrittenOut = FloatBuffer(count: x.count)
        GELU.forward(out: overwrittenOut.pointer, derivative: overwritten.pointer, x: overwritten.pointer, count: x.count)
        assertBitEqual(overwrittenOut.array, out.array, "GELU out with the derivative over x (\(label))")
        assertBitEqual(overwritten.array, slopes.array, "GELU derivative over x (\(label))")

        // In place from the saved derivative: the same values as accumulating into zeros
        // (compared with ==, so a −0 from the product and the +0 of 0 + (−0) agree), and within
        // the bound without a prefill.
        let zeroed = FloatBuffer(count: x.count), inPlaceGradient = FloatBuffer(w)
        GELU.backward(dX: zeroed.pointer, dOut: dOut.pointer, x: xBuffer.pointer, count: x.count)
        GELU.backwardInPlace(gradient: inPlaceGradient.pointer, derivative: slopes.pointer, count: x.count)
        XCTAssertEqual(inPlaceGradient.array, zeroed.array, "GELU backwardInPlace vs backward into zeros (\(label))")
        let inPlaceBound = bound(prefill: nil, scale: gradients[0])
        assertWithinBound(inPlaceGradient.array, gradients[0], bound: inPlaceBound, "GELU backwardInPlace (\(label))")
    }
}
