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
            let m = sum(xi, count: features) / n
            // Two passes: the variance of centred values does not lose precision to cancellation.
            let r = 1 / (squaredDeviations(xi, from: m, count: features) / n + epsilon).squareRoot()
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
            var (gMean, gxMean) = projections(dOut: d, x: xi, weight: weight, mean: m, rstd: r, count: features)
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

    // The row reductions keep 8 running sums (one per lane) added in a fixed order, then the
    // tail: a plain float reduction stays scalar (vectorising it would reassociate the sum), and
    // these are two of the three passes over every row.

    /// `Σ x[j]`.
    @inline(__always)
    static func sum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var lanes = SIMD8<Float>()
        var j = 0
        while j + 8 <= count {
            lanes += ShortVector.load8(x + j)
            j += 8
        }
        var total = ShortVector.laneSum(lanes)
        while j < count {
            total += x[j]
            j += 1
        }
        return total
    }

    /// `Σ (x[j] − mean)²`.
    @inline(__always)
    static func squaredDeviations(_ x: UnsafePointer<Float>, from mean: Float, count: Int) -> Float {
        var lanes = SIMD8<Float>()
        let means = SIMD8<Float>(repeating: mean)
        var j = 0
        while j + 8 <= count {
            let d = ShortVector.load8(x + j) - means
            lanes += d * d
            j += 8
        }
        var total = ShortVector.laneSum(lanes)
        while j < count {
            let d = x[j] - mean
            total += d * d
            j += 1
        }
        return total
    }

    /// `(Σ g[j], Σ g[j]·x̂[j])` with g = dOut·weight and x̂ = (x − mean)·rstd.
    @inline(__always)
    static func projections(
        dOut: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        mean: Float, rstd: Float, count: Int
    ) -> (Float, Float) {
        var gLanes = SIMD8<Float>(), gxLanes = SIMD8<Float>()
        let means = SIMD8<Float>(repeating: mean), rstds = SIMD8<Float>(repeating: rstd)
        var j = 0
        while j + 8 <= count {
            let g = ShortVector.load8(dOut + j)
                * ShortVector.load8(weight + j)
            gLanes += g
            gxLanes += g * (ShortVector.load8(x + j) - means) * rstds
            j += 8
        }
        var g = ShortVector.laneSum(gLanes), gx = ShortVector.laneSum(gxLanes)
        while j < count {
            let gj = dOut[j] * weight[j]
            g += gj
            gx += gj * (x[j] - mean) * rstd
            j += 1
        }
        return (g, gx)
    }
}
