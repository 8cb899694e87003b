// GemmTests.swift: the sgemm path (Gemm.fast) against Gemm.naive and a Double reference, for every
// transpose combination, α ≠ 1, β ∈ {0, 1, 0.5}, strided operands and degenerate sizes.
//
// Tolerance: the classical forward-error bound for a K-term dot product, scaled by α and added to
// β·C, is |fl(C) − C| ≤ γ_{K+2} · (|α|·|A|·|B| + |β|·|C|) elementwise, γ_n = n·u/(1 − n·u),
// whatever the summation order or use of FMA. `Gemm.naive` rounds the exact result once (≤ u).
// So each element is checked against that bound, computed from the data, rather than against a
// guessed constant; the printed relative error shows how far below it sgemm actually is.

import Foundation
import ILQLKernels
import TestSupport
import XCTest

final class GemmTests: XCTestCase {
    /// (m, n, k): ones, odd sizes that are not multiples of any vector width, and k large enough
    /// for sgemm to take its blocked path.
    private let sizes: [(Int, Int, Int)] = [
        (1, 1, 1), (1, 7, 5), (5, 1, 3), (3, 4, 1), (13, 17, 7), (6, 5, 33), (33, 3, 17), (1, 1, 0), (4, 3, 0),
    ]
    /// (α, β): α ≠ 1 throughout, β = 0 (C ignored), 1 (accumulate) and 0.5.
    private let scalars: [(Float, Float)] = [(1.7, 0), (-0.5, 1), (1.7, 0.5)]

    func testNoneNone() { checkAll(.none, .none, seed: 11) }
    func testNoneTransposed() { checkAll(.none, .transposed, seed: 12) }
    func testTransposedNone() { checkAll(.transposed, .none, seed: 13) }
    func testTransposedTransposed() { checkAll(.transposed, .transposed, seed: 14) }

    private func checkAll(_ ta: Gemm.Transpose, _ tb: Gemm.Transpose, seed: UInt64) {
        var random = SeededRandom(seed: seed)
        var worst = 0.0
        for (m, n, k) in sizes {
            for (alpha, beta) in scalars {
                worst = max(worst, check(ta, tb, m: m, n: n, k: k, alpha: alpha, beta: beta, random: &random))
            }
        }
        print("Gemm.fast \(ta)/\(tb): max rel err over all cases \(formatError(worst))")
    }

    /// Runs one case and returns Gemm.fast's max relative error against the Double reference.
    private func check(
        _ ta: Gemm.Transpose, _ tb: Gemm.Transpose, m: Int, n: Int, k: Int, alpha: Float, beta: Float,
        random: inout SeededRandom
    ) -> Double {
        // Stored shapes of op(A) = m×k and op(B) = k×n, each row padded so that ld > width.
        let (aRows, aColumns) = ta == .none ? (m, k) : (k, m)
        let (bRows, bColumns) = tb == .none ? (k, n) : (n, k)
        let lda = aColumns + 3, ldb = bColumns + 2, ldc = n + 4
        let a = random.floats(max(aRows * lda, 1))
        let b = random.floats(max(bRows * ldb, 1))
        var c = random.floats(max(m * ldc, 1))
        if beta == 0 {
            // β = 0 promises C's previous contents are ignored: NaN there must not leak through.
            for i in 0 ..< m { for j in 0 ..< n { c[i * ldc + j] = .nan } }
        }
        let aBuffer = FloatBuffer(a), bBuffer = FloatBuffer(b)
        let fast = FloatBuffer(c), naive = FloatBuffer(c)
        Gemm.fast(ta, tb, m: m, n: n, k: k, alpha: alpha, a: aBuffer.pointer, lda: lda,
                  b: bBuffer.pointer, ldb: ldb, beta: beta, c: fast.pointer, ldc: ldc)
        Gemm.naive(ta, tb, m: m, n: n, k: k, alpha: alpha, a: aBuffer.pointer, lda: lda,
                   b: bBuffer.pointer, ldb: ldb, beta: beta, c: naive.pointer, ldc: ldc)
        let reference = Naive.gemm(ta, tb, m: m, n: n, k: k, alpha: Double(alpha), a: a.asDoubles, lda: lda,
                                   b: b.asDoubles, ldb: ldb, beta: Double(beta), c: c.asDoubles, ldc: ldc)
        // |α|·|A|·|B| + |β|·|C|, the scale of the rounding error of each element.
        let magnitude = Naive.gemm(ta, tb, m: m, n: n, k: k, alpha: Double(abs(alpha)),
                                   a: a.map { Double(abs($0)) }, lda: lda, b: b.map { Double(abs($0)) }, ldb: ldb,
                                   beta: Double(abs(beta)), c: c.map { $0.isNaN ? 0 : Double(abs($0)) }, ldc: ldc)

        var window = [Int]()  // indices of the m×n result inside C's storage
        for i in 0 ..< m { for j in 0 ..< n { window.append(i * ldc + j) } }
        let windowSet = Set(window)
        let padding = c.indices.filter { !windowSet.contains($0) }
        let fastValues = fast.array, naiveValues = naive.array
        let label = "Gemm \(ta)/\(tb) (m \(m), n \(n), k \(k), alpha \(alpha), beta \(beta), lda \(lda), ldb \(ldb), ldc \(ldc))"

        // Entries between rows (the ldc padding) must be left exactly as they were.
        XCTAssertTrue(padding.allSatisfy { fastValues[$0].bitPattern == c[$0].bitPattern }, "\(label): fast wrote outside the window")
        XCTAssertTrue(padding.allSatisfy { naiveValues[$0].bitPattern == c[$0].bitPattern }, "\(label): naive wrote outside the window")

        let u = floatUnitRoundoff
        let gamma = Double(k + 2) * u / (1 - Double(k + 2) * u)
        let referenceOnWindow = window.map { reference[$0] }
        // The requirement: fast matches naive. sgemm is within γ_(K+2)·(|α|·|A|·|B| + |β|·|C|) of
        // the exact result and Gemm.naive within u·|exact| (one rounding of a Double result), so
        // they are within the sum of the two of each other.
        let fastError = assertWithinBound(
            window.map { fastValues[$0] }, window.map { Double(naiveValues[$0]) },
            bound: window.map { gamma * magnitude[$0] + u * abs(reference[$0]) }, "\(label): fast vs naive")
        // And each against the exact (Double) result, so that a shared mistake cannot pass.
        assertWithinBound(window.map { fastValues[$0] }, referenceOnWindow,
                          bound: window.map { gamma * magnitude[$0] }, "\(label): fast vs exact", quiet: true)
        assertWithinBound(window.map { naiveValues[$0] }, referenceOnWindow,
                          bound: window.map { u * abs(reference[$0]) * (1 + 1e-8) }, "\(label): naive vs exact", quiet: true)
        if k == 0 {
            // No products: both compute β·C with a single rounding, so they agree bit for bit.
            XCTAssertEqual(fastValues.map(\.bitPattern), naiveValues.map(\.bitPattern), "\(label): k = 0")
        }
        return fastError
    }

    /// m = 0 or n = 0 multiplies nothing and must not touch C at all.
    func testEmptyProductLeavesCUntouched() {
        var random = SeededRandom(seed: 15)
        let a = FloatBuffer(random.floats(12)), b = FloatBuffer(random.floats(12))
        let original = random.floats(12)
        for (m, n) in [(0, 3), (3, 0), (0, 0)] {
            let c = FloatBuffer(original)
            Gemm.fast(.none, .none, m: m, n: n, k: 2, alpha: 2, a: a.pointer, lda: 4, b: b.pointer, ldb: 4,
                      beta: 0.5, c: c.pointer, ldc: 4)
            assertBitEqual(c.array, original, "Gemm.fast m \(m) n \(n): C unchanged")
        }
    }
}
