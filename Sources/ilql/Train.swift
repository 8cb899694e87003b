import ArgumentParser
import Foundation
import ILQL

/// `ilql train`: a training run from a YAML config.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train with ILQL from a YAML config (trlx's sections and field names).",
        discussion: """
            Writes config.yml, metrics.jsonl and checkpoints/step_NNNNNN/ to the run directory, \
            evaluates at step 0, every train.eval_interval steps and at the end, and prints \
            progress to stderr. Resume an interrupted run with --resume RUN_DIR.
            """)

    @Argument(help: "The YAML config (optional with --resume: the checkpoint's config.yml is used).")
    var config: String?
    @Option(help: "Worker threads (default: parallel.workers, else one per core).")
    var workers: Int?
    @Option(name: .customLong("set"), parsing: .singleValue,
            help: "Override a config value, e.g. --set method.tau=0.8 (repeatable).")
    var overrides: [String] = []
    @Option(help: "Directory for logs and checkpoints (default: a new run-<time> directory under train.checkpoint_dir).")
    var runDir: String?
    @Option(help: "Continue from a checkpoint directory, or from the newest checkpoint of a run directory.")
    var resume: String?

    /// `run-YYYYMMDD-HHMMSS` in UTC.
    static func timestampedName() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "'run-'yyyyMMdd-HHmmss"
        return formatter.string(from: Date())
    }

    func validate() throws {
        if config == nil && resume == nil { throw ValidationError("give a CONFIG file, or --resume DIR to continue a run") }
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1 (got \(workers))") }
    }

    func run() throws {
        let resumeURL = resume.map { URL(fileURLWithPath: $0) }
        let checkpoint = resumeURL.flatMap { RunCheckpoint.newest(in: $0) }
        if let resume, checkpoint == nil {
            throw ValidationError("\(resume) holds no complete checkpoint to resume from")
        }
        let configPath = config ?? checkpoint!.appendingPathComponent(RunCheckpoint.configFileName).path
        var overrides = self.overrides
        if let workers { overrides.append("parallel.workers=\(workers)") }
        let (runConfig, ignored) = try RunConfig.load(path: configPath, overrides: overrides)
        if !ignored.isEmpty { note("ignoring trlx keys that mean nothing here: \(ignored.joined(separator: ", "))") }
        // A resumed run continues in the run directory that holds the checkpoint; a new run without
        // --run-dir gets a fresh, time-stamped directory under train.checkpoint_dir.
        let runDirectory = runDir.map { URL(fileURLWithPath: $0) }
            ?? checkpoint.map { $0.deletingLastPathComponent().deletingLastPathComponent() }
            ?? URL(fileURLWithPath: runConfig.checkpointDirectory).appendingPathComponent(Self.timestampedName())
        let run = try TrainingRun(config: runConfig, runDirectory: runDirectory, resume: checkpoint)
        FileHandle.standardError.write(Data("run directory: \(runDirectory.path) (\(run.trainer.workerCount) workers, \(run.trainer.microBatchCount) micro-batches, \(run.trainer.network.table.parameterCount) parameters)\n".utf8))
        try run.run(progress: ProgressReporter())
    }
}
