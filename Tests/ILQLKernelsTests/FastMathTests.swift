// FastMathTests.swift: FastMath.exp and FastMath.sigmoid against libm in Double.
//
// Truth is Foundation.exp evaluated in Double at the Float input (exactly representable in
// Double), so the measured error is the kernel's alone, not the input's rounding.

import Foundation
import ILQLKernels
import TestSupport
import XCTest

final class FastMathTests: XCTestCase {
    /// A few units in the last place: one ulp is between 2⁻²⁴ and 2⁻²³ (6e-8 … 1.2e-7) relative,
    /// and the degree-7 Horner evaluation plus the two-step range reduction cost a handful of
    /// Float roundings; the final scaling by 2ᵏ is exact. 4e-7 ≈ 3.4 ulp at worst.
    let expTolerance = 4e-7

    private func expRelativeError(_ x: Float) -> Double {
        let truth = Foundation.exp(Double(x))
        return abs(Double(FastMath.exp(x)) - truth) / truth
    }

    func testExpDenseSweepOverItsRangeIsWithinAFewUlp() {
        let count = 1_000_000
        var worst = 0.0, worstX: Float = 0
        for i in 0 ..< count {
            let x = Float(-87 + 175 * Double(i) / Double(count - 1))
            let error = expRelativeError(x)
            // `!(error <= worst)` also catches NaN.
            if !(error <= worst) { worst = error; worstX = x }
        }
        print("FastMath.exp sweep [-87, 88] (\(count) points): max rel err \(formatError(worst)) at x = \(worstX), tolerance \(formatError(expTolerance))")
        XCTAssertLessThanOrEqual(worst, expTolerance, "worst at x = \(worstX)")
    }

    func testExpEdgeValues() {
        // Exact: e^0 = 1, and e^±1e-8 rounds to 1 in Float (1 ± 1e-8 is within half an ulp of 1).
        XCTAssertEqual(FastMath.exp(0), 1)
        XCTAssertEqual(FastMath.exp(1e-8), 1)
        XCTAssertEqual(FastMath.exp(-1e-8), 1)
        var worst = 0.0
        for x: Float in [-87, -86.99, -50, -1, -0.5, 0.5, 1, 10, 87.99, 88] {
            let error = expRelativeError(x)
            worst = max(worst, error.isNaN ? .infinity : error)
            XCTAssertLessThanOrEqual(error, expTolerance, "x = \(x)")
        }
        print("FastMath.exp edge values: max rel err \(formatError(worst)), tolerance \(formatError(expTolerance))")
        // e^-87 ≈ 1.6e-38 is still a normal Float: the lower limit must not flush it.
        XCTAssertGreaterThan(FastMath.exp(-87), Float.leastNormalMagnitude)
    }

    func testExpBelowLowerLimitIsExactlyZero() {
        for x: Float in [-87.00001, -87.5, -88, -100, -1e4, -1e30, -.infinity] {
            XCTAssertEqual(FastMath.exp(x).bitPattern, Float(0).bitPattern, "x = \(x) must give +0")
        }
    }

    func testExpAboveUpperLimitIsClampedToExpOf88() {
        let e88 = FastMath.exp(88)
        XCTAssertTrue(e88.isFinite)
        for x: Float in [88.00001, 88.5, 89, 100, 1e4, 1e30, .infinity] {
            XCTAssertEqual(FastMath.exp(x).bitPattern, e88.bitPattern, "x = \(x) must give exp(88)")
        }
    }

    func testExpPropagatesNaN() {
        XCTAssertTrue(FastMath.exp(.nan).isNaN)
        XCTAssertTrue(FastMath.exp(-.nan).isNaN)
    }

    // MARK: - Sigmoid

    /// exp's error (≤ 4e-7) enters 1 + e^(−x) scaled by e/(1+e) ≤ 1, then one rounding for the
    /// addition and one for the division: 4e-7 + 2·6e-8 ≈ 5.2e-7; 6e-7 leaves a little margin.
    let sigmoidTolerance = 6e-7
    /// e^−87: FastMath.exp returns exactly 0 below it (documented flush to zero).
    let flushThreshold = Foundation.exp(-87.0)

    func testSigmoidSweepMatchesLibm() {
        let count = 100_001
        var worst = 0.0, worstX: Float = 0
        // [-88, 88]: beyond −88 the argument of exp passes its clamp (tested below).
        for i in 0 ..< count {
            let x = Float(-88 + 176 * Double(i) / Double(count - 1))
            let truth = Naive.sigmoid(Double(x))
            // FastMath.exp flushes results below e^−87 (≈ 1.6e-38, Float's normal range ends at
            // 1.2e-38) to 0, so sigmoid(x < −87) may be 0: there only an absolute error up to
            // that threshold is asked for (such values carry no relative precision in Float).
            let error = truth < flushThreshold
                ? abs(Double(FastMath.sigmoid(x)) - truth) / flushThreshold * sigmoidTolerance
                : abs(Double(FastMath.sigmoid(x)) - truth) / truth
            if !(error <= worst) { worst = error; worstX = x }
        }
        print("FastMath.sigmoid sweep [-88, 88] (\(count) points): max rel err \(formatError(worst)) at x = \(worstX), tolerance \(formatError(sigmoidTolerance))")
        XCTAssertLessThanOrEqual(worst, sigmoidTolerance, "worst at x = \(worstX)")
    }

    func testSigmoidNearZeroHasNoCancellation() {
        XCTAssertEqual(FastMath.sigmoid(0), 0.5)
        for x: Float in [1e-6, -1e-6, 20, -20] {
            let truth = Naive.sigmoid(Double(x))
            let error = abs(Double(FastMath.sigmoid(x)) - truth) / truth
            print("FastMath.sigmoid(\(x)): rel err \(formatError(error))")
            XCTAssertLessThanOrEqual(error, sigmoidTolerance, "x = \(x)")
        }
    }

    /// The documented contract: "exact at the extremes (0 and 1)".
    func testSigmoidReachesExactLimits() {
        // 1 − e^−20 ≈ 1 − 2e-9 rounds to exactly 1 in Float, as does everything beyond.
        for x: Float in [20, 100, 1e4, .infinity] {
            XCTAssertEqual(FastMath.sigmoid(x), 1, "sigmoid(\(x)) must be exactly 1")
        }
        // e^−1e4 underflows every floating-point format: the correctly rounded result is 0.
        for x: Float in [-1e4, -1e30, -.infinity] {
            let s = FastMath.sigmoid(x)
            print("FastMath.sigmoid(\(x)) = \(s) (expected exactly 0)")
            XCTAssertEqual(s, 0, "sigmoid(\(x)) must be exactly 0")
        }
        // e^−100 ≈ 3.7e-44 is a Float subnormal: accept that value within subnormal resolution
        // (a few percent there) or a flush to 0, nothing larger.
        let truth = Naive.sigmoid(-100)
        let s = Double(FastMath.sigmoid(-100))
        print("FastMath.sigmoid(-100) = \(s) (truth \(truth))")
        XCTAssertTrue(s == 0 || abs(s - truth) <= 0.05 * truth, "sigmoid(-100) = \(s), truth \(truth)")
    }

    /// The 16-lane `exp` is the scalar one lane for lane, bit for bit, over the range, its edges,
    /// far outside it, ±0, ±∞ and NaN (so the scalar accuracy tests above cover it too).
    func testSIMDExpEqualsScalarExpBitForBit() {
        var inputs: [Float] = [0, -0, 1, -1, -87, -87.0001, -86.9999, 88, 88.0001, 87.9999, -1e30, 1e30,
                               .infinity, -.infinity, .nan, .leastNormalMagnitude, -.leastNonzeroMagnitude, 1e-8]
        let count = 200_000
        for i in 0 ..< count { inputs.append(Float(-100 + 200 * Double(i) / Double(count - 1))) }
        while inputs.count % 16 != 0 { inputs.append(0.5) }
        var mismatches = 0
        for start in stride(from: 0, to: inputs.count, by: 16) {
            let lanes = FastMath.exp(SIMD16<Float>(inputs[start ..< start + 16]))
            for lane in 0 ..< 16 {
                let scalar = FastMath.exp(inputs[start + lane])
                if lanes[lane].bitPattern != scalar.bitPattern {
                    mismatches += 1
                    if mismatches <= 5 { XCTFail("exp(\(inputs[start + lane])): SIMD \(lanes[lane]) vs scalar \(scalar)") }
                }
            }
        }
        XCTAssertEqual(mismatches, 0)
    }
}
