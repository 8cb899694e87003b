/// Branch-free approximations of `exp` that LLVM can vectorise.
///
/// glibc's scalar `expf` costs about 1.4 ns and `tanhf` about 8 ns per element here, and calls
/// into libm keep a loop scalar. These inline versions use only arithmetic, comparisons that
/// become selects, and integer bit tricks, so loops over them vectorise. Their accuracy against
/// libm is tested in `FastMathTests`.
public enum FastMath {
    // Limits as computed properties returning literals: a `static let` is a lazily initialised
    // global whose accessor call inside a loop keeps LLVM from vectorising it.
    /// Below this, `exp` underflows to (nearly) zero in Float; results are flushed to exactly 0.
    @inlinable static var expLowerLimit: Float { -87.0 }
    /// Above this, the result would need exponent 128; clamping keeps `2^k` a normal Float.
    @inlinable static var expUpperLimit: Float { 88.0 }

    /// `e^x` with a relative error of a few units in the last place for x in [-87, 88].
    ///
    /// Inputs below -87 return 0 (results under e^-87 ≈ 1.6e-38, the edge of Float's normal
    /// range, are flushed to zero rather than computed as subnormals), inputs above 88 return
    /// e^88 (about 1.65e38, the largest value reached without overflow); NaN propagates.
    @inlinable @inline(__always)
    public static func exp(_ x: Float) -> Float {
        let clamped = Swift.min(Swift.max(x, expLowerLimit), expUpperLimit)
        // Round x / ln 2 to the nearest integer k by adding 1.5 * 2^23: the integer lands in the
        // low mantissa bits of `shifted`, which avoids a trapping Float -> Int conversion.
        let shifted = clamped * 1.44269504088896341 + 12582912.0
        let k = shifted - 12582912.0
        // r = x - k ln 2 in two steps (Cody-Waite) so that r keeps full precision.
        var r = clamped - k * 0.693359375
        r = r - k * -2.12194440e-4
        // e^r on |r| <= ln(2)/2 by a degree-7 polynomial (Taylor coefficients, truncation error
        // below 3e-8 relative on this interval).
        var p: Float = 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        // 2^k from the integer in the low bits of `shifted` (bit pattern 0x4B40_0000 + k).
        let kBits = shifted.bitPattern &- 0x4B40_0000
        let scale = Float(bitPattern: (kBits &+ 127) &<< 23)
        let result = p * scale
        return x < expLowerLimit ? 0 : result
    }

    /// The logistic function `1 / (1 + e^-x)`, exact at the extremes (0 and 1) and free of the
    /// cancellation that `0.5 * (1 + tanh(x / 2))` suffers near zero.
    ///
    /// With e = e^-|x|: `1/(1+e)` for x ≥ 0 and `e/(1+e)` for x < 0, so the far left flushes to
    /// exactly 0 with `exp` instead of stopping at 1/(1 + e^88).
    @inlinable @inline(__always)
    public static func sigmoid(_ x: Float) -> Float {
        let e = exp(-Swift.abs(x))
        let s = 1 / (1 + e)
        return x >= 0 ? s : e * s
    }

    /// `exp` on 16 lanes at once, lane for lane bit-identical to the scalar `exp` (the same
    /// operations in the same order, with `min`/`max`/NaN behaving as `Swift.min`/`Swift.max`).
    ///
    /// For loops LLVM cannot vectorise by itself, such as a sum of exponentials (vectorising a
    /// float reduction would reassociate it): the caller chooses the order of the sum.
    @inlinable @inline(__always)
    public static func exp(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let lower = SIMD16<Float>(repeating: expLowerLimit), upper = SIMD16<Float>(repeating: expUpperLimit)
        // Swift.max(x, lower) is `lower >= x ? lower : x`, Swift.min(·, upper) `upper < · ? upper : ·`.
        var clamped = x.replacing(with: lower, where: lower .>= x)
        clamped.replace(with: upper, where: upper .< clamped)
        let magic = SIMD16<Float>(repeating: 12582912.0)
        let shifted = clamped * SIMD16<Float>(repeating: 1.44269504088896341) + magic
        let k = shifted - magic
        var r = clamped - k * SIMD16<Float>(repeating: 0.693359375)
        r = r - k * SIMD16<Float>(repeating: -2.12194440e-4)
        var p = SIMD16<Float>(repeating: 1.0 / 5040.0)
        p = p * r + SIMD16<Float>(repeating: 1.0 / 720.0)
        p = p * r + SIMD16<Float>(repeating: 1.0 / 120.0)
        p = p * r + SIMD16<Float>(repeating: 1.0 / 24.0)
        p = p * r + SIMD16<Float>(repeating: 1.0 / 6.0)
        p = p * r + SIMD16<Float>(repeating: 0.5)
        p = p * r + SIMD16<Float>(repeating: 1.0)
        p = p * r + SIMD16<Float>(repeating: 1.0)
        let kBits = unsafeBitCast(shifted, to: SIMD16<UInt32>.self) &- 0x4B40_0000
        let scale = unsafeBitCast((kBits &+ 127) &<< 23, to: SIMD16<Float>.self)
        return (p * scale).replacing(with: 0, where: x .< lower)
    }
}
