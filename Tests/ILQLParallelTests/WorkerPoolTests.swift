import Foundation
import XCTest
@testable import ILQLParallel

final class WorkerPoolTests: XCTestCase {
    func testEveryWorkerRunsEveryJobOnce() {
        let pool = WorkerPool(workers: 4)
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: 4)
        counts.initialize(repeating: 0, count: 4)
        defer { counts.deallocate() }
        for _ in 0..<50 {
            // Each worker writes only its own slot; `run` returning orders the reads below.
            pool.run { worker in counts[worker] += 1 }
        }
        XCTAssertEqual((0..<4).map { counts[$0] }, [50, 50, 50, 50])
    }

    func testSetUpRunsInEachWorkerBeforeJobs() {
        let lock = NSLock()
        var setUp: Set<Int> = []
        let pool = WorkerPool(workers: 3) { worker in lock.withLock { _ = setUp.insert(worker) } }
        XCTAssertEqual(lock.withLock { setUp }, [0, 1, 2])
        pool.run { _ in }
    }

    /// Workers report the core they ran on; pinned to one core each, they are distinct.
    func testWorkersRunOnDistinctCores() throws {
        let topology = try Topology.shared
        guard topology.bindingUnavailableReason == nil else {
            throw XCTSkip("thread binding unavailable: \(topology.bindingUnavailableReason!)")
        }
        let workers = topology.coreCount
        let pool = WorkerPool(workers: workers, topology: topology)
        if case let .refused(reason)?? = pool.bindingResults.first { throw XCTSkip("binding refused: \(reason)") }
        pool.run { _ in
            // A few milliseconds of work so the location is a real one.
            var x = 0.0
            for i in 0..<200_000 { x += Double(i).squareRoot() }
            XCTAssertGreaterThan(x, 0)
        }
        let cores = pool.lastCores
        print("worker cores: \(cores)")
        XCTAssertEqual(cores, (0..<workers).map { Optional($0) })
    }

    func testReleasedPoolStopsItsThreads() {
        weak var weakPool: WorkerPool?
        do {
            let pool = WorkerPool(workers: 2)
            pool.run { _ in }
            weakPool = pool
        }
        XCTAssertNil(weakPool, "threads must not keep the pool alive")
    }
}

final class AllReduceTests: XCTestCase {
    func values(_ seed: Int, _ count: Int) -> [Float] {
        (0..<count).map { Float(sin(Double($0 * 7 + seed * 13)) * pow(10, Double(($0 + seed) % 7) - 3)) }
    }

    /// The result is the pairwise tree, bit for bit, for any chunking.
    func testPairwiseOrderIsFixed() {
        let count = 1_000
        for workers in 1...5 {
            let inputs = (0..<workers).map { values($0, count) }
            var expected = inputs
            var stride = 1
            while stride < workers {
                for i in Swift.stride(from: 0, to: workers - stride, by: 2 * stride) {
                    for j in 0..<count { expected[i][j] += expected[i + stride][j] }
                }
                stride *= 2
            }
            for chunkSize in [16, 64, 1_000] {
                let buffers = inputs.map { input -> UnsafeMutablePointer<Float> in
                    let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
                    p.initialize(from: input, count: count)
                    return p
                }
                defer { buffers.forEach { $0.deallocate() } }
                AllReduce.sum(buffers, chunks: AllReduce.chunks(count: count, size: chunkSize))
                XCTAssertEqual((0..<count).map { buffers[0][$0].bitPattern }, expected[0].map(\.bitPattern),
                               "workers \(workers), chunk \(chunkSize)")
            }
        }
    }

    func testAfterChunkSeesEveryRangeOnce() {
        let count = 100
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
        buffer.initialize(repeating: 1, count: count)
        defer { buffer.deallocate() }
        let lock = NSLock()
        var seen: [Range<Int>] = []
        AllReduce.sum([buffer], chunks: AllReduce.chunks(count: count, size: 32)) { _, range in
            lock.withLock { seen.append(range) }
        }
        XCTAssertEqual(seen.sorted { $0.lowerBound < $1.lowerBound }, [0..<32, 32..<64, 64..<96, 96..<100])
    }

    /// Timing the sums writes one duration per chunk and leaves the sum itself as it was.
    func testSumSecondsTimesEveryChunk() {
        let count = 1_000, chunks = AllReduce.chunks(count: count, size: 64)
        let inputs = (0..<3).map { values($0, count) }
        func summed(timing: UnsafeMutablePointer<Double>?) -> [UInt32] {
            let buffers = inputs.map { input -> UnsafeMutablePointer<Float> in
                let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
                p.initialize(from: input, count: count)
                return p
            }
            defer { buffers.forEach { $0.deallocate() } }
            AllReduce.sum(buffers, chunks: chunks, sumSeconds: timing)
            return (0..<count).map { buffers[0][$0].bitPattern }
        }
        let seconds = UnsafeMutablePointer<Double>.allocate(capacity: chunks.count)
        seconds.initialize(repeating: -1, count: chunks.count)
        defer { seconds.deallocate() }
        XCTAssertEqual(summed(timing: seconds), summed(timing: nil))
        XCTAssertTrue((0..<chunks.count).allSatisfy { seconds[$0] >= 0 && seconds[$0] < 1 })
    }
}
