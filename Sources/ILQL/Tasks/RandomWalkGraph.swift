// The randomwalks task's graph (ILQL.md §7): which node links to which, each start's shortest
// path to the goal as trlx measures it, and the graph.json form it is saved in.

import Foundation

/// A directed graph of the randomwalks task: nodes `0 ..< nodeCount`, named by the letters
/// `a`, `b`, … (node `i` is the letter `"a" + i`), with node 0 (`a`) the goal.
///
/// Encoded (``RandomWalks/writeDataset(seed:to:)`` writes it as `graph.json`) as
///
/// ```json
/// {
///   "edges" : { "a" : "a", "b" : "dju", … },
///   "goal" : "a",
///   "maxLength" : 10,
///   "nodes" : [ "a", "b", … ],
///   "shortestPathNodeCounts" : { "b" : 3, "c" : 4, … }
/// }
/// ```
///
/// - `nodes`: the node letters in node order; always `a`, `b`, … consecutively, 2 to 26 of them.
/// - `edges`: for every node, the letters of the nodes it has an edge to, in node order, as one
///   string (`""` for none). trlx's generator gives the goal only its self-loop (`"a" : "a"`).
/// - `goal`: always `"a"`; trlx's metric hard-codes node 0 as the goal.
/// - `maxLength`: the longest walk in nodes; it caps the shortest-path counts and bounds the metric.
/// - `shortestPathNodeCounts`: for every start but the goal, the nodes on a shortest path to the
///   goal, start and goal included, capped at `maxLength` (`maxLength` when the goal is
///   unreachable). Redundant with `edges`; decoding recomputes them and rejects a file whose
///   counts disagree, which catches hand-edited edges.
public struct RandomWalkGraph: Codable, Equatable, Sendable {
    /// The goal node: trlx fixes it at 0, the letter `a`.
    public static let goal = 0

    /// `adjacency[from][to]`: whether there is an edge from node `from` to node `to`.
    public let adjacency: [[Bool]]
    /// The longest walk, in nodes (trlx's `max_length`, 10).
    public let maxLength: Int
    /// trlx's `shortest_lengths`: entry `start - 1` for each start `1 ..< nodeCount`
    /// (`b`, `c`, …) counts the nodes on a shortest path from `start` to the goal, both ends
    /// included, as `len(networkx.shortest_path(g, start, 0)[:max_length])`; `maxLength` when there
    /// is no path.
    public let shortestPathNodeCounts: [Int]

    /// The number of nodes.
    public var nodeCount: Int { adjacency.count }

    /// The number of edges, the goal's self-loop included.
    public var edgeCount: Int { adjacency.reduce(0) { $0 + $1.filter { $0 }.count } }

    /// A graph with the given edges; the shortest-path counts are computed from them.
    /// - Precondition: `adjacency` is square with 2 to 26 nodes (one letter each), `maxLength ≥ 2`.
    public init(adjacency: [[Bool]], maxLength: Int) {
        precondition((2...26).contains(adjacency.count),
                     "a random-walk graph has 2 to 26 nodes (one letter each); got \(adjacency.count)")
        precondition(adjacency.allSatisfy { $0.count == adjacency.count },
                     "the adjacency matrix must be square (\(adjacency.count) rows)")
        precondition(maxLength >= 2, "maxLength must be at least 2 (a start and a step); got \(maxLength)")
        self.adjacency = adjacency
        self.maxLength = maxLength
        self.shortestPathNodeCounts = (1..<adjacency.count).map {
            Self.shortestPathNodeCount(adjacency, from: $0, cap: maxLength)
        }
    }

    /// The nodes `node` has an edge to, ascending (numpy's `nonzero(adj[node])`).
    public func successors(of node: Int) -> [Int] {
        adjacency[node].indices.filter { adjacency[node][$0] }
    }

    /// The node a letter names in this graph, or nil for any other character.
    public func node(of letter: Unicode.Scalar) -> Int? {
        let node = Int(letter.value) - Int(Unicode.Scalar("a").value)
        return (0..<nodeCount).contains(node) ? node : nil
    }

    /// The letter naming `node`: `a` for 0, `b` for 1, ….
    public static func letter(of node: Int) -> String {
        String(Character(Unicode.Scalar(UInt8(ascii: "a") + UInt8(node))))
    }

    /// Breadth-first search: any shortest path has the same node count as networkx's.
    private static func shortestPathNodeCount(_ adjacency: [[Bool]], from start: Int, cap: Int) -> Int {
        var distance = [Int?](repeating: nil, count: adjacency.count)
        distance[start] = 0
        var frontier = [start]
        while !frontier.isEmpty {
            var next: [Int] = []
            for node in frontier {
                if node == goal { return min(distance[node]! + 1, cap) }
                for target in adjacency[node].indices where adjacency[node][target] && distance[target] == nil {
                    distance[target] = distance[node]! + 1
                    next.append(target)
                }
            }
            frontier = next
        }
        return cap  // trlx catches networkx's NetworkXNoPath and uses max_length
    }
}

// MARK: - graph.json

extension RandomWalkGraph {
    private static let fieldNames = ["edges", "goal", "maxLength", "nodes", "shortestPathNodeCounts"]

    /// Reads the format in the type's documentation; every inconsistency is a
    /// `DecodingError.dataCorrupted` whose coding path names the field at fault.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: GraphKey.self)
        func corrupted(_ path: [GraphKey], _ message: String) -> DecodingError {
            .dataCorrupted(DecodingError.Context(codingPath: container.codingPath + path, debugDescription: message))
        }
        let fieldList = Self.fieldNames.joined(separator: ", ")
        if let unknown = container.allKeys.map(\.stringValue).filter({ !Self.fieldNames.contains($0) }).sorted().first {
            throw corrupted([GraphKey(unknown)], "is not a known key; a graph has only \(fieldList)")
        }

        let nodes = try container.decode([String].self, forKey: GraphKey("nodes"))
        guard (2...26).contains(nodes.count) else {
            throw corrupted([GraphKey("nodes")], "has \(nodes.count) nodes; a graph has 2 to 26 (one letter each)")
        }
        for (index, name) in nodes.enumerated() where name != Self.letter(of: index) {
            throw corrupted([GraphKey("nodes"), GraphKey(index: index)], "is \"\(name)\" but must be "
                + "\"\(Self.letter(of: index))\": nodes are the consecutive letters a, b, c, …")
        }
        let goal = try container.decode(String.self, forKey: GraphKey("goal"))
        guard goal == Self.letter(of: Self.goal) else {
            throw corrupted([GraphKey("goal")], "is \"\(goal)\"; trlx's metric takes node 0, \"a\", as the goal")
        }
        let maxLength = try container.decode(Int.self, forKey: GraphKey("maxLength"))
        guard maxLength >= 2 else {
            throw corrupted([GraphKey("maxLength")], "is \(maxLength); it must be at least 2 (a start and a step)")
        }

        let edges = try container.decode([String: String].self, forKey: GraphKey("edges"))
        if let stray = edges.keys.filter({ !nodes.contains($0) }).sorted().first {
            throw corrupted([GraphKey("edges"), GraphKey(stray)], "is not a node; the nodes are a…\(nodes.last!)")
        }
        var adjacency = [[Bool]](repeating: [Bool](repeating: false, count: nodes.count), count: nodes.count)
        for (from, name) in nodes.enumerated() {
            let path = [GraphKey("edges"), GraphKey(name)]
            guard let targets = edges[name] else {
                throw corrupted(path, "is missing; list every node's edges (\"\" for none)")
            }
            for letter in targets.unicodeScalars {
                guard let to = nodes.firstIndex(of: String(Character(letter))) else {
                    throw corrupted(path, "contains \"\(letter)\", which is not a node; the nodes are a…\(nodes.last!)")
                }
                guard !adjacency[from][to] else {
                    throw corrupted(path, "lists \"\(letter)\" twice; list each edge once")
                }
                adjacency[from][to] = true
            }
        }
        self.init(adjacency: adjacency, maxLength: maxLength)

        let counts = try container.decode([String: Int].self, forKey: GraphKey("shortestPathNodeCounts"))
        let starts = nodes.dropFirst()  // every node but the goal
        if let stray = counts.keys.filter({ !starts.contains($0) }).sorted().first {
            throw corrupted([GraphKey("shortestPathNodeCounts"), GraphKey(stray)],
                            "is not a start; starts are the nodes b…\(nodes.last!) (the goal \"a\" has none)")
        }
        for (offset, name) in starts.enumerated() {
            let path = [GraphKey("shortestPathNodeCounts"), GraphKey(name)]
            guard let count = counts[name] else {
                throw corrupted(path, "is missing; give a count for every start b…\(nodes.last!)")
            }
            guard count == shortestPathNodeCounts[offset] else {
                throw corrupted(path, "is \(count) but the edges give \(shortestPathNodeCounts[offset]) "
                    + "(nodes on a shortest path to \"a\", capped at maxLength \(maxLength)); fix the edges or the count")
            }
        }
    }

    /// Writes the format in the type's documentation.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: GraphKey.self)
        let letters = (0..<nodeCount).map(Self.letter(of:))
        try container.encode(letters, forKey: GraphKey("nodes"))
        try container.encode(Self.letter(of: Self.goal), forKey: GraphKey("goal"))
        try container.encode(maxLength, forKey: GraphKey("maxLength"))
        let edges = (0..<nodeCount).map { node in
            (letters[node], successors(of: node).map { letters[$0] }.joined())
        }
        try container.encode(Dictionary(uniqueKeysWithValues: edges), forKey: GraphKey("edges"))
        let counts = zip(letters.dropFirst(), shortestPathNodeCounts).map { ($0, $1) }
        try container.encode(Dictionary(uniqueKeysWithValues: counts), forKey: GraphKey("shortestPathNodeCounts"))
    }
}

/// A graph.json key: a field name, a node letter, or a list index.
private struct GraphKey: CodingKey {
    var stringValue: String
    var intValue: Int?

    init(_ name: String) { stringValue = name }
    init(index: Int) { stringValue = "\(index)"; intValue = index }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { self.init(index: intValue) }
}
