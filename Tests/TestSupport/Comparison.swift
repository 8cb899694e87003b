// Comparison.swift: relative-error measurement and assertions shared by the test bundles.
//
// Every numeric test compares a Float result against a Double (or Float) reference and prints one
// line per tensor, so that the accuracy of each kernel is visible in the test log and not only
// whether it passed.

import Foundation
import XCTest

/// The unit roundoff of Float, 2⁻²⁴ ≈ 6.0e-8: one correctly rounded Float operation has a
/// relative error of at most this. Tolerances in the tests are written as multiples of it.
public let floatUnitRoundoff: Double = 0x1p-24

/// Where and how large the worst relative error of one tensor comparison was.
public struct RelativeErrorReport: CustomStringConvertible {
    /// max over elements of |actual − expected| / max(|expected|, floor); +∞ on NaN or a count mismatch.
    public let maxRelativeError: Double
    /// Index of the element that gave `maxRelativeError` (-1 when the tensors are empty).
    public let worstIndex: Int
    /// The denominator's lower bound that was used.
    public let floor: Double
    /// max |expected|, the tensor's scale.
    public let scale: Double
    public let worstActual: Double
    public let worstExpected: Double

    /// "max rel err 2.1e-07", the one-line summary printed for every comparison.
    public var description: String { "max rel err \(formatError(maxRelativeError))" }

    /// Where the worst element was, for failure messages.
    public var details: String {
        if worstIndex < 0 { return "\(self) (empty)" }
        return "\(self) at [\(worstIndex)]: \(worstActual) vs \(worstExpected) (tensor scale \(formatError(scale)), floor \(formatError(floor)))"
    }
}

/// "2.1e-07"-style formatting for error magnitudes.
public func formatError(_ value: Double) -> String {
    if value.isNaN { return "nan" }
    if value.isInfinite { return "inf" }
    return String(format: "%.1e", value)
}

/// The default floor fraction: entries smaller than 1/1000 of the tensor's largest entry are
/// compared in absolute terms at that level. Such entries are usually the result of cancellation
/// between terms of the tensor's full scale, so their absolute error is set by that scale and a
/// pure relative error would blow up without the kernel being any less accurate.
public let defaultFloorFraction: Double = 1e-3

/// The smallest floor ever used, so that an all-zero reference does not divide by zero (any
/// nonzero actual value then shows up as a huge relative error, which is what we want).
public let absoluteFloor: Double = 1e-30

/// Measures `max_i |actual_i − expected_i| / max(|expected_i|, floor)` with
/// `floor = max(floorFraction · max_i |expected_i|, absoluteFloor)`.
///
/// A plain relative error is fooled by tiny reference values (an error of 1e-9 on a value of 1e-12
/// reads as 1000); a plain absolute error is fooled by tensors of small scale. Tying the floor to
/// the tensor's own scale avoids both. A NaN or infinity where the reference is finite counts as
/// an infinite error; matching infinities of the same sign count as equal.
public func relativeError(
    _ actual: [Float], _ expected: [Double], floorFraction: Double = defaultFloorFraction
) -> RelativeErrorReport {
    relativeError(actual.map(Double.init), expected, floorFraction: floorFraction)
}

/// The same measure with a Double `actual` (for comparing two references).
public func relativeError(
    _ actual: [Double], _ expected: [Double], floorFraction: Double = defaultFloorFraction
) -> RelativeErrorReport {
    guard actual.count == expected.count else {
        return RelativeErrorReport(maxRelativeError: .infinity, worstIndex: 0, floor: 0, scale: 0,
                                   worstActual: Double(actual.count), worstExpected: Double(expected.count))
    }
    let scale = expected.reduce(0.0) { $1.isFinite ? max($0, abs($1)) : $0 }
    let floor = max(floorFraction * scale, absoluteFloor)
    var worst = 0.0, worstIndex = expected.isEmpty ? -1 : 0
    for i in expected.indices {
        let a = actual[i], b = expected[i]
        let error: Double
        if a == b {
            error = 0  // also covers equal infinities
        } else if !a.isFinite || !b.isFinite {
            error = .infinity
        } else {
            error = abs(a - b) / max(abs(b), floor)
        }
        if error > worst {
            worst = error
            worstIndex = i
        }
    }
    return RelativeErrorReport(
        maxRelativeError: worst, worstIndex: worstIndex, floor: floor, scale: scale,
        worstActual: worstIndex >= 0 ? actual[worstIndex] : 0,
        worstExpected: worstIndex >= 0 ? expected[worstIndex] : 0)
}

/// Prints `"<label>: max rel err 2.1e-07 (tolerance 1.0e-06)"` and asserts the error is within
/// `tolerance`. Returns the error so callers can collect a summary.
///
/// The tolerance must be argued for at the call site (a comment naming where the error comes
/// from); it is never to be widened just to make a failing comparison pass.
@discardableResult
public func assertRelativeClose(
    _ actual: [Float], _ expected: [Double], tolerance: Double, _ label: String,
    floorFraction: Double = defaultFloorFraction, file: StaticString = #filePath, line: UInt = #line
) -> Double {
    let report = relativeError(actual, expected, floorFraction: floorFraction)
    print("\(label): \(report) (tolerance \(formatError(tolerance)))")
    XCTAssertLessThanOrEqual(report.maxRelativeError, tolerance, "\(label): \(report.details)", file: file, line: line)
    return report.maxRelativeError
}

/// `assertRelativeClose` against a Float reference (for example `Gemm.naive`'s output).
@discardableResult
public func assertRelativeClose(
    _ actual: [Float], _ expected: [Float], tolerance: Double, _ label: String,
    floorFraction: Double = defaultFloorFraction, file: StaticString = #filePath, line: UInt = #line
) -> Double {
    assertRelativeClose(actual, expected.map(Double.init), tolerance: tolerance, label,
                        floorFraction: floorFraction, file: file, line: line)
}

/// The worst ratio |actual_i − expected_i| / bound_i (0/0 counts as 0, NaN as +∞).
public func worstBoundRatio(_ actual: [Float], _ expected: [Double], bound: [Double]) -> (ratio: Double, index: Int) {
    guard actual.count == expected.count, bound.count == expected.count else { return (.infinity, -1) }
    var worst = 0.0, index = -1
    for i in expected.indices {
        let a = Double(actual[i]), b = expected[i]
        let error = a == b ? 0 : (a.isFinite && b.isFinite ? abs(a - b) : .infinity)
        let ratio = error == 0 ? 0 : error / bound[i]
        if !(ratio <= worst) { worst = ratio; index = i }
    }
    return (worst, index)
}

/// Asserts `|actual_i − expected_i| ≤ bound_i` for every element, where `bound` is a forward-error
/// bound derived from the computation (for a K-term Float sum, about K·u·Σ|terms|), and prints the
/// relative error of `relativeError` together with the worst error/bound ratio (`quiet` prints
/// nothing unless it fails).
///
/// This is the check for kernels that accumulate: an element that cancels to 1% of its tensor's
/// scale legitimately carries a relative error 100× the rounding of its terms, which a fixed
/// relative tolerance would either miss everywhere else or flag here. A bound per element is
/// exact about that without loosening anything. Returns the relative error.
@discardableResult
public func assertWithinBound(
    _ actual: [Float], _ expected: [Double], bound: [Double], _ label: String, quiet: Bool = false,
    file: StaticString = #filePath, line: UInt = #line
) -> Double {
    let report = relativeError(actual, expected)
    let (ratio, index) = worstBoundRatio(actual, expected, bound: bound)
    if !quiet { print("\(label): \(report) (elementwise error bound, worst error/bound \(formatError(ratio)))") }
    if !(ratio <= 1) {
        let detail = index >= 0 ? "[\(index)] \(actual[index]) vs \(expected[index]), bound \(bound[index])" : "count mismatch"
        XCTFail("\(label): error exceeds its bound by \(formatError(ratio))×: \(detail); \(report.details)", file: file, line: line)
    }
    return report.maxRelativeError
}

/// Asserts two Float arrays are identical bit for bit (so -0 ≠ +0 and NaN payloads must match),
/// for operations that promise an exact copy or no change at all.
public func assertBitEqual(
    _ actual: [Float], _ expected: [Float], _ label: String,
    file: StaticString = #filePath, line: UInt = #line
) {
    guard actual.count == expected.count else {
        XCTFail("\(label): count \(actual.count) ≠ \(expected.count)", file: file, line: line)
        return
    }
    let mismatches = actual.indices.filter { actual[$0].bitPattern != expected[$0].bitPattern }
    print("\(label): \(mismatches.count) of \(actual.count) elements differ bitwise")
    if let first = mismatches.first {
        XCTFail("\(label): element \(first) is \(actual[first]) (0x\(String(actual[first].bitPattern, radix: 16))), "
                + "expected \(expected[first]) (0x\(String(expected[first].bitPattern, radix: 16)))",
                file: file, line: line)
    }
}

public extension Array where Element == Float {
    /// The values widened to Double (exactly), to feed a Double reference the same inputs.
    var asDoubles: [Double] { map(Double.init) }
}
