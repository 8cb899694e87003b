// SoftmaxCrossEntropyTests.swift: per-row loss logsumexp − logit[target] against a Double
// reference, the saved logsumexp, the gradient against finite differences, ignored rows
// (negative target) and logits of magnitude 80.
//
// Tolerances are elementwise error bounds (see `lseBound`): logsumexp = M + log Σ e^(l − M) in
// Float, M = max l. Each e^z carries FastMath.exp's ≤ 4e-7 plus u·|z| from rounding z = l − M
// (at most 0.37·u after weighting by e^z), the C-term sum ≤ C·u, log and the two additions one
// rounding each at their own magnitude: δlse ≤ 4e-7 + 1.37·C·u + u·(|lse − M| + |lse|). At ±80
// the last term, ~ulp(80) ≈ 8e-6, dominates: inherent to storing a logsumexp near 80 in Float.
// The gradient w·(softmax − onehot) inherits exp(l − lse)'s relative error δlse + u·|l − lse| + 4e-7.

import Foundation
import ILQLKernels
import TestSupport
import XCTest

final class SoftmaxCrossEntropyTests: XCTestCase {
    private let u = floatUnitRoundoff

    func testOrdinaryShapes() {
        var random = SeededRandom(seed: 701)
        // (rows, classes): one row, odd widths (one class has its own test).
        for (rows, classes) in [(1, 5), (3, 7), (4, 13), (2, 17), (3, 33)] {
            let logits = random.floats(rows * classes, in: -3 ... 3)
            var targets = random.tokens(rows, in: 0 ..< Int32(classes))
            if rows > 2 { targets[1] = -1 }  // one ignored row in the middle
            check(logits: logits, targets: targets, rows: rows, classes: classes, label: "rows \(rows), classes \(classes)", random: &random)
        }
    }

    /// With one class the softmax is 1: loss exactly 0 (lse = l + log 1) and gradient 0 (up to
    /// the rounding of prefill + w − w, which is what the kernel computes).
    func testSingleClass() {
        let logits = FloatBuffer([3.5, -80, 0]), targets: [Int32] = [0, 0, 0], rows = 3
        let losses = FloatBuffer(count: rows), lse = FloatBuffer(count: rows)
        let prefill: [Float] = [0.25, -0.5, 0.125], w: [Float] = [0.7, -1.1, 0.3]
        let dLogits = FloatBuffer(prefill), dLosses = FloatBuffer(w)
        targets.withUnsafeBufferPointer { t in
            SoftmaxCrossEntropy.forward(losses: losses.pointer, logSumExp: lse.pointer, logits: logits.pointer,
                                        targets: t.baseAddress!, rows: rows, classes: 1)
            SoftmaxCrossEntropy.backward(dLogits: dLogits.pointer, dLosses: dLosses.pointer, logits: logits.pointer,
                                         logSumExp: lse.pointer, targets: t.baseAddress!, rows: rows, classes: 1)
        }
        XCTAssertEqual(losses.array, [0, 0, 0])
        XCTAssertEqual(lse.array, logits.array)
        // Two roundings of numbers of size |prefill| + |w|.
        for r in 0 ..< rows {
            XCTAssertEqual(dLogits.array[r], prefill[r], accuracy: 2 * Float(u) * (abs(prefill[r]) + abs(w[r])), "row \(r)")
        }
    }

    func testLargeMagnitudeLogits() {
        var random = SeededRandom(seed: 702)
        let rows = 4, classes = 7
        // ±80 with a spread: the target at the maximum (loss ≈ 0), at the minimum (loss ≈ 160),
        // and in between. Without the max shift e^80 would overflow Float.
        var logits = random.floats(rows * classes, in: -80 ... 80)
        logits[0] = 80; logits[1] = -80  // row 0: target 0 is the maximum
        logits[classes + 2] = -80  // row 1: target 2 is −80
        logits[2 * classes + 3] = 79.5; logits[2 * classes + 4] = 79.9  // row 2: two near-equal maxima
        for v in 0 ..< classes { logits[3 * classes + v] = -80 + Float(v) * 1e-3 }  // row 3: all ≈ −80
        let targets: [Int32] = [0, 2, 3, 6]
        check(logits: logits, targets: targets, rows: rows, classes: classes, label: "logits ±80", random: &random)
    }

    /// Rows with target −1 have loss exactly 0 and leave their gradient rows untouched, whatever
    /// their weight; rows with weight 0 are skipped too.
    func testIgnoredRowsGiveNoLossAndNoGradient() {
        var random = SeededRandom(seed: 703)
        let rows = 4, classes = 5
        let logits = random.floats(rows * classes, in: -5 ... 5), logitsBuffer = FloatBuffer(logits)
        let targets: [Int32] = [-1, 3, -1, 0]
        let losses = FloatBuffer([Float](repeating: .nan, count: rows)), lse = FloatBuffer(count: rows)
        let prefill = random.floats(rows * classes)
        let dLogits = FloatBuffer(prefill), dLosses = FloatBuffer([0.7, 0, 1.3, 0.25])
        targets.withUnsafeBufferPointer { t in
            SoftmaxCrossEntropy.forward(losses: losses.pointer, logSumExp: lse.pointer, logits: logitsBuffer.pointer,
                                        targets: t.baseAddress!, rows: rows, classes: classes)
            SoftmaxCrossEntropy.backward(dLogits: dLogits.pointer, dLosses: dLosses.pointer, logits: logitsBuffer.pointer,
                                         logSumExp: lse.pointer, targets: t.baseAddress!, rows: rows, classes: classes)
        }
        XCTAssertEqual(losses.array[0], 0)
        XCTAssertEqual(losses.array[2], 0)
        let gradient = dLogits.array
        for r in [0, 1, 2] {  // ignored rows (0, 2) and the zero-weight row (1)
            assertBitEqual(Array(gradient[r * classes ..< (r + 1) * classes]), Array(prefill[r * classes ..< (r + 1) * classes]),
                           "SoftmaxCrossEntropy dLogits row \(r) untouched")
        }
        // Row 3 does get its gradient: softmax − onehot, weighted by 0.25.
        let reference = Naive.softmaxCrossEntropy(logits.asDoubles, targets: targets, rows: rows, classes: classes)
        var expected = [Double]()
        for v in 0 ..< classes {
            let p = Foundation.exp(Double(logits[3 * classes + v]) - reference.logSumExp[3]) - (v == 0 ? 1 : 0)
            expected.append(Double(prefill[3 * classes + v]) + 0.25 * p)
        }
        // A sanity check of the one active row only (the full bound is in `check`): e's relative
        // error (lse's ≤ 4e-7 + 1.37·5·u + u·(|lse − M| + |lse|) ≤ ~1.5e-6 here, plus exp's 4e-7)
        // on entries ≤ 0.25 in size next to prefills of up to 1: 1e-5 relative to the row's scale.
        assertRelativeClose(Array(gradient[3 * classes ..< 4 * classes]), expected, tolerance: 1e-5,
                            "SoftmaxCrossEntropy dLogits row 3 (rows 4, classes 5)")
    }

    /// The bound on |δ logsumexp| for each row, from the reference (header).
    private func lseBound(logits: [Float], lse: [Double], rows: Int, classes: Int) -> [Double] {
        (0 ..< rows).map { r in
            let maximum = Double(logits[r * classes ..< (r + 1) * classes].max()!)
            return 4e-7 + 1.37 * Double(classes) * u + u * (abs(lse[r] - maximum) + abs(lse[r]))
        }
    }

    private func check(logits: [Float], targets: [Int32], rows: Int, classes: Int, label: String, random: inout SeededRandom) {
        let logitsBuffer = FloatBuffer(logits)
        let losses = FloatBuffer([Float](repeating: .nan, count: rows)), lse = FloatBuffer(count: rows)
        targets.withUnsafeBufferPointer { t in
            SoftmaxCrossEntropy.forward(losses: losses.pointer, logSumExp: lse.pointer, logits: logitsBuffer.pointer,
                                        targets: t.baseAddress!, rows: rows, classes: classes)
        }
        let reference = Naive.softmaxCrossEntropy(logits.asDoubles, targets: targets, rows: rows, classes: classes)
        let deltaLse = lseBound(logits: logits, lse: reference.logSumExp, rows: rows, classes: classes)
        // loss = lse − l[target]: one more rounding; ignored rows must be exactly 0 (bound 0).
        let lossBound = (0 ..< rows).map { targets[$0] < 0 ? 0 : deltaLse[$0] + u * abs(reference.losses[$0]) }
        assertWithinBound(losses.array, reference.losses, bound: lossBound, "SoftmaxCrossEntropy loss (\(label))")
        assertWithinBound(lse.array, reference.logSumExp, bound: deltaLse, "SoftmaxCrossEntropy logSumExp (\(label))")
        for r in 0 ..< rows where targets[r] < 0 { XCTAssertEqual(losses.array[r], 0, "ignored row \(r) (\(label))") }

        let w = random.floats(rows)
        let gradients = FiniteDifference.gradients(weights: w.asDoubles, at: [logits.asDoubles]) {
            Naive.softmaxCrossEntropy($0[0], targets: targets, rows: rows, classes: classes).losses
        }
        let prefill = GradientCheck.prefill(like: gradients[0], using: &random)
        let dLogits = FloatBuffer(prefill), dLosses = FloatBuffer(w)
        targets.withUnsafeBufferPointer { t in
            SoftmaxCrossEntropy.backward(dLogits: dLogits.pointer, dLosses: dLosses.pointer, logits: logitsBuffer.pointer,
                                         logSumExp: lse.pointer, targets: t.baseAddress!, rows: rows, classes: classes)
        }
        // p + w·e^(l − lse) (− w at the target): e's relative error δlse + u·|l − lse| + 4e-7, the
        // product and each addition one rounding; rows with a negative target must stay exactly
        // at the prefill (bound 0). Plus 1e-9 of the scale for the oracle's own error.
        let expected = GradientCheck.accumulated(prefill: prefill, gradient: gradients[0])
        let oracle = 1e-9 * expected.reduce(0.0) { max($0, abs($1)) }
        var bound = [Double]()
        for r in 0 ..< rows {
            for v in 0 ..< classes {
                if targets[r] < 0 { bound.append(0); continue }
                let weight = abs(Double(w[r])), p = abs(Double(prefill[r * classes + v]))
                let z = Double(logits[r * classes + v]) - reference.logSumExp[r]
                let softmax = Foundation.exp(z)
                var b = weight * softmax * (deltaLse[r] + u * abs(z) + 4e-7 + u) + u * (p + weight * softmax)
                if v == Int(targets[r]) { b += u * (p + weight * softmax + weight) }
                bound.append(b + oracle)
            }
        }
        assertWithinBound(dLogits.array, expected, bound: bound, "SoftmaxCrossEntropy dLogits (\(label))")
    }
}
