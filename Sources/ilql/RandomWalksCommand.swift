import ArgumentParser
import Foundation
import ILQL

/// `ilql randomwalks`: trlx's randomwalks data set.
struct RandomWalksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "randomwalks",
        abstract: "Write trlx's randomwalks data: DIR/train.jsonl (1000 walks with optimality rewards) and DIR/graph.json.")

    @Option(help: "Seed of numpy's RandomState, as trlx's train.seed.")
    var seed: Int = 1000
    @Option(help: "Output directory.")
    var out: String

    func run() throws {
        let directory = URL(fileURLWithPath: out)
        try RandomWalks.writeDataset(seed: seed, to: directory)
        let (graph, walks) = RandomWalks.generate(seed: seed)
        let optimality = RandomWalks.metrics(samples: walks, graph: graph)["optimality"] ?? []
        let mean = optimality.reduce(0, +) / Double(max(1, optimality.count))
        print(String(format: "wrote %@/train.jsonl (%d walks, mean optimality %.7f) and %@/graph.json",
                     out, walks.count, mean, out))
    }
}
