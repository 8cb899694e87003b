// SequenceLayoutTests.swift: sequences of different lengths packed end to end. The layout's
// offsets, and the two kernels that look across positions (embedding, attention) on a packed
// layout against each sequence computed alone: the per-sequence work is the same operations in
// the same order, so the results must be identical bit for bit (the references themselves are
// checked against Double references and finite differences in EmbeddingTests and AttentionTests).

import ILQLKernels
import TestSupport
import XCTest

final class SequenceLayoutTests: XCTestCase {
    /// Lengths on both sides of `Attention.directLengthLimit` (loops below, sgemm above), with T = 1.
    private let lengths = [3, 1, 11, Attention.directLengthLimit + 3, 7, 2]

    func testOffsets() {
        let layout = SequenceLayout(lengths: [3, 1, 5])
        XCTAssertEqual(layout.count, 3)
        XCTAssertEqual(layout.rowStarts, [0, 3, 4, 9])
        XCTAssertEqual(layout.rowCount, 9)
        XCTAssertEqual((0..<3).map(layout.length), [3, 1, 5])
        XCTAssertEqual(layout.longest, 5)
        XCTAssertEqual(layout.squareStarts, [0, 9, 10, 35])
        XCTAssertEqual(layout.probabilityStart(2, heads: 2), 20)
        XCTAssertEqual(layout.probabilityCount(heads: 2), 70)

        // Equal lengths: the (batch, length) layout and (batch, heads, length, length) blocks.
        let uniform = SequenceLayout(batch: 4, length: 6)
        XCTAssertEqual(uniform.rowStarts, [0, 6, 12, 18, 24])
        XCTAssertEqual(uniform.probabilityStart(3, heads: 2), 3 * 2 * 36)
        XCTAssertEqual(SequenceLayout(lengths: []).rowCount, 0)
        XCTAssertEqual(SequenceLayout(lengths: []).longest, 0)
    }

    func testPackedAttentionEqualsEachSequenceAlone() {
        var random = SeededRandom(seed: 801)
        let features = 12, heads = 3, stride = 3 * features
        let layout = SequenceLayout(lengths: lengths)
        let rows = layout.rowCount
        let qkv = FloatBuffer(random.floats(rows * stride)), dOut = FloatBuffer(random.floats(rows * features))
        let prefill = random.floats(rows * stride)

        let out = FloatBuffer([Float](repeating: .nan, count: rows * features))
        let probabilities = FloatBuffer([Float](repeating: .nan, count: layout.probabilityCount(heads: heads)))
        Attention.forward(out: out.pointer, probabilities: probabilities.pointer, qkv: qkv.pointer,
                          sequences: layout, features: features, heads: heads)
        let dQkv = FloatBuffer(prefill)
        let scratch = FloatBuffer([Float](repeating: .nan, count: layout.longest * layout.longest))
        Attention.backward(dQkv: dQkv.pointer, scratch: scratch.pointer, dOut: dOut.pointer, qkv: qkv.pointer,
                           probabilities: probabilities.pointer, sequences: layout, features: features, heads: heads)

        for b in 0..<layout.count {
            let length = layout.length(b), row = layout.rowStart(b)
            let label = "sequence \(b) (length \(length))"
            let aloneQkv = FloatBuffer(Array(qkv.array[(row * stride)..<((row + length) * stride)]))
            let aloneOut = FloatBuffer(count: length * features)
            let aloneProbabilities = FloatBuffer(count: heads * length * length)
            Attention.forward(out: aloneOut.pointer, probabilities: aloneProbabilities.pointer, qkv: aloneQkv.pointer,
                              batch: 1, length: length, features: features, heads: heads)
            assertBitEqual(Array(out.array[(row * features)..<((row + length) * features)]), aloneOut.array,
                           "attention out, \(label)")
            let start = layout.probabilityStart(b, heads: heads)
            assertBitEqual(Array(probabilities.array[start..<(start + heads * length * length)]), aloneProbabilities.array,
                           "attention probabilities, \(label)")

            let aloneDQkv = FloatBuffer(Array(prefill[(row * stride)..<((row + length) * stride)]))
            let aloneDOut = FloatBuffer(Array(dOut.array[(row * features)..<((row + length) * features)]))
            let aloneScratch = FloatBuffer(count: length * length)
            Attention.backward(dQkv: aloneDQkv.pointer, scratch: aloneScratch.pointer, dOut: aloneDOut.pointer,
                               qkv: aloneQkv.pointer, probabilities: aloneProbabilities.pointer,
                               batch: 1, length: length, features: features, heads: heads)
            assertBitEqual(Array(dQkv.array[(row * stride)..<((row + length) * stride)]), aloneDQkv.array,
                           "attention dQkv, \(label)")
        }
    }

    func testPackedEmbeddingEqualsEachSequenceAlone() {
        var random = SeededRandom(seed: 802)
        let features = 7, vocab = 5
        let layout = SequenceLayout(lengths: lengths)
        let longest = layout.longest
        let tokens = random.tokens(layout.rowCount, in: 0..<Int32(vocab))
        let wte = FloatBuffer(random.floats(vocab * features)), wpe = FloatBuffer(random.floats(longest * features))
        let dOut = FloatBuffer(random.floats(layout.rowCount * features))

        let out = FloatBuffer(count: layout.rowCount * features)
        let dWte = FloatBuffer(count: vocab * features), dWpe = FloatBuffer(count: longest * features)
        tokens.withUnsafeBufferPointer { ids in
            Embedding.forward(out: out.pointer, tokens: ids.baseAddress!, wte: wte.pointer, wpe: wpe.pointer,
                              sequences: layout, features: features)
            Embedding.backward(dWte: dWte.pointer, dWpe: dWpe.pointer, dOut: dOut.pointer, tokens: ids.baseAddress!,
                               sequences: layout, features: features)
        }

        // The same sequences one at a time, accumulating in the same order.
        let aloneDWte = FloatBuffer(count: vocab * features), aloneDWpe = FloatBuffer(count: longest * features)
        for b in 0..<layout.count {
            let length = layout.length(b), row = layout.rowStart(b)
            let aloneOut = FloatBuffer(count: length * features)
            let ids = Array(tokens[row..<(row + length)])
            let aloneDOut = FloatBuffer(Array(dOut.array[(row * features)..<((row + length) * features)]))
            ids.withUnsafeBufferPointer { ids in
                Embedding.forward(out: aloneOut.pointer, tokens: ids.baseAddress!, wte: wte.pointer, wpe: wpe.pointer,
                                  batch: 1, length: length, features: features)
                Embedding.backward(dWte: aloneDWte.pointer, dWpe: aloneDWpe.pointer, dOut: aloneDOut.pointer,
                                   tokens: ids.baseAddress!, batch: 1, length: length, features: features)
            }
            // Positions restart at 0 with every sequence.
            assertBitEqual(Array(out.array[(row * features)..<((row + length) * features)]), aloneOut.array,
                           "embedding out, sequence \(b)")
        }
        assertBitEqual(dWte.array, aloneDWte.array, "embedding dWte")
        assertBitEqual(dWpe.array, aloneDWpe.array, "embedding dWpe")
    }
}
