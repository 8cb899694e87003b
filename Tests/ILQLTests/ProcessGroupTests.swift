import Foundation
import XCTest
@testable import ILQL

/// Processes simulated by threads of one process: each thread is a rank, and the collectives meet
/// at a barrier. Sums run in rank order, like a two-process MPI_Allreduce; this is what lets
/// the multi-process trainer be tested on machines without MPI.
final class ThreadedProcessGroup: ProcessGroup {
    let rank: Int
    let shared: Shared
    var size: Int { shared.size }

    /// What the ranks share: the deposited buffers and a reusable barrier.
    final class Shared: @unchecked Sendable {
        let size: Int
        let condition = NSCondition()
        var arrived = 0, generation = 0
        var deposits: [UnsafeMutableRawPointer?]
        var result: UnsafeMutableRawPointer?

        init(size: Int) {
            self.size = size
            deposits = Array(repeating: nil, count: size)
        }

        func barrier() {
            condition.lock()
            let mine = generation
            arrived += 1
            if arrived == size {
                arrived = 0
                generation += 1
                condition.broadcast()
            } else {
                while generation == mine { condition.wait() }
            }
            condition.unlock()
        }
    }

    init(rank: Int, shared: Shared) {
        self.rank = rank
        self.shared = shared
    }

    /// One group of `size` ranks.
    static func group(size: Int) -> [ThreadedProcessGroup] {
        let shared = Shared(size: size)
        return (0..<size).map { ThreadedProcessGroup(rank: $0, shared: shared) }
    }

    func allReduceSum(_ values: UnsafeMutablePointer<Float>, count: Int) { sumInRankOrder(values, count: count) }
    func allReduceSum(_ values: UnsafeMutablePointer<Double>, count: Int) { sumInRankOrder(values, count: count) }

    /// Rank 0 adds every rank's buffer in rank order into a shared result, which every rank copies.
    private func sumInRankOrder<T: FloatingPoint>(_ values: UnsafeMutablePointer<T>, count: Int) {
        shared.deposits[rank] = UnsafeMutableRawPointer(values)
        shared.barrier()
        if rank == 0 {
            let total = UnsafeMutablePointer<T>.allocate(capacity: count)
            for i in 0..<count {
                total[i] = (1..<size).reduce(values[i]) { $0 + shared.deposits[$1]!.assumingMemoryBound(to: T.self)[i] }
            }
            shared.result = UnsafeMutableRawPointer(total)
        }
        shared.barrier()
        let total = shared.result!.assumingMemoryBound(to: T.self)
        values.update(from: total, count: count)
        shared.barrier()
        if rank == 0 { total.deallocate() }
    }

    func broadcast(_ bytes: UnsafeMutableRawPointer, byteCount: Int, root: Int) {
        shared.deposits[rank] = bytes
        shared.barrier()
        if rank != root { bytes.copyMemory(from: shared.deposits[root]!, byteCount: byteCount) }
        shared.barrier()
    }
}

/// The trainer over several processes, with ranks simulated by threads.
final class ProcessGroupTests: XCTestCase {
    /// Runs `body(rank, group)` on one thread per rank and returns the results in rank order.
    func onRanks<T>(_ size: Int, _ body: @escaping (Int, ThreadedProcessGroup) throws -> T) -> [Result<T, Error>] {
        let groups = ThreadedProcessGroup.group(size: size)
        let results = UnsafeMutablePointer<Result<T, Error>?>.allocate(capacity: size)
        results.initialize(repeating: nil, count: size)
        defer { results.deinitialize(count: size); results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: size) { rank in
            results[rank] = Result { try body(rank, groups[rank]) }
        }
        return (0..<size).map { results[$0]! }
    }

    /// Two ranks with one worker each take the same steps, bit for bit, as one process with two
    /// workers, and report the whole batch's statistics on every rank.
    func testTwoRanksMatchOneProcessWithTwoWorkers() throws {
        let single = try ILQLTrainer(config: TrainerTests.makeConfig(workers: 2), dataset: TrainerTests.dataset)
        let expected = try XCTUnwrap(try single.train())
        let results = onRanks(2) { _, group -> (parameters: [Float], loss: Double, statistics: [String: Double]) in
            let trainer = try ILQLTrainer(config: TrainerTests.makeConfig(workers: 1), dataset: TrainerTests.dataset,
                                          processGroup: group)
            let report = try XCTUnwrap(try trainer.train())
            return (Array(UnsafeBufferPointer(start: trainer.parameters.pointer, count: trainer.parameters.count)),
                    report.loss, report.statistics)
        }
        let expectedParameters = Array(UnsafeBufferPointer(start: single.parameters.pointer, count: single.parameters.count))
        for (rank, result) in results.enumerated() {
            let ranked = try result.get()
            XCTAssertEqual(ranked.parameters, expectedParameters, "rank \(rank) parameters (target heads included)")
            XCTAssertEqual(ranked.loss, expected.loss, "rank \(rank) loss")
            XCTAssertEqual(ranked.statistics, expected.statistics, "rank \(rank) statistics")
        }
    }

    /// Every rank starts from rank 0's parameters, whatever it initialised itself.
    func testRanksStartFromRankZerosParameters() throws {
        let results = onRanks(2) { rank, group -> [Float] in
            var config = TrainerTests.makeConfig(workers: 1)
            config.seed = UInt64(100 + rank)
            let trainer = try ILQLTrainer(config: config, dataset: TrainerTests.dataset, processGroup: group)
            return Array(UnsafeBufferPointer(start: trainer.parameters.pointer, count: trainer.parameters.count))
        }
        XCTAssertEqual(try results[1].get(), try results[0].get())
        var reference = TrainerTests.makeConfig(workers: 1)
        reference.seed = 100
        let rankZero = try ILQLTrainer(config: reference, dataset: TrainerTests.dataset)
        XCTAssertEqual(try results[0].get(), Array(UnsafeBufferPointer(start: rankZero.parameters.pointer, count: rankZero.parameters.count)))
    }

    /// A rank holding other data makes every rank fail at start, with the reason.
    func testDifferentDataFailsOnEveryRank() {
        var elements = TrainerTests.dataset.elements
        elements[5].rewards[0] += 0.5
        let altered = OfflineDataset(elements: elements)
        let results = onRanks(2) { rank, group in
            _ = try ILQLTrainer(config: TrainerTests.makeConfig(workers: 1),
                                dataset: rank == 1 ? altered : TrainerTests.dataset, processGroup: group)
        }
        for (rank, result) in results.enumerated() {
            XCTAssertThrowsError(try result.get(), "rank \(rank)") { error in
                XCTAssertTrue("\(error)".contains("different training data"), "\(error)")
            }
        }
    }

    /// A rank whose parameters drift is caught at the next check, on every rank.
    func testDivergedRanksAreDetected() {
        let results = onRanks(2) { rank, group in
            let trainer = try ILQLTrainer(config: TrainerTests.makeConfig(workers: 1), dataset: TrainerTests.dataset,
                                          processGroup: group)
            try trainer.train(steps: 2)
            try trainer.verifyIdenticalState()  // identical so far
            if rank == 1 { trainer.parameters.pointer[trainer.parameters.count - 1] += 1e-3 }
            try trainer.verifyIdenticalState()
        }
        for (rank, result) in results.enumerated() {
            XCTAssertThrowsError(try result.get(), "rank \(rank)") { error in
                XCTAssertTrue("\(error)".contains("no longer hold identical parameters"), "\(error)")
            }
        }
    }

    /// Loss outputs cross between processes exactly, empty statistics' infinities included.
    func testLossOutputPackingRoundTrips() {
        var output = ILQLLossOutput(qHeadCount: 2)
        output.lossQ = 0.1; output.lossV = -2.5; output.lossCQL = 3e-9; output.lossAWAC = .pi
        output.values.add(0.25, weight: 1)
        output.qValues[1].add(-7, weight: 0.5)
        var packed = [Double](repeating: 0, count: 3 + ILQLLossOutput.packedCount(qHeadCount: 2))
        output.pack(into: &packed, at: 3)
        XCTAssertEqual(ILQLLossOutput(unpacking: packed, at: 3, qHeadCount: 2), output)
        XCTAssertEqual(output.qValues[0].minimum, .infinity, "an empty statistic keeps its infinities")
    }
}
