// AttentionTests.swift: causal multi-head attention on fused qkv: forward (out and the saved
// probabilities) against a Double reference with an explicit mask, backward against finite
// differences, the causal mask itself, saturated scores of ±80, and forwardCached against rows
// of the full forward.
//
// Tolerances are elementwise forward-error bounds computed from the Double reference (see
// `AttentionBounds`): scores are d-term dot products (δs ≤ (d + 2)·u·Σ|q_c k_c|/√d), a softmax
// turns absolute score errors into relative probability errors (plus FastMath.exp's 4e-7 and the
// rounding of s − max, u·|s − max|), and every sgemm adds γ_(K+…)·Σ|terms| for its K terms.
// Large scores (±80) therefore widen the bound in proportion, as they must.

import Foundation
import ILQLKernels
import TestSupport
import XCTest

final class AttentionTests: XCTestCase {
    private let u = floatUnitRoundoff

    /// (batch, length, features, heads): T = 1, batch 1, head sizes 1, 2, 3, 5, 7 and 12 (one 8-wide
    /// and one 4-wide chunk in `ShortVector`), and lengths on both sides of
    /// `Attention.directLengthLimit` (loops below it, sgemm above).
    private let shapes = [(1, 1, 4, 1), (1, 1, 6, 3), (2, 3, 6, 2), (1, 5, 10, 2), (2, 4, 7, 1), (1, 6, 12, 4), (1, 3, 3, 3),
                          (2, 11, 24, 2), (1, Attention.directLengthLimit, 4, 2), (1, Attention.directLengthLimit + 3, 6, 2)]

    private struct Result { let out: [Float]; let probabilities: [Float] }

    private func forward(_ qkv: FloatBuffer, batch: Int, length: Int, features: Int, heads: Int) -> Result {
        let out = FloatBuffer([Float](repeating: .nan, count: batch * length * features))
        let probabilities = FloatBuffer([Float](repeating: .nan, count: batch * heads * length * length))
        Attention.forward(out: out.pointer, probabilities: probabilities.pointer, qkv: qkv.pointer,
                          batch: batch, length: length, features: features, heads: heads)
        return Result(out: out.array, probabilities: probabilities.array)
    }

    /// max |q·k/√d| over visible pairs, from the Double inputs.
    private func maxScore(_ qkv: [Double], batch: Int, length: Int, features: Int, heads: Int) -> Double {
        let d = features / heads
        var result = 0.0
        for b in 0 ..< batch { for h in 0 ..< heads { for i in 0 ..< length { for j in 0 ... i {
            var dot = 0.0
            for c in 0 ..< d {
                dot += qkv[(b * length + i) * 3 * features + h * d + c] * qkv[(b * length + j) * 3 * features + features + h * d + c]
            }
            result = max(result, abs(dot) / Double(d).squareRoot())
        } } } }
        return result
    }

    func testMatchesReferenceAndFiniteDifferences() {
        var random = SeededRandom(seed: 601)
        for (batch, length, features, heads) in shapes {
            let qkv = random.floats(batch * length * 3 * features)
            check(qkv, batch: batch, length: length, features: features, heads: heads, label: "", random: &random)
        }
    }

    /// Scores of ±80: softmax rows are nearly one-hot, e^(s − max) spans e^-160 … 1 (FastMath
    /// flushes below e^-87 to 0; the reference keeps 1e-70, an immaterial difference).
    func testSaturatedScores() {
        var random = SeededRandom(seed: 602)
        for (batch, length, features, heads) in [(1, 4, 5, 1), (2, 3, 6, 2), (1, 5, 12, 3)] {
            var qkv = random.floats(batch * length * 3 * features)
            let scale = 80 / maxScore(qkv.asDoubles, batch: batch, length: length, features: features, heads: heads)
            for row in 0 ..< batch * length {
                for c in 0 ..< features { qkv[row * 3 * features + c] *= Float(scale) }
            }
            check(qkv, batch: batch, length: length, features: features, heads: heads, label: " scores ±80", random: &random)
        }
    }

    private func check(_ qkv: [Float], batch: Int, length: Int, features: Int, heads: Int, label: String,
                       random: inout SeededRandom) {
        let shape = "(batch \(batch), length \(length), features \(features), heads \(heads))\(label)"
        let qkvBuffer = FloatBuffer(qkv)
        let result = forward(qkvBuffer, batch: batch, length: length, features: features, heads: heads)
        let reference = Naive.attention(qkv.asDoubles, batch: batch, length: length, features: features, heads: heads)

        let w = random.floats(result.out.count)
        let gradients = FiniteDifference.gradients(weights: w.asDoubles, at: [qkv.asDoubles]) {
            Naive.attention($0[0], batch: batch, length: length, features: features, heads: heads).out
        }
        let prefill = GradientCheck.prefill(like: gradients[0], using: &random)
        let bounds = AttentionBounds(qkv: qkv, dOut: w, prefill: prefill, probabilities: reference.probabilities,
                                     batch: batch, length: length, features: features, heads: heads)
        assertWithinBound(result.out, reference.out, bound: bounds.out, "Attention out \(shape)")
        assertWithinBound(result.probabilities, reference.probabilities, bound: bounds.probabilities,
                          "Attention probabilities \(shape)")

        // NaN in the scratch: the backward must overwrite it before reading (its first sgemm has β = 0).
        let dQkv = FloatBuffer(prefill), dOut = FloatBuffer(w)
        let scratch = FloatBuffer([Float](repeating: .nan, count: length * length))
        let probabilities = FloatBuffer(result.probabilities)
        Attention.backward(dQkv: dQkv.pointer, scratch: scratch.pointer, dOut: dOut.pointer, qkv: qkvBuffer.pointer,
                           probabilities: probabilities.pointer, batch: batch, length: length, features: features, heads: heads)
        let expected = GradientCheck.accumulated(prefill: prefill, gradient: gradients[0])
        // Plus 1e-9 of the scale for the finite-difference oracle's own error.
        let oracle = 1e-9 * expected.reduce(0.0) { max($0, abs($1)) }
        assertWithinBound(dQkv.array, expected, bound: bounds.dQkv.map { $0 + oracle }, "Attention dQkv \(shape)")
    }

    /// Elementwise error bounds of forward (out, probabilities) and backward (dQkv onto `prefill`)
    /// from the exact probabilities; each term names the roundings it covers.
    private struct AttentionBounds {
        var out: [Double], probabilities: [Double], dQkv: [Double]

        init(qkv: [Float], dOut: [Float], prefill: [Float], probabilities reference: [Double],
             batch: Int, length: Int, features: Int, heads: Int) {
            let u = floatUnitRoundoff, d = features / heads, scale = 1 / Double(d).squareRoot()
            func gamma(_ n: Int) -> Double { Double(n) * u / (1 - Double(n) * u) }
            out = .init(repeating: 0, count: batch * length * features)
            probabilities = .init(repeating: 0, count: reference.count)
            dQkv = .init(repeating: 0, count: qkv.count)
            for b in 0 ..< batch {
                func x(_ t: Int, _ c: Int) -> Double { Double(qkv[(b * length + t) * 3 * features + c]) }
                func g(_ t: Int, _ c: Int) -> Double { Double(dOut[(b * length + t) * features + c]) }
                for h in 0 ..< heads {
                    let q = h * d, k = features + h * d, v = 2 * features + h * d
                    func p(_ i: Int, _ j: Int) -> Double { reference[((b * heads + h) * length + i) * length + j] }
                    var deltaP = [[Double]](repeating: .init(repeating: 0, count: length), count: length)
                    var dS = deltaP, deltaDS = deltaP
                    for i in 0 ..< length {
                        // Scores: d products and sums, ×scale (and scale's own rounding).
                        let scores = (0 ... i).map { j in scale * (0 ..< d).reduce(0.0) { $0 + x(i, q + $1) * x(j, k + $1) } }
                        let maximum = scores.max()!
                        let deltaScore = (0 ... i).map { j in gamma(d + 2) * scale * (0 ..< d).reduce(0.0) { $0 + abs(x(i, q + $1) * x(j, k + $1)) } }
                        let delta = deltaScore.max()!  // also bounds the error of the row maximum
                        // The sum S = Σ e^(s − max): its terms' errors averaged with weights P, i more roundings.
                        let sumError = 2 * delta + 4e-7 + u * (0 ... i).reduce(0.0) { $0 + p(i, $1) * abs(scores[$1] - maximum) } + Double(i) * u
                        for j in 0 ... i {
                            // e^(s − max): both scores' errors, rounding of s − max, exp; then 1/S and ×.
                            var bound = p(i, j) * (2 * delta + u * abs(scores[j] - maximum) + 4e-7 + sumError + 2 * u)
                            // FastMath.exp flushes e^z below z = −87 to 0: the whole (≈ 1e-38) value is the
                            // error there, so such entries print a worst error/bound just under 1.
                            if scores[j] - maximum < -87 { bound += p(i, j) }
                            deltaP[i][j] = bound
                            probabilities[((b * heads + h) * length + i) * length + j] = bound
                        }
                        for c in 0 ..< d {  // out = P·v by sgemm over `length` terms, β = 0
                            out[(b * length + i) * features + q + c] = (0 ... i).reduce(0.0) {
                                $0 + deltaP[i][$1] * abs(x($1, v + c)) + gamma(length + 1) * p(i, $1) * abs(x($1, v + c))
                            }
                        }
                        // Backward: dP = dOut·vᵀ (d terms), D = Σ P·dP, dS = P∘(dP − D).
                        let dP = (0 ... i).map { j in (0 ..< d).reduce(0.0) { $0 + g(i, q + $1) * x(j, v + $1) } }
                        let deltaDP = (0 ... i).map { j in gamma(d + 1) * (0 ..< d).reduce(0.0) { $0 + abs(g(i, q + $1) * x(j, v + $1)) } }
                        let sumD = (0 ... i).reduce(0.0) { $0 + p(i, $1) * dP[$1] }
                        let deltaD = (0 ... i).reduce(0.0) {
                            $0 + deltaP[i][$1] * abs(dP[$1]) + p(i, $1) * deltaDP[$1] + gamma(i + 2) * p(i, $1) * abs(dP[$1])
                        }
                        for j in 0 ... i {
                            dS[i][j] = p(i, j) * (dP[j] - sumD)
                            deltaDS[i][j] = deltaP[i][j] * abs(dP[j] - sumD) + p(i, j) * (deltaDP[j] + deltaD)
                                + 2 * u * p(i, j) * (abs(dP[j]) + abs(sumD))
                        }
                    }
                    for t in 0 ..< length {
                        for c in 0 ..< d {
                            // sgemm with β = 1 onto the prefill (α = scale for dq, dk): γ_(length+3).
                            let dqIndex = (b * length + t) * 3 * features + q + c
                            var terms = 0.0, propagated = 0.0
                            for j in 0 ... t { terms += scale * abs(dS[t][j] * x(j, k + c)); propagated += scale * deltaDS[t][j] * abs(x(j, k + c)) }
                            dQkv[dqIndex] = propagated + gamma(length + 3) * (terms + abs(Double(prefill[dqIndex])))
                            let dkIndex = dqIndex + features, dvIndex = dqIndex + 2 * features
                            terms = 0; propagated = 0
                            var vTerms = 0.0, vPropagated = 0.0
                            for i in t ..< length {
                                terms += scale * abs(dS[i][t] * x(i, q + c)); propagated += scale * deltaDS[i][t] * abs(x(i, q + c))
                                vTerms += p(i, t) * abs(g(i, q + c)); vPropagated += deltaP[i][t] * abs(g(i, q + c))
                            }
                            dQkv[dkIndex] = propagated + gamma(length + 3) * (terms + abs(Double(prefill[dkIndex])))
                            dQkv[dvIndex] = vPropagated + gamma(length + 2) * (vTerms + abs(Double(prefill[dvIndex])))
                        }
                    }
                }
            }
        }
    }

    /// Probabilities above the diagonal are exactly 0, and nothing at position j can change the
    /// output or the probabilities of positions i < j.
    func testCausalMask() {
        var random = SeededRandom(seed: 603)
        let batch = 2, length = 5, features = 6, heads = 2
        let qkv = random.floats(batch * length * 3 * features)
        let base = forward(FloatBuffer(qkv), batch: batch, length: length, features: features, heads: heads)
        for b in 0 ..< batch { for h in 0 ..< heads { for i in 0 ..< length { for j in i + 1 ..< length {
            XCTAssertEqual(base.probabilities[((b * heads + h) * length + i) * length + j].bitPattern, 0,
                           "P[\(b), \(h), \(i), \(j)] above the diagonal must be +0")
        } } } }
        for later in 1 ..< length {
            // Replace q, k and v of position `later` in every sequence with large different values.
            var changed = qkv
            for b in 0 ..< batch {
                for c in 0 ..< 3 * features { changed[(b * length + later) * 3 * features + c] = Float(c % 7) * 37 - 100 }
            }
            let result = forward(FloatBuffer(changed), batch: batch, length: length, features: features, heads: heads)
            for b in 0 ..< batch {
                let rows = (b * length * features) ..< ((b * length + later) * features)
                assertBitEqual(Array(result.out[rows]), Array(base.out[rows]), "Attention out before position \(later), sequence \(b)")
                for h in 0 ..< heads {
                    let start = (b * heads + h) * length * length
                    assertBitEqual(Array(result.probabilities[start ..< start + later * length]),
                                   Array(base.probabilities[start ..< start + later * length]),
                                   "Attention probabilities before position \(later), sequence \(b), head \(h)")
                }
            }
        }
    }

    /// Decoding: the query of position t over a cache holding k and v of positions 0 … t gives row
    /// t of the full causal forward. Cache rows past `visible` hold NaN to prove they are not read.
    func testForwardCachedEqualsRowsOfFullForward() {
        var random = SeededRandom(seed: 604)
        for (length, features, heads) in [(1, 4, 1), (5, 6, 2), (4, 15, 3), (6, 7, 1)] {
            let qkv = random.floats(length * 3 * features)
            let full = forward(FloatBuffer(qkv), batch: 1, length: length, features: features, heads: heads)
            let reference = Naive.attention(qkv.asDoubles, batch: 1, length: length, features: features, heads: heads)
            let fullBounds = AttentionBounds(qkv: qkv, dOut: .init(repeating: 0, count: length * features),
                                             prefill: .init(repeating: 0, count: qkv.count), probabilities: reference.probabilities,
                                             batch: 1, length: length, features: features, heads: heads)
            var keys = [Float](), values = [Float]()
            for t in 0 ..< length {
                keys += qkv[(t * 3 + 1) * features ..< (t * 3 + 2) * features]
                values += qkv[(t * 3 + 2) * features ..< (t * 3 + 3) * features]
            }
            for t in 0 ..< length {
                let label = "(position \(t), length \(length), features \(features), heads \(heads))"
                var cacheKeys = keys, cacheValues = values
                for i in (t + 1) * features ..< length * features { cacheKeys[i] = .nan; cacheValues[i] = .nan }
                let keyBuffer = FloatBuffer(cacheKeys), valueBuffer = FloatBuffer(cacheValues)
                let query = FloatBuffer(Array(qkv[t * 3 * features ..< (t * 3 + 1) * features]))
                let out = FloatBuffer(count: features), scores = FloatBuffer(count: t + 1)
                Attention.forwardCached(out: out.pointer, scores: scores.pointer, query: query.pointer, keys: keyBuffer.pointer,
                                        values: valueBuffer.pointer, visible: t + 1, features: features, heads: heads)
                // Row t of a causal forward over the first t + 1 positions is the same computation
                // with scalar loops instead of sgemm (t + 1 terms instead of `length`): the bound of
                // that prefix's last row covers it.
                let prefix = Array(qkv[0 ..< (t + 1) * 3 * features])
                let prefixReference = Naive.attention(prefix.asDoubles, batch: 1, length: t + 1, features: features, heads: heads)
                let cachedBound = Array(AttentionBounds(
                    qkv: prefix, dOut: .init(repeating: 0, count: (t + 1) * features),
                    prefill: .init(repeating: 0, count: prefix.count), probabilities: prefixReference.probabilities,
                    batch: 1, length: t + 1, features: features, heads: heads).out[t * features ..< (t + 1) * features])
                let row = t * features ..< (t + 1) * features
                assertWithinBound(out.array, Array(reference.out[row]), bound: cachedBound, "Attention forwardCached vs reference \(label)")
                // Against the full forward: within the sum of both bounds.
                assertWithinBound(out.array, full.out[row].map(Double.init), bound: zip(cachedBound, fullBounds.out[row]).map { $0 + $1 },
                                  "Attention forwardCached vs full forward \(label)")
            }
        }
    }
}
