import Foundation
import ILQLKernels
import ILQLModel
import ILQLParallel

/// ILQL training steps on a benchmark shape at several worker counts: tokens/s, parallel
/// efficiency and the share of each step spent in the all-reduce + AdamW + target sync pass.
/// Behind `ilql bench` and the `ScalingBenchmark` executable.
public enum ScalingBenchmark {
    /// One measurement.
    public struct Row: Codable, Sendable {
        public var config: String, workers: Int, microBatches: Int
        /// What the steps trained on (`BenchmarkData`'s raw value).
        public var data: String
        public var stepSecondsMedian: Double, tokensPerSecond: Double, parallelEfficiency: Double
        /// Shares of the step until the slowest worker finished, and in the fused all-reduce +
        /// AdamW + target sync pass.
        public var computeShare: Double, reduceAndOptimizerShare: Double
        /// Shares of the step in the slowest worker's trunk forward, heads + loss, trunk backward.
        public var forwardShare: Double, headsAndLossShare: Double, backwardShare: Double
        /// Share of the step a worker spent waiting at the barrier for the slowest one (the mean
        /// over the workers; 0 with one worker).
        public var idleShare: Double
        /// Tokens of a step's batch (its real positions, not counting padding), on average.
        public var tokensPerStep: Double
        /// Model FLOPs of a step (`ILQLNetwork.stepFLOPs`, on average over the timed steps), the
        /// rate achieved (the median of the steps'), and that rate as a share of the
        /// single-thread sgemm peak times the workers. The peak is measured in the same run,
        /// before and after the configuration's steps, and the higher of the two counts: a slow
        /// moment of a shared machine during one measurement cannot inflate the share.
        public var modelFlopsPerStep: Double, achievedFlopsPerSecond: Double, sgemmPeakFlopsPerSecond: Double, shareOfPeak: Double
        /// Most resident memory seen during the timed steps, and the bytes of the buffers the
        /// design requires (parameters, AdamW moments, per-worker workspace and gradients).
        public var residentBytes: Int, requiredBytes: Int
        /// The anonymous part of that resident memory (the process's own allocations, without
        /// the pages of the Swift runtime, Foundation, OpenBLAS and other shared libraries).
        public var anonymousResidentBytes: Int
    }

    /// Micro-batches per batch when none are asked for: one per worker of the largest worker
    /// count, used at every count so each run computes the same thing. Fewer, larger
    /// micro-batches give every sgemm more rows (M = tokens of a micro-batch), which amortises
    /// the packing of the weight matrices: on randomwalks (K = 144) 2 micro-batches of 550 rows
    /// step about 3% faster than 4 of 275.
    public static func defaultMicroBatches(workerCounts: [Int]) -> Int {
        max(1, workerCounts.max() ?? 1)
    }

    /// Trains `steps` + 1 steps (the first is a warm-up) at each worker count, with the same
    /// `microBatches` everywhere so every run computes the same thing, and a target sync on every
    /// step so its cost shows in every measurement. Efficiency is relative to the first worker
    /// count (scaled per worker). `progress` hears one line per measurement.
    public static func run(shape: BenchmarkShape, workerCounts: [Int], steps: Int, microBatches: Int,
                           progress: (String) -> Void = { _ in }) throws -> [Row] {
        let dataset = try shape.dataset()
        let peakBefore = Timing.sgemmPeak()
        var rows: [Row] = []
        var perWorkerBaseline: Double?
        for workers in workerCounts {
            // The previous trainer's freed heap pages would otherwise count in this one's
            // resident memory.
            releaseFreedHeapMemory()
            var config = TrainerConfig(model: shape.config)
            config.batchSize = shape.batch
            config.seqLength = shape.length
            config.totalSteps = steps + 1
            config.parallel.workers = workers
            config.parallel.microBatches = microBatches
            config.method.stepsForTargetQSync = 1
            let trainer = try ILQLTrainer(config: config, dataset: dataset)
            // The trainer's data order, replayed to count each step's FLOPs from its own batch
            // (batches of task data differ in their tokens).
            var order = trainer.dataOrder
            var reports: [StepReport] = [], stepFLOPs: [Double] = []
            var resident = 0.0, anonymous = 0.0
            try trainer.train {
                reports.append($0)
                stepFLOPs.append(trainer.network.stepFLOPs(
                    batch: order.nextBatch(size: shape.batch).map { dataset.elements[$0] }))
                resident = max(resident, ResidentMemory.megabytes())
                anonymous = max(anonymous, ResidentMemory.anonymousMegabytes())
            }
            let timed = Array(reports.dropFirst()), timedFLOPs = Array(stepFLOPs.dropFirst())
            let stepTime = Timing.median(timed.map(\.seconds))
            let tokensPerSecond = Timing.median(timed.map { Double($0.tokens) / $0.seconds })
            let flops = timedFLOPs.reduce(0, +) / Double(timedFLOPs.count)
            let flopsPerSecond = Timing.median(zip(timedFLOPs, timed).map { $0 / $1.seconds })
            let baseline = perWorkerBaseline ?? tokensPerSecond / Double(workers)
            perWorkerBaseline = baseline
            rows.append(Row(
                config: shape.name, workers: workers, microBatches: microBatches, data: shape.data.rawValue,
                stepSecondsMedian: stepTime,
                tokensPerSecond: tokensPerSecond, parallelEfficiency: tokensPerSecond / (Double(workers) * baseline),
                computeShare: Timing.median(timed.map { $0.computeSeconds / $0.seconds }),
                reduceAndOptimizerShare: Timing.median(timed.map { $0.reduceSeconds / $0.seconds }),
                forwardShare: Timing.median(timed.map { $0.phases.trunkForward / $0.seconds }),
                headsAndLossShare: Timing.median(timed.map { $0.phases.headsAndLoss / $0.seconds }),
                backwardShare: Timing.median(timed.map { $0.phases.trunkBackward / $0.seconds }),
                idleShare: Timing.median(timed.map { report in
                    report.idleSeconds.reduce(0, +) / Double(max(1, report.idleSeconds.count)) / report.seconds
                }),
                tokensPerStep: Double(timed.reduce(0) { $0 + $1.tokens }) / Double(timed.count),
                modelFlopsPerStep: flops, achievedFlopsPerSecond: flopsPerSecond, sgemmPeakFlopsPerSecond: peakBefore,
                shareOfPeak: flopsPerSecond / (peakBefore * Double(trainer.workerCount)),
                residentBytes: Int(resident * 1_048_576), requiredBytes: trainer.requiredBufferBytes,
                anonymousResidentBytes: Int(anonymous * 1_048_576)))
            progress(String(format: "%@ (%@ data) × %d workers: %.1f ms/step, %.0f tokens/s", shape.name,
                            shape.data.rawValue, workers, stepTime * 1e3, tokensPerSecond))
        }
        let peak = max(peakBefore, Timing.sgemmPeak())
        for i in rows.indices {
            rows[i].shareOfPeak *= peakBefore / peak
            rows[i].sgemmPeakFlopsPerSecond = peak
        }
        return rows
    }

    /// Returns freed heap memory to the system (glibc's `malloc_trim`, looked up at run time
    /// because Swift's Glibc module does not declare it; elsewhere nothing happens). glibc keeps
    /// freed chunks below the top of its heap mapped, so a benchmark that measured one
    /// configuration after another in the same process would charge each with its predecessors'
    /// leftovers (about 45 MiB on `small` after `randomwalks`).
    static func releaseFreedHeapMemory() {
        #if os(Linux)
        typealias Trim = @convention(c) (Int) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
        _ = unsafeBitCast(symbol, to: Trim.self)(0)
        #endif
    }

    /// The results file of `ilql bench --json` and `ScalingBenchmark --json`: the machine (CPU
    /// model, OpenBLAS core, cores) and every row, with snake_case keys, as the tools read it.
    public static func resultsJSON(_ rows: [Row]) throws -> Data {
        struct Results: Codable { var cpu: String; var openblasCore: String; var cores: Int; var rows: [Row] }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(Results(cpu: cpuModel, openblasCore: BLAS.coreName,
                                          cores: Topology.defaultWorkerCount(), rows: rows))
    }

    /// Compute and memory as a Markdown table.
    public static func efficiencyTable(_ rows: [Row]) -> String {
        var lines = ["| config | workers | model GFLOP/step | achieved GFLOP/s | sgemm peak × workers | share of peak | resident memory | required buffers | ratio | anonymous resident | ratio |",
                     "|---|---|---|---|---|---|---|---|---|---|---|"]
        for row in rows {
            let required = Double(max(1, row.requiredBytes))
            lines.append(String(format: "| %@ | %d | %.2f | %.1f | %.1f | %.1f%% | %.0f MiB | %.0f MiB | %.2f | %.0f MiB | %.2f |",
                                row.config, row.workers, row.modelFlopsPerStep / 1e9, row.achievedFlopsPerSecond / 1e9,
                                row.sgemmPeakFlopsPerSecond * Double(row.workers) / 1e9, 100 * row.shareOfPeak,
                                Double(row.residentBytes) / 1_048_576, Double(row.requiredBytes) / 1_048_576,
                                Double(row.residentBytes) / required, Double(row.anonymousResidentBytes) / 1_048_576,
                                Double(row.anonymousResidentBytes) / required))
        }
        return lines.joined(separator: "\n")
    }

    /// Speed and time shares as a Markdown table.
    public static func table(_ rows: [Row]) -> String {
        var lines = ["| config | workers | step (median) | tokens/s | parallel efficiency | trunk forward | heads + loss | trunk backward | idle at the barrier | all-reduce + AdamW + target sync |",
                     "|---|---|---|---|---|---|---|---|---|---|"]
        for row in rows {
            lines.append(String(format: "| %@ | %d | %.1f ms | %.0f | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %.2f%% | %.2f%% |",
                                row.config, row.workers, row.stepSecondsMedian * 1e3, row.tokensPerSecond,
                                100 * row.parallelEfficiency, 100 * row.forwardShare, 100 * row.headsAndLossShare,
                                100 * row.backwardShare, 100 * row.idleShare, 100 * row.reduceAndOptimizerShare))
        }
        return lines.joined(separator: "\n")
    }
}
