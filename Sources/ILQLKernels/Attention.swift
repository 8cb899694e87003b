/// Causal multi-head self-attention on GPT-2's fused `qkv` projection.
///
/// Layout: `qkv` is (rows, 3·features) holding `[q | k | v]` per position, the sequences of a
/// `SequenceLayout` end to end; head h of q occupies columns `h·headSize ..< (h+1)·headSize` of
/// the q block. Each sequence attends only to its own earlier positions, so sequences of
/// different lengths need no padding.
public enum Attention {
    /// Sequences up to this length use plain loops instead of sgemm: for T = 11 (randomwalks) a
    /// (sequence, head) pair is a 11×11×12 product, far below the size where sgemm's call and
    /// packing overhead pays off, and a step would make thousands of such calls.
    @inlinable public static var directLengthLimit: Int { 32 }

    /// out is (rows, features) and qkv (rows, 3·features), rows holding the sequences of
    /// `sequences` end to end; probabilities keeps the softmax for the backward pass, one
    /// length × length block per (sequence, head) in that order (entries above the diagonal are 0),
    /// `sequences.probabilityCount(heads:)` floats in all.
    public static func forward(
        out: UnsafeMutablePointer<Float>, probabilities: UnsafeMutablePointer<Float>,
        qkv: UnsafePointer<Float>, sequences: SequenceLayout, features: Int, heads: Int
    ) {
        let stride = 3 * features
        for b in 0..<sequences.count {
            let length = sequences.length(b), row = sequences.rowStart(b)
            let p = probabilities + sequences.probabilityStart(b, heads: heads)
            if length <= directLengthLimit {
                // The next sequence's rows while this one is computed (see `backwardDirect`).
                if b + 1 < sequences.count {
                    Prefetch.lines(qkv + sequences.rowStart(b + 1) * stride, count: sequences.length(b + 1) * stride)
                }
                forwardDirect(out: out + row * features, probabilities: p, qkv: qkv + row * stride, length: length,
                              features: features, heads: heads)
            } else {
                forwardGemm(out: out + row * features, probabilities: p, qkv: qkv + row * stride, length: length,
                            features: features, heads: heads)
            }
        }
    }

    /// `forward` on `batch` sequences of `length` positions each.
    public static func forward(
        out: UnsafeMutablePointer<Float>, probabilities: UnsafeMutablePointer<Float>,
        qkv: UnsafePointer<Float>, batch: Int, length: Int, features: Int, heads: Int
    ) {
        forward(out: out, probabilities: probabilities, qkv: qkv, sequences: SequenceLayout(batch: batch, length: length),
                features: features, heads: heads)
    }

    /// Accumulates `dQkv` (laid out as `qkv`) from `dOut` (as `out`). `scratch` holds
    /// longest length² floats.
    ///
    /// With P the probabilities and dP = dOut·vᵀ: dv += Pᵀ·dOut; the softmax backward gives
    /// dS = P ∘ (dP − rowsum(P ∘ dP)); then dq += dS·k/√d and dk += dSᵀ·q/√d.
    public static func backward(
        dQkv: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
        dOut: UnsafePointer<Float>, qkv: UnsafePointer<Float>, probabilities: UnsafePointer<Float>,
        sequences: SequenceLayout, features: Int, heads: Int
    ) {
        let stride = 3 * features
        for b in 0..<sequences.count {
            let length = sequences.length(b), row = sequences.rowStart(b)
            let p = probabilities + sequences.probabilityStart(b, heads: heads)
            if length <= directLengthLimit {
                // The next sequence's rows while this one is computed: every head reads a few
                // floats of each row at a stride the hardware prefetchers do not follow.
                if b + 1 < sequences.count {
                    let next = sequences.rowStart(b + 1), nextLength = sequences.length(b + 1)
                    Prefetch.lines(qkv + next * stride, count: nextLength * stride)
                    Prefetch.lines(dQkv + next * stride, count: nextLength * stride)
                    Prefetch.lines(dOut + next * features, count: nextLength * features)
                    Prefetch.lines(probabilities + sequences.probabilityStart(b + 1, heads: heads),
                                   count: heads * nextLength * nextLength)
                }
                backwardDirect(dQkv: dQkv + row * stride, scratch: scratch, dOut: dOut + row * features,
                               qkv: qkv + row * stride, probabilities: p, length: length, features: features, heads: heads)
            } else {
                backwardGemm(dQkv: dQkv + row * stride, scratch: scratch, dOut: dOut + row * features,
                             qkv: qkv + row * stride, probabilities: p, length: length, features: features, heads: heads)
            }
        }
    }

    /// `backward` on `batch` sequences of `length` positions each.
    public static func backward(
        dQkv: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
        dOut: UnsafePointer<Float>, qkv: UnsafePointer<Float>, probabilities: UnsafePointer<Float>,
        batch: Int, length: Int, features: Int, heads: Int
    ) {
        backward(dQkv: dQkv, scratch: scratch, dOut: dOut, qkv: qkv, probabilities: probabilities,
                 sequences: SequenceLayout(batch: batch, length: length), features: features, heads: heads)
    }

    /// One sequence's forward with sgemm: three calls per head with strided operands, so no
    /// transposed copies are made.
    static func forwardGemm(
        out: UnsafeMutablePointer<Float>, probabilities: UnsafeMutablePointer<Float>,
        qkv: UnsafePointer<Float>, length: Int, features: Int, heads: Int
    ) {
        let headSize = features / heads
        let stride = 3 * features
        let scale = 1 / Float(headSize).squareRoot()
        for h in 0..<heads {
            let q = qkv + h * headSize
            let k = q + features
            let v = q + 2 * features
            let p = probabilities + h * length * length
            // scores = q kᵀ / √headSize (the upper triangle is computed and then discarded:
            // for short sequences one sgemm beats many small ones).
            Gemm.fast(.none, .transposed, m: length, n: length, k: headSize, alpha: scale,
                      a: q, lda: stride, b: k, ldb: stride, beta: 0, c: p, ldc: length)
            for i in 0..<length { causalSoftmax(row: p + i * length, visible: i + 1, length: length) }
            Gemm.fast(.none, .none, m: length, n: headSize, k: length,
                      a: p, lda: length, b: v, ldb: stride,
                      beta: 0, c: out + h * headSize, ldc: features)
        }
    }

    /// One sequence's backward with sgemm; `scratch` holds length² floats.
    static func backwardGemm(
        dQkv: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
        dOut: UnsafePointer<Float>, qkv: UnsafePointer<Float>, probabilities: UnsafePointer<Float>,
        length: Int, features: Int, heads: Int
    ) {
        let headSize = features / heads
        let stride = 3 * features
        let scale = 1 / Float(headSize).squareRoot()
        for h in 0..<heads {
            let q = qkv + h * headSize, k = q + features, v = q + 2 * features
            let dq = dQkv + h * headSize, dk = dq + features, dv = dq + 2 * features
            let p = probabilities + h * length * length
            let d = dOut + h * headSize
            Gemm.fast(.none, .transposed, m: length, n: length, k: headSize,
                      a: d, lda: features, b: v, ldb: stride, beta: 0, c: scratch, ldc: length)
            Gemm.fast(.transposed, .none, m: length, n: headSize, k: length,
                      a: p, lda: length, b: d, ldb: features, beta: 1, c: dv, ldc: stride)
            for i in 0..<length {
                softmaxBackward(row: scratch + i * length, probabilities: p + i * length, visible: i + 1, length: length)
            }
            Gemm.fast(.none, .none, m: length, n: headSize, k: length, alpha: scale,
                      a: scratch, lda: length, b: k, ldb: stride, beta: 1, c: dq, ldc: stride)
            Gemm.fast(.transposed, .none, m: length, n: headSize, k: length, alpha: scale,
                      a: scratch, lda: length, b: q, ldb: stride, beta: 1, c: dk, ldc: stride)
        }
    }

    /// One new position per sequence attending over a key/value cache (decoding).
    ///
    /// out and query are (features) for one sequence; keys and values are (≥ visible, features),
    /// the cached rows of that sequence including the new one; `scores` holds `visible` floats.
    public static func forwardCached(
        out: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>,
        query: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
        visible: Int, features: Int, heads: Int
    ) {
        let headSize = features / heads
        let scale = 1 / Float(headSize).squareRoot()
        for h in 0..<heads {
            let q = query + h * headSize
            // The same operations, in the same order, as `forwardDirect`'s row for this position,
            // so decoding with the cache reproduces the full forward exactly.
            for j in 0..<visible {
                scores[j] = ShortVector.dot(q, keys + j * features + h * headSize, count: headSize) * scale
            }
            causalSoftmax(row: scores, visible: visible, length: visible)
            ShortVector.addWeightedRows(out + h * headSize, overwrite: true, weights: scores,
                                        rows: values + h * headSize, rowStride: features, rowCount: visible, count: headSize)
        }
    }

    /// `forward` for one short sequence: the same products as loops over the visible positions only.
    ///
    /// Each (sequence, head) block goes in three passes so that the exponentials, the costly part
    /// of the softmax, run as one vectorised loop over the whole length × length block instead of
    /// a few scalar calls per row: scores minus their row's maximum (masked entries −∞), `exp`
    /// over the block (e^−∞ = 0 keeps the mask), then each row's normalisation and its weighted
    /// sum of value rows. The arithmetic is `causalSoftmax`'s, in the same order, so
    /// `forwardCached` reproduces these rows exactly.
    static func forwardDirect(
        out: UnsafeMutablePointer<Float>, probabilities: UnsafeMutablePointer<Float>,
        qkv sequence: UnsafePointer<Float>, length: Int, features: Int, heads: Int
    ) {
        let headSize = features / heads, stride = 3 * features
        let scale = 1 / Float(headSize).squareRoot()
        for h in 0..<heads {
            let p = probabilities + h * length * length
            for i in 0..<length {
                let q = sequence + i * stride + h * headSize, row = p + i * length
                var maximum = -Float.infinity
                for j in 0...i {
                    row[j] = ShortVector.dot(q, sequence + j * stride + features + h * headSize, count: headSize) * scale
                    maximum = Swift.max(maximum, row[j])
                }
                for j in 0...i { row[j] -= maximum }
                for j in (i + 1)..<length { row[j] = -.infinity }
            }
            for e in 0..<(length * length) { p[e] = FastMath.exp(p[e]) }
            for i in 0..<length {
                let row = p + i * length
                var sum: Float = 0
                for j in 0...i { sum += row[j] }
                let inverse = 1 / sum
                for j in 0...i { row[j] *= inverse }
                ShortVector.addWeightedRows(out + i * features + h * headSize, overwrite: true,
                                            weights: row, rows: sequence + 2 * features + h * headSize,
                                            rowStride: stride, rowCount: i + 1, count: headSize)
            }
        }
    }

    /// `backward` for one short sequence; `scratch` holds length·length floats.
    ///
    /// Row by row, dS_i = softmax′(d_i·Vᵀ) / √d gives dq_i; dS is also kept transposed in
    /// `scratch`, so that afterwards each position's dk_j = Σ_i dS_ij q_i and dv_j = Σ_i P_ij d_i
    /// are single weighted sums of rows held in registers, instead of one read-modify-write of
    /// dk_j and dv_j for every (i, j) pair.
    static func backwardDirect(
        dQkv dSequence: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
        dOut gradients: UnsafePointer<Float>, qkv sequence: UnsafePointer<Float>, probabilities: UnsafePointer<Float>,
        length: Int, features: Int, heads: Int
    ) {
        let headSize = features / heads, stride = 3 * features
        let scale = 1 / Float(headSize).squareRoot()
        let transposedGradients = scratch
        // One row of dS and one column of P: 2·length floats, at most 256 bytes.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * length) { rows in
            let row = rows.baseAddress!, column = row + length
            for h in 0..<heads {
                let p = probabilities + h * length * length
                let queries = sequence + h * headSize, keys = queries + features, values = queries + 2 * features
                let dQueries = dSequence + h * headSize, dKeys = dQueries + features, dValues = dQueries + 2 * features
                for i in 0..<length {
                    let d = gradients + i * features + h * headSize
                    // dP_ij = d_i · v_j, then the softmax backward and 1/√d.
                    for j in 0...i { row[j] = ShortVector.dot(d, values + j * stride, count: headSize) }
                    softmaxBackward(row: row, probabilities: p + i * length, visible: i + 1, length: i + 1)
                    for j in 0...i {
                        row[j] *= scale
                        transposedGradients[j * length + i] = row[j]
                    }
                    // dq_i += Σ_j dS_ij k_j.
                    ShortVector.addWeightedRows(dQueries + i * stride, overwrite: false, weights: row,
                                                rows: keys, rowStride: stride, rowCount: i + 1, count: headSize)
                }
                for j in 0..<length {
                    // dk_j += Σ_(i ≥ j) dS_ij q_i and dv_j += Σ_(i ≥ j) P_ij d_i.
                    ShortVector.addWeightedRows(dKeys + j * stride, overwrite: false,
                                                weights: transposedGradients + j * length + j,
                                                rows: queries + j * stride, rowStride: stride,
                                                rowCount: length - j, count: headSize)
                    for i in j..<length { column[i - j] = p[i * length + j] }
                    ShortVector.addWeightedRows(dValues + j * stride, overwrite: false, weights: column,
                                                rows: gradients + j * features + h * headSize, rowStride: features,
                                                rowCount: length - j, count: headSize)
                }
            }
        }
    }

    /// Softmax over the first `visible` entries of a row; the rest become 0 (the causal mask).
    @inline(__always)
    static func causalSoftmax(row: UnsafeMutablePointer<Float>, visible: Int, length: Int) {
        var maximum = -Float.infinity
        for j in 0..<visible { maximum = Swift.max(maximum, row[j]) }
        var sum: Float = 0
        for j in 0..<visible {
            let e = FastMath.exp(row[j] - maximum)
            row[j] = e
            sum += e
        }
        let inverse = 1 / sum
        for j in 0..<visible { row[j] *= inverse }
        for j in visible..<length { row[j] = 0 }
    }

    /// In place: `gradient[j] = P[j] · (gradient[j] − Σ_i P[i]·gradient[i])`; masked entries → 0.
    @inline(__always)
    static func softmaxBackward(
        row gradient: UnsafeMutablePointer<Float>, probabilities: UnsafePointer<Float>, visible: Int, length: Int
    ) {
        var dot: Float = 0
        for j in 0..<visible { dot += probabilities[j] * gradient[j] }
        for j in 0..<visible { gradient[j] = probabilities[j] * (gradient[j] - dot) }
        for j in visible..<length { gradient[j] = 0 }
    }
}
