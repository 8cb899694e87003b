// Single-thread forward+backward benchmark of the GPT-2 trunk, against the sgemm peak measured
// in the same run. Usage: swift run -c release ModelBenchmark [--config small] [--iterations 5]
//                          [--json results.json]
import Foundation
import ILQL

// MARK: - Arguments

var shapeName = "small", iterations = 5, jsonPath: String?
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--config": shapeName = arguments.next() ?? shapeName
    case "--iterations": iterations = Int(arguments.next() ?? "") ?? iterations
    case "--json": jsonPath = arguments.next()
    case "--help", "-h":
        print("usage: ModelBenchmark [--config \(BenchmarkShape.all.map(\.name).joined(separator: "|"))] [--iterations N] [--json FILE]")
        exit(0)
    default:
        FileHandle.standardError.write(Data("ModelBenchmark: unknown argument \(argument) (try --help)\n".utf8))
        exit(2)
    }
}
guard let shape = BenchmarkShape.named(shapeName), iterations >= 1 else {
    FileHandle.standardError.write(Data("ModelBenchmark: unknown config \(shapeName); choose one of \(BenchmarkShape.all.map(\.name))\n".utf8))
    exit(2)
}

// MARK: - Run

BLAS.useSingleThread()
let config = shape.config, batch = shape.batch, length = shape.length, rows = batch * length
let table = GPT2Layout.table(for: config)
let parameters = FloatBuffer(count: table.totalCount), gradients = FloatBuffer(count: table.totalCount)
var generator = SeededGenerator(seed: 1)
table.initialize(parameters.pointer, generator: &generator)
let model = GPT2(config: config)
let weights = GPT2Tensors(base: parameters.pointer, table: table, config: config)
let gradientViews = GPT2Tensors(base: gradients.pointer, table: table, config: config)
let activations = GPT2Activations(config: config, maxBatch: batch, maxLength: length)
let tokens = (0..<rows).map { _ in Int32(generator.next() % UInt64(config.vocabularySize)) }
let targets = (0..<rows).map { _ in Int32(generator.next() % UInt64(config.vocabularySize)) }
let dLosses = [Float](repeating: 1 / Float(rows), count: rows)
let losses = FloatBuffer(count: rows), logSumExp = FloatBuffer(count: rows)
let dLogits = FloatBuffer(count: rows * config.vocabularySize)

print("ModelBenchmark: \(shape.name) (\(config.layerCount) layers, width \(config.width), \(config.headCount) heads, vocab \(config.vocabularySize), B=\(batch), T=\(length)), one thread, OpenBLAS core \(BLAS.coreName)")
if let warning = BLAS.slowKernelWarning { print("warning: " + warning) }
let peakBefore = Timing.sgemmPeak()

var forwardTimes: [Double] = [], backwardTimes: [Double] = []
for iteration in 0...iterations {
    let forwardTime = Timing.seconds {
        model.forward(parameters: weights, activations: activations, tokens: tokens, batch: batch, length: length)
        SoftmaxCrossEntropy.forward(losses: losses.pointer, logSumExp: logSumExp.pointer, logits: activations.logits,
                                    targets: targets, rows: rows, classes: config.vocabularySize)
    }
    let backwardTime = Timing.seconds {
        gradients.zero()
        dLogits.zero()
        SoftmaxCrossEntropy.backward(dLogits: dLogits.pointer, dLosses: dLosses, logits: activations.logits,
                                     logSumExp: logSumExp.pointer, targets: targets, rows: rows, classes: config.vocabularySize)
        model.backward(parameters: weights, gradients: gradientViews, activations: activations, tokens: tokens,
                       batch: batch, length: length, dLogits: dLogits.pointer, dHidden: nil)
    }
    if iteration > 0 {  // iteration 0 warms caches and page-faults the buffers in
        forwardTimes.append(forwardTime)
        backwardTimes.append(backwardTime)
    }
}
let loss = (0..<rows).reduce(0.0) { $0 + Double(losses.pointer[$1]) } / Double(rows)
let stepTimes = zip(forwardTimes, backwardTimes).map { $0 + $1 }
let flops = 3 * model.forwardFLOPs(batch: batch, length: length)
let stepTime = Timing.median(stepTimes)
let achieved = flops / stepTime
// The higher of the peaks measured before and after the passes, so that a slow moment of a shared
// machine during one of them cannot inflate the share.
let peak = max(peakBefore, Timing.sgemmPeak())

let rowsOut: [(String, String)] = [
    ("OpenBLAS core", BLAS.coreName),
    ("sgemm peak (1 thread, 1024³)", String(format: "%.1f GFLOP/s", peak / 1e9)),
    ("forward (median)", String(format: "%.1f ms", Timing.median(forwardTimes) * 1e3)),
    ("backward (median)", String(format: "%.1f ms", Timing.median(backwardTimes) * 1e3)),
    ("forward+backward (median of \(iterations))", String(format: "%.1f ms", stepTime * 1e3)),
    ("model FLOPs per step", String(format: "%.2f GFLOP", flops / 1e9)),
    ("achieved", String(format: "%.1f GFLOP/s", achieved / 1e9)),
    ("share of sgemm peak", String(format: "%.1f%%", 100 * achieved / peak)),
    ("tokens/s", String(format: "%.0f", Double(rows) / stepTime)),
    ("loss (sanity, ≈ ln V)", String(format: "%.3f", loss)),
]
print("| \(shape.name) | |\n|---|---|")
for (key, value) in rowsOut { print("| \(key) | \(value) |") }

if let jsonPath {
    let json: [String: Any] = [
        "config": shape.name, "openblas_core": BLAS.coreName, "threads": 1,
        "sgemm_peak_flops": peak, "forward_seconds_median": Timing.median(forwardTimes),
        "backward_seconds_median": Timing.median(backwardTimes), "step_seconds_median": stepTime,
        "step_seconds": stepTimes, "model_flops_per_step": flops, "achieved_flops": achieved,
        "share_of_peak": achieved / peak, "tokens_per_second": Double(rows) / stepTime,
    ]
    let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
    try data.write(to: URL(fileURLWithPath: jsonPath))
    print("wrote \(jsonPath)")
}
