// LayerNormTests.swift: LayerNorm forward (out, saved mean and rstd) against a Double reference
// with biased variance and ε = 1e-5, and its backward (dX, dWeight, dBias) against finite
// differences, on ordinary rows, a single feature, constant rows and rows offset by 1e3.
//
// Tolerances are elementwise forward-error bounds built from the Double reference (see
// `Bounds`): a Float sum of n terms is off by at most ~n·u·Σ|terms|, so the saved mean is off by
// δm ≤ (n + 1)·u·mean|x| and rstd by ε ≈ (n + 6)·u relative. Normalisation multiplies (x − mean)
// by rstd, so x̂ carries rstd·δm + |x̂|·ε: for zero-centred rows that is a few n·u, for rows
// 1e3 + noise of spread 0.6 the first term is ≈ 7e-4 — inherent to a Float32 mean at that
// offset (the two-pass variance itself loses nothing there, which the rstd check confirms).

import Foundation
import ILQLKernels
import TestSupport
import XCTest

final class LayerNormTests: XCTestCase {
    private let u = floatUnitRoundoff

    func testOrdinaryAndOddWidths() {
        var random = SeededRandom(seed: 301)
        for (rows, features) in [(1, 1), (1, 5), (3, 7), (2, 13), (2, 17), (1, 33)] {
            let x = random.floats(rows * features, in: -2 ... 2)
            check(x: x, rows: rows, features: features, label: "rows \(rows), features \(features)", random: &random)
        }
    }

    /// A row of equal values has variance 0: the output is the bias, rstd is 1/√ε ≈ 316, and the
    /// gradient of x is rstd·(g − mean(g)). 2.5 sums exactly in Float (mean exact); 0.7 does not,
    /// and then the one-ulp error of the mean is multiplied by rstd = 316 (mean|x|·rstd ≈ 221).
    func testConstantRows() {
        var random = SeededRandom(seed: 302)
        for (value, features) in [(Float(2.5), 7), (Float(0.7), 5), (Float(-3), 13)] {
            let x = [Float](repeating: value, count: 2 * features)
            check(x: x, rows: 2, features: features, label: "constant \(value), rows 2, features \(features)", random: &random)
        }
        // Exact mean ⇒ exactly zero centred values ⇒ out is the bias bit for bit.
        let x = FloatBuffer([Float](repeating: 2.5, count: 7)), weight = FloatBuffer(random.floats(7))
        let bias = random.floats(7), biasBuffer = FloatBuffer(bias)
        let out = FloatBuffer(count: 7), mean = FloatBuffer(count: 1), rstd = FloatBuffer(count: 1)
        LayerNorm.forward(out: out.pointer, mean: mean.pointer, rstd: rstd.pointer, x: x.pointer,
                          weight: weight.pointer, bias: biasBuffer.pointer, rows: 1, features: 7)
        assertBitEqual(out.array, bias, "LayerNorm constant row 2.5: out = bias")
        // 1/√ε with ε = Float(1e-5): the Float constant differs from 1e-5 by 2.5e-8 relative.
        XCTAssertEqual(Double(rstd.array[0]), 1 / (1e-5).squareRoot(), accuracy: 316.3 * 4 * u)
    }

    /// Rows 1e3 + noise in [−1, 1]: the two-pass variance must not cancel (it would with
    /// E[x²] − E[x]², losing everything at this offset); the mean's rounding is the limit.
    func testLargeOffsetRows() {
        var random = SeededRandom(seed: 303)
        for (rows, features) in [(2, 7), (1, 17)] {
            let x = random.floats(rows * features).map { 1000 + $0 }
            // h = 1e-6·1000 = 1e-3: the function varies on the noise's scale (0.6), not the offset's.
            check(x: x, rows: rows, features: features, label: "offset 1e3, rows \(rows), features \(features)",
                  relativeStep: 1e-6, random: &random)
        }
    }

    /// The kernel's ε parameter is used, not a hard-wired one (matters for constant rows).
    func testCustomEpsilon() {
        let x = FloatBuffer([Float](repeating: 1, count: 3)), weight = FloatBuffer([1, 1, 1]), bias = FloatBuffer([0, 0, 0])
        let out = FloatBuffer(count: 3), mean = FloatBuffer(count: 1), rstd = FloatBuffer(count: 1)
        LayerNorm.forward(out: out.pointer, mean: mean.pointer, rstd: rstd.pointer, x: x.pointer,
                          weight: weight.pointer, bias: bias.pointer, rows: 1, features: 3, epsilon: 0.25)
        XCTAssertEqual(rstd.array[0], 2)  // 1/√0.25, exact
        XCTAssertEqual(mean.array[0], 1)
    }

    // MARK: - The check

    /// Elementwise error bounds for one LayerNorm call, derived from the reference values (see the
    /// header for the model; every term names the roundings it covers).
    private struct Bounds {
        var mean: [Double] = [], rstd: [Double] = [], out: [Double] = []
        var dX: [Double] = [], dWeight: [Double] = [], dBias: [Double] = []

        init(x: [Float], weight: [Float], bias: [Float], dOut: [Float], prefills: [[Float]],
             reference: (out: [Double], mean: [Double], rstd: [Double]), rows: Int, features: Int) {
            let u = floatUnitRoundoff, n = Double(features)
            dWeight = prefills[1].map { (Double(rows) + 2) * u * abs(Double($0)) }
            dBias = prefills[2].map { (Double(rows) + 2) * u * abs(Double($0)) }
            for r in 0 ..< rows {
                let span = r * features ..< (r + 1) * features
                let rstdValue = reference.rstd[r]
                let xHat = span.map { (Double(x[$0]) - reference.mean[r]) * rstdValue }
                // Sum of n terms and a division.
                let deltaMean = (n + 1) * u * span.reduce(0.0) { $0 + abs(Double(x[$1])) } / n
                // Squares, n − 1 additions, /n, +ε, √, 1/ ≈ (n + 6)·u; the mean's error adds
                // (rstd·δm)² to the variance's relative error (second order, but not at 1e3 offsets).
                let epsilonRstd = (n + 6) * u + (rstdValue * deltaMean) * (rstdValue * deltaMean)
                // (x − m)·r: the mean's error times r, r's relative error, two roundings.
                let deltaXHat = xHat.map { rstdValue * deltaMean + abs($0) * (epsilonRstd + 2 * u) }
                mean.append(deltaMean)
                rstd.append(epsilonRstd * rstdValue)
                for j in 0 ..< features {
                    // ×weight, +bias: two roundings.
                    let wj = Double(weight[j])
                    out.append(abs(wj) * deltaXHat[j] + 2 * u * abs(xHat[j] * wj) + u * abs(Double(bias[j])))
                }
                // Backward: g = dOut·weight; dx = r·(g − mean(g) − x̂·mean(g·x̂)).
                let g = (0 ..< features).map { Double(dOut[span.lowerBound + $0]) * Double(weight[$0]) }
                let gMean = g.reduce(0, +) / n, gxMean = zip(g, xHat).reduce(0.0) { $0 + $1.0 * $1.1 } / n
                let deltaGMean = (n + 2) * u * g.reduce(0.0) { $0 + abs($1) } / n
                let deltaGxMean = (0 ..< features).reduce(0.0) { $0 + abs(g[$1]) * deltaXHat[$1] + (n + 4) * u * abs(g[$1] * xHat[$1]) } / n
                for j in 0 ..< features {
                    let bracket = g[j] - gMean - xHat[j] * gxMean
                    let terms = abs(g[j]) + abs(gMean) + abs(xHat[j] * gxMean)
                    let deltaBracket = u * abs(g[j]) + deltaGMean + deltaXHat[j] * abs(gxMean) + abs(xHat[j]) * deltaGxMean
                        + u * abs(xHat[j] * gxMean) + 2 * u * terms
                    let prefill = abs(Double(prefills[0][span.lowerBound + j]))
                    // ×r (its error and one rounding), then += onto the prefill.
                    dX.append(rstdValue * (deltaBracket + abs(bracket) * (epsilonRstd + u)) + u * (prefill + rstdValue * abs(bracket)))
                    // dWeight += dOut·x̂ and dBias += dOut: one more term each per row.
                    let d = abs(Double(dOut[span.lowerBound + j]))
                    dWeight[j] += d * deltaXHat[j] + (Double(rows) + 3) * u * d * abs(xHat[j])
                    dBias[j] += (Double(rows) + 2) * u * d
                }
            }
        }
    }

    private func check(x: [Float], rows: Int, features: Int, label: String, relativeStep: Double = FiniteDifference.defaultRelativeStep,
                       random: inout SeededRandom) {
        let weight = random.nonzeroFloats(features, magnitude: 0.5 ... 1.5), bias = random.floats(features)
        let xBuffer = FloatBuffer(x), weightBuffer = FloatBuffer(weight), biasBuffer = FloatBuffer(bias)
        let out = FloatBuffer(count: x.count), mean = FloatBuffer(count: rows), rstd = FloatBuffer(count: rows)
        LayerNorm.forward(out: out.pointer, mean: mean.pointer, rstd: rstd.pointer, x: xBuffer.pointer,
                          weight: weightBuffer.pointer, bias: biasBuffer.pointer, rows: rows, features: features)
        let reference = Naive.layerNorm(x.asDoubles, weight: weight.asDoubles, bias: bias.asDoubles, rows: rows, features: features)

        let w = random.floats(x.count)
        let gradients = FiniteDifference.gradients(weights: w.asDoubles, at: [x.asDoubles, weight.asDoubles, bias.asDoubles],
                                                   relativeStep: relativeStep) {
            Naive.layerNorm($0[0], weight: $0[1], bias: $0[2], rows: rows, features: features).out
        }
        let prefills = gradients.map { GradientCheck.prefill(like: $0, using: &random) }
        let bounds = Bounds(x: x, weight: weight, bias: bias, dOut: w, prefills: prefills, reference: reference,
                            rows: rows, features: features)
        assertWithinBound(out.array, reference.out, bound: bounds.out, "LayerNorm out (\(label))")
        assertWithinBound(mean.array, reference.mean, bound: bounds.mean, "LayerNorm mean (\(label))")
        assertWithinBound(rstd.array, reference.rstd, bound: bounds.rstd, "LayerNorm rstd (\(label))")

        let dX = FloatBuffer(prefills[0]), dWeight = FloatBuffer(prefills[1]), dBias = FloatBuffer(prefills[2])
        let dOut = FloatBuffer(w)
        LayerNorm.backward(dX: dX.pointer, dWeight: dWeight.pointer, dBias: dBias.pointer, dOut: dOut.pointer,
                           x: xBuffer.pointer, weight: weightBuffer.pointer, mean: mean.pointer, rstd: rstd.pointer,
                           rows: rows, features: features)
        // Each bound plus 1e-9 of the tensor's scale for the finite-difference oracle's own error.
        for (name, actual, index, bound) in [("dX", dX.array, 0, bounds.dX), ("dWeight", dWeight.array, 1, bounds.dWeight),
                                             ("dBias", dBias.array, 2, bounds.dBias)] {
            let expected = GradientCheck.accumulated(prefill: prefills[index], gradient: gradients[index])
            let oracle = 1e-9 * expected.reduce(0.0) { max($0, abs($1)) }
            assertWithinBound(actual, expected, bound: bound.map { $0 + oracle }, "LayerNorm \(name) (\(label))")
        }
    }
}
