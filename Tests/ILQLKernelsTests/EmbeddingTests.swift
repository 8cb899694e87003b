// EmbeddingTests.swift: token + position embedding forward against a Double reference, backward
// against finite differences (repeated tokens must accumulate into one wte row), and the
// firstPosition offset used when decoding after a cached prefix.

import Foundation
import ILQLKernels
import TestSupport
import XCTest

final class EmbeddingTests: XCTestCase {
    private let u = floatUnitRoundoff

    private func forward(
        tokens: [Int32], wte: FloatBuffer, wpe: FloatBuffer, batch: Int, length: Int, features: Int, firstPosition: Int = 0
    ) -> [Float] {
        let out = FloatBuffer(count: batch * length * features)
        tokens.withUnsafeBufferPointer { tokenPointer in
            Embedding.forward(out: out.pointer, tokens: tokenPointer.baseAddress!, wte: wte.pointer, wpe: wpe.pointer,
                              batch: batch, length: length, features: features, firstPosition: firstPosition)
        }
        return out.array
    }

    func testForwardAndBackwardMatchReferenceAndFiniteDifferences() {
        var random = SeededRandom(seed: 401)
        // (batch, length, features, vocab): T = 1, batch 1, odd widths; vocab small so tokens repeat.
        for (batch, length, features, vocab) in [(1, 1, 1, 2), (1, 1, 5, 3), (2, 3, 7, 4), (1, 6, 13, 3), (3, 2, 17, 5)] {
            let label = "batch \(batch), length \(length), features \(features), vocab \(vocab)"
            let tokens = random.tokens(batch * length, in: 0 ..< Int32(vocab))
            let positions = length + 2  // wpe has more rows than used: the extra ones get no gradient
            let wte = random.floats(vocab * features), wpe = random.floats(positions * features)
            let wteBuffer = FloatBuffer(wte), wpeBuffer = FloatBuffer(wpe)
            let out = forward(tokens: tokens, wte: wteBuffer, wpe: wpeBuffer, batch: batch, length: length, features: features)
            let reference = Naive.embedding(tokens: tokens, wte: wte.asDoubles, wpe: wpe.asDoubles,
                                            batch: batch, length: length, features: features)
            // One addition: one rounding.
            assertRelativeClose(out, reference, tolerance: u, "Embedding out (\(label))")

            let w = random.floats(out.count)
            let gradients = FiniteDifference.gradients(weights: w.asDoubles, at: [wte.asDoubles, wpe.asDoubles]) {
                Naive.embedding(tokens: tokens, wte: $0[0], wpe: $0[1], batch: batch, length: length, features: features)
            }
            let prefillWte = GradientCheck.prefill(like: gradients[0], using: &random)
            let prefillWpe = GradientCheck.prefill(like: gradients[1], using: &random)
            let dWte = FloatBuffer(prefillWte), dWpe = FloatBuffer(prefillWpe), dOut = FloatBuffer(w)
            tokens.withUnsafeBufferPointer { tokenPointer in
                Embedding.backward(dWte: dWte.pointer, dWpe: dWpe.pointer, dOut: dOut.pointer, tokens: tokenPointer.baseAddress!,
                                   batch: batch, length: length, features: features)
            }
            // A wte row receives one addition per occurrence of its token (≤ batch·length) and a
            // wpe row one per sequence (batch), onto the prefill: γ_(K+1)·(|prefill| + Σ|dOut|).
            let magnitudes = FiniteDifference.termMagnitudes(weights: w.asDoubles, at: [wte.asDoubles, wpe.asDoubles]) {
                Naive.embedding(tokens: tokens, wte: $0[0], wpe: $0[1], batch: batch, length: length, features: features)
            }
            let expectedWte = GradientCheck.accumulated(prefill: prefillWte, gradient: gradients[0])
            let expectedWpe = GradientCheck.accumulated(prefill: prefillWpe, gradient: gradients[1])
            assertWithinBound(dWte.array, expectedWte, bound: GradientCheck.accumulationBound(
                terms: batch * length, prefill: prefillWte, magnitudes: magnitudes[0], expected: expectedWte),
                "Embedding dWte (\(label))")
            assertWithinBound(dWpe.array, expectedWpe, bound: GradientCheck.accumulationBound(
                terms: batch, prefill: prefillWpe, magnitudes: magnitudes[1], expected: expectedWpe),
                "Embedding dWpe (\(label))")
            // Positions past `length` take no part: their prefill must be untouched.
            assertBitEqual(Array(dWpe.array[(length * features)...]), Array(prefillWpe[(length * features)...]),
                           "Embedding dWpe unused positions (\(label))")
        }
    }

    /// A token used several times collects the sum of all its rows of dOut; tokens not used keep
    /// their gradient exactly.
    func testRepeatedTokensAccumulateIntoOneRow() {
        let features = 3
        let tokens: [Int32] = [2, 0, 2, 2]  // batch 2, length 2
        let dOutValues: [Float] = [1, 2, 3, 10, 20, 30, 100, 200, 300, 1000, 2000, 3000]
        let dWte = FloatBuffer([Float](repeating: 0.5, count: 4 * features))
        let dWpe = FloatBuffer([Float](repeating: -0.5, count: 2 * features))
        let dOut = FloatBuffer(dOutValues)
        tokens.withUnsafeBufferPointer { tokenPointer in
            Embedding.backward(dWte: dWte.pointer, dWpe: dWpe.pointer, dOut: dOut.pointer, tokens: tokenPointer.baseAddress!,
                               batch: 2, length: 2, features: features)
        }
        // Integers: every sum is exact.
        XCTAssertEqual(dWte.array, [10.5, 20.5, 30.5, 0.5, 0.5, 0.5, 1101.5, 2202.5, 3303.5, 0.5, 0.5, 0.5])
        XCTAssertEqual(dWpe.array, [100.5, 201.5, 302.5, 1009.5, 2019.5, 3029.5])
    }

    /// With firstPosition p, position t of the chunk reads wpe row p + t (decoding after a prefix
    /// of p tokens). Checked against the reference and against slicing a full-length forward.
    func testFirstPositionOffsetsPositions() {
        var random = SeededRandom(seed: 402)
        let features = 5, vocab = 4, positions = 7
        let wte = random.floats(vocab * features), wpe = random.floats(positions * features)
        let wteBuffer = FloatBuffer(wte), wpeBuffer = FloatBuffer(wpe)
        let fullTokens = random.tokens(positions, in: 0 ..< Int32(vocab))
        let full = forward(tokens: fullTokens, wte: wteBuffer, wpe: wpeBuffer, batch: 1, length: positions, features: features)
        for (first, length) in [(0, 1), (3, 2), (6, 1), (4, 3)] {
            let chunk = Array(fullTokens[first ..< first + length])
            let out = forward(tokens: chunk, wte: wteBuffer, wpe: wpeBuffer, batch: 1, length: length,
                              features: features, firstPosition: first)
            let reference = Naive.embedding(tokens: chunk, wte: wte.asDoubles, wpe: wpe.asDoubles, batch: 1,
                                            length: length, features: features, firstPosition: first)
            assertRelativeClose(out, reference, tolerance: u, "Embedding out firstPosition \(first) (length \(length))")
            assertBitEqual(out, Array(full[first * features ..< (first + length) * features]),
                           "Embedding firstPosition \(first) = rows of the full forward")
        }
        // Two sequences decoding one token each at position 5: both read wpe row 5.
        let tokens: [Int32] = [1, 3]
        let out = forward(tokens: tokens, wte: wteBuffer, wpe: wpeBuffer, batch: 2, length: 1, features: features, firstPosition: 5)
        let reference = Naive.embedding(tokens: tokens, wte: wte.asDoubles, wpe: wpe.asDoubles, batch: 2, length: 1,
                                        features: features, firstPosition: 5)
        assertRelativeClose(out, reference, tolerance: u, "Embedding out firstPosition 5 (batch 2, length 1)")
    }
}
