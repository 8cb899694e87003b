#if canImport(Glibc)
import Glibc
#endif

/// Layer normalisation over the last dimension: `out = (x - mean) / sqrt(var + ε) · weight + bias`,
/// with the biased variance, as `torch.nn.LayerNorm`.
public enum LayerNorm {
    /// GPT-2's ε.
    public static let defaultEpsilon: Float = 1e-5

    /// out and x are (rows, features); weight and bias are (features); mean and rstd are (rows)
    /// and keep each row's mean and 1/std for the backward pass.
    public static func forward(
        out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        rows: Int, features: Int, epsilon: Float = defaultEpsilon
    ) {
        let n = Float(features)
        for row in 0..<rows {
            let xi = x + row * features, o = out + row * features
            var sum: Float = 0
            for j in 0..<features { sum += xi[j] }
            let m = sum / n
            // Two passes: the variance of centred values does not lose precision to cancellation.
            var squares: Float = 0
            for j in 0..<features {
                let d = xi[j] - m
                squares += d * d
            }
            let r = 1 / (squares / n + epsilon).squareRoot()
            for j in 0..<features { o[j] = (xi[j] - m) * r * weight[j] + bias[j] }
            mean[row] = m
            rstd[row] = r
        }
    }

    /// Accumulates `dX`, `dWeight`, `dBias` from `dOut` and the saved statistics.
    ///
    /// With x̂ = (x - mean)·rstd and g = dOut·weight:
    /// `dX = rstd · (g - mean(g) - x̂ · mean(g · x̂))`.
    public static func backward(
        dX: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>,
        dOut: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows: Int, features: Int
    ) {
        let n = Float(features)
        for row in 0..<rows {
            let xi = x + row * features, d = dOut + row * features, dx = dX + row * features
            let m = mean[row], r = rstd[row]
            var gMean: Float = 0, gxMean: Float = 0
            for j in 0..<features {
                let g = d[j] * weight[j]
                gMean += g
                gxMean += g * (xi[j] - m) * r
            }
            gMean /= n
            gxMean /= n
            for j in 0..<features {
                let xHat = (xi[j] - m) * r
                dBias[j] += d[j]
                dWeight[j] += d[j] * xHat
                dx[j] += r * (d[j] * weight[j] - gMean - xHat * gxMean)
            }
        }
    }
}
