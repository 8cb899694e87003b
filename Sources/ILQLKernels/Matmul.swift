/// A dense layer `out = input · W + bias` over a batch of rows, through sgemm.
///
/// Two weight layouts exist in the checkpoints we read and write: Hugging Face GPT-2's `Conv1D`
/// stores `W` as `[in, out]`, PyTorch's `nn.Linear` (trlx's heads) and the tied LM head store it
/// as `[out, in]`. Every matmul of a step goes through one sgemm with M = rows, never row by row.
public enum Matmul {
    /// How the weight matrix is stored.
    public enum WeightLayout: Sendable {
        /// `[inFeatures, outFeatures]`, as GPT-2's `Conv1D`.
        case inputMajor
        /// `[outFeatures, inFeatures]`, as `nn.Linear` and the tied token embedding.
        case outputMajor
    }

    /// out is (rows, outFeatures); input is (rows, inFeatures); bias is (outFeatures) or nil.
    /// Overwrites `out`.
    public static func forward(
        out: UnsafeMutablePointer<Float>,
        input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        rows: Int, inFeatures: Int, outFeatures: Int, layout: WeightLayout
    ) {
        var beta: Float = 0
        if let bias {
            broadcast(bias, into: out, rows: rows, features: outFeatures)
            beta = 1
        }
        switch layout {
        case .inputMajor:
            Gemm.fast(.none, .none, m: rows, n: outFeatures, k: inFeatures,
                      a: input, lda: inFeatures, b: weight, ldb: outFeatures,
                      beta: beta, c: out, ldc: outFeatures)
        case .outputMajor:
            Gemm.fast(.none, .transposed, m: rows, n: outFeatures, k: inFeatures,
                      a: input, lda: inFeatures, b: weight, ldb: inFeatures,
                      beta: beta, c: out, ldc: outFeatures)
        }
    }

    /// Copies `bias` into every row of `out`, 16 floats at a time: a `memmove` call per row costs
    /// about as much as the copy itself for rows of a few hundred floats.
    @inline(__always)
    static func broadcast(_ bias: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, rows: Int, features: Int) {
        for row in 0..<rows {
            let o = out + row * features
            var j = 0
            while j + 16 <= features {
                UnsafeMutableRawPointer(o + j).storeBytes(
                    of: UnsafeRawPointer(bias + j).loadUnaligned(as: SIMD16<Float>.self), as: SIMD16<Float>.self)
                j += 16
            }
            while j < features {
                o[j] = bias[j]
                j += 1
            }
        }
    }

    /// Accumulates the gradients of `forward`: `dInput += dOut · Wᵀ`, `dWeight += inputᵀ · dOut`
    /// (in the weight's layout) and `dBias += Σ_rows dOut`. Pass nil for gradients not needed.
    public static func backward(
        dInput: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?,
        dBias: UnsafeMutablePointer<Float>?,
        dOut: UnsafePointer<Float>, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        rows: Int, inFeatures: Int, outFeatures: Int, layout: WeightLayout
    ) {
        if let dInput {
            switch layout {
            case .inputMajor:
                Gemm.fast(.none, .transposed, m: rows, n: inFeatures, k: outFeatures,
                          a: dOut, lda: outFeatures, b: weight, ldb: outFeatures,
                          beta: 1, c: dInput, ldc: inFeatures)
            case .outputMajor:
                Gemm.fast(.none, .none, m: rows, n: inFeatures, k: outFeatures,
                          a: dOut, lda: outFeatures, b: weight, ldb: inFeatures,
                          beta: 1, c: dInput, ldc: inFeatures)
            }
        }
        if let dWeight {
            switch layout {
            case .inputMajor:
                Gemm.fast(.transposed, .none, m: inFeatures, n: outFeatures, k: rows,
                          a: input, lda: inFeatures, b: dOut, ldb: outFeatures,
                          beta: 1, c: dWeight, ldc: outFeatures)
            case .outputMajor:
                Gemm.fast(.transposed, .none, m: outFeatures, n: inFeatures, k: rows,
                          a: dOut, lda: outFeatures, b: input, ldb: inFeatures,
                          beta: 1, c: dWeight, ldc: inFeatures)
            }
        }
        if let dBias {
            BiasAdd.backward(dBias: dBias, dOut: dOut, rows: rows, features: outFeatures)
        }
    }
}
