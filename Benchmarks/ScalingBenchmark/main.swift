// ILQL training steps at 1…N workers on the benchmark shapes (see `ScalingBenchmark` in the ILQL
// library; `ilql bench` runs the same code).
//
// Usage: swift run -c release ScalingBenchmark [--configs randomwalks,small] [--workers 1,2]
//                                              [--steps 5] [--rounds R] [--micro-batches M] [--synthetic] [--json FILE]
//                                              [--plot FILE.svg]
import Foundation
import ILQL

var configNames = ["randomwalks", "small"], workerCounts = [1, 2], steps = 5, rounds = 1
var microBatches: Int?, jsonPath: String?, plotPath: String?, synthetic = false
var arguments = CommandLine.arguments.dropFirst().makeIterator()
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("ScalingBenchmark: \(message)\n".utf8))
    exit(2)
}
while let argument = arguments.next() {
    switch argument {
    case "--configs": configNames = (arguments.next() ?? "").split(separator: ",").map(String.init)
    case "--workers": workerCounts = (arguments.next() ?? "").split(separator: ",").compactMap { Int($0) }
    case "--steps": steps = Int(arguments.next() ?? "") ?? 0
    case "--rounds": rounds = Int(arguments.next() ?? "") ?? 0
    case "--micro-batches": microBatches = Int(arguments.next() ?? "")
    case "--json": jsonPath = arguments.next()
    case "--plot": plotPath = arguments.next()
    case "--synthetic": synthetic = true
    case "--help", "-h":
        print("usage: ScalingBenchmark [--configs randomwalks,small,gpt2-124M] [--workers 1,2] [--steps N] [--rounds R] [--micro-batches M] [--synthetic] [--json FILE] [--plot FILE.svg]")
        print("  --rounds: measure the worker counts in turn R times and pool their timed steps (steadier on a busy machine)")
        print("  --synthetic: train every config on synthetic full-length samples (randomwalks otherwise trains on its task data)")
        exit(0)
    default: fail("unknown argument \(argument) (try --help)")
    }
}
guard steps >= 1, rounds >= 1, !workerCounts.isEmpty, workerCounts.allSatisfy({ $0 >= 1 }) else {
    fail("--steps, --rounds and --workers must be positive")
}
// The same micro-batches at every worker count: the same computation everywhere.
let microBatchCount = microBatches ?? ScalingBenchmark.defaultMicroBatches(workerCounts: workerCounts)

print("ScalingBenchmark: \(steps) timed steps after 1 warm-up × \(rounds) rounds, \(microBatchCount) micro-batches per batch, OpenBLAS core \(BLAS.coreName), \(Topology.defaultWorkerCount()) cores")
if let warning = BLAS.slowKernelWarning { print("warning: " + warning) }
var rows: [ScalingBenchmark.Row] = []
for name in configNames {
    guard var shape = BenchmarkShape.named(name) else { fail("unknown config \(name)") }
    if synthetic { shape.data = .synthetic }
    do {
        rows += try ScalingBenchmark.run(shape: shape, workerCounts: workerCounts, steps: steps,
                                         microBatches: microBatchCount, rounds: rounds) { print("  " + $0) }
    } catch { fail("\(error)") }
}
print("\n" + ScalingBenchmark.table(rows))
print("\n" + ScalingBenchmark.efficiencyTable(rows))
if let jsonPath {
    do { try ScalingBenchmark.resultsJSON(rows).write(to: URL(fileURLWithPath: jsonPath)) } catch {
        fail("cannot write \(jsonPath): \(error)")
    }
    print("wrote \(jsonPath)")
}
if let plotPath {
    let title = "ScalingBenchmark, \(ScalingBenchmark.cpuModel), OpenBLAS \(BLAS.coreName)"
    do { try Data(ScalingBenchmark.svgPlot(rows, title: title).utf8).write(to: URL(fileURLWithPath: plotPath)) } catch {
        fail("cannot write \(plotPath): \(error)")
    }
    print("wrote \(plotPath)")
}
