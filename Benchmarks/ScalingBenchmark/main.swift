// ILQL training steps at 1…N workers on the benchmark shapes: tokens/s, parallel efficiency and
// the share of each step spent in the all-reduce + AdamW pass and the target sync.
//
// Usage: swift run -c release ScalingBenchmark [--configs randomwalks,small] [--workers 1,2]
//                                              [--steps 5] [--micro-batches M] [--json FILE]
import BenchmarkSupport
import Foundation
import ILQL

var configNames = ["randomwalks", "small"], workerCounts = [1, 2], steps = 5
var microBatches: Int?, jsonPath: String?
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
    case "--micro-batches": microBatches = Int(arguments.next() ?? "")
    case "--json": jsonPath = arguments.next()
    case "--help", "-h":
        print("usage: ScalingBenchmark [--configs randomwalks,small,gpt2-124M] [--workers 1,2] [--steps N] [--micro-batches M] [--json FILE]")
        exit(0)
    default: fail("unknown argument \(argument) (try --help)")
    }
}
guard steps >= 1, !workerCounts.isEmpty, workerCounts.allSatisfy({ $0 >= 1 }) else { fail("--steps and --workers must be positive") }
let shapes = configNames.map { name -> BenchmarkShape in
    guard let shape = BenchmarkShape.named(name) else { fail("unknown config \(name)") }
    return shape
}
// The same micro-batches at every worker count, so every run computes the same thing; 4 (or the
// most workers, if more) keeps each worker's activations small enough to share the caches well.
let microBatchCount = microBatches ?? max(4, workerCounts.max()!)

/// Samples of exactly `length` tokens (one prompt token, the rest actions), random ids.
func syntheticDataset(_ shape: BenchmarkShape, count: Int) -> OfflineDataset {
    var generator = SeededGenerator(seed: 7)
    let eos = Int32(shape.config.vocabularySize - 1)
    let rewards = ILQLElementBuilder.standardize((0..<count).map { _ in generator.nextUnit() })
    return OfflineDataset(elements: rewards.map { reward in
        let tokens = (0..<shape.length).map { _ in Int32(generator.next() % UInt64(eos)) }
        let phrases = ILQLElementBuilder.truncatedPhrases([[tokens[0]], Array(tokens[1...])], eos: eos, bos: eos,
                                                          maxLength: shape.length)
        return ILQLElementBuilder.element(phrases: phrases, standardizedReward: reward)
    })
}

struct Row: Codable {
    var config: String, workers: Int, microBatches: Int
    var stepSecondsMedian: Double, tokensPerSecond: Double, parallelEfficiency: Double
    var computeShare: Double, reduceAndOptimizerShare: Double, syncShare: Double
}

print("ScalingBenchmark: \(steps) timed steps after 1 warm-up, \(microBatchCount) micro-batches per batch, OpenBLAS core \(BLAS.coreName), \(Topology.defaultWorkerCount()) cores")
var rows: [Row] = []
for shape in shapes {
    let dataset = syntheticDataset(shape, count: 4 * shape.batch)
    var baseline: Double?
    for workers in workerCounts {
        var config = TrainerConfig(model: shape.config)
        config.batchSize = shape.batch
        config.seqLength = shape.length
        config.totalSteps = steps + 1
        config.parallel.workers = workers
        config.parallel.microBatches = microBatchCount
        // A sync on every step, so its cost shows in every measurement (trlx syncs every 5).
        config.method.stepsForTargetQSync = 1
        let trainer: ILQLTrainer
        do { trainer = try ILQLTrainer(config: config, dataset: dataset) } catch { fail("\(error)") }
        var reports: [StepReport] = []
        trainer.train { reports.append($0) }
        let timed = Array(reports.dropFirst())
        let stepTime = median(timed.map(\.seconds))
        let tokensPerSecond = Double(timed[0].tokens) / stepTime
        if workers == workerCounts.first { baseline = tokensPerSecond / Double(workers) }
        rows.append(Row(
            config: shape.name, workers: workers, microBatches: microBatchCount, stepSecondsMedian: stepTime,
            tokensPerSecond: tokensPerSecond,
            parallelEfficiency: tokensPerSecond / (Double(workers) * (baseline ?? tokensPerSecond)),
            computeShare: median(timed.map { $0.computeSeconds / $0.seconds }),
            reduceAndOptimizerShare: median(timed.map { $0.reduceSeconds / $0.seconds }),
            syncShare: median(timed.map { $0.syncSeconds / $0.seconds })))
        print(String(format: "  %@ × %d workers: %.1f ms/step, %.0f tokens/s", shape.name, workers, stepTime * 1e3, tokensPerSecond))
    }
}

print("\n| config | workers | step (median) | tokens/s | parallel efficiency | compute | all-reduce + AdamW | target sync |")
print("|---|---|---|---|---|---|---|---|")
for row in rows {
    print(String(format: "| %@ | %d | %.1f ms | %.0f | %.1f%% | %.1f%% | %.2f%% | %.2f%% |", row.config, row.workers,
                 row.stepSecondsMedian * 1e3, row.tokensPerSecond, 100 * row.parallelEfficiency,
                 100 * row.computeShare, 100 * row.reduceAndOptimizerShare, 100 * row.syncShare))
}
if let jsonPath {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    do {
        struct Results: Codable { var openblasCore: String; var cores: Int; var rows: [Row] }
        try encoder.encode(Results(openblasCore: BLAS.coreName, cores: Topology.defaultWorkerCount(), rows: rows))
            .write(to: URL(fileURLWithPath: jsonPath))
    } catch { fail("cannot write \(jsonPath): \(error)") }
    print("wrote \(jsonPath)")
}
