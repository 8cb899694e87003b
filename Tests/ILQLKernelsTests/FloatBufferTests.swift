// FloatBufferTests.swift: the storage every kernel works on: zeroed, 64-byte aligned, round trips.

import ILQLKernels
import TestSupport
import XCTest

final class FloatBufferTests: XCTestCase {
    func testAllocationIsZeroedAndCacheLineAligned() {
        for count in [0, 1, 5, 7, 13, 17, 33, 1000] {
            let buffer = FloatBuffer(count: count)
            XCTAssertEqual(buffer.count, count)
            XCTAssertEqual(Int(bitPattern: UnsafeRawPointer(buffer.pointer)) % FloatBuffer.alignment, 0, "count \(count)")
            XCTAssertTrue(buffer.array.allSatisfy { $0.bitPattern == 0 }, "count \(count) must start as +0")
            XCTAssertEqual(buffer.buffer.count, count)
        }
        XCTAssertEqual(FloatBuffer.alignment, 64)
    }

    func testEmptyBufferHasAValidPointer() {
        let buffer = FloatBuffer(count: 0)
        XCTAssertEqual(buffer.array, [])
        // Kernels may be handed an empty tensor's pointer; it must be a real allocation.
        buffer.pointer[0] = 1
        XCTAssertEqual(buffer.count, 0)
    }

    func testInitFromArrayRoundTripsAndZeroClears() {
        let values: [Float] = [1, -0.0, .infinity, 3.25, Float.leastNonzeroMagnitude]
        let buffer = FloatBuffer(values)
        assertBitEqual(buffer.array, values, "FloatBuffer round trip")
        buffer.buffer[3] = 7
        XCTAssertEqual(buffer.pointer[3], 7, "buffer and pointer are the same storage")
        buffer.zero()
        XCTAssertTrue(buffer.array.allSatisfy { $0.bitPattern == 0 })
        assertBitEqual(FloatBuffer([]).array, [], "FloatBuffer from an empty array")
    }
}
