#if canImport(Glibc)
import Glibc
#endif

/// Fused softmax + cross-entropy per row: `loss[r] = logsumexp(logits[r]) − logits[r, target[r]]`.
///
/// Used for the language-model loss, trlx's AWAC term (cross-entropy of the LM logits) and its
/// CQL term (cross-entropy with Q-values as logits). A negative target marks a row that takes no
/// part (loss 0, no gradient), like PyTorch's `ignore_index`.
public enum SoftmaxCrossEntropy {
    /// losses and logSumExp are (rows); logits is (rows, classes); targets is (rows).
    /// `logSumExp` is kept for the backward pass.
    public static func forward(
        losses: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>,
        logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, rows: Int, classes: Int
    ) {
        for r in 0..<rows {
            let row = logits + r * classes
            var maximum = -Float.infinity
            for v in 0..<classes { maximum = Swift.max(maximum, row[v]) }
            var sum: Float = 0
            for v in 0..<classes { sum += FastMath.exp(row[v] - maximum) }
            let lse = maximum + logf(sum)
            logSumExp[r] = lse
            let target = Int(targets[r])
            losses[r] = target < 0 ? 0 : lse - row[target]
        }
    }

    /// `dLogits[r] += dLosses[r] · (softmax(logits[r]) − onehot(target[r]))`.
    ///
    /// `dLosses[r]` is the weight of row r in the total loss (for a mean over N rows, 1/N).
    public static func backward(
        dLogits: UnsafeMutablePointer<Float>, dLosses: UnsafePointer<Float>,
        logits: UnsafePointer<Float>, logSumExp: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
        rows: Int, classes: Int
    ) {
        for r in 0..<rows {
            let target = Int(targets[r])
            let weight = dLosses[r]
            if target < 0 || weight == 0 { continue }
            let row = logits + r * classes, d = dLogits + r * classes
            let lse = logSumExp[r]
            for v in 0..<classes { d[v] += weight * FastMath.exp(row[v] - lse) }
            d[target] -= weight
        }
    }
}
