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
            let maximum = rowMaximum(row, count: classes)
            let lse = maximum + logf(sumOfExponentials(row, minus: maximum, count: classes))
            logSumExp[r] = lse
            let target = Int(targets[r])
            losses[r] = target < 0 ? 0 : lse - row[target]
        }
    }

    /// The largest entry of `row` (NaN entries are passed over, as `Swift.max` does), 16 lanes at
    /// a time: a scalar loop of `max` stays scalar.
    @inline(__always)
    static func rowMaximum(_ row: UnsafePointer<Float>, count: Int) -> Float {
        var lanes = SIMD16<Float>(repeating: -.infinity)
        var v = 0
        while v + 16 <= count {
            let x = UnsafeRawPointer(row + v).loadUnaligned(as: SIMD16<Float>.self)
            lanes.replace(with: x, where: x .>= lanes)
            v += 16
        }
        var maximum = -Float.infinity
        for lane in 0..<16 { maximum = Swift.max(maximum, lanes[lane]) }
        while v < count {
            maximum = Swift.max(maximum, row[v])
            v += 1
        }
        return maximum
    }

    /// `Σ_v e^(row[v] − shift)`: 16 running sums (one per lane) added in a fixed order, then the
    /// tail. LLVM would keep the plain loop scalar, one `exp` at a time.
    @inline(__always)
    static func sumOfExponentials(_ row: UnsafePointer<Float>, minus shift: Float, count: Int) -> Float {
        var lanes = SIMD16<Float>()
        let shifts = SIMD16<Float>(repeating: shift)
        var v = 0
        while v + 16 <= count {
            lanes += FastMath.exp(UnsafeRawPointer(row + v).loadUnaligned(as: SIMD16<Float>.self) - shifts)
            v += 16
        }
        var sum = ShortVector.laneSum(lanes)
        while v < count {
            sum += FastMath.exp(row[v] - shift)
            v += 1
        }
        return sum
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
