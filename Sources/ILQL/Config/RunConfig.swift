import Foundation
import Yams

/// A whole training run as a YAML config describes it: trlx's `TRLConfig` sections and field names
/// (`train`, `model`, `tokenizer`, `optimizer`, `scheduler`, `method`) plus this project's own
/// (`parallel`, `data`, `task`). See `configs/randomwalks.yml` for every key with a comment.
public struct RunConfig: Equatable, Sendable {
    /// Trainer settings (model shape, method, optimizer, schedule, batch, parallelism).
    public var trainer: TrainerConfig
    /// Generation settings for evaluation (`method.gen_kwargs`); `betas` lists every β to try.
    public var generation = GenerationConfig()
    /// The β values evaluation generates with (`method.gen_kwargs.beta`, a number or a list).
    public var evaluationBetas: [Float] = [1]
    /// Steps between evaluations (also run at step 0 and at the end).
    public var evalInterval = 100
    /// Steps between checkpoints (one is also written at the end).
    public var checkpointInterval = 1000
    /// Directory of the run when `--run-dir` is not given (trlx's `checkpoint_dir`).
    public var checkpointDirectory = "ckpts"
    /// How many checkpoints to keep (the newest); nil keeps all.
    public var keepCheckpoints: Int?
    /// A local Hugging Face GPT-2 directory to start the trunk from (`model.model_path`).
    public var modelPath: String?
    /// Tokenizer: a saved tokenizer directory (`tokenizer.tokenizer_path`), else `alphabet`
    /// (character-level), else byte-level.
    public var tokenizerPath: String?
    /// Characters of a character-level vocabulary (`tokenizer.alphabet`).
    public var alphabet: String?
    /// The JSONL training data (`data.train`).
    public var trainData: String = ""
    /// Prompts to generate from at evaluation (`data.eval_prompts`: a list, or a text file with
    /// one prompt per line).
    public var evalPrompts: [String] = []
    /// The file `evalPrompts` came from, if any (kept for the resolved config).
    public var evalPromptsFile: String?
    /// The evaluation metric (`task`).
    public var task: TaskConfig = .none

    /// A metric computed on generated samples.
    public enum TaskConfig: Equatable, Sendable {
        /// No metric: evaluation logs only generation lengths.
        case none
        /// trlx's randomwalks optimality, with the graph read from a `graph.json`.
        case randomWalks(graph: String)
        /// An external command: one JSON object per sample on its stdin, one JSON object of named
        /// numbers per line on its stdout.
        case command(String)
    }

    /// A config with the given trainer settings and defaults elsewhere.
    public init(trainer: TrainerConfig) {
        self.trainer = trainer
    }

    /// Keys trlx configs carry that mean nothing here; they are accepted and listed in a note.
    static let ignoredKeys: [String: Set<String>] = [
        "train": ["pipeline", "trainer", "tracker", "logging_dir", "project_name", "entity_name", "group_name",
                  "tags", "save_best", "save_optimizer", "minibatch_size", "rollout_logging_dir", "trainer_kwargs"],
        "model": ["model_arch_type", "peft_config", "model_extra_configs"],
        "tokenizer": ["padding_side", "tokenizer_extra_configs"],
        "method": ["name"],
    ]

    /// Reads a config from YAML text (`source` names it in errors). Unknown keys and values out of
    /// range are errors naming the key; trlx-only keys are returned as `ignored`.
    public static func parse(_ tree: ConfigTree, source: String) throws -> (config: RunConfig, ignored: [String]) {
        let root = try ConfigReader(tree, source: source, path: "")
        var ignored: [String] = []

        let model = try root.section("model")
        let modelPath = try model.string("model_path")
        if let layers = try model.int("num_layers_unfrozen"), layers != -1 {
            throw model.error("num_layers_unfrozen", "only -1 (train every layer) is supported (got \(layers))")
        }
        let shape = GPT2Config(
            layerCount: try model.int("n_layer") ?? 6, headCount: try model.int("n_head") ?? 12,
            width: try model.int("n_embd") ?? 144, maxPositions: try model.int("n_positions") ?? 1024,
            vocabularySize: try model.int("vocab_size") ?? 23)
        ignored += try model.finish(ignoring: ignoredKeys["model"]!)

        var config = RunConfig(trainer: TrainerConfig(model: shape))
        config.modelPath = modelPath

        let train = try root.section("train")
        config.trainer.seqLength = try train.int("seq_length") ?? config.trainer.seqLength
        config.trainer.batchSize = try train.int("batch_size") ?? config.trainer.batchSize
        config.trainer.epochs = try train.int("epochs") ?? config.trainer.epochs
        config.trainer.totalSteps = try train.int("total_steps") ?? config.trainer.totalSteps
        config.evalInterval = try train.int("eval_interval") ?? config.evalInterval
        config.checkpointInterval = try train.int("checkpoint_interval") ?? config.checkpointInterval
        config.checkpointDirectory = try train.string("checkpoint_dir") ?? config.checkpointDirectory
        if let seed = try train.int("seed") {
            guard seed >= 0 else { throw train.error("seed", "must not be negative (got \(seed))") }
            config.trainer.seed = UInt64(seed)
        }
        config.trainer.maxGradNorm = try train.double("max_grad_norm").map { Float($0) }
        config.keepCheckpoints = try train.int("keep_checkpoints")
        if let keep = config.keepCheckpoints, keep < 1 {
            throw train.error("keep_checkpoints", "must be at least 1, or null to keep all (got \(keep))")
        }
        if let policy = try train.string("on_nonfinite") {
            guard let parsed = NonFinitePolicy(rawValue: policy) else {
                throw train.error("on_nonfinite", "must be stop or skip (got \"\(policy)\")")
            }
            config.trainer.onNonFinite = parsed
        }
        guard config.evalInterval >= 1 else { throw train.error("eval_interval", "must be at least 1 (got \(config.evalInterval))") }
        guard config.checkpointInterval >= 1 else {
            throw train.error("checkpoint_interval", "must be at least 1 (got \(config.checkpointInterval))")
        }
        ignored += try train.finish(ignoring: ignoredKeys["train"]!)

        let tokenizer = try root.section("tokenizer")
        config.tokenizerPath = try tokenizer.string("tokenizer_path")
        config.alphabet = try tokenizer.string("alphabet")
        if let side = try tokenizer.string("truncation_side"), side != "right" {
            throw tokenizer.error("truncation_side", "only \"right\" is supported (got \"\(side)\")")
        }
        ignored += try tokenizer.finish(ignoring: ignoredKeys["tokenizer"]!)

        let optimizer = try root.section("optimizer")
        if let name = try optimizer.string("name"), name.lowercased() != "adamw" {
            throw optimizer.error("name", "only adamw is supported (got \"\(name)\")")
        }
        config.trainer.optimizer.decayMatricesOnly = try optimizer.bool("decay_matrices_only") ?? false
        let optimizerArguments = try optimizer.section("kwargs")
        config.trainer.optimizer.learningRate = try optimizerArguments.double("lr") ?? config.trainer.optimizer.learningRate
        if let betas = try optimizerArguments.doubles("betas") {
            guard betas.count == 2 else { throw optimizerArguments.error("betas", "must be a list of two numbers") }
            config.trainer.optimizer.beta1 = betas[0]
            config.trainer.optimizer.beta2 = betas[1]
        }
        config.trainer.optimizer.epsilon = try optimizerArguments.double("eps") ?? config.trainer.optimizer.epsilon
        config.trainer.optimizer.weightDecay = try optimizerArguments.double("weight_decay") ?? config.trainer.optimizer.weightDecay
        try optimizerArguments.finish()
        try optimizer.finish()

        let scheduler = try root.section("scheduler")
        if let name = try scheduler.string("name"), name != "cosine_annealing" {
            throw scheduler.error("name", "only cosine_annealing is supported (got \"\(name)\"; set eta_min = lr for a constant rate)")
        }
        let schedulerArguments = try scheduler.section("kwargs")
        config.trainer.scheduler.tMax = try schedulerArguments.int("T_max") ?? config.trainer.totalSteps
        config.trainer.scheduler.etaMin = try schedulerArguments.double("eta_min") ?? config.trainer.optimizer.learningRate
        try schedulerArguments.finish()
        try scheduler.finish()

        let method = try root.section("method")
        var ilql = ILQLConfig()
        ilql.tau = try method.double("tau").map { Float($0) } ?? ilql.tau
        ilql.gamma = try method.double("gamma").map { Float($0) } ?? ilql.gamma
        ilql.cqlScale = try method.double("cql_scale").map { Float($0) } ?? ilql.cqlScale
        ilql.awacScale = try method.double("awac_scale").map { Float($0) } ?? ilql.awacScale
        ilql.alpha = try method.double("alpha").map { Float($0) } ?? ilql.alpha
        ilql.beta = try method.double("beta").map { Float($0) } ?? ilql.beta
        ilql.stepsForTargetQSync = try method.int("steps_for_target_q_sync") ?? ilql.stepsForTargetQSync
        ilql.twoQs = try method.bool("two_qs") ?? ilql.twoQs
        config.trainer.method = ilql
        let generation = try method.section("gen_kwargs")
        config.generation.maxNewTokens = try generation.int("max_new_tokens") ?? config.generation.maxNewTokens
        config.generation.topK = try generation.int("top_k") ?? config.generation.topK
        config.generation.temperature = try generation.double("temperature").map { Float($0) } ?? config.generation.temperature
        config.evaluationBetas = try generation.doubles("beta")?.map { Float($0) } ?? [config.generation.beta]
        guard config.generation.maxNewTokens >= 1 else { throw generation.error("max_new_tokens", "must be at least 1") }
        guard config.generation.topK >= 1 else { throw generation.error("top_k", "must be at least 1") }
        guard config.generation.temperature >= 0 else { throw generation.error("temperature", "must not be negative") }
        guard !config.evaluationBetas.isEmpty else { throw generation.error("beta", "needs at least one value") }
        try generation.finish()
        ignored += try method.finish(ignoring: ignoredKeys["method"]!)

        let parallel = try root.section("parallel")
        config.trainer.parallel.workers = try parallel.int("workers")
        config.trainer.parallel.pin = try parallel.bool("pin") ?? true
        config.trainer.parallel.microBatches = try parallel.int("micro_batches")
        try parallel.finish()

        let data = try root.section("data")
        guard let trainPath = try data.string("train") else {
            throw data.error("train", "is required: the JSONL file of {\"sample\": ..., \"reward\": ...} lines")
        }
        config.trainData = trainPath
        if let prompts = data.value("eval_prompts") {
            switch prompts {
            case let .scalar(path, _):
                config.evalPromptsFile = path
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                    throw data.error("eval_prompts", "cannot read the prompt file \(path)")
                }
                config.evalPrompts = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
            default:
                config.evalPrompts = try data.strings("eval_prompts") ?? []
            }
        }
        try data.finish()

        let task = try root.section("task")
        switch try task.string("name") {
        case nil, "none":
            config.task = .none
        case "randomwalks":
            let defaultGraph = (config.trainData as NSString).deletingLastPathComponent
            config.task = .randomWalks(graph: try task.string("graph")
                ?? (defaultGraph.isEmpty ? "graph.json" : defaultGraph + "/graph.json"))
        case "command":
            guard let command = try task.string("command") else {
                throw task.error("command", "is required when task.name is command")
            }
            config.task = .command(command)
        case let other?:
            throw task.error("name", "must be randomwalks, command or none (got \"\(other)\")")
        }
        try task.finish()

        try root.finish()
        do {
            try config.trainer.validate()
        } catch let ModelError.invalidConfig(key, message) {
            // The model's own checks name bare GPT-2 fields; in a run config they live in `model`.
            throw ConfigError(source: source, key: key.contains(".") ? key : "model." + key, message)
        }
        if case .randomWalks = config.task, config.evalPrompts.isEmpty {
            config.evalPrompts = RandomWalks.evalPrompts
        }
        return (config, ignored)
    }

    /// Reads a config file, applying `overrides` (`key.path=value`, values in YAML syntax) first.
    public static func load(path: String, overrides: [String] = []) throws -> (config: RunConfig, ignored: [String]) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigError(source: path, key: "", "cannot read the config file (does it exist?)")
        }
        var tree = try ConfigTree.parse(yaml: text, source: path)
        for override in overrides { try apply(override, to: &tree) }
        return try parse(tree, source: path)
    }

    /// Applies one `--set key.path=value` to a parsed config.
    public static func apply(_ override: String, to tree: inout ConfigTree) throws {
        guard let equals = override.firstIndex(of: "="), equals != override.startIndex else {
            throw ConfigError(source: "--set", key: override, "expects key.path=value (for example method.tau=0.8)")
        }
        let path = override[..<equals].split(separator: ".").map(String.init)
        let value = try ConfigTree.parse(yaml: String(override[override.index(after: equals)...]),
                                         source: "--set \(override)")
        tree.set(path, to: value)
    }
}
