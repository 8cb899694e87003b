#if canImport(Glibc)
import Glibc
#endif
import ILQLKernels
import ILQLModel

/// AdamW's settings (trlx's `optimizer` section, `name: adamw`). Defaults: trlx's
/// `default_ilql_config`.
public struct OptimizerConfig: Codable, Equatable, Sendable {
    /// Base learning rate.
    public var learningRate = 5e-5
    /// Exponential decay rates of the first and second moments.
    public var beta1 = 0.9, beta2 = 0.95
    /// Added to the denominator.
    public var epsilon = 1e-8
    /// Decoupled weight decay.
    public var weightDecay = 1e-6
    /// Which parameters decay: all of them (trlx, the default) or matrices only (GPT-2 recipes).
    public var decayMatricesOnly = false

    /// trlx's defaults.
    public init() {}
}

/// Cosine annealing of the learning rate (trlx's `scheduler` section, `name: cosine_annealing`),
/// with `torch.optim.lr_scheduler.CosineAnnealingLR`'s semantics.
public struct SchedulerConfig: Codable, Equatable, Sendable {
    /// Steps of one half cosine period.
    public var tMax: Int = 1_000_000_000
    /// The floor; every trlx ILQL config sets it to the base rate, making the rate constant.
    public var etaMin = 5e-5

    /// trlx's defaults (a constant rate equal to the default learning rate).
    public init() {}

    /// The learning rate after `step` scheduler steps (the first optimizer step uses step 0):
    /// `eta_min + (base − eta_min) · (1 + cos(π · step / T_max)) / 2`.
    public func learningRate(base: Double, step: Int) -> Double {
        guard tMax > 0 else { return base }
        return etaMin + (base - etaMin) * (1 + cos(Double.pi * Double(step) / Double(tMax))) / 2
    }
}

/// How the work of a step is spread over threads.
public struct ParallelConfig: Codable, Equatable, Sendable {
    /// Worker threads; nil means one per core hwloc sees.
    public var workers: Int?
    /// Pin each worker to a core.
    public var pin = true
    /// Micro-batches per batch; nil means one per worker. Results are bit-identical across worker
    /// counts when this is fixed to a power of two and the worker count is a power of two that
    /// divides it.
    public var microBatches: Int?
    /// The core worker 0 is pinned to (the others follow, modulo the core count). Not a config
    /// key: `ilql train` sets it when several MPI processes share one machine, so that each
    /// process pins its workers to its own cores.
    public var firstCore = 0

    /// One worker per core, pinned, one micro-batch per worker.
    public init() {}
}

/// What to do when a batch gives a non-finite loss or gradient.
public enum NonFinitePolicy: String, Codable, Equatable, Sendable {
    /// Stop the run (after writing a checkpoint of the last good state).
    case stop
    /// Drop the batch and go on, counting the skip.
    case skip
}

/// Everything a training run needs besides its data.
public struct TrainerConfig: Equatable, Sendable {
    /// Shape of the trunk.
    public var model: GPT2Config
    /// The method's hyperparameters.
    public var method = ILQLConfig()
    /// AdamW.
    public var optimizer = OptimizerConfig()
    /// Learning-rate schedule.
    public var scheduler = SchedulerConfig()
    /// Threads and micro-batches.
    public var parallel = ParallelConfig()
    /// Sequences per optimizer step.
    public var batchSize = 32
    /// Longest sample in tokens (longer ones are truncated on the right).
    public var seqLength = 64
    /// Passes over the data; training stops at `min(totalSteps, epochs × batches per epoch)`.
    public var epochs = 100
    /// Most optimizer steps.
    public var totalSteps = 1000
    /// Seeds initialisation, data order and sampling.
    public var seed: UInt64 = 1000
    /// Clip the global gradient norm to this (nil: no clipping, trlx's default).
    public var maxGradNorm: Float?
    /// What a batch whose loss or gradient is not finite does.
    public var onNonFinite: NonFinitePolicy = .stop

    /// A config for a trunk of shape `model`, with trlx's defaults elsewhere.
    public init(model: GPT2Config) {
        self.model = model
    }

    /// Throws `ModelError.invalidConfig` naming the first field out of range.
    public func validate() throws {
        try model.validate()
        func require(_ condition: Bool, _ key: String, _ message: String) throws {
            if !condition { throw ModelError.invalidConfig(key: key, message: message) }
        }
        try require(batchSize >= 1, "train.batch_size", "must be at least 1 (got \(batchSize))")
        try require(seqLength >= 2, "train.seq_length", "must be at least 2 (got \(seqLength))")
        try require(seqLength <= model.maxPositions, "train.seq_length",
                    "\(seqLength) exceeds model.n_positions = \(model.maxPositions)")
        try require(epochs >= 1, "train.epochs", "must be at least 1 (got \(epochs))")
        try require(totalSteps >= 1, "train.total_steps", "must be at least 1 (got \(totalSteps))")
        try require(method.tau > 0 && method.tau < 1, "method.tau", "must lie in (0, 1) (got \(method.tau))")
        try require(method.gamma >= 0 && method.gamma <= 1, "method.gamma", "must lie in [0, 1] (got \(method.gamma))")
        try require(method.alpha > 0 && method.alpha <= 1, "method.alpha", "must lie in (0, 1] (got \(method.alpha))")
        try require(method.stepsForTargetQSync >= 1, "method.steps_for_target_q_sync",
                    "must be at least 1 (got \(method.stepsForTargetQSync))")
        try require(optimizer.learningRate > 0, "optimizer.kwargs.lr", "must be positive (got \(optimizer.learningRate))")
        try require(optimizer.beta1 >= 0 && optimizer.beta1 < 1 && optimizer.beta2 >= 0 && optimizer.beta2 < 1,
                    "optimizer.kwargs.betas", "must lie in [0, 1) (got \(optimizer.beta1), \(optimizer.beta2))")
        try require(optimizer.epsilon > 0, "optimizer.kwargs.eps", "must be positive (got \(optimizer.epsilon))")
        try require(optimizer.weightDecay >= 0, "optimizer.kwargs.weight_decay", "must not be negative")
        try require(scheduler.tMax >= 1, "scheduler.kwargs.T_max", "must be at least 1 (got \(scheduler.tMax))")
        if let workers = parallel.workers {
            try require(workers >= 1, "parallel.workers", "must be at least 1 (got \(workers))")
        }
        if let microBatches = parallel.microBatches {
            try require(microBatches >= 1, "parallel.micro_batches", "must be at least 1 (got \(microBatches))")
        }
        if let maxGradNorm {
            try require(maxGradNorm > 0, "train.max_grad_norm", "must be positive (got \(maxGradNorm))")
        }
    }

    /// AdamW's hyperparameters at `learningRate`, for a tensor that does or does not decay.
    func adamW(learningRate: Double, decays: Bool) -> AdamW.Hyperparameters {
        AdamW.Hyperparameters(learningRate: learningRate, beta1: optimizer.beta1, beta2: optimizer.beta2,
                              epsilon: optimizer.epsilon,
                              weightDecay: decays || !optimizer.decayMatricesOnly ? optimizer.weightDecay : 0)
    }
}
