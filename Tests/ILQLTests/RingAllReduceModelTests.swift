import XCTest
@testable import ILQL

/// The ring all-reduce model behind the multi-machine projection, against values worked by hand.
final class RingAllReduceModelTests: XCTestCase {
    func testTimeFollowsTheRingFormula() {
        let link = RingAllReduceModel(bitsPerSecond: 8e9, latency: 1e-5)  // 1 GB/s
        // One machine: nothing to exchange.
        XCTAssertEqual(link.seconds(bytes: 1e9, machines: 1), 0)
        // Two machines: each sends half the buffer twice, 2 messages → 1 s + 20 µs.
        XCTAssertEqual(link.seconds(bytes: 1e9, machines: 2), 1 + 2e-5, accuracy: 1e-12)
        // Eight machines: 2·7/8 of the buffer and 14 messages → 1.75 s + 140 µs.
        XCTAssertEqual(link.seconds(bytes: 1e9, machines: 8), 1.75 + 1.4e-4, accuracy: 1e-12)
    }

    func testEfficiencyIsStepOverStepPlusAllReduce() {
        let link = RingAllReduceModel(bitsPerSecond: 8e9, latency: 0)
        // A 3 s step and a 1 s all-reduce: 75%.
        XCTAssertEqual(link.efficiency(stepSeconds: 3, bytes: 1e9, machines: 2), 0.75, accuracy: 1e-12)
        XCTAssertEqual(link.efficiency(stepSeconds: 3, bytes: 1e9, machines: 1), 1)
    }
}
