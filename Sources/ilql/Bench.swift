import ArgumentParser
import Foundation
import ILQL

/// `ilql bench`: the scaling benchmark.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure ILQL training steps at several worker counts: tokens/s, parallel efficiency, time shares.")

    @Option(help: "Comma-separated worker counts (default: 1 and every core).")
    var workers: String?
    @Option(help: "Benchmark shape: \(BenchmarkShape.all.map(\.name).joined(separator: ", ")).")
    var config = "randomwalks"
    @Option(help: "Timed steps per worker count and round (after one warm-up step).")
    var steps = 5
    @Option(help: "Measure the worker counts in turn this many times and pool their steps (steadier on a busy machine).")
    var rounds = 1
    @Option(help: "Micro-batches per batch (default: the most workers, the same at every count).")
    var microBatches: Int?
    @Flag(help: "Train on synthetic full-length samples even where the config has task data (randomwalks).")
    var synthetic = false
    @Option(help: "Also write the results as JSON to this file.")
    var json: String?
    @Option(help: "Also write an SVG plot of tokens/s and parallel efficiency against workers.")
    var plot: String?

    func run() throws {
        guard var shape = BenchmarkShape.named(config) else {
            throw ValidationError("unknown --config \(config); choose one of \(BenchmarkShape.all.map(\.name).joined(separator: ", "))")
        }
        if synthetic { shape.data = .synthetic }
        let cores = Topology.defaultWorkerCount()
        // Default: 1, 2, 4, … and every core.
        let counts = try workers.map { try parseList($0, option: "--workers") { Int($0) } }
            ?? Array(Set(sequence(first: 1) { $0 * 2 }.prefix { $0 < cores } + [cores])).sorted()
        guard counts.allSatisfy({ $0 >= 1 }), steps >= 1, rounds >= 1 else {
            throw ValidationError("--workers, --steps and --rounds must be positive")
        }
        let microBatchCount = microBatches ?? ScalingBenchmark.defaultMicroBatches(workerCounts: counts)
        warnIfSlowBLASKernel()
        print("\(shape.name) (\(shape.data.rawValue) data): \(steps) timed steps after 1 warm-up × \(rounds) rounds, \(microBatchCount) micro-batches, OpenBLAS core \(BLAS.coreName), \(cores) cores (\(ScalingBenchmark.cpuModel))")
        let rows = try ScalingBenchmark.run(shape: shape, workerCounts: counts, steps: steps, microBatches: microBatchCount,
                                            rounds: rounds) {
            FileHandle.standardError.write(Data(("  " + $0 + "\n").utf8))
        }
        print(ScalingBenchmark.table(rows))
        print()
        print(ScalingBenchmark.efficiencyTable(rows))
        if let json { try ScalingBenchmark.resultsJSON(rows).write(to: URL(fileURLWithPath: json)) }
        if let plot {
            let title = "ilql bench, \(ScalingBenchmark.cpuModel), OpenBLAS \(BLAS.coreName)"
            try Data(ScalingBenchmark.svgPlot(rows, title: title).utf8).write(to: URL(fileURLWithPath: plot))
        }
    }
}
