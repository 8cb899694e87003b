#if canImport(Glibc)
import Glibc
#endif

/// AdamW with PyTorch's semantics (`torch.optim.AdamW`): decoupled weight decay applied to the
/// parameter before the Adam update, bias-corrected moments, ε added after the square root.
public enum AdamW {
    /// Hyperparameters of one update.
    public struct Hyperparameters: Sendable, Equatable {
        public var learningRate: Float
        public var beta1: Float
        public var beta2: Float
        public var epsilon: Float
        public var weightDecay: Float

        /// - Parameters mirror `torch.optim.AdamW(lr, betas, eps, weight_decay)`.
        public init(learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999,
                    epsilon: Float = 1e-8, weightDecay: Float = 0.01) {
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
    /// `p ← p·(1 − lr·λ)`, `m ← β1 m + (1−β1) g`, `v ← β2 v + (1−β2) g²`,
    /// `p ← p − (lr / (1−β1ᵗ)) · m / (√v / √(1−β2ᵗ) + ε)`.
    /// Works on any contiguous range, so a chunked parallel loop can call it per chunk.
    public static func update(
        parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>,
        firstMoment: UnsafeMutablePointer<Float>, secondMoment: UnsafeMutablePointer<Float>,
        count: Int, step: Int, hyperparameters h: Hyperparameters
    ) {
        precondition(step >= 1, "AdamW steps count from 1")
        let t = Double(step)
        // Bias corrections in Double: β2ᵗ for t in the millions loses digits in Float.
        let correction1 = 1 - pow(Double(h.beta1), t)
        let correction2Root = (1 - pow(Double(h.beta2), t)).squareRoot()
        let stepSize = Float(Double(h.learningRate) / correction1)
        let inverseCorrection2Root = Float(1 / correction2Root)
        let decay = 1 - h.learningRate * h.weightDecay
        let beta1 = h.beta1, beta2 = h.beta2, epsilon = h.epsilon
        let oneMinusBeta1 = 1 - beta1, oneMinusBeta2 = 1 - beta2
        for i in 0..<count {
            let g = gradients[i]
            let m = beta1 * firstMoment[i] + oneMinusBeta1 * g
            let v = beta2 * secondMoment[i] + oneMinusBeta2 * g * g
            firstMoment[i] = m
            secondMoment[i] = v
            let denominator = v.squareRoot() * inverseCorrection2Root + epsilon
            parameters[i] = parameters[i] * decay - stepSize * (m / denominator)
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
