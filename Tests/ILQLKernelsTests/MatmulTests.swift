// MatmulTests.swift: the dense layer in both weight layouts, with and without bias, against a
// Double reference and finite differences, and the nil-gradient variants of its backward.
//
// Tolerance: every output is a K-term Float dot product, plus the bias or the prefill that sgemm
// folds in through β = 1. Whatever the summation order (or FMA), the error is then at most
// γ_(K+2)·(Σ|terms| + |added|) elementwise, γ_n = n·u/(1 − n·u); the magnitudes Σ|terms| come
// from the Double reference evaluated on absolute values (FiniteDifference.termMagnitudes for the
// gradients). Checked per element, so cancellation cannot hide or fake an error.

import Foundation
import ILQLKernels
import TestSupport
import XCTest

final class MatmulTests: XCTestCase {
    private let u = floatUnitRoundoff
    private func gamma(_ n: Int) -> Double { Double(n) * u / (1 - Double(n) * u) }

    /// (rows, inFeatures, outFeatures): 1×1×1, one row, widths 1 and odd, K up to 33.
    private let shapes = [(1, 1, 1), (1, 5, 7), (3, 7, 13), (4, 17, 5), (2, 33, 3), (5, 1, 17)]

    func testInputMajorWithBias() { checkAll(layout: .inputMajor, bias: true, seed: 501) }
    func testInputMajorWithoutBias() { checkAll(layout: .inputMajor, bias: false, seed: 502) }
    func testOutputMajorWithBias() { checkAll(layout: .outputMajor, bias: true, seed: 503) }
    func testOutputMajorWithoutBias() { checkAll(layout: .outputMajor, bias: false, seed: 504) }

    private func checkAll(layout: Matmul.WeightLayout, bias hasBias: Bool, seed: UInt64) {
        var random = SeededRandom(seed: seed)
        for (rows, inFeatures, outFeatures) in shapes {
            let label = "\(layout)\(hasBias ? "" : " no bias") (rows \(rows), in \(inFeatures), out \(outFeatures))"
            let input = random.floats(rows * inFeatures), weight = random.floats(inFeatures * outFeatures)
            let bias = hasBias ? random.floats(outFeatures) : []
            let inputBuffer = FloatBuffer(input), weightBuffer = FloatBuffer(weight), biasBuffer = FloatBuffer(bias)
            // Garbage in `out` first: forward must overwrite it, with or without bias.
            let out = FloatBuffer([Float](repeating: .nan, count: rows * outFeatures))
            Matmul.forward(out: out.pointer, input: inputBuffer.pointer, weight: weightBuffer.pointer,
                           bias: hasBias ? UnsafePointer(biasBuffer.pointer) : nil,
                           rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, layout: layout)
            let reference = { (t: [[Double]]) in
                Naive.matmul(t[0], weight: t[1], bias: hasBias ? t[2] : nil, rows: rows, inFeatures: inFeatures,
                             outFeatures: outFeatures, layout: layout)
            }
            let inputs = [input.asDoubles, weight.asDoubles, bias.asDoubles]
            let magnitude = reference(inputs.map { $0.map(abs) })  // |input|·|W| + |bias|
            assertWithinBound(out.array, reference(inputs), bound: magnitude.map { gamma(inFeatures + 2) * $0 },
                              "Matmul out \(label)")

            let w = random.floats(rows * outFeatures)
            let gradients = FiniteDifference.gradients(weights: w.asDoubles, at: inputs, skipping: hasBias ? [] : [2], forward: reference)
            let magnitudes = FiniteDifference.termMagnitudes(weights: w.asDoubles, at: inputs, skipping: hasBias ? [] : [2],
                                                             forward: reference)
            let prefills = gradients.map { GradientCheck.prefill(like: $0, using: &random) }
            let expected = (0 ..< 3).map { GradientCheck.accumulated(prefill: prefills[$0], gradient: gradients[$0]) }
            // K products summed onto the prefill: γ_(K+2)·(|prefill| + Σ|terms|), i.e. terms: K + 1.
            let bounds = [outFeatures, rows, rows].enumerated().map { index, k in
                GradientCheck.accumulationBound(terms: k + 1, prefill: prefills[index], magnitudes: magnitudes[index],
                                                expected: expected[index])
            }
            let dOut = FloatBuffer(w)
            func backward(_ dInput: FloatBuffer?, _ dWeight: FloatBuffer?, _ dBias: FloatBuffer?) {
                Matmul.backward(dInput: dInput?.pointer, dWeight: dWeight?.pointer, dBias: dBias?.pointer,
                                dOut: dOut.pointer, input: inputBuffer.pointer, weight: weightBuffer.pointer,
                                rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, layout: layout)
            }
            // All gradients at once.
            let dInput = FloatBuffer(prefills[0]), dWeight = FloatBuffer(prefills[1]), dBias = FloatBuffer(prefills[2])
            backward(dInput, dWeight, hasBias ? dBias : nil)
            assertWithinBound(dInput.array, expected[0], bound: bounds[0], "Matmul dInput \(label)")
            assertWithinBound(dWeight.array, expected[1], bound: bounds[1], "Matmul dWeight \(label)")
            if hasBias { assertWithinBound(dBias.array, expected[2], bound: bounds[2], "Matmul dBias \(label)") }

            // Each gradient alone (the others nil) must give the same numbers: the same calls run.
            let onlyInput = FloatBuffer(prefills[0]), onlyWeight = FloatBuffer(prefills[1]), onlyBias = FloatBuffer(prefills[2])
            backward(onlyInput, nil, nil)
            backward(nil, onlyWeight, nil)
            if hasBias { backward(nil, nil, onlyBias) }
            assertBitEqual(onlyInput.array, dInput.array, "Matmul dInput alone \(label)")
            assertBitEqual(onlyWeight.array, dWeight.array, "Matmul dWeight alone \(label)")
            if hasBias { assertBitEqual(onlyBias.array, dBias.array, "Matmul dBias alone \(label)") }
            // All nil: nothing to do, nothing may crash.
            backward(nil, nil, nil)
        }
    }

    /// The two layouts are the same map when one weight is the transpose of the other.
    func testLayoutsAgreeOnTransposedWeights() {
        var random = SeededRandom(seed: 505)
        let rows = 3, inFeatures = 7, outFeatures = 5
        let input = FloatBuffer(random.floats(rows * inFeatures)), bias = FloatBuffer(random.floats(outFeatures))
        let inputMajor = random.floats(inFeatures * outFeatures)
        var outputMajor = [Float](repeating: 0, count: inputMajor.count)
        for i in 0 ..< inFeatures { for o in 0 ..< outFeatures { outputMajor[o * inFeatures + i] = inputMajor[i * outFeatures + o] } }
        let a = FloatBuffer(count: rows * outFeatures), b = FloatBuffer(count: rows * outFeatures)
        let wIn = FloatBuffer(inputMajor), wOut = FloatBuffer(outputMajor)
        Matmul.forward(out: a.pointer, input: input.pointer, weight: wIn.pointer, bias: bias.pointer,
                       rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, layout: .inputMajor)
        Matmul.forward(out: b.pointer, input: input.pointer, weight: wOut.pointer, bias: bias.pointer,
                       rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, layout: .outputMajor)
        // Different sgemm paths may sum in different orders: each is within γ_(K+2)·magnitude of
        // the exact result, so they are within twice that of each other.
        let magnitude = Naive.matmul(input.array.map { Double(abs($0)) }, weight: inputMajor.map { Double(abs($0)) },
                                     bias: bias.array.map { Double(abs($0)) }, rows: rows, inFeatures: inFeatures,
                                     outFeatures: outFeatures, layout: .inputMajor)
        assertWithinBound(a.array, b.array.asDoubles, bound: magnitude.map { 2 * gamma(inFeatures + 2) * $0 },
                          "Matmul inputMajor vs outputMajor (rows 3, in 7, out 5)")
    }
}
