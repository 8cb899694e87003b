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

            Under mpirun (in a build with MPI), every process trains with its own workers and the \
            gradients are summed across processes after each step; rank 0 reads the config and \
            any checkpoint, and alone writes the run directory. Every process needs data.train \
            (and any tokenizer or model_path) at the same path.
            """)

    @Argument(help: "The YAML config (optional with --resume: the checkpoint's config.yml is used).")
    var config: String?
    @Option(help: ArgumentHelp("Worker threads (default: parallel.workers, else one per core).", valueName: "n"))
    var workers: Int?
    @Option(name: .customLong("set"), parsing: .singleValue,
            help: ArgumentHelp("Override a config value, e.g. --set method.tau=0.8 (repeatable).",
                               valueName: "key.path=value"))
    var overrides: [String] = []
    @Option(help: ArgumentHelp("Directory for logs and checkpoints (default: a new run-<time> directory under train.checkpoint_dir).",
                               valueName: "dir"))
    var runDir: String?
    @Option(help: ArgumentHelp("""
        Continue from a checkpoint directory, or from the newest checkpoint of a run directory; \
        without a value, from the newest complete checkpoint of any run under --run-dir or train.checkpoint_dir.
        """, valueName: "dir"))
    var resume: String?

    /// The value `--resume` takes when given without a directory.
    static let latest = "latest"

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
        let group = try ProcessLaunch.processGroup()
        // A finished, interrupted or non-finite run: every process stopped after the same step
        // (stops are decided on collectively), so they leave MPI together.
        defer { ProcessLaunch.finish(group) }
        do {
            try train(in: group)
        } catch where group.size > 1 && !(error is ExitCode) {
            // Any other error may be this process's alone: end the others rather than leave them
            // waiting for it.
            ProcessLaunch.abort(group, error: error, command: Self.self)
        }
    }

    /// What every process needs from rank 0 to start the same run.
    private struct Launch: Codable {
        var configYAML: String
        var runDirectory: String
    }

    /// Rank 0 resolves the config, the run directory and the checkpoint; the other processes
    /// receive the resolved config and take their state from rank 0 (see `TrainingRun`).
    private func train(in group: any ProcessGroup) throws {
        var (runConfig, runDirectory, checkpoint) = group.isRoot ? try resolve() : try received(from: group)
        if group.size > 1 {
            if group.isRoot {
                let launch = Launch(configYAML: try runConfig.yaml(), runDirectory: runDirectory.path)
                _ = try group.broadcast(Array(try JSONEncoder().encode(launch)))
            }
            // Processes sharing a machine split its cores.
            let local = LauncherEnvironment.local
            if runConfig.trainer.parallel.workers == nil, local.size > 1 {
                runConfig.trainer.parallel.workers = max(1, Topology.defaultWorkerCount() / local.size)
            }
            runConfig.trainer.parallel.firstCore = local.rank * (runConfig.trainer.parallel.workers ?? 1)
        }
        let run = try TrainingRun(config: runConfig, runDirectory: runDirectory, resume: checkpoint, processGroup: group)
        if group.isRoot {
            warnIfSlowBLASKernel()
            let processes = group.size > 1 ? "\(group.size) processes × " : ""
            FileHandle.standardError.write(Data("run directory: \(runDirectory.path) (\(processes)\(run.trainer.workerCount) workers, \(run.trainer.microBatchCount) micro-batches, \(run.trainer.network.table.parameterCount) parameters)\n".utf8))
        }
        // SIGINT and SIGTERM finish the current step and write a checkpoint before exiting.
        let stop = StopRequest()
        let sources = [SIGINT, SIGTERM].map { number -> DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            let message = group.size == 1 ? "\nstopping after this step (signal \(number))…\n" : """

                ilql (rank \(group.rank) of \(group.size)): signal \(number): stopping after this step together with the other \
                processes. If one of them died, mpirun ends this one instead; resume from the newest complete checkpoint \
                with --resume \(runDirectory.path)

                """
            source.setEventHandler {
                FileHandle.standardError.write(Data(message.utf8))
                stop.request()
            }
            source.resume()
            return source
        }
        defer { sources.forEach { $0.cancel() } }
        do {
            try run.run(progress: group.isRoot ? ProgressReporter() : nil, stop: stop)
        } catch let error as TrainingError {
            if group.isRoot { FileHandle.standardError.write(Data("\(error)\n".utf8)) }
            if case .interrupted = error { throw ExitCode(130) }
            throw ExitCode.failure
        }
    }

    /// Rank 0's resolved config and run directory (no checkpoint: rank 0 alone reads it).
    private func received(from group: any ProcessGroup) throws -> (RunConfig, URL, URL?) {
        let launch = try JSONDecoder().decode(Launch.self, from: Data(try group.broadcast([])))
        let source = "rank 0's config"
        let config = try RunConfig.parse(ConfigTree.parse(yaml: launch.configYAML, source: source), source: source).config
        return (config, URL(fileURLWithPath: launch.runDirectory), nil)
    }

    /// The resolved config, the run directory and the checkpoint to resume from (if any).
    private func resolve() throws -> (RunConfig, URL, URL?) {
        var checkpoint: URL?
        if resume == Self.latest {
            // The newest complete checkpoint of the run directory, or of any run under the
            // config's checkpoint_dir.
            if let runDir {
                checkpoint = RunCheckpoint.newest(in: URL(fileURLWithPath: runDir))
            } else if let config {
                let root = try RunConfig.load(path: config, overrides: overrides).config.checkpointDirectory
                checkpoint = RunCheckpoint.newestAcrossRuns(in: URL(fileURLWithPath: root))
            } else {
                throw ValidationError("--resume without a directory needs CONFIG or --run-dir to know where the runs are")
            }
            guard checkpoint != nil else { throw ValidationError("found no complete checkpoint to resume from") }
        } else if let resume {
            checkpoint = RunCheckpoint.newest(in: URL(fileURLWithPath: resume))
            if checkpoint == nil { throw ValidationError("\(resume) holds no complete checkpoint to resume from") }
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
        return (runConfig, runDirectory, checkpoint)
    }
}
