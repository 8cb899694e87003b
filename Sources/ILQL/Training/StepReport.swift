/// What one optimizer step did and cost.
public struct StepReport: Sendable {
    /// Optimizer steps done, this one included (counts from 1).
    public var step: Int
    /// Epoch the batch came from (counts from 1).
    public var epoch: Int
    /// The learning rate this step used.
    public var learningRate: Double
    /// Loss terms and statistics under trlx's names (`losses/loss`, `values/mean`, …).
    public var statistics: [String: Double]
    /// Real (unpadded) tokens in the batch.
    public var tokens: Int
    /// Wall time of the whole step.
    public var seconds: Double
    /// Time until the slowest worker finished its micro-batches.
    public var computeSeconds: Double
    /// All-reduce, optimizer step and, on sync steps, the Polyak update of the target heads (one
    /// fused pass over memory, or two with clipping; across processes, the sum over processes too).
    public var reduceSeconds: Double
    /// `reduceSeconds` divided between summing the workers' (and processes') gradients and the
    /// optimizer step with the target sync (and clipping). Where one pass does both, chunk by
    /// chunk, its wall time is divided in proportion to the thread time each part took in it.
    public var allReduceSeconds = 0.0, optimizerSeconds = 0.0
    /// Per worker, time spent waiting for the slowest worker.
    public var idleSeconds: [Double]
    /// The phases of the slowest worker's computation (trunk forward, heads and loss, trunk
    /// backward, its gradient buffers).
    public var phases = PhaseSeconds()
    /// Whether the target heads were synced after this step.
    public var syncedTargets: Bool
    /// The loss terms (`losses/loss_q`, …) or `gradient` that were not finite; when not empty,
    /// no update was made.
    public var nonFinite: [String] = []

    /// `tokens / seconds`.
    public var tokensPerSecond: Double { Double(tokens) / seconds }
    /// The total loss.
    public var loss: Double { statistics["losses/loss"] ?? .nan }
}
