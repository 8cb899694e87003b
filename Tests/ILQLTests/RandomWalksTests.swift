// Tests for the randomwalks task: numpy's legacy RandomState against values numpy printed, the
// generator against trlx's data (fixtures from tools/reference/make_randomwalks_fixture.py and
// ILQL.md §7's facts), trlx's metric on its edge cases, and the data set files.

import Foundation
import XCTest
@testable import ILQL
import TestSupport

/// One `randomwalks-<seed>.json` fixture.
private struct WalksFixture: Decodable {
    var seed: Int
    var adjacency: [[Int]]
    var shortestPathNodeCounts: [Int]
    var walks: [String]
    var optimalities: [Double]
    var meanOptimality: Double

    static func load(seed: Int) throws -> WalksFixture {
        let url = Fixtures.url("randomwalks-\(seed).json", target: "ILQLTests")
        return try JSONDecoder().decode(WalksFixture.self, from: Data(contentsOf: url))
    }
}

final class RandomWalksTests: XCTestCase {
    // MARK: - NumPyRandomState

    /// Printed by numpy 2.4 (`np.random.RandomState(seed)`), each list from a fresh state.
    private struct NumPyDraws {
        var seed: UInt32
        /// `[repr(r.rand()) for _ in range(10)]`
        var rand: [Double]
        /// `[r.randint(21) for _ in range(20)]`
        var randint21: [Int]
        /// `[r.randint(0, 2**32) for _ in range(3)]`: the raw 32-bit outputs.
        var raw: [UInt32]
        /// `[r.randint(b) for b in bounds]`, one draw per bound in order.
        var bounded: [Int]
        /// `[r.choice(np.array(a)) for a in choiceArrays * 3]`, then `r.rand()`.
        var choices: [Int]
        var randAfterChoices: Double
    }

    private static let bounds = [2, 7, 16, 17, 1000, 1 << 31, (1 << 31) + 1, 1 << 32]
    private static let choiceArrays = [[3, 5, 8, 13], [7], [2, 9], [1, 4, 6, 10, 11, 12, 15, 18, 20]]

    private static let numpyDraws = [
        NumPyDraws(
            seed: 0,
            rand: [0.5488135039273248, 0.7151893663724195, 0.6027633760716439, 0.5448831829968969,
                   0.4236547993389047, 0.6458941130666561, 0.4375872112626925, 0.8917730007820798,
                   0.9636627605010293, 0.3834415188257777],
            randint21: [12, 15, 0, 3, 3, 7, 9, 19, 18, 4, 6, 12, 1, 6, 7, 14, 17, 5, 13, 8],
            raw: [2_357_136_044, 2_546_248_239, 3_071_714_933],
            bounded: [0, 5, 0, 3, 763, 192_771_779, 1_819_583_497, 2_678_185_683],
            choices: [3, 7, 9, 12, 3, 7, 9, 10, 13, 7, 9, 10],
            randAfterChoices: 0.6458941130666561),
        NumPyDraws(
            seed: 1000,
            rand: [0.6535895854646095, 0.11500694312440574, 0.9502828643490245, 0.4821914014279982,
                   0.8724745351820353, 0.21233268092271995, 0.040709624769089126, 0.3971944613457058,
                   0.23313219734837998, 0.8417407242530616],
            randint21: [19, 7, 0, 1, 0, 13, 8, 9, 4, 13, 15, 10, 9, 4, 20, 18, 9, 18, 20, 13],
            raw: [2_807_145_907, 882_709_079, 493_951_047],
            bounded: [1, 0, 11, 1, 445, 1_503_190_656, 911_961_945, 58_396_205],
            choices: [13, 7, 9, 18, 3, 7, 9, 4, 5, 7, 2, 20],
            randAfterChoices: 0.34423967746790096),
        NumPyDraws(
            seed: 4_294_967_295,
            rand: [0.0976320289940138, 0.9123828453026218, 0.78903530185164, 0.7800035981134678,
                   0.01793967398674523, 0.9695059322147525, 0.5931753493510109, 0.14611715599393837,
                   0.9093750727977705, 0.5537363115925001],
            randint21: [3, 2, 12, 7, 20, 0, 0, 18, 11, 11, 10, 13, 14, 5, 9, 9, 12, 4, 16, 17],
            raw: [419_326_371, 479_346_978, 3_918_654_476],
            bounded: [1, 2, 12, 7, 948, 113_049_152, 77_050_329, 1_217_888_032],
            choices: [13, 7, 2, 18, 3, 7, 2, 15, 8, 7, 9, 1],
            randAfterChoices: 0.9695059322147525),
    ]

    func testNumPyRandomStateMatchesNumPy() {
        for expected in Self.numpyDraws {
            let seed = expected.seed
            var random = NumPyRandomState(seed: seed)
            // Exact equality: the doubles are built from the same bits by the same exact arithmetic.
            XCTAssertEqual(random.rand(10), expected.rand, "rand, seed \(seed)")

            random = NumPyRandomState(seed: seed)
            XCTAssertEqual((0..<20).map { _ in random.randint(21) }, expected.randint21, "randint(21), seed \(seed)")

            random = NumPyRandomState(seed: seed)
            XCTAssertEqual((0..<3).map { _ in random.nextUInt32() }, expected.raw, "raw outputs, seed \(seed)")

            // Bounds around powers of two exercise the mask; 2^31 + 1 rejects about half the draws.
            random = NumPyRandomState(seed: seed)
            XCTAssertEqual(Self.bounds.map { random.randint($0) }, expected.bounded, "randint(bounds), seed \(seed)")

            // The one-element array draws nothing, so the rand() after the choices checks the count.
            random = NumPyRandomState(seed: seed)
            let arrays = Array(repeating: Self.choiceArrays, count: 3).joined()
            XCTAssertEqual(arrays.map { random.choice($0) }, expected.choices, "choice, seed \(seed)")
            XCTAssertEqual(random.rand(), expected.randAfterChoices, "rand after the choices, seed \(seed)")
        }
    }

    func testRandintOfOneAndSingleChoiceDrawNothing() {
        var random = NumPyRandomState(seed: 1000)
        XCTAssertEqual(random.randint(1), 0)
        XCTAssertEqual(random.choice(["only"]), "only")
        XCTAssertEqual(random.rand(), 0.6535895854646095, "the first rand() of seed 1000, untouched")
    }

    // MARK: - Generator

    func testGeneratorReproducesTrlxFixtures() throws {
        for seed in [1000, 1002] {
            let fixture = try WalksFixture.load(seed: seed)
            XCTAssertEqual(fixture.seed, seed)
            let (graph, walks) = RandomWalks.generate(seed: seed)
            XCTAssertEqual(graph.adjacency.map { $0.map { $0 ? 1 : 0 } }, fixture.adjacency, "adjacency, seed \(seed)")
            XCTAssertEqual(graph.shortestPathNodeCounts, fixture.shortestPathNodeCounts, "shortest counts, seed \(seed)")
            XCTAssertEqual(walks.count, 1000)
            for (index, (walk, expected)) in zip(walks, fixture.walks).enumerated() where walk != expected {
                XCTFail("seed \(seed), walk \(index): \(walk), trlx \(expected)")
                break
            }
            let optimalities = RandomWalks.metrics(samples: walks, graph: graph)["optimality"]!
            XCTAssertEqual(optimalities.count, fixture.optimalities.count)
            for (index, (value, expected)) in zip(optimalities, fixture.optimalities).enumerated() {
                // Both are float32 quotients widened to double; 1e-15 only allows for printing.
                XCTAssertEqual(value, expected, accuracy: 1e-15, "seed \(seed), walk \(index) \(walks[index])")
            }
            // The mean's summation order differs from numpy's pairwise sum: allow a few ulps of 1000 terms.
            let mean = optimalities.reduce(0, +) / Double(optimalities.count)
            XCTAssertEqual(mean, fixture.meanOptimality, accuracy: 1e-13, "mean optimality, seed \(seed)")
            XCTAssertEqual(RandomWalks.evalPrompts(walks: walks), RandomWalks.evalPrompts, "eval prompts, seed \(seed)")
        }
    }

    /// ILQL.md §7's facts for seed 1000, as literals.
    func testSeed1000Facts() {
        let (graph, walks) = RandomWalks.generate()
        XCTAssertEqual(graph.nodeCount, 21)
        XCTAssertEqual(graph.edgeCount, 52, "51 edges plus the goal's self-loop")
        XCTAssertEqual(graph.successors(of: 0), [0], "the goal is absorbing")
        XCTAssertEqual(graph.shortestPathNodeCounts, [3, 4, 2, 4, 3, 5, 5, 3, 3, 3, 4, 4, 2, 5, 4, 4, 4, 3, 4, 4])
        XCTAssertEqual(walks.prefix(10).joined(separator: " "),
                       "sda fda ebjnbdtkna jnbjna lbusdtkbui bda hcorguidtk orgrgcoror orjnbda jnbjna")
        XCTAssertTrue(walks.allSatisfy { (2...10).contains($0.count) })
        let optimalities = RandomWalks.metrics(samples: walks, graph: graph)["optimality"]!
        let mean = optimalities.reduce(0, +) / Double(optimalities.count)
        XCTAssertEqual(mean, 0.3515095, accuracy: 5e-8, "ILQL.md §7 gives 7 decimals")
        XCTAssertEqual(optimalities.filter { $0 == 1 }.count, 184, "18.4% of the walks are optimal")
        // Every edge but the goal's self-loop is taken by some walk.
        var used = Set<[Int]>()
        for walk in walks {
            let nodes = walk.unicodeScalars.map { graph.node(of: $0)! }
            for (from, to) in zip(nodes, nodes.dropFirst()) { used.insert([from, to]) }
        }
        XCTAssertEqual(used.count, 51)
        XCTAssertEqual(RandomWalks.evalPrompts, "bcdefghijklmnopqrstu".map(String.init))
    }

    // MARK: - Metric

    /// Seed 1000's edges used below: s→d, s→u, d→a, j→n, n→a, n→b, b→j, o→r, r→g, r→j; no s→a, no b→a.
    func testMetricEdgeCases() {
        let graph = RandomWalks.generate().graph
        func check(_ sample: String, length: Int, optimality: Double, line: UInt = #line) {
            XCTAssertEqual(RandomWalks.pathLength(of: sample, graph: graph), length, "length of \(sample.debugDescription)", line: line)
            XCTAssertEqual(RandomWalks.optimality(of: sample, graph: graph), optimality,
                           "optimality of \(sample.debugDescription)", line: line)
        }
        check("sda", length: 3, optimality: 1)                  // a shortest path (s needs 3 nodes)
        check("jnbjna", length: 6, optimality: Double(Float(4) / Float(7)))  // float32, as trlx's torch metric
        XCTAssertEqual(RandomWalks.optimality(of: "jnbjna", graph: graph), 0.5714285969734192)
        check("sa", length: 100, optimality: 0)                 // missing edge
        check("sdxa", length: 100, optimality: 0)               // a letter that is no node (x is 23 > 20)
        check("sd?a", length: 100, optimality: 0)               // not a letter
        check("S", length: 100, optimality: 0)                  // uppercase is unknown: trlx raises here
        check("", length: 100, optimality: 0)                   // empty: trlx raises here
        check("s", length: 100, optimality: 0)                  // only the start: never reaches the goal
        check("orgrgcoror", length: 100, optimality: 0)         // never reaches the goal
        check("sdaZZ", length: 3, optimality: 1)                // the scan ends at the goal
        check("s\u{301}da", length: 100, optimality: 0)         // a combining accent is its own scalar, as in Python
        // Reaching the goal after maxLength: trlx's formula goes negative, (10 − 15) / (10 − 5).
        check("orgrgcororjnbda", length: 15, optimality: -1)
        // Starting at the goal: length 1, scored against the last start's count (trlx's index -1).
        check("a", length: 1, optimality: 9.0 / 6.0)
        check("ab", length: 1, optimality: 1.5)

        let metrics = RandomWalks.metrics(samples: ["sda", "sa", "bjna"], graph: graph)
        XCTAssertEqual(metrics.keys.sorted(), ["lengths", "optimality"])
        XCTAssertEqual(metrics["lengths"], [3, 100, 4])
        XCTAssertEqual(metrics["optimality"], [1, 0, Double(Float(6) / Float(7))])
    }

    func testSamplesSplitTheStartFromTheRest() {
        let graph = RandomWalks.generate().graph
        XCTAssertEqual(RandomWalks.samples(walks: ["sda", "jnbjna"], graph: graph), [
            OfflineSample(phrases: ["s", "da"], reward: 1),
            OfflineSample(phrases: ["j", "nbjna"], reward: 0.5714285969734192),
        ])
    }

    // MARK: - Data set files

    func testWriteDatasetReadsBackWithTheSampleReader() throws {
        let directory = try makeTemporaryDirectory("randomwalks").appendingPathComponent("nested/data")
        defer { try? FileManager.default.removeItem(at: directory.deletingLastPathComponent().deletingLastPathComponent()) }
        try RandomWalks.writeDataset(seed: 1000, to: directory)

        let (graph, walks) = RandomWalks.generate(seed: 1000)
        let expected = RandomWalks.samples(walks: walks, graph: graph)
        let fixture = try WalksFixture.load(seed: 1000)
        XCTAssertEqual(expected.map(\.reward), fixture.optimalities)
        let samples = try readSamples(from: directory.appendingPathComponent("train.jsonl"))
        XCTAssertEqual(samples.count, 1000)
        XCTAssertEqual(samples.map(\.phrases), expected.map(\.phrases))
        for (index, (sample, wanted)) in zip(samples, expected).enumerated() {
            // Exact: the reader parses long decimals correctly rounded (see JSONInspection.number).
            XCTAssertEqual(sample.reward, wanted.reward, "line \(index + 1)")
        }

        // The written digits read back as exactly the same Doubles.
        let text = try String(contentsOf: directory.appendingPathComponent("train.jsonl"), encoding: .utf8)
        let writtenRewards = text.split(separator: "\n").map { line in
            Double(line[line.range(of: "\"reward\": ")!.upperBound...].dropLast())
        }
        XCTAssertEqual(writtenRewards, expected.map(\.reward))
        XCTAssertTrue(text.hasPrefix("""
            {"sample": ["s", "da"], "reward": 1.0}
            {"sample": ["f", "da"], "reward": 1.0}
            {"sample": ["e", "bjnbdtkna"], "reward": 0.0}
            {"sample": ["j", "nbjna"], "reward": 0.5714285969734192}

            """), String(text.prefix(200)))

        let loaded = try RandomWalks.loadGraph(from: directory.appendingPathComponent("graph.json"))
        XCTAssertEqual(loaded, graph)
        let graphText = try String(contentsOf: directory.appendingPathComponent("graph.json"), encoding: .utf8)
        XCTAssertTrue(graphText.contains("\"b\" : \"dju\""), graphText)
    }

    func testWriteDatasetRejectsAnOutOfRangeSeed() throws {
        let directory = try makeTemporaryDirectory("randomwalks")
        defer { try? FileManager.default.removeItem(at: directory) }
        XCTAssertThrowsError(try RandomWalks.writeDataset(seed: -1, to: directory)) { error in
            XCTAssertEqual((error as? DataError)?.field, "seed", "\(error)")
        }
    }

    /// Each malformed graph.json names the field at fault.
    func testLoadGraphErrorsNameTheField() throws {
        let directory = try makeTemporaryDirectory("randomwalks")
        defer { try? FileManager.default.removeItem(at: directory) }
        let graph = RandomWalks.generate().graph
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let valid = try JSONSerialization.jsonObject(with: encoder.encode(graph)) as! [String: Any]

        func check(_ edit: (inout [String: Any]) -> Void, field: String?, _ fragment: String, line: UInt = #line) throws {
            var object = valid
            edit(&object)
            let url = directory.appendingPathComponent("graph.json")
            try JSONSerialization.data(withJSONObject: object).write(to: url)
            assertGraphError(url, field: field, fragment, line: line)
        }
        try check({ $0["extra"] = 1 }, field: "extra", "not a known key")
        try check({ $0["nodes"] = nil }, field: "nodes", "is missing")
        try check({ $0["nodes"] = ["a", "c"] }, field: "nodes[1]", "must be \"b\"")
        try check({ $0["goal"] = "b" }, field: "goal", "\"a\"")
        try check({ $0["maxLength"] = "10" }, field: "maxLength", "expected kind")
        try check({ $0["maxLength"] = 1 }, field: "maxLength", "at least 2")
        try check({ $0["edges"] = (valid["edges"] as! [String: String]).merging(["b": "djz"]) { $1 } },
                  field: "edges.b", "\"z\", which is not a node")
        try check({ $0["edges"] = (valid["edges"] as! [String: String]).merging(["b": "dd"]) { $1 } },
                  field: "edges.b", "twice")
        try check({ $0["edges"] = (valid["edges"] as! [String: String]).filter { $0.key != "k" } },
                  field: "edges.k", "is missing")
        // Dropping s→d makes s's shortest path longer than the stored count.
        try check({ $0["edges"] = (valid["edges"] as! [String: String]).merging(["s": "u"]) { $1 } },
                  field: "shortestPathNodeCounts.s", "the edges give")

        let url = directory.appendingPathComponent("broken.json")
        try Data("{\"nodes\": [\"a\",\n \"b\"".utf8).write(to: url)
        assertGraphError(url, field: nil, "not valid JSON")
        assertGraphError(directory.appendingPathComponent("absent.json"), field: nil, "cannot be read")
    }

    private func assertGraphError(_ url: URL, field: String?, _ fragment: String, line: UInt = #line) {
        do {
            let graph = try RandomWalks.loadGraph(from: url)
            XCTFail("expected an error, loaded \(graph.nodeCount) nodes", line: line)
        } catch let error as DataError {
            XCTAssertEqual(error.file, url.path, line: line)
            XCTAssertEqual(error.field, field, "\(error)", line: line)
            XCTAssertTrue(error.message.contains(fragment), "\"\(error)\" lacks \"\(fragment)\"", line: line)
        } catch {
            XCTFail("unexpected error type: \(error)", line: line)
        }
    }
}
