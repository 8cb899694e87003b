#if canImport(Glibc)
import Glibc
#endif

/// AdamW with PyTorch's semantics (`torch.optim.AdamW`): decoupled weight decay applied to the
/// parameter before the Adam update, bias-corrected moments, ε added after the square root.
public enum AdamW {
    /// Hyperparameters of one update, in double precision as PyTorch keeps them (Python floats):
    /// derived factors such as `1 − β2` are formed in Double and only then rounded to Float, which
    /// is what makes the updates agree with PyTorch's to the last bit or so.
    public struct Hyperparameters: Sendable, Equatable {
        public var learningRate: Double
        public var beta1: Double
        public var beta2: Double
        public var epsilon: Double
        public var weightDecay: Double

        /// - Parameters mirror `torch.optim.AdamW(lr, betas, eps, weight_decay)`.
        public init(learningRate: Double, beta1: Double = 0.9, beta2: Double = 0.999,
                    epsilon: Double = 1e-8, weightDecay: Double = 0.01) {
            self.learningRate = learningRate
            self.beta1 = beta1
            self.beta2 = beta2
            self.epsilon = epsilon
            self.weightDecay = weightDecay
        }
    }

    /// Updates `count` parameters in place. `step` counts from 1 (the first update).
    ///
    /// The same operations in the same order as PyTorch's single-tensor implementation:
    /// `p ← p·(1 − lr·λ)`, `m ← m + (1−β1)(g − m)` (its `lerp`), `v ← v·β2 + (1−β2)·g·g`,
    /// `p ← p − (lr / (1−β1ᵗ)) · m / (√v / √(1−β2ᵗ) + ε)`.
    /// Works on any contiguous range, so a chunked parallel loop can call it per chunk.
    public static func update(
        parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>,
        firstMoment: UnsafeMutablePointer<Float>, secondMoment: UnsafeMutablePointer<Float>,
        count: Int, step: Int, hyperparameters h: Hyperparameters
    ) {
        precondition(step >= 1, "AdamW steps count from 1")
        let t = Double(step)
        let correction1 = 1 - pow(h.beta1, t)
        let correction2Root = Float((1 - pow(h.beta2, t)).squareRoot())
        let negativeStepSize = Float(-h.learningRate / correction1)
        let decay = Float(1 - h.learningRate * h.weightDecay)
        let beta2 = Float(h.beta2), epsilon = Float(h.epsilon)
        let oneMinusBeta1 = Float(1 - h.beta1), oneMinusBeta2 = Float(1 - h.beta2)
        for i in 0..<count {
            let g = gradients[i]
            let m = firstMoment[i] + oneMinusBeta1 * (g - firstMoment[i])
            let v = secondMoment[i] * beta2 + oneMinusBeta2 * (g * g)
            firstMoment[i] = m
            secondMoment[i] = v
            let decayed = parameters[i] * decay
            // addcdiv's order: p + (value · m) / denominator.
            parameters[i] = decayed + (negativeStepSize * m) / (v.squareRoot() / correction2Root + epsilon)
        }
    }

    private static func pow(_ base: Double, _ exponent: Double) -> Double {
        #if canImport(Glibc)
        return Glibc.pow(base, exponent)
        #else
        return Foundation.pow(base, exponent)
        #endif
    }
}

/// Polyak averaging of target networks: `target ← α·online + (1 − α)·target`.
public enum Polyak {
    /// α = 1 copies `online` into `target` exactly; α = 0 leaves `target` unchanged.
    public static func update(
        target: UnsafeMutablePointer<Float>, online: UnsafePointer<Float>, count: Int, alpha: Float
    ) {
        if alpha == 1 {
            // A hard copy, bit for bit (α·x + 0·y can differ from x by rounding only if computed).
            target.update(from: online, count: count)
            return
        }
        if alpha == 0 { return }
        let keep = 1 - alpha
        for i in 0..<count { target[i] = alpha * online[i] + keep * target[i] }
    }
}
