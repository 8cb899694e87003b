// TopologyTests.swift: hwloc topology shape, thread binding and the once-per-process warnings.
//
// Binding tests run on fresh `Thread`s, never on XCTest's own thread: binding is per thread and
// would otherwise leave the test runner pinned to one core for every later test.

import Foundation
import XCTest

@testable import ILQLParallel

final class TopologyTests: XCTestCase {
    // MARK: - Shape

    func testTopologyHasCoresAndAtLeastAsManyProcessingUnits() throws {
        let topology = try Topology.shared
        XCTAssertGreaterThanOrEqual(topology.coreCount, 1)
        XCTAssertGreaterThanOrEqual(topology.processingUnitCount, topology.coreCount)
        XCTAssertEqual(topology.cores.map(\.index), Array(0 ..< topology.coreCount),
                       "cores must be in logical order, cores[i].index == i")
    }

    func testEveryCoreHasProcessingUnitsWithDistinctOSIndices() throws {
        let topology = try Topology.shared
        var seen: Set<Int> = []
        for core in topology.cores {
            XCTAssertFalse(core.osIndices.isEmpty, "core \(core.index) has no processing unit")
            XCTAssertEqual(core.osIndices, core.osIndices.sorted(), "core \(core.index)")
            for os in core.osIndices {
                XCTAssertTrue(seen.insert(os).inserted, "PU \(os) appears in two cores")
                XCTAssertEqual(topology.coreIndex(ofProcessingUnit: os), core.index, "PU \(os)")
            }
        }
        XCTAssertEqual(seen.count, topology.processingUnitCount)
        XCTAssertNil(topology.coreIndex(ofProcessingUnit: -1))
        XCTAssertNil(topology.coreIndex(ofProcessingUnit: Int(Int32.max)))
    }

    func testDefaultWorkerCountIsCoreCount() throws {
        XCTAssertEqual(Topology.defaultWorkerCount(), try Topology.shared.coreCount)
    }

    func testSeparateTopologiesAgree() throws {
        // A second load (and its deinit) must not disturb the shared one.
        let own = try Topology()
        XCTAssertEqual(own.cores, try Topology.shared.cores)
    }

    func testSyntheticTopologyGroupsHyperthreadsIntoCoresAndRefusesToBind() throws {
        // A synthetic topology (hwloc builds it from the description, not from this machine)
        // checks core/PU grouping with two hardware threads per core, which this VM lacks, and
        // that a topology which is not this machine's refuses to bind instead of pretending to.
        let variable = "HWLOC_SYNTHETIC"
        let previous = getenv(variable).map { String(cString: $0) }
        setenv(variable, "package:1 core:3 pu:2", 1)
        defer {
            if let previous { setenv(variable, previous, 1) } else { unsetenv(variable) }
        }
        let topology = try Topology()

        XCTAssertEqual(topology.coreCount, 3)
        XCTAssertEqual(topology.processingUnitCount, 6)
        XCTAssertEqual(topology.cores.map(\.osIndices), [[0, 1], [2, 3], [4, 5]])
        XCTAssertEqual(topology.coreIndex(ofProcessingUnit: 3), 1)
        XCTAssertNil(topology.coreIndex(ofProcessingUnit: 6))
        XCTAssertNotNil(topology.bindingUnavailableReason)
        guard case .refused = topology.bindCurrentThread(toCore: 0) else {
            return XCTFail("binding through a synthetic topology must be refused")
        }
        XCTAssertNil(topology.lastCPULocation())
    }

    // MARK: - Binding

    /// What one bound thread saw.
    private struct Observation {
        let requestedCore: Int
        let result: BindingResult
        /// `lastCPULocation()` sampled during and after the spin.
        let locations: [Int?]
    }

    func testEachThreadRunsOnTheCoreItBoundTo() throws {
        let topology = try Topology.shared
        // All threads at once, so the scheduler would spread or stack them freely if unbound.
        let observations = runOnThreads(count: topology.coreCount) { core in
            let result = topology.bindCurrentThread(toCore: core)
            var locations: [Int?] = []
            for _ in 0 ..< 4 {
                spin(milliseconds: 2)
                locations.append(topology.lastCPULocation())
            }
            return Observation(requestedCore: core, result: result, locations: locations)
        }
        try skipIfRefused(observations)

        var reportedCores: Set<Int> = []
        for observation in observations {
            XCTAssertEqual(observation.result, .bound(core: observation.requestedCore))
            for location in observation.locations {
                let pu = try XCTUnwrap(location, "core \(observation.requestedCore): no last CPU")
                XCTAssertEqual(topology.coreIndex(ofProcessingUnit: pu), observation.requestedCore,
                               "thread bound to core \(observation.requestedCore) ran on PU \(pu)")
                if let core = topology.coreIndex(ofProcessingUnit: pu) { reportedCores.insert(core) }
            }
        }
        XCTAssertEqual(reportedCores, Set(0 ..< topology.coreCount),
                       "threads bound to distinct cores must report distinct cores")
    }

    func testBindingIndexWrapsAroundModuloCoreCount() throws {
        let topology = try Topology.shared
        let count = topology.coreCount
        let requests = [count, 2 * count + 1, -1]
        let expected = [0, 1 % count, count - 1]
        let observations = runOnThreads(count: requests.count) { i in
            let result = topology.bindCurrentThread(toCore: requests[i])
            spin(milliseconds: 2)
            return Observation(requestedCore: requests[i], result: result,
                               locations: [topology.lastCPULocation()])
        }
        try skipIfRefused(observations)

        for (observation, core) in zip(observations, expected) {
            XCTAssertEqual(observation.result, .bound(core: core),
                           "index \(observation.requestedCore) of \(count) cores")
            let pu = try XCTUnwrap(observation.locations[0])
            XCTAssertEqual(topology.coreIndex(ofProcessingUnit: pu), core,
                           "index \(observation.requestedCore) ran on PU \(pu)")
        }
    }

    func testLastCPULocationIsAKnownProcessingUnit() throws {
        let topology = try Topology.shared
        if let reason = topology.bindingUnavailableReason {
            throw XCTSkip("hwloc cannot report CPU locations here: \(reason)")
        }
        let pu = try XCTUnwrap(topology.lastCPULocation())
        XCTAssertNotNil(topology.coreIndex(ofProcessingUnit: pu), "PU \(pu) is in no core")
    }

    // MARK: - Warnings

    func testWarningPrintsOncePerKeyAcrossThreads() {
        // A key of its own, so the result does not depend on which tests ran before.
        let key = BindingWarnings.Key("test-\(UUID().uuidString)")
        let printed = runOnThreads(count: 8) { i in
            BindingWarnings.warnOnce(key, "TopologyTests: expected test warning (thread \(i))")
        }
        XCTAssertEqual(printed.filter { $0 }.count, 1)
        XCTAssertFalse(BindingWarnings.warnOnce(key, "must not print"))
        XCTAssertNotEqual(key, BindingWarnings.Key.bindingRefused)
        XCTAssertNotEqual(BindingWarnings.Key.bindingRefused, .moreWorkersThanCores)
    }

    // MARK: - Helpers

    /// Skips the test (rather than failing it) on systems that forbid binding, such as
    /// containers and CI sandboxes; the library runs unpinned there by design.
    private func skipIfRefused(_ observations: [Observation]) throws {
        for observation in observations {
            if case let .refused(reason) = observation.result {
                throw XCTSkip("thread binding refused on this system: \(reason)")
            }
        }
    }
}

/// Runs `body(i)` for i in 0 ..< count, each on its own new `Thread`, all concurrently, and
/// returns the results in order of i.
private func runOnThreads<T>(count: Int, _ body: @escaping (Int) -> T) -> [T] {
    let results = ResultSlots<T>(count: count)
    let group = DispatchGroup()
    for i in 0 ..< count {
        group.enter()
        let thread = Thread {
            results.store(body(i), at: i)
            group.leave()
        }
        thread.start()
    }
    group.wait()
    return results.values
}

/// One result slot per thread, written under a lock (threads finish in any order).
private final class ResultSlots<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [T?]

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func store(_ value: T, at index: Int) { lock.withLock { slots[index] = value } }

    /// All results; only read after every thread has stored its own.
    var values: [T] { lock.withLock { slots.map { $0! } } }
}

/// Busy arithmetic for about `milliseconds`, so the thread is actually running (and has been
/// placed by the scheduler) when its location is read.
private func spin(milliseconds: Double) {
    let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(milliseconds * 1_000_000)
    var x: UInt64 = 0x9E37_79B9_7F4A_7C15
    while DispatchTime.now().uptimeNanoseconds < deadline {
        for _ in 0 ..< 1000 { x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407 }
    }
    // Keeps the loop from being optimised away.
    if x == 0 { print("") }
}
