// ShortVectorTests.swift: the SIMD-chunked dot product, scaled addition and weighted row sum
// against Double references, at every length from 0 to 37 (so every mix of 8-wide chunks, the
// 4-wide step and the scalar tail), with strided rows.
//
// Tolerances are forward-error bounds from the Double reference: a sum of n products, however it
// is parenthesised, is within γ_n·Σ|terms| (γ_n = n·u/(1 − n·u)); a fused or unfused
// multiply-add adds at most two roundings per element.

import ILQLKernels
import TestSupport
import XCTest

final class ShortVectorTests: XCTestCase {
    private let u = floatUnitRoundoff

    private func gamma(_ n: Int) -> Double { Double(n) * u / (1 - Double(n) * u) }

    func testDotMatchesReference() {
        var random = SeededRandom(seed: 811)
        for count in 0...37 {
            let a = random.floats(count), b = random.floats(count)
            let aBuffer = FloatBuffer(a), bBuffer = FloatBuffer(b)
            let result = ShortVector.dot(aBuffer.pointer, bBuffer.pointer, count: count)
            let expected = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let magnitude = zip(a, b).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) }
            assertWithinBound([result], [expected], bound: [gamma(max(count, 1)) * magnitude],
                              "ShortVector.dot (count \(count))", quiet: true)
        }
    }

    func testAddScaledMatchesReference() {
        var random = SeededRandom(seed: 812)
        for count in 0...37 {
            let y = random.floats(count + 3), x = random.floats(count), alpha = random.floats(1)[0]
            let yBuffer = FloatBuffer(y), xBuffer = FloatBuffer(x)
            ShortVector.addScaled(yBuffer.pointer, alpha, xBuffer.pointer, count: count)
            let expected = (0..<(count + 3)).map { c in
                c < count ? Double(y[c]) + Double(alpha) * Double(x[c]) : Double(y[c])
            }
            let bound = (0..<(count + 3)).map { c in
                c < count ? gamma(2) * (abs(Double(y[c])) + abs(Double(alpha) * Double(x[c]))) : 0
            }
            // Elements past `count` must not be touched (bound 0).
            assertWithinBound(yBuffer.array, expected, bound: bound, "ShortVector.addScaled (count \(count))", quiet: true)
        }
    }

    func testAddWeightedRowsMatchesReference() {
        var random = SeededRandom(seed: 813)
        for count in [0, 1, 3, 4, 5, 8, 11, 12, 13, 16, 20, 37] {
            for rowCount in [1, 2, 7, 11] {
                for overwrite in [true, false] {
                    let rowStride = count + 5
                    let rows = random.floats(rowCount * rowStride), weights = random.floats(rowCount)
                    let y = random.floats(count + 2)
                    let yBuffer = FloatBuffer(y), rowsBuffer = FloatBuffer(rows), weightsBuffer = FloatBuffer(weights)
                    ShortVector.addWeightedRows(yBuffer.pointer, overwrite: overwrite, weights: weightsBuffer.pointer,
                                                rows: rowsBuffer.pointer, rowStride: rowStride, rowCount: rowCount,
                                                count: count)
                    var expected = [Double](), bound = [Double]()
                    for c in 0..<(count + 2) {
                        guard c < count else {
                            expected.append(Double(y[c]))
                            bound.append(0)
                            continue
                        }
                        var sum = overwrite ? 0 : Double(y[c]), magnitude = overwrite ? 0 : abs(Double(y[c]))
                        for j in 0..<rowCount {
                            let term = Double(weights[j]) * Double(rows[j * rowStride + c])
                            sum += term
                            magnitude += abs(term)
                        }
                        expected.append(sum)
                        bound.append(gamma(rowCount + 1) * magnitude)
                    }
                    assertWithinBound(yBuffer.array, expected, bound: bound,
                                      "ShortVector.addWeightedRows (count \(count), rows \(rowCount), overwrite \(overwrite))",
                                      quiet: true)
                }
            }
        }
    }
}
