import XCTest
@testable import ILQL

/// A worker's gradient buffers: the pairwise tree over its micro-batches, and the finiteness of
/// the result.
final class GradientStackTests: XCTestCase {
    /// Pushes `leaves` and returns the result's bits and finiteness.
    func combine(_ leaves: [[Float]]) -> (bits: [UInt32], finite: Bool) {
        let stack = GradientStack(count: leaves[0].count)
        stack.reset()
        for values in leaves {
            let leaf = stack.leaf()
            XCTAssertTrue(leaf.array.allSatisfy { $0 == 0 }, "a leaf starts zeroed")
            leaf.pointer.update(from: values, count: values.count)
            stack.push(leaf)
        }
        let (buffer, finite) = stack.result()
        return (buffer.array.map(\.bitPattern), finite)
    }

    /// The sum is the pairwise tree ((g0 + g1) + (g2 + g3)) + g4 for five leaves, bit for bit.
    func testSumIsThePairwiseTree() {
        let count = 100
        // Magnitudes 2^0 … 2^20 apart, so that another order of addition rounds differently.
        let leaves: [[Float]] = (0..<5).map { k in
            let magnitude = Float(1 << (k * 5))
            return (0..<count).map { i -> Float in Float(sin(Double(7 * i + 13 * k))) * magnitude }
        }
        let expected: [UInt32] = (0..<count).map { i in
            let first: Float = leaves[0][i] + leaves[1][i], second: Float = leaves[2][i] + leaves[3][i]
            return ((first + second) + leaves[4][i]).bitPattern
        }
        let (bits, finite) = combine(leaves)
        XCTAssertEqual(bits, expected)
        XCTAssertTrue(finite)
    }

    /// A NaN or an infinity in any leaf, or a sum that overflows, makes the result non-finite,
    /// whether or not an addition wrote it.
    func testFinitenessCoversLeavesAndSums() {
        let finite: [Float] = [1, -2, 3, 4]
        for bad in [Float.nan, .infinity, -.infinity] {
            var faulty = finite
            faulty[2] = bad
            XCTAssertFalse(combine([faulty]).finite, "a single leaf holding \(bad)")
            for position in 0..<3 {
                var leaves = [finite, finite, finite]
                leaves[position] = faulty
                XCTAssertFalse(combine(leaves).finite, "\(bad) in leaf \(position) of 3")
            }
        }
        let large: [Float] = [1, .greatestFiniteMagnitude, 0, 0]
        XCTAssertTrue(combine([large]).finite)
        XCTAssertFalse(combine([large, large]).finite, "the sum overflows")
        XCTAssertTrue(combine([finite, finite, finite, finite, finite]).finite)
    }

    /// Buffers are reused between steps, and each step starts from zeroed leaves.
    func testReuseAcrossSteps() {
        let stack = GradientStack(count: 4)
        for step in 1...3 {
            stack.reset()
            for _ in 0..<3 {
                let leaf = stack.leaf()
                for i in 0..<4 { leaf.pointer[i] += Float(step) }
                stack.push(leaf)
            }
            XCTAssertEqual(stack.result().buffer.array, [Float](repeating: Float(3 * step), count: 4))
        }
        XCTAssertEqual(stack.allocatedBuffers, 2)
    }
}
