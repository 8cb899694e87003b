#if canImport(Glibc)
import Glibc
#endif
import ILQLKernels

/// The values of a batch's ILQL entries that the loss reads, one entry per (sequence, action)
/// with a nonzero mask. Entries with mask 0 (padding, the terminal state) are left out by the
/// caller, which is what makes padded positions unable to change the loss.
public struct ILQLLossInputs {
    /// Number of entries n.
    public var count: Int
    /// Width of the Q and logit rows.
    public var vocabularySize: Int
    /// (n) the action token a of each entry.
    public var actions: UnsafePointer<Int32>
    /// (n) reward of the entry (nonzero only on a sample's last action).
    public var rewards: UnsafePointer<Float>
    /// (n) trlx's terminal mask `dones[:, :-1]` for the entry (1 for every real action).
    public var mask: UnsafePointer<Float>
    /// Per online Q head, (n, V): the head's output at the state that predicts the action.
    public var qRows: [UnsafePointer<Float>]
    /// (n) `min_k target_q_heads[k](…)[a]`: a constant (no gradient).
    public var targetQ: UnsafePointer<Float>
    /// (n) V at the entry's state.
    public var values: UnsafePointer<Float>
    /// (n) V at the next state times that state's `dones`: a constant (no gradient).
    public var nextValues: UnsafePointer<Float>
    /// (n, V) language-model logits at the state that predicts the action.
    public var logitRows: UnsafePointer<Float>
    /// (n) AWAC weights to use instead of `exp(beta · (targetQ − values))`: only for checks that
    /// must hold the loss's constants fixed while V moves (finite differences).
    var frozenAWACWeights: UnsafePointer<Float>?

    /// Bundles the entry arrays.
    public init(count: Int, vocabularySize: Int, actions: UnsafePointer<Int32>, rewards: UnsafePointer<Float>,
                mask: UnsafePointer<Float>, qRows: [UnsafePointer<Float>], targetQ: UnsafePointer<Float>,
                values: UnsafePointer<Float>, nextValues: UnsafePointer<Float>, logitRows: UnsafePointer<Float>) {
        self.count = count
        self.vocabularySize = vocabularySize
        self.actions = actions
        self.rewards = rewards
        self.mask = mask
        self.qRows = qRows
        self.targetQ = targetQ
        self.values = values
        self.nextValues = nextValues
        self.logitRows = logitRows
    }
}

/// Where the loss accumulates its gradients (`+=`), same shapes as the inputs they belong to.
public struct ILQLLossGradients {
    /// Per online Q head, (n, V).
    public var dQRows: [UnsafeMutablePointer<Float>]
    /// (n) gradient for V at the entry's state.
    public var dValues: UnsafeMutablePointer<Float>
    /// (n, V) gradient for the logits.
    public var dLogitRows: UnsafeMutablePointer<Float>

    /// Bundles the gradient arrays.
    public init(dQRows: [UnsafeMutablePointer<Float>], dValues: UnsafeMutablePointer<Float>,
                dLogitRows: UnsafeMutablePointer<Float>) {
        self.dQRows = dQRows
        self.dValues = dValues
        self.dLogitRows = dLogitRows
    }
}

/// Loss terms and statistics of (part of) a batch. Terms are already divided by the whole
/// batch's normaliser N, so the parts computed by several workers add up to the batch's loss.
public struct ILQLLossOutput: Sendable, Equatable {
    public var lossQ = 0.0, lossV = 0.0, lossCQL = 0.0, lossAWAC = 0.0
    /// Statistics of V, of each online Q head's Q at the action, and of the AWAC weight.
    public var values = MaskedStatistic()
    public var qValues: [MaskedStatistic]
    public var awacWeights = MaskedStatistic()

    /// Zero terms and empty statistics for `qHeadCount` Q heads.
    public init(qHeadCount: Int) {
        qValues = Array(repeating: MaskedStatistic(), count: qHeadCount)
    }

    /// `loss_q + loss_v + cql_scale · loss_cql + awac_scale · loss_awac`.
    public func total(_ config: ILQLConfig) -> Double {
        lossQ + lossV + Double(config.cqlScale) * lossCQL + Double(config.awacScale) * lossAWAC
    }

    /// Adds another part of the same batch.
    public mutating func merge(_ other: ILQLLossOutput) {
        lossQ += other.lossQ
        lossV += other.lossV
        lossCQL += other.lossCQL
        lossAWAC += other.lossAWAC
        values.merge(other.values)
        for k in qValues.indices { qValues[k].merge(other.qValues[k]) }
        awacWeights.merge(other.awacWeights)
    }

    /// The statistics under trlx's names (`losses/loss_q`, `values/mean`, `qvalues/0/std`,
    /// `awac_weight/max`, …), for the whole batch's normaliser N.
    public func statistics(_ config: ILQLConfig, normalizer n: Double) -> [String: Double] {
        var stats: [String: Double] = [
            "losses/loss": total(config), "losses/loss_q": lossQ, "losses/loss_v": lossV,
            "losses/loss_cql": lossCQL, "losses/loss_awac": lossAWAC,
        ]
        func add(_ prefix: String, _ statistic: MaskedStatistic) {
            for (key, value) in statistic.summary(normalizer: n) { stats["\(prefix)/\(key)"] = value }
        }
        add("values", values)
        for (k, q) in qValues.enumerated() { add("qvalues/\(k)", q) }
        add("awac_weight", awacWeights)
        return stats
    }
}

/// Per-entry scratch of the loss, sized once for the largest number of entries.
public final class ILQLLossScratch {
    let capacity: Int
    let storage: FloatBuffer
    let rowLosses, logSumExp, rowWeights: UnsafeMutablePointer<Float>

    /// Scratch for up to `capacity` entries.
    public init(capacity: Int) {
        self.capacity = capacity
        let padded = (capacity + 15) / 16 * 16
        storage = FloatBuffer(count: 3 * padded)
        rowLosses = storage.pointer
        logSumExp = storage.pointer + padded
        rowWeights = storage.pointer + 2 * padded
    }
}

/// ILQL's loss exactly as trlx's `ILQLConfig.loss` computes it (ILQL.md §3), on gathered entries,
/// with its gradient.
public enum ILQLLoss {
    /// Adds the loss of `inputs` to a new `ILQLLossOutput` and accumulates the gradients.
    ///
    /// - Parameter normalizer: N, the number of action entries of the *whole* batch (at least 1).
    ///   Differs from trlx: trlx divides by each rank's own N and then averages ranks; dividing by
    ///   the whole batch's N makes the result independent of how the batch is split
    ///   (identical to trlx with one worker).
    public static func accumulate(
        _ inputs: ILQLLossInputs, into gradients: ILQLLossGradients, config: ILQLConfig,
        normalizer: Int, scratch: ILQLLossScratch
    ) -> ILQLLossOutput {
        precondition(inputs.count <= scratch.capacity, "loss scratch too small")
        precondition(inputs.qRows.count == config.qHeadCount && gradients.dQRows.count == config.qHeadCount)
        let n = inputs.count, v = inputs.vocabularySize
        let scale = 1 / Float(max(1, normalizer))
        let gamma = config.gamma, tau = config.tau, beta = config.beta
        var output = ILQLLossOutput(qHeadCount: config.qHeadCount)

        // loss_q: Σ_k Σ m (Q_k − y)² with y = r + γ V' (V' and so y are constants).
        for k in 0..<config.qHeadCount {
            let q = inputs.qRows[k], dq = gradients.dQRows[k]
            var sum = 0.0
            for e in 0..<n {
                let m = inputs.mask[e], a = Int(inputs.actions[e])
                let qa = q[e * v + a]
                let difference = qa - (inputs.rewards[e] + gamma * inputs.nextValues[e])
                sum += Double(m * difference * difference)
                dq[e * v + a] += 2 * m * difference * scale
                output.qValues[k].add(Double(qa), weight: Double(m))
            }
            output.lossQ += sum * Double(scale)
        }

        // loss_v: expectile regression of V towards the (constant) target Q.
        var sumV = 0.0
        for e in 0..<n {
            let m = inputs.mask[e]
            let u = inputs.targetQ[e] - inputs.values[e]
            let weight = u >= 0 ? tau : 1 - tau
            sumV += Double(m * weight * u * u)
            gradients.dValues[e] += -2 * m * weight * u * scale
            output.values.add(Double(inputs.values[e]), weight: Double(m))
        }
        output.lossV = sumV * Double(scale)

        // loss_cql: cross-entropy of each Q head's row (Q-values as logits) against the action.
        for k in 0..<config.qHeadCount {
            output.lossCQL += crossEntropy(rows: inputs.qRows[k], dRows: gradients.dQRows[k], inputs: inputs,
                                           rowWeight: { _ in 1 }, normalizerScale: scale,
                                           termScale: config.cqlScale, scratch: scratch)
        }

        // loss_awac: LM cross-entropy weighted by exp(β (T − V)); the weight is a constant.
        for e in 0..<n {
            let weight = inputs.frozenAWACWeights?[e] ?? expf(beta * (inputs.targetQ[e] - inputs.values[e]))
            scratch.rowWeights[e] = weight
            output.awacWeights.add(Double(weight), weight: Double(inputs.mask[e]))
        }
        let weights = scratch.rowWeights
        output.lossAWAC = crossEntropy(rows: inputs.logitRows, dRows: gradients.dLogitRows, inputs: inputs,
                                       rowWeight: { weights[$0] }, normalizerScale: scale,
                                       termScale: config.awacScale, scratch: scratch)
        return output
    }

    /// Σ_e m·w(e)·CE(row e, action e) / N, accumulating `termScale · m · w(e) / N · ∂CE/∂row`
    /// (`termScale` is the term's weight in the total loss, `normalizerScale` is 1/N).
    private static func crossEntropy(
        rows: UnsafePointer<Float>, dRows: UnsafeMutablePointer<Float>, inputs: ILQLLossInputs,
        rowWeight: (Int) -> Float, normalizerScale: Float, termScale: Float, scratch: ILQLLossScratch
    ) -> Double {
        let gradientScale = termScale * normalizerScale
        let n = inputs.count
        SoftmaxCrossEntropy.forward(losses: scratch.rowLosses, logSumExp: scratch.logSumExp, logits: rows,
                                    targets: inputs.actions, rows: n, classes: inputs.vocabularySize)
        var sum = 0.0
        for e in 0..<n {
            let w = inputs.mask[e] * rowWeight(e)
            sum += Double(w * scratch.rowLosses[e])
            // Reuse rowLosses as the per-row upstream gradient (it is no longer needed).
            scratch.rowLosses[e] = gradientScale * w
        }
        if gradientScale != 0 {
            SoftmaxCrossEntropy.backward(dLogits: dRows, dLosses: scratch.rowLosses, logits: rows,
                                         logSumExp: scratch.logSumExp, targets: inputs.actions,
                                         rows: n, classes: inputs.vocabularySize)
        }
        return sum * Double(normalizerScale)
    }
}
