import Foundation
import ILQLKernels
import ILQLModel
import ILQLParallel

/// ILQL training steps on a benchmark shape at several worker counts: tokens/s, parallel
/// efficiency, model FLOP/s against the sgemm peak, and where each step's time goes.
/// Behind `ilql bench` and the `ScalingBenchmark` executable.
public enum ScalingBenchmark {
    /// One measurement.
    public struct Row: Codable, Sendable {
        public var config: String, workers: Int, microBatches: Int
        /// Timed steps the medians are taken over (every round's).
        public var timedSteps: Int
        /// What the steps trained on (`BenchmarkData`'s raw value).
        public var data: String
        public var stepSecondsMedian: Double, tokensPerSecond: Double, parallelEfficiency: Double
        /// The fastest round's median tokens/s, and the parallel efficiency those give (against
        /// the first worker count's fastest round). On a shared machine a round that other
        /// tenants slow down drags the pooled median; the fastest rounds show what the trainer
        /// scales to when the host leaves it alone. The same as the medians with one round.
        public var bestRoundTokensPerSecond: Double, bestRoundEfficiency: Double
        /// Shares of the step until the slowest worker finished, and in the fused all-reduce +
        /// AdamW + target sync pass.
        public var computeShare: Double, reduceAndOptimizerShare: Double
        /// That pass divided: summing the workers' gradients, and AdamW with the target sync
        /// (`StepReport.allReduceSeconds`, `optimizerSeconds`). 0 and all of it with one worker.
        public var allReduceShare: Double, optimizerShare: Double
        /// Shares of the step in the slowest worker's trunk forward, heads + loss, trunk backward,
        /// and gradient buffers (zeroing, combining micro-batches, the finiteness check).
        public var forwardShare: Double, headsAndLossShare: Double, backwardShare: Double, gradientBuffersShare: Double
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
        /// The same sgemm run by all the row's workers at once, pinned as the trainer pins them,
        /// their rates summed (`Timing.concurrentSgemmPeak`, measured after the configuration's
        /// steps). Below `workers × sgemmPeakFlopsPerSecond` when the machine itself does not
        /// scale, which bounds the parallel efficiency any trainer can reach on it.
        public var concurrentSgemmPeakFlopsPerSecond: Double
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
    ///
    /// With `rounds` > 1 the worker counts are measured in turn, `rounds` times over (1, 2, 1, 2,
    /// …), and each row's medians pool the timed steps of every round. On a shared machine whose
    /// speed drifts from minute to minute, this lets every worker count sample the same periods,
    /// so the drift does not masquerade as a change in parallel efficiency. Resident memory is
    /// the first round's.
    public static func run(shape: BenchmarkShape, workerCounts: [Int], steps: Int, microBatches: Int,
                           rounds: Int = 1, progress: (String) -> Void = { _ in }) throws -> [Row] {
        precondition(rounds >= 1 && steps >= 1, "at least one round of one timed step")
        guard !workerCounts.isEmpty else { return [] }
        let dataset = try shape.dataset()
        let peakBefore = Timing.sgemmPeak()
        // One per worker count: the first round's measurement, then every later round's pooled in.
        var pooled: [Measurement] = []
        for round in 1...rounds {
            for (index, workers) in workerCounts.enumerated() {
                let measurement = try measure(shape: shape, dataset: dataset, workers: workers, steps: steps,
                                              microBatches: microBatches)
                if round == 1 { pooled.append(measurement) } else { pooled[index] = pooled[index].pooled(with: measurement) }
                let prefix = rounds > 1 ? "round \(round)/\(rounds): " : ""
                progress(prefix + String(format: "%@ (%@ data) × %d workers: %.1f ms/step, %.0f tokens/s", shape.name,
                                         shape.data.rawValue, workers, Timing.median(measurement.reports.map(\.seconds)) * 1e3,
                                         measurement.tokensPerSecond))
            }
        }
        let peak = max(peakBefore, Timing.sgemmPeak())
        // Only after the trainers: the measuring threads leave OpenBLAS buffers behind (about
        // 2 MiB), which would count in the first trainer's resident memory.
        let concurrent = workerCounts.map { Timing.concurrentSgemmPeak(workers: $0) }
        // Efficiencies are per worker, relative to the first worker count's.
        let baseline = pooled[0].tokensPerSecond / Double(workerCounts[0])
        let bestBaseline = pooled[0].bestRoundTokensPerSecond / Double(workerCounts[0])
        return zip(workerCounts, zip(pooled, concurrent)).map { workers, measured in
            let (m, concurrentPeak) = measured
            let timed = m.reports, tokensPerSecond = m.tokensPerSecond, bestRound = m.bestRoundTokensPerSecond
            let flopsPerSecond = Timing.median(zip(m.stepFLOPs, timed).map { $0 / $1.seconds })
            return Row(
                config: shape.name, workers: workers, microBatches: microBatches, timedSteps: timed.count,
                data: shape.data.rawValue, stepSecondsMedian: Timing.median(timed.map(\.seconds)),
                tokensPerSecond: tokensPerSecond, parallelEfficiency: tokensPerSecond / (Double(workers) * baseline),
                bestRoundTokensPerSecond: bestRound, bestRoundEfficiency: bestRound / (Double(workers) * bestBaseline),
                computeShare: Timing.median(timed.map { $0.computeSeconds / $0.seconds }),
                reduceAndOptimizerShare: Timing.median(timed.map { $0.reduceSeconds / $0.seconds }),
                allReduceShare: Timing.median(timed.map { $0.allReduceSeconds / $0.seconds }),
                optimizerShare: Timing.median(timed.map { $0.optimizerSeconds / $0.seconds }),
                forwardShare: Timing.median(timed.map { $0.phases.trunkForward / $0.seconds }),
                headsAndLossShare: Timing.median(timed.map { $0.phases.headsAndLoss / $0.seconds }),
                backwardShare: Timing.median(timed.map { $0.phases.trunkBackward / $0.seconds }),
                gradientBuffersShare: Timing.median(timed.map { $0.phases.gradientBuffers / $0.seconds }),
                idleShare: Timing.median(timed.map { report in
                    report.idleSeconds.reduce(0, +) / Double(max(1, report.idleSeconds.count)) / report.seconds
                }),
                tokensPerStep: Double(timed.reduce(0) { $0 + $1.tokens }) / Double(timed.count),
                modelFlopsPerStep: m.stepFLOPs.reduce(0, +) / Double(m.stepFLOPs.count),
                achievedFlopsPerSecond: flopsPerSecond, sgemmPeakFlopsPerSecond: peak,
                shareOfPeak: flopsPerSecond / (peak * Double(m.workerCount)),
                concurrentSgemmPeakFlopsPerSecond: concurrentPeak,
                residentBytes: Int(m.residentMegabytes * 1_048_576), requiredBytes: m.requiredBytes,
                anonymousResidentBytes: Int(m.anonymousMegabytes * 1_048_576))
        }
    }

    /// The timed steps of one or more trainer runs at one worker count.
    struct Measurement {
        /// Every timed step (warm-up steps left out), and its model FLOPs.
        var reports: [StepReport], stepFLOPs: [Double]
        /// The most resident memory seen, all of it and its anonymous part.
        var residentMegabytes: Double, anonymousMegabytes: Double
        /// The trainer's required buffers, and the workers it really ran.
        var requiredBytes: Int, workerCount: Int
        /// Each trainer run's (round's) median tokens/s.
        var roundTokensPerSecond: [Double] = []

        /// The median of the steps' tokens/s.
        var tokensPerSecond: Double { Timing.median(reports.map { Double($0.tokens) / $0.seconds }) }
        /// The fastest round's median tokens/s.
        var bestRoundTokensPerSecond: Double { roundTokensPerSecond.max() ?? tokensPerSecond }

        /// Both measurements' steps together. Memory stays this (the earlier) measurement's: a
        /// later round runs in a process whose earlier trainers left heap fragments and thread
        /// arenas behind (7–16 MiB measured), which the trainer itself does not need.
        func pooled(with later: Measurement) -> Measurement {
            var both = self
            both.reports += later.reports
            both.stepFLOPs += later.stepFLOPs
            both.roundTokensPerSecond += later.roundTokensPerSecond
            return both
        }
    }

    /// One trainer run of `steps` + 1 steps at `workers` workers.
    static func measure(shape: BenchmarkShape, dataset: OfflineDataset, workers: Int, steps: Int,
                        microBatches: Int) throws -> Measurement {
        // The previous trainer's freed heap pages would otherwise count in this one's resident
        // memory.
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
        var measurement = Measurement(reports: Array(reports.dropFirst()), stepFLOPs: Array(stepFLOPs.dropFirst()),
                                      residentMegabytes: resident, anonymousMegabytes: anonymous,
                                      requiredBytes: trainer.requiredBufferBytes, workerCount: trainer.workerCount)
        measurement.roundTokensPerSecond = [measurement.tokensPerSecond]
        return measurement
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

    /// Compute and memory as a Markdown table; the concurrent sgemm rate comes with its share of
    /// the single-thread peak × workers.
    public static func efficiencyTable(_ rows: [Row]) -> String {
        var lines = ["| config | workers | model GFLOP/step | achieved GFLOP/s | sgemm peak × workers | share of peak | sgemm on the workers at once | resident memory | required buffers | ratio | anonymous resident | ratio |",
                     "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for row in rows {
            let required = Double(max(1, row.requiredBytes))
            let peakTimesWorkers = row.sgemmPeakFlopsPerSecond * Double(row.workers)
            lines.append(String(format: "| %@ | %d | %.2f | %.1f | %.1f | %.1f%% | %.1f (%.0f%%) | %.0f MiB | %.0f MiB | %.2f | %.0f MiB | %.2f |",
                                row.config, row.workers, row.modelFlopsPerStep / 1e9, row.achievedFlopsPerSecond / 1e9,
                                peakTimesWorkers / 1e9, 100 * row.shareOfPeak,
                                row.concurrentSgemmPeakFlopsPerSecond / 1e9,
                                100 * row.concurrentSgemmPeakFlopsPerSecond / peakTimesWorkers,
                                Double(row.residentBytes) / 1_048_576, Double(row.requiredBytes) / 1_048_576,
                                Double(row.residentBytes) / required, Double(row.anonymousResidentBytes) / 1_048_576,
                                Double(row.anonymousResidentBytes) / required))
        }
        return lines.joined(separator: "\n")
    }

    /// Speed and time shares as a Markdown table: the slowest worker's phases, the waiting at
    /// the barrier, then the coordinator's pass.
    public static func table(_ rows: [Row]) -> String {
        var lines = ["| config | workers | step (median) | tokens/s | parallel efficiency | fastest rounds' efficiency | trunk forward | heads + loss | trunk backward | gradient buffers | idle at the barrier | all-reduce | AdamW + target sync |",
                     "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for row in rows {
            lines.append(String(format: "| %@ | %d | %.1f ms | %.0f | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %.2f%% | %.2f%% | %.2f%% |",
                                row.config, row.workers, row.stepSecondsMedian * 1e3, row.tokensPerSecond,
                                100 * row.parallelEfficiency, 100 * row.bestRoundEfficiency,
                                100 * row.forwardShare, 100 * row.headsAndLossShare,
                                100 * row.backwardShare, 100 * row.gradientBuffersShare, 100 * row.idleShare,
                                100 * row.allReduceShare, 100 * row.optimizerShare))
        }
        return lines.joined(separator: "\n")
    }
}
