/// `out = x + bias` with `bias` broadcast over rows.
public enum BiasAdd {
    /// out and x are (rows, features), bias is (features); `out` may alias `x`.
    public static func forward(
        out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        rows: Int, features: Int
    ) {
        for row in 0..<rows {
            let o = out + row * features, xi = x + row * features
            for j in 0..<features { o[j] = xi[j] + bias[j] }
        }
    }

    /// `dBias += Σ_rows dOut` (the gradient for `x` is `dOut` itself).
    public static func backward(
        dBias: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, rows: Int, features: Int
    ) {
        for row in 0..<rows {
            let d = dOut + row * features
            for j in 0..<features { dBias[j] += d[j] }
        }
    }
}

/// The residual connection `out = a + b`.
public enum Residual {
    /// out, a, b have `count` elements; `out` may alias either input.
    public static func forward(
        out: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>, count: Int
    ) {
        for i in 0..<count { out[i] = a[i] + b[i] }
    }

    /// `dA += dOut; dB += dOut`.
    public static func backward(
        dA: UnsafeMutablePointer<Float>, dB: UnsafeMutablePointer<Float>,
        dOut: UnsafePointer<Float>, count: Int
    ) {
        for i in 0..<count {
            dA[i] += dOut[i]
            dB[i] += dOut[i]
        }
    }
}

/// `out = max(x, 0)`, the hidden activation of the ILQL heads.
public enum ReLU {
    /// out and x have `count` elements; `out` may alias `x`.
    public static func forward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { out[i] = x[i] > 0 ? x[i] : 0 }
    }

    /// `dX += dOut` where the forward output was positive. Takes the forward *output*, so the
    /// input need not be kept (the derivative at exactly 0 is taken as 0, as PyTorch does).
    public static func backward(
        dX: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, out: UnsafePointer<Float>, count: Int
    ) {
        for i in 0..<count { dX[i] += out[i] > 0 ? dOut[i] : 0 }
    }
}

/// GPT-2's tanh-approximated GELU: `0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))`.
///
/// Computed through the identity `0.5 (1 + tanh(u)) = sigmoid(2u)`, which needs one vectorised
/// `exp` instead of a libm `tanhf` call (about 8 ns each here), and which stays exact at the
/// extremes: for x = -300 the result is a tiny negative number instead of a catastrophic
/// `1 + (-1)` cancellation.
public enum GELU {
    // Computed properties, not `static let`s, so loops using them vectorise (see FastMath).
    /// `2 √(2/π)`.
    @inlinable static var twiceScale: Float { 1.5957691216057308 }
    @inlinable static var cubic: Float { 0.044715 }

    /// out and x have `count` elements; `out` may alias `x`.
    public static func forward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count: Int) {
        for i in 0..<count {
            let v = x[i]
            let s = FastMath.sigmoid(twiceScale * (v + cubic * v * v * v))
            out[i] = v * s
        }
    }

    /// `dX += dOut · GELU'(x)` with
    /// `GELU'(x) = s + x s (1 - s) · 2√(2/π) (1 + 3·0.044715 x²)`, `s = sigmoid(2u)`.
    public static func backward(
        dX: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, x: UnsafePointer<Float>, count: Int
    ) {
        for i in 0..<count { dX[i] += dOut[i] * derivative(x[i]) }
    }

    /// `out = GELU(x)` and `derivative = GELU'(x)`, for a forward pass whose backward needs only
    /// the derivative: one `exp` per element serves both, so the backward does no transcendental
    /// work. `derivative` may alias `x` (the pre-activation is then replaced by its slope); `out`
    /// must not overlap either.
    ///
    /// Lane for lane the same operations as `forward` and `derivative(_:)`, so both outputs are
    /// bit-identical to theirs (explicit 16-lane chunks: with `derivative` aliasing `x`, LLVM's
    /// overlap check would keep an auto-vectorised loop scalar).
    public static func forward(
        out: UnsafeMutablePointer<Float>, derivative: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count: Int
    ) {
        typealias Lanes = SIMD16<Float>
        let scale = Lanes(repeating: twiceScale), cube = Lanes(repeating: cubic), three = Lanes(repeating: 3)
        let one = Lanes(repeating: 1), magnitudeBits = SIMD16<UInt32>(repeating: 0x7FFF_FFFF)
        var i = 0
        while i + 16 <= count {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: Lanes.self)
            // FastMath.sigmoid on 16 lanes: e = e^-|z|, s = 1/(1+e) for z ≥ 0, e·s otherwise.
            let z = scale * (v + cube * v * v * v)
            let e = FastMath.exp(-unsafeBitCast(unsafeBitCast(z, to: SIMD16<UInt32>.self) & magnitudeBits, to: Lanes.self))
            let positive = one / (one + e)
            let s = positive.replacing(with: e * positive, where: .!(z .>= 0))
            UnsafeMutableRawPointer(out + i).storeBytes(of: v * s, as: Lanes.self)
            let du = scale * (one + three * cube * v * v)
            UnsafeMutableRawPointer(derivative + i).storeBytes(of: s + v * s * (one - s) * du, as: Lanes.self)
            i += 16
        }
        while i < count {
            let v = x[i]
            out[i] = v * FastMath.sigmoid(twiceScale * (v + cubic * v * v * v))
            derivative[i] = Self.derivative(v)
            i += 1
        }
    }

    /// `gradient ← gradient · GELU'(x)` with the derivative saved by
    /// `forward(out:derivative:x:count:)`: the same values as `backward` into a zeroed `dX`,
    /// without the zeroing pass, the second buffer, or recomputing the derivative.
    public static func backwardInPlace(gradient: UnsafeMutablePointer<Float>, derivative: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { gradient[i] = gradient[i] * derivative[i] }
    }

    @inline(__always)
    static func derivative(_ v: Float) -> Float {
        let s = FastMath.sigmoid(twiceScale * (v + cubic * v * v * v))
        let du = twiceScale * (1 + 3 * cubic * v * v)
        return s + v * s * (1 - s) * du
    }
}
