// trlx's randomwalks task (ILQL.md §7): the seeded graph and walk generator, the optimality
// metric, and the offline data set, reproducing trlx's `examples/randomwalks` exactly.

import Foundation

/// trlx's randomwalks task: walks on a random directed graph, scored by how close they come to the
/// shortest path to the goal node `a`.
///
/// ``generate(seed:nodeCount:maxLength:walkCount:edgeProbability:)`` makes the same graph and the
/// same walks as trlx's `generate_random_walks` (numpy's legacy `RandomState`, draw for draw), and
/// ``metrics(samples:graph:)`` scores samples as its `metric_fn`.
public enum RandomWalks {
    /// The length trlx's metric gives a path that uses a missing edge or an unknown letter, or
    /// never reaches the goal.
    public static let invalidPathLength = 100

    /// trlx's evaluation prompts for the default 21-node graph: one start letter per non-goal
    /// node, `b` … `u`. (trlx takes the sorted distinct first letters of the walks,
    /// ``evalPrompts(walks:)``; with 1000 walks every start occurs, as for seeds 1000 and 1002.)
    public static let evalPrompts: [String] = (1..<21).map(RandomWalkGraph.letter(of:))

    /// trlx's rule for the evaluation prompts: the distinct first letters of the walks, sorted.
    public static func evalPrompts(walks: [String]) -> [String] {
        Set(walks.compactMap { $0.unicodeScalars.first.map { String(Character($0)) } }).sorted()
    }

    // MARK: - Generation

    /// The graph and walks of trlx's `generate_random_walks(n_nodes, max_length, n_walks, p_edge,
    /// seed)`, identical to trlx's for the same arguments.
    ///
    /// The draws, in trlx's order, from `numpy.random.RandomState(seed)`:
    /// 1. `rand(n, n) > 1 - p`, diagonal cleared, redrawn until every node has an out-edge;
    ///    then the goal's edges are replaced by its self-loop alone.
    /// 2. For each walk: a start `randint(n)`, redrawn while it is the goal; then up to
    ///    `maxLength - 1` steps of `choice(successors)`, stopping at the goal.
    ///
    /// Each walk is its nodes' letters, 2 to `maxLength` of them.
    /// - Precondition: `seed` in `0 ... 2^32 - 1` (numpy's range), `nodeCount` in `2 ... 26`,
    ///   `maxLength ≥ 2`, `walkCount ≥ 0`, `edgeProbability > 0` (at 0 trlx's loop never ends).
    public static func generate(seed: Int = 1000, nodeCount: Int = 21, maxLength: Int = 10,
                                walkCount: Int = 1000, edgeProbability: Double = 0.1)
        -> (graph: RandomWalkGraph, walks: [String])
    {
        precondition((0...Int(UInt32.max)).contains(seed), "numpy seeds are 0 ... 2^32 - 1; got \(seed)")
        precondition((2...26).contains(nodeCount), "nodeCount must be 2 ... 26 (one letter per node); got \(nodeCount)")
        precondition(maxLength >= 2, "maxLength must be at least 2; got \(maxLength)")
        precondition(walkCount >= 0, "walkCount must be ≥ 0; got \(walkCount)")
        precondition(edgeProbability > 0, "edgeProbability must be > 0, or no graph ever qualifies; got \(edgeProbability)")
        var random = NumPyRandomState(seed: UInt32(seed))
        let goal = RandomWalkGraph.goal

        // numpy evaluates `1 - p_edge` once, in double, and compares every draw against it.
        let threshold = 1 - edgeProbability
        var adjacency: [[Bool]]
        repeat {
            let draws = random.rand(nodeCount * nodeCount)  // row-major, as `rand(n, n)`
            adjacency = (0..<nodeCount).map { row in
                (0..<nodeCount).map { column in row != column && draws[row * nodeCount + column] > threshold }
            }
        } while adjacency.contains { !$0.contains(true) }
        // The goal is absorbing: its only edge is to itself.
        adjacency[goal] = (0..<nodeCount).map { $0 == goal }
        let graph = RandomWalkGraph(adjacency: adjacency, maxLength: maxLength)

        let successors = (0..<nodeCount).map(graph.successors(of:))
        var walks: [String] = []
        walks.reserveCapacity(walkCount)
        for _ in 0..<walkCount {
            var node: Int
            repeat { node = random.randint(nodeCount) } while node == goal
            var path = [node]
            for _ in 1..<maxLength {
                node = random.choice(successors[node])
                path.append(node)
                if node == goal { break }
            }
            walks.append(path.map(RandomWalkGraph.letter(of:)).joined())
        }
        return (graph, walks)
    }

    // MARK: - Metric

    /// The path length trlx's `metric_fn` gives a sample (prompt and output concatenated).
    ///
    /// The characters are read in order (Unicode scalars, as Python iterates a string): the first
    /// that is not one of the graph's letters, or that has no edge from the one before it, makes
    /// the path invalid (``invalidPathLength``); reaching the goal at index `i` gives `i + 1` and
    /// ends the scan, whatever follows. A sample that never reaches the goal, the empty one
    /// included, is invalid too. A sample starting at the goal (`"a…"`) has length 1.
    public static func pathLength(of sample: String, graph: RandomWalkGraph) -> Int {
        var previous: Int?
        for (index, letter) in sample.unicodeScalars.enumerated() {
            guard let node = graph.node(of: letter) else { return invalidPathLength }
            if let previous, !graph.adjacency[previous][node] { return invalidPathLength }
            if node == RandomWalkGraph.goal { return index + 1 }
            previous = node
        }
        return invalidPathLength
    }

    /// trlx's optimality of a sample: `(maxLength − bound) / (maxLength − shortest[start])`, where
    /// `bound` is the ``pathLength(of:graph:)``, or `maxLength` for an invalid path.
    ///
    /// trlx computes this in float32 (its lengths are a `torch.float` tensor), so the value is the
    /// float32 quotient widened to Double: `4/7` is `0.5714285969734192`, as in trlx's rewards.
    /// It is 1 for a shortest path, 0 for an invalid one, negative for a valid path longer than
    /// `maxLength`. Two of trlx's quirks are kept: a sample starting at the goal `a` is scored
    /// against the last start's shortest count (trlx indexes `shortest_lengths[-1]`), and a start
    /// that cannot reach the goal gives `0/0 = NaN`.
    ///
    /// Where trlx raises `IndexError` (an empty sample, or one whose first character is not a
    /// node letter), this returns 0, the score of any other invalid path.
    public static func optimality(of sample: String, graph: RandomWalkGraph) -> Double {
        guard let first = sample.unicodeScalars.first, let start = graph.node(of: first) else { return 0 }
        let counts = graph.shortestPathNodeCounts
        let shortest = start == RandomWalkGraph.goal ? counts[counts.count - 1] : counts[start - 1]
        let length = pathLength(of: sample, graph: graph)
        let bound = length == invalidPathLength ? graph.maxLength : length
        return Double(Float(graph.maxLength - bound) / Float(graph.maxLength - shortest))
    }

    /// trlx's `metric_fn(samples)`: `"optimality"` and `"lengths"`, one value per sample, in order.
    public static func metrics(samples: [String], graph: RandomWalkGraph) -> [String: [Double]] {
        [
            "optimality": samples.map { optimality(of: $0, graph: graph) },
            "lengths": samples.map { Double(pathLength(of: $0, graph: graph)) },
        ]
    }

    // MARK: - Data set

    /// The offline samples trlx trains on: each walk split into `[first letter, the rest]` (the
    /// start is the prompt, no BOS), rewarded with the walk's optimality.
    public static func samples(walks: [String], graph: RandomWalkGraph) -> [OfflineSample] {
        walks.map { walk in
            let start = String(String.UnicodeScalarView(walk.unicodeScalars.prefix(1)))
            let rest = String(String.UnicodeScalarView(walk.unicodeScalars.dropFirst()))
            return OfflineSample(phrases: [start, rest], reward: optimality(of: walk, graph: graph))
        }
    }

    /// Writes trlx's randomwalks data set for `seed` (default 21 nodes, 1000 walks) into
    /// `directory`, creating it if needed:
    /// - `train.jsonl`: one line per walk, in generation order,
    ///   `{"sample": ["s", "da"], "reward": 1.0}`, the reward written with the shortest decimal
    ///   that reads back as the same Double (``readSamples(from:)`` reads it);
    /// - `graph.json`: the graph, in ``RandomWalkGraph``'s format (``loadGraph(from:)`` reads it).
    /// - Throws: ``DataError`` naming the path when `seed` is outside numpy's `0 ... 2^32 - 1`,
    ///   when a reward is not finite (a start that cannot reach the goal), or when a file cannot be
    ///   written.
    public static func writeDataset(seed: Int = 1000, to directory: URL) throws {
        let trainURL = directory.appendingPathComponent("train.jsonl")
        let graphURL = directory.appendingPathComponent("graph.json")
        guard (0...Int(UInt32.max)).contains(seed) else {
            throw DataError(file: trainURL.path, line: nil, field: "seed",
                            "is \(seed); numpy's RandomState takes seeds 0 ... 4294967295")
        }
        let (graph, walks) = generate(seed: seed)

        var lines = ""
        for (index, sample) in samples(walks: walks, graph: graph).enumerated() {
            guard sample.reward.isFinite else {
                throw DataError(file: trainURL.path, line: index + 1, field: "reward", "walk \"\(walks[index])\" has "
                    + "optimality \(sample.reward): its start cannot reach the goal; use another seed")
            }
            // Walks are lowercase letters, so the phrases need no JSON escaping; Double's
            // description is the shortest text that reads back as the same value.
            lines += "{\"sample\": [\"\(sample.phrases[0])\", \"\(sample.phrases[1])\"], \"reward\": \(sample.reward)}\n"
        }

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let graphJSON = try encoder.encode(graph) + Data("\n".utf8)

        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw DataError(file: directory.path, line: nil, field: nil,
                            "cannot be created (\(error.localizedDescription)); choose a writable directory")
        }
        for (url, data) in [(trainURL, Data(lines.utf8)), (graphURL, graphJSON)] {
            do {
                try data.write(to: url, options: .atomic)
            } catch {
                throw DataError(file: url.path, line: nil, field: nil,
                                "cannot be written (\(error.localizedDescription)); choose a writable directory")
            }
        }
    }

    /// Reads a graph written by ``writeDataset(seed:to:)`` (format: ``RandomWalkGraph``).
    /// - Throws: ``DataError`` naming the file and the field at fault (`edges.c`, `nodes[3]`, …)
    ///   when the file cannot be read, is not JSON, or is not a consistent graph.
    public static func loadGraph(from url: URL) throws -> RandomWalkGraph {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw DataError(file: url.path, line: nil, field: nil,
                            "cannot be read (\(error.localizedDescription)); check the graph path")
        }
        do {
            _ = try JSONSerialization.jsonObject(with: data)
        } catch {
            let location = JSONInspection.location(of: error, in: data).map { " at line \($0.line), column \($0.column)" }
            throw DataError(file: url.path, line: nil, field: nil,
                            "is not valid JSON\(location ?? "") (\(JSONInspection.detail(of: error)))")
        }
        do {
            return try JSONDecoder().decode(RandomWalkGraph.self, from: data)
        } catch let error as DecodingError {
            throw graphError(error, file: url.path)
        }
    }

    /// A decoding failure as a ``DataError`` whose field is the JSON path (`edges.c`, `nodes[3]`).
    private static func graphError(_ error: DecodingError, file: String) -> DataError {
        func field(_ path: [CodingKey]) -> String? {
            guard !path.isEmpty else { return nil }
            return path.reduce("") { text, key in
                if let index = key.intValue { return text + "[\(index)]" }
                return text.isEmpty ? key.stringValue : text + "." + key.stringValue
            }
        }
        switch error {
        case .keyNotFound(let key, let context):
            return DataError(file: file, line: nil, field: field(context.codingPath + [key]),
                             "is missing; a graph has edges, goal, maxLength, nodes and shortestPathNodeCounts")
        case .typeMismatch(let type, let context):
            return DataError(file: file, line: nil, field: field(context.codingPath),
                             "is not of the expected kind (\(type)): \(context.debugDescription)")
        case .valueNotFound(let type, let context):
            return DataError(file: file, line: nil, field: field(context.codingPath),
                             "is null; it must be \(type)")
        case .dataCorrupted(let context):
            return DataError(file: file, line: nil, field: field(context.codingPath), context.debugDescription)
        @unknown default:
            return DataError(file: file, line: nil, field: nil, "is not a valid graph (\(error))")
        }
    }
}
