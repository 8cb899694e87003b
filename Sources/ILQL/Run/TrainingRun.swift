import Foundation
import ILQLKernels
import ILQLModel
import ILQLParallel

/// A whole training run as `ilql train` performs it: data, trainer, evaluation at step 0, every
/// `eval_interval` steps and at the end, checkpoints every `checkpoint_interval` steps and at the
/// end, `metrics.jsonl` and the resolved `config.yml` in the run directory.
///
/// In a run over several processes (`processGroup`), every process trains; rank 0 alone
/// evaluates and writes the run directory, logs and checkpoints, and only rank 0 needs the
/// checkpoint it resumes from: the others receive its state.
public final class TrainingRun {
    /// The resolved config.
    public let config: RunConfig
    /// Where logs and checkpoints go.
    public let runDirectory: URL
    /// The trainer (parameters, optimizer state, data order).
    public let trainer: ILQLTrainer
    /// The tokenizer used for data, prompts and checkpoints.
    public let tokenizer: any Tokenizer
    /// Evaluation, if there are prompts.
    public let evaluator: Evaluator?
    /// The latest evaluation's metrics.
    public private(set) var lastEvaluation: [String: Double] = [:]
    /// Every evaluation: step and metrics.
    public private(set) var evaluations: [(step: Int, metrics: [String: Double])] = []
    /// The metrics log (rank 0 only).
    private let log: MetricsLog?
    /// The processes of the run.
    public var processGroup: any ProcessGroup { trainer.processGroup }

    /// Builds a run from files as the config names them (`data.train`, the tokenizer, the task
    /// graph or command), resuming from `resume` (a checkpoint directory, or a run directory whose
    /// newest complete checkpoint is used) when given.
    public convenience init(config: RunConfig, runDirectory: URL, resume: URL? = nil,
                            processGroup: any ProcessGroup = SingleProcess()) throws {
        let samples = try readSamples(from: URL(fileURLWithPath: config.trainData))
        var config = config
        var initialTrunk: URL?
        if let path = config.modelPath {
            initialTrunk = URL(fileURLWithPath: path)
            config.trainer.model = try GPT2Checkpoint.loadConfig(from: initialTrunk!)
        }
        let tokenizer = try Self.tokenizer(for: config)
        let metric = try config.task.metric()
        try self.init(config: config, samples: samples, tokenizer: tokenizer, metric: metric, runDirectory: runDirectory,
                      resume: resume, initialTrunk: initialTrunk, processGroup: processGroup)
    }

    /// Builds a run from samples in memory (the library entry point): `metric` scores generated
    /// samples at each evaluation; `config.trainData` only names the data in messages.
    public init(config: RunConfig, samples: [OfflineSample], tokenizer: any Tokenizer, metric: MetricFunction?,
                runDirectory: URL, resume: URL? = nil, initialTrunk: URL? = nil,
                processGroup: any ProcessGroup = SingleProcess()) throws {
        guard tokenizer.vocabularySize <= config.trainer.model.vocabularySize else {
            throw ConfigError(source: "config", key: "model.vocab_size",
                              "is \(config.trainer.model.vocabularySize) but the tokenizer has \(tokenizer.vocabularySize) tokens")
        }
        self.config = config
        self.tokenizer = tokenizer
        self.runDirectory = runDirectory
        let dataset = try OfflineDataset(samples: samples, tokenizer: tokenizer, maxLength: config.trainer.seqLength,
                                         source: config.trainData.isEmpty ? "samples" : config.trainData)
        let isRoot = processGroup.isRoot
        // Only rank 0 reads the checkpoint and the run directory; the others follow its state.
        let checkpoint = isRoot ? resume.map { RunCheckpoint.newest(in: $0) ?? $0 } : nil
        if isRoot, resume != nil, checkpoint.map({ FileManager.default.fileExists(atPath: $0.path) }) != true {
            throw ConfigError(source: resume!.path, key: "", "holds no complete checkpoint to resume from")
        }
        if isRoot, checkpoint == nil, let existing = RunCheckpoint.newest(in: runDirectory) {
            throw ConfigError(source: runDirectory.path, key: "",
                              "already holds a run (newest checkpoint \(existing.lastPathComponent)); pass --resume \(runDirectory.path) to continue it, or choose another --run-dir")
        }
        let trainer = try ILQLTrainer(config: config.trainer, dataset: dataset, processGroup: processGroup)
        if isRoot, let initialTrunk, checkpoint == nil {
            try RunCheckpoint.loadParameters(from: initialTrunk, network: trainer.network, into: trainer.parameters,
                                             headsOptional: true)
        }
        if let checkpoint { try RunCheckpoint.restore(trainer, from: checkpoint) }
        // The trainer's initialiser already gave every process rank 0's state; it is sent again
        // only when rank 0 has since loaded a trunk or a checkpoint (decided together, since only
        // rank 0 knows).
        let rootStateChanged = isRoot && (checkpoint != nil || initialTrunk != nil)
        if try processGroup.any(rootStateChanged) { try trainer.broadcastStateFromRoot() }
        self.trainer = trainer
        evaluator = config.evalPrompts.isEmpty || !isRoot ? nil : try Evaluator(
            network: trainer.network, tokenizer: tokenizer, prompts: config.evalPrompts, generation: config.generation,
            betas: config.evaluationBetas, metric: metric, seed: config.trainer.seed)
        if isRoot {
            try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
            try DurableFiles.write(Data(try config.yaml().utf8), to: runDirectory.appendingPathComponent("config.yml"))
            log = try MetricsLog(url: runDirectory.appendingPathComponent("metrics.jsonl"),
                                 keepingThrough: checkpoint == nil ? nil : trainer.step)
        } else {
            log = nil
        }
    }

    /// The tokenizer a config asks for: a saved tokenizer directory, a model directory holding
    /// one, a character alphabet, or bytes.
    public static func tokenizer(for config: RunConfig) throws -> any Tokenizer {
        if let path = config.tokenizerPath
            ?? config.modelPath.flatMap({ holdsTokenizer(URL(fileURLWithPath: $0)) ? $0 : nil }) {
            return try loadTokenizer(from: URL(fileURLWithPath: path))
        }
        if let alphabet = config.alphabet { return try CharacterTokenizer(alphabet: alphabet.map(String.init)) }
        return try ByteTokenizer()
    }

    /// Trains to the end, evaluating and checkpointing on schedule; `onStep` sees every step.
    ///
    /// When `stop` is raised (SIGINT/SIGTERM in `ilql train`), the current step finishes, a
    /// checkpoint is written and `TrainingError.interrupted` is thrown. A non-finite loss or
    /// gradient stops the run with a checkpoint of the last good state
    /// (`train.on_nonfinite: stop`), or skips the batch (`skip`). Over several processes, a stop
    /// asked of any of them stops all of them after the same step.
    @discardableResult
    public func run(progress: ProgressReporter? = nil, stop: StopRequest? = nil,
                    onStep: (StepReport) -> Void = { _ in }) throws -> [String: Double] {
        let total = trainer.totalSteps
        progress?.start(total: total, from: trainer.step)
        if trainer.step == 0 { try evaluate() }
        while trainer.step < total {
            let report = try trainer.trainStep()
            if !report.nonFinite.isEmpty, config.trainer.onNonFinite == .stop {
                let written = try checkpoint()
                throw TrainingError.nonFinite(step: report.step, terms: report.nonFinite, checkpoint: written)
            }
            var record: [String: Any] = report.statistics
            record["step"] = report.step
            record["epoch"] = report.epoch
            record["tokens_per_second"] = report.tokensPerSecond
            record["time/step"] = report.seconds
            record["memory/rss_mb"] = ResidentMemory.megabytes()
            if !report.nonFinite.isEmpty { record["skipped"] = report.nonFinite }
            if trainer.skippedSteps > 0 { record["skipped_steps"] = trainer.skippedSteps }
            try log?.append(record)
            onStep(report)
            progress?.step(report, total: total)
            let step = trainer.step
            if step % config.evalInterval == 0 || step == total { try evaluate() }
            let stopping = try processGroup.any(stop?.isRequested == true) && step < total
            if step % config.checkpointInterval == 0 || step == total || stopping {
                let written = try checkpoint()
                if stopping { throw TrainingError.interrupted(step: step, checkpoint: written) }
            }
        }
        progress?.finish(evaluations: evaluations)
        return lastEvaluation
    }

    /// Evaluates now and logs the metrics.
    public func evaluate() throws {
        guard let evaluator, let log else { return }
        let started = DispatchTime.now().uptimeNanoseconds
        let (metrics, _) = try evaluator.evaluate(parameters: trainer.network.tensors(trainer.parameters.pointer),
                                                  step: trainer.step)
        var record: [String: Any] = metrics
        record["step"] = trainer.step
        record["time/eval"] = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        try log.append(record)
        lastEvaluation = metrics
        evaluations.append((trainer.step, metrics))
    }

    /// Where the checkpoint of `step` goes.
    public func checkpointDirectory(step: Int) -> URL {
        RunCheckpoint.checkpointsDirectory(of: runDirectory).appendingPathComponent(RunCheckpoint.name(step: step))
    }

    /// Writes the checkpoint of the current step into `checkpoints/step_NNNNNN`, then removes
    /// the oldest ones beyond `train.keep_checkpoints`.
    @discardableResult
    public func checkpoint() throws -> URL {
        let directory = checkpointDirectory(step: trainer.step)
        // Every process holds the same state, which is checked; rank 0 writes it.
        try trainer.verifyIdenticalState()
        guard processGroup.isRoot else { return directory }
        try RunCheckpoint.write(trainer: trainer, config: config, tokenizer: tokenizer, to: directory)
        if let keep = config.keepCheckpoints {
            let parent = directory.deletingLastPathComponent()
            for old in RunCheckpoint.checkpointNames(in: parent).dropLast(keep) {
                try FileManager.default.removeItem(at: parent.appendingPathComponent(old))
            }
        }
        return directory
    }
}

/// A flag another thread (a signal handler) raises to ask a run to stop after its current step.
public final class StopRequest: @unchecked Sendable {
    private let lock = NSLock()
    private var requested = false

    /// A lowered flag.
    public init() {}

    /// Asks the run to stop.
    public func request() { lock.withLock { requested = true } }

    /// Whether a stop was asked for.
    public var isRequested: Bool { lock.withLock { requested } }
}

/// The process's resident memory, read from /proc (0 where it cannot be read).
public enum ResidentMemory {
    /// Resident set size in MiB.
    public static func megabytes() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Double(fields[1]) else { return 0 }
        return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
    }

    /// The anonymous part of the resident set in MiB (`RssAnon` in /proc/self/status): the
    /// process's own allocations, without the shared libraries' pages (0 where it cannot be read).
    public static func anonymousMegabytes() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("RssAnon:") }),
              let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) else { return 0 }
        return kilobytes / 1024
    }
}

/// Why a run stopped before its end.
public enum TrainingError: Error, CustomStringConvertible {
    /// The loss or gradient of a step's batch was NaN or infinite; the last good state was saved.
    case nonFinite(step: Int, terms: [String], checkpoint: URL)
    /// SIGINT or SIGTERM arrived; the run stopped after a step and saved it.
    case interrupted(step: Int, checkpoint: URL)

    public var description: String {
        switch self {
        case let .nonFinite(step, terms, checkpoint):
            return "step \(step) produced a non-finite \(terms.joined(separator: ", ")); the last good state (step \(step - 1)) is saved in \(checkpoint.path). Lower the learning rate, set train.max_grad_norm, or set train.on_nonfinite: skip"
        case let .interrupted(step, checkpoint):
            return "interrupted after step \(step); checkpoint written to \(checkpoint.path) (continue with --resume \(checkpoint.deletingLastPathComponent().deletingLastPathComponent().path))"
        }
    }
}
