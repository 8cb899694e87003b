// ElementwiseTests.swift: BiasAdd, Residual and ReLU against Double references and finite
// differences (GELU has its own file).
//
// Every backward pass is called on gradient buffers pre-filled with nonzero values, and the
// expectation is prefill + gradient, so a pass that overwrites instead of accumulating fails.

import Foundation
import ILQLKernels
import TestSupport
import XCTest

final class ElementwiseTests: XCTestCase {
    private let u = floatUnitRoundoff
    /// (rows, features): one element, one row, and widths that are not multiples of a vector width.
    private let shapes = [(1, 1), (1, 5), (3, 7), (2, 13), (4, 17), (2, 33)]

    // MARK: - BiasAdd

    func testBiasAddMatchesReferenceAndFiniteDifferences() {
        var random = SeededRandom(seed: 101)
        for (rows, features) in shapes {
            let shape = "(rows \(rows), features \(features))"
            let x = random.floats(rows * features), bias = random.floats(features)
            let xBuffer = FloatBuffer(x), biasBuffer = FloatBuffer(bias), out = FloatBuffer(count: x.count)
            BiasAdd.forward(out: out.pointer, x: xBuffer.pointer, bias: biasBuffer.pointer, rows: rows, features: features)
            // One Float addition of exactly representable inputs: at most one rounding, u.
            assertRelativeClose(out.array, Naive.biasAdd(x.asDoubles, bias.asDoubles, rows: rows, features: features),
                                tolerance: u, "BiasAdd out \(shape)")
            // out may alias x: the in-place result must be the same numbers.
            let inPlace = FloatBuffer(x)
            BiasAdd.forward(out: inPlace.pointer, x: inPlace.pointer, bias: biasBuffer.pointer, rows: rows, features: features)
            assertBitEqual(inPlace.array, out.array, "BiasAdd in place \(shape)")

            let w = random.floats(rows * features)
            let gradients = FiniteDifference.gradients(weights: w.asDoubles, at: [x.asDoubles, bias.asDoubles]) {
                Naive.biasAdd($0[0], $0[1], rows: rows, features: features)
            }
            // The kernel has no dX (it is dOut itself); check the oracle agrees with that claim.
            // The only error is the finite difference's own, ~1.5·ε·|out|/h ≈ 3e-12, i.e. ≤ 3e-9
            // at the 1e-3 floor.
            assertRelativeClose(w, gradients[0], tolerance: 1e-8, "BiasAdd dX = dOut, oracle \(shape)")
            let magnitudes = FiniteDifference.termMagnitudes(weights: w.asDoubles, at: [x.asDoubles, bias.asDoubles]) {
                Naive.biasAdd($0[0], $0[1], rows: rows, features: features)
            }
            let prefill = GradientCheck.prefill(like: gradients[1], using: &random)
            let dBias = FloatBuffer(prefill), dOut = FloatBuffer(w)
            BiasAdd.backward(dBias: dBias.pointer, dOut: dOut.pointer, rows: rows, features: features)
            // `rows` additions onto the prefill: γ_(rows+1)·(|prefill| + Σ|dOut|) elementwise.
            let expected = GradientCheck.accumulated(prefill: prefill, gradient: gradients[1])
            assertWithinBound(dBias.array, expected, bound: GradientCheck.accumulationBound(
                terms: rows, prefill: prefill, magnitudes: magnitudes[1], expected: expected), "BiasAdd dBias \(shape)")
        }
    }

    // MARK: - Residual

    func testResidualMatchesReferenceAndFiniteDifferences() {
        var random = SeededRandom(seed: 102)
        for count in [1, 5, 7, 13, 17, 33] {
            let a = random.floats(count), b = random.floats(count)
            let aBuffer = FloatBuffer(a), bBuffer = FloatBuffer(b), out = FloatBuffer(count: count)
            Residual.forward(out: out.pointer, a: aBuffer.pointer, b: bBuffer.pointer, count: count)
            // One rounding.
            assertRelativeClose(out.array, Naive.residual(a.asDoubles, b.asDoubles), tolerance: u, "Residual out (count \(count))")
            let inPlace = FloatBuffer(a)
            Residual.forward(out: inPlace.pointer, a: inPlace.pointer, b: bBuffer.pointer, count: count)
            assertBitEqual(inPlace.array, out.array, "Residual in place (count \(count))")

            let w = random.floats(count)
            let gradients = FiniteDifference.gradients(weights: w.asDoubles, at: [a.asDoubles, b.asDoubles]) {
                Naive.residual($0[0], $0[1])
            }
            let prefillA = GradientCheck.prefill(like: gradients[0], using: &random)
            let prefillB = GradientCheck.prefill(like: gradients[1], using: &random)
            let dA = FloatBuffer(prefillA), dB = FloatBuffer(prefillB), dOut = FloatBuffer(w)
            Residual.backward(dA: dA.pointer, dB: dB.pointer, dOut: dOut.pointer, count: count)
            // One addition onto the prefill each: γ_2·(|prefill| + |dOut|) elementwise (the
            // addition is exact-rounded, so u would do; γ_2 is the shared helper's bound).
            let expectedA = GradientCheck.accumulated(prefill: prefillA, gradient: gradients[0])
            let expectedB = GradientCheck.accumulated(prefill: prefillB, gradient: gradients[1])
            let magnitude = w.map { abs(Double($0)) }
            assertWithinBound(dA.array, expectedA, bound: GradientCheck.accumulationBound(
                terms: 1, prefill: prefillA, magnitudes: magnitude, expected: expectedA), "Residual dA (count \(count))")
            assertWithinBound(dB.array, expectedB, bound: GradientCheck.accumulationBound(
                terms: 1, prefill: prefillB, magnitudes: magnitude, expected: expectedB), "Residual dB (count \(count))")
        }
    }

    // MARK: - ReLU

    func testReLUMatchesReferenceAndFiniteDifferences() {
        var random = SeededRandom(seed: 103)
        for count in [1, 5, 7, 13, 17, 33] {
            // Magnitudes ≥ 0.05 keep every x farther than 2h from the kink, where a central
            // difference would straddle it and average the two slopes.
            let x = random.nonzeroFloats(count, magnitude: 0.05 ... 2)
            let xBuffer = FloatBuffer(x), out = FloatBuffer(count: count)
            ReLU.forward(out: out.pointer, x: xBuffer.pointer, count: count)
            // Selecting x or 0 involves no arithmetic: exact.
            assertRelativeClose(out.array, Naive.relu(x.asDoubles), tolerance: 0, "ReLU out (count \(count))")

            let w = random.floats(count)
            let gradients = FiniteDifference.gradients(weights: w.asDoubles, at: [x.asDoubles]) { Naive.relu($0[0]) }
            let prefill = GradientCheck.prefill(like: gradients[0], using: &random)
            let dX = FloatBuffer(prefill), dOut = FloatBuffer(w)
            ReLU.backward(dX: dX.pointer, dOut: dOut.pointer, out: out.pointer, count: count)
            // One addition onto the prefill, as for Residual; where x < 0 the prefill stays.
            let expected = GradientCheck.accumulated(prefill: prefill, gradient: gradients[0])
            assertWithinBound(dX.array, expected, bound: GradientCheck.accumulationBound(
                terms: 1, prefill: prefill, magnitudes: w.map { abs(Double($0)) }, expected: expected), "ReLU dX (count \(count))")
        }
    }

    /// At exactly 0 (and −0) ReLU is not differentiable; the kernel takes the derivative as 0, as
    /// PyTorch does (its backward is `grad * (out > 0)`), and negative inputs pass no gradient.
    func testReLUAtZeroAndNegativeInputsPassesNoGradient() {
        let x: [Float] = [0, -0.0, -1, -1e-30, 1e-30, 2, -.infinity, .infinity]
        let xBuffer = FloatBuffer(x), out = FloatBuffer(count: x.count)
        ReLU.forward(out: out.pointer, x: xBuffer.pointer, count: x.count)
        XCTAssertEqual(out.array, [0, 0, 0, 0, 1e-30, 2, 0, .infinity])
        // Negative inputs, −0 and −∞ all give +0, never −0.
        XCTAssertTrue(out.array.prefix(4).allSatisfy { $0.bitPattern == 0 }, "ReLU must output +0 for x ≤ 0")

        let dX = FloatBuffer([Float](repeating: 0.25, count: x.count))
        let dOut = FloatBuffer([Float](repeating: 1, count: x.count))
        ReLU.backward(dX: dX.pointer, dOut: dOut.pointer, out: out.pointer, count: x.count)
        XCTAssertEqual(dX.array, [0.25, 0.25, 0.25, 0.25, 1.25, 1.25, 0.25, 1.25])
    }
}
