/// Dot products and scaled additions over short contiguous runs of floats, such as one attention
/// head's 12 to 64 features, in explicit SIMD chunks of 8 and 4.
///
/// LLVM keeps a plain `for` dot product scalar (vectorising it would reassociate the sum, which
/// needs fast-math), and its vectorised loops only start after 32 or more elements, so for a
/// 12-wide head both kinds of loop ran one element at a time. Here the chunks are explicit: a
/// 12-float run is one 8-wide and one 4-wide operation. The dot product's order of additions is
/// fixed by the length alone, so results stay deterministic.
public enum ShortVector {
    @usableFromInline @inline(__always)
    static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @usableFromInline @inline(__always)
    static func load4(_ p: UnsafePointer<Float>) -> SIMD4<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float>.self)
    }

    @usableFromInline @inline(__always)
    static func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }

    @usableFromInline @inline(__always)
    static func store4(_ v: SIMD4<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD4<Float>.self)
    }

    /// The lanes' sum in one fixed order, `(v0 + v2) + (v1 + v3)`, so a reduction kept in lanes
    /// gives the same bits on every run. The wider forms first add their halves.
    @usableFromInline @inline(__always)
    static func laneSum(_ v: SIMD4<Float>) -> Float { (v[0] + v[2]) + (v[1] + v[3]) }

    @usableFromInline @inline(__always)
    static func laneSum(_ v: SIMD8<Float>) -> Float { laneSum(v.lowHalf + v.highHalf) }

    @usableFromInline @inline(__always)
    static func laneSum(_ v: SIMD16<Float>) -> Float { laneSum(v.lowHalf + v.highHalf) }

    /// `Σ a[c]·b[c]` for c < count: 8-wide partial sums, a 4-wide step, a scalar tail.
    @inlinable @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var c = 0
        var wide = SIMD8<Float>()
        while c + 8 <= count {
            wide.addProduct(load8(a + c), load8(b + c))
            c += 8
        }
        var narrow = wide.lowHalf + wide.highHalf
        if c + 4 <= count {
            narrow.addProduct(load4(a + c), load4(b + c))
            c += 4
        }
        var sum = laneSum(narrow)
        while c < count {
            sum += a[c] * b[c]
            c += 1
        }
        return sum
    }

    /// `y[c] += alpha · x[c]` for c < count; `y` must not overlap `x`.
    @inlinable @inline(__always)
    public static func addScaled(_ y: UnsafeMutablePointer<Float>, _ alpha: Float, _ x: UnsafePointer<Float>, count: Int) {
        var c = 0
        let alpha8 = SIMD8<Float>(repeating: alpha)
        while c + 8 <= count {
            store8(load8(y + c).addingProduct(alpha8, load8(x + c)), y + c)
            c += 8
        }
        if c + 4 <= count {
            store4(load4(y + c).addingProduct(alpha8.lowHalf, load4(x + c)), y + c)
            c += 4
        }
        while c < count {
            y[c] += alpha * x[c]
            c += 1
        }
    }

    /// `y[c] = (overwrite ? 0 : y[c]) + Σ_j weights[j] · rows[j · rowStride + c]` for c < count,
    /// j < rowCount, summed in order of j.
    ///
    /// Each chunk of `y` stays in a register across the rows: adding one row at a time through
    /// `addScaled` makes every step wait for the previous step's store to `y`.
    @inlinable @inline(__always)
    public static func addWeightedRows(
        _ y: UnsafeMutablePointer<Float>, overwrite: Bool, weights: UnsafePointer<Float>,
        rows: UnsafePointer<Float>, rowStride: Int, rowCount: Int, count: Int
    ) {
        var c = 0
        while c + 8 <= count {
            var sum = overwrite ? SIMD8<Float>() : load8(y + c)
            for j in 0..<rowCount {
                sum.addProduct(SIMD8(repeating: weights[j]), load8(rows + j * rowStride + c))
            }
            store8(sum, y + c)
            c += 8
        }
        if c + 4 <= count {
            var sum = overwrite ? SIMD4<Float>() : load4(y + c)
            for j in 0..<rowCount {
                sum.addProduct(SIMD4(repeating: weights[j]), load4(rows + j * rowStride + c))
            }
            store4(sum, y + c)
            c += 4
        }
        while c < count {
            var sum = overwrite ? 0 : y[c]
            for j in 0..<rowCount { sum += weights[j] * rows[j * rowStride + c] }
            y[c] = sum
            c += 1
        }
    }
}
