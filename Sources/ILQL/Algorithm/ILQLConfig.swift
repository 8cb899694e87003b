/// The ILQL method's hyperparameters, with trlx's `ILQLConfig` names at the config boundary.
/// Defaults are trlx's `default_ilql_config` (ILQL.md §6).
public struct ILQLConfig: Codable, Equatable, Sendable {
    /// Expectile of the value regression: V fits the tau-expectile of the target Q (0.5 = mean,
    /// → 1 = max).
    public var tau: Float = 0.7
    /// Discount factor of the Bellman target `r + gamma · V(next)`.
    public var gamma: Float = 0.99
    /// Weight of the conservative (CQL) term: cross-entropy with Q-values as logits.
    public var cqlScale: Float = 0.1
    /// Weight of the AWAC term: advantage-weighted cross-entropy of the language-model head.
    public var awacScale: Float = 1
    /// Polyak rate of the target Q heads (1 = hard copy).
    public var alpha: Float = 0.001
    /// Sharpness of the AWAC weight `exp(beta · (Q − V))`; 0 = plain cross-entropy.
    public var beta: Float = 0
    /// Optimizer steps between target-head syncs.
    public var stepsForTargetQSync: Int = 5
    /// Two Q heads (and targets), taking the minimum of the targets: clipped double Q-learning.
    public var twoQs: Bool = true

    /// trlx's defaults.
    public init() {}

    /// Number of online (and of target) Q heads.
    public var qHeadCount: Int { twoQs ? 2 : 1 }

    enum CodingKeys: String, CodingKey {
        case tau, gamma, alpha, beta
        case cqlScale = "cql_scale", awacScale = "awac_scale"
        case stepsForTargetQSync = "steps_for_target_q_sync", twoQs = "two_qs"
    }
}
