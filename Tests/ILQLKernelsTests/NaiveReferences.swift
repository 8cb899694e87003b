// NaiveReferences.swift: Double-precision forward references for every kernel.
//
// Written from the mathematical definitions, not from the kernels: plain nested loops, no
// max-subtraction tricks where Double does not need them, libm's tanh/exp/log. They are the
// oracle for the forward checks and, through finite differences, for the backward checks, so
// they must share no code (and no algebraic shortcuts) with Sources/ILQLKernels.

import Foundation
import ILQLKernels

enum Naive {
    // MARK: - Elementwise

    /// GPT-2's GELU exactly as written in the paper/Hugging Face: 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))).
    static func gelu(_ x: [Double]) -> [Double] {
        x.map { v in 0.5 * v * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v))) }
    }

    static func relu(_ x: [Double]) -> [Double] {
        x.map { $0 > 0 ? $0 : 0 }
    }

    /// The logistic function 1/(1 + e^(−x)).
    static func sigmoid(_ x: Double) -> Double { 1 / (1 + Foundation.exp(-x)) }

    static func biasAdd(_ x: [Double], _ bias: [Double], rows: Int, features: Int) -> [Double] {
        var out = [Double](repeating: 0, count: rows * features)
        for r in 0 ..< rows {
            for j in 0 ..< features { out[r * features + j] = x[r * features + j] + bias[j] }
        }
        return out
    }

    static func residual(_ a: [Double], _ b: [Double]) -> [Double] {
        zip(a, b).map { $0 + $1 }
    }

    // MARK: - LayerNorm

    /// torch.nn.LayerNorm: biased variance (divide by n), ε inside the square root.
    static func layerNorm(
        _ x: [Double], weight: [Double], bias: [Double], rows: Int, features: Int, epsilon: Double = 1e-5
    ) -> (out: [Double], mean: [Double], rstd: [Double]) {
        var out = [Double](repeating: 0, count: rows * features)
        var means = [Double](), rstds = [Double]()
        let n = Double(features)
        for r in 0 ..< rows {
            var mean = 0.0
            for j in 0 ..< features { mean += x[r * features + j] }
            mean /= n
            var variance = 0.0
            for j in 0 ..< features { variance += (x[r * features + j] - mean) * (x[r * features + j] - mean) }
            variance /= n
            let std = (variance + epsilon).squareRoot()
            for j in 0 ..< features {
                out[r * features + j] = (x[r * features + j] - mean) / std * weight[j] + bias[j]
            }
            means.append(mean)
            rstds.append(1 / std)
        }
        return (out, means, rstds)
    }

    // MARK: - Embedding

    static func embedding(
        tokens: [Int32], wte: [Double], wpe: [Double], batch: Int, length: Int, features: Int, firstPosition: Int = 0
    ) -> [Double] {
        var out = [Double](repeating: 0, count: batch * length * features)
        for b in 0 ..< batch {
            for t in 0 ..< length {
                let token = Int(tokens[b * length + t])
                for j in 0 ..< features {
                    out[(b * length + t) * features + j] = wte[token * features + j] + wpe[(firstPosition + t) * features + j]
                }
            }
        }
        return out
    }

    // MARK: - Matmul and GEMM

    /// out[r, o] = Σ_i input[r, i] · W[i, o] + bias[o], with W read in the given storage layout.
    static func matmul(
        _ input: [Double], weight: [Double], bias: [Double]?, rows: Int, inFeatures: Int, outFeatures: Int,
        layout: Matmul.WeightLayout
    ) -> [Double] {
        var out = [Double](repeating: 0, count: rows * outFeatures)
        for r in 0 ..< rows {
            for o in 0 ..< outFeatures {
                var sum = bias?[o] ?? 0
                for i in 0 ..< inFeatures {
                    let w = layout == .inputMajor ? weight[i * outFeatures + o] : weight[o * inFeatures + i]
                    sum += input[r * inFeatures + i] * w
                }
                out[r * outFeatures + o] = sum
            }
        }
        return out
    }

    /// BLAS's definition C = α·op(A)·op(B) + β·C on row-major storage; entries of C outside the
    /// m×n window (the padding up to ldc) are returned unchanged. β = 0 ignores C entirely.
    static func gemm(
        _ transposeA: Gemm.Transpose, _ transposeB: Gemm.Transpose, m: Int, n: Int, k: Int, alpha: Double,
        a: [Double], lda: Int, b: [Double], ldb: Int, beta: Double, c: [Double], ldc: Int
    ) -> [Double] {
        var result = c
        for i in 0 ..< m {
            for j in 0 ..< n {
                var sum = 0.0
                for p in 0 ..< k {
                    let aip = transposeA == .none ? a[i * lda + p] : a[p * lda + i]
                    let bpj = transposeB == .none ? b[p * ldb + j] : b[j * ldb + p]
                    sum += aip * bpj
                }
                result[i * ldc + j] = alpha * sum + (beta == 0 ? 0 : beta * c[i * ldc + j])
            }
        }
        return result
    }

    // MARK: - Attention

    /// Causal multi-head attention on fused qkv rows [q | k | v]: for each sequence and head,
    /// S = q·kᵀ/√d with S[i, j] = −∞ for j > i, P = softmax over each row, out = P·v.
    /// Returns out (batch, length, features) and P (batch, heads, length, length).
    static func attention(
        _ qkv: [Double], batch: Int, length: Int, features: Int, heads: Int
    ) -> (out: [Double], probabilities: [Double]) {
        let d = features / heads
        var out = [Double](repeating: 0, count: batch * length * features)
        var probabilities = [Double](repeating: 0, count: batch * heads * length * length)
        func at(_ b: Int, _ t: Int, _ column: Int) -> Double { qkv[(b * length + t) * 3 * features + column] }
        for b in 0 ..< batch {
            for h in 0 ..< heads {
                for i in 0 ..< length {
                    var scores = [Double](repeating: -Double.infinity, count: length)
                    for j in 0 ..< length where j <= i {
                        var dot = 0.0
                        for c in 0 ..< d { dot += at(b, i, h * d + c) * at(b, j, features + h * d + c) }
                        scores[j] = dot / Double(d).squareRoot()
                    }
                    // exp(−∞) = 0 masks the future; Double's range holds e^±700, so no max shift is
                    // needed for the ±80 scores the tests use.
                    let total = scores.reduce(0.0) { $0 + Foundation.exp($1) }
                    for j in 0 ..< length {
                        let p = Foundation.exp(scores[j]) / total
                        probabilities[((b * heads + h) * length + i) * length + j] = p
                        for c in 0 ..< d {
                            out[(b * length + i) * features + h * d + c] += p * at(b, j, 2 * features + h * d + c)
                        }
                    }
                }
            }
        }
        return (out, probabilities)
    }

    // MARK: - Softmax cross-entropy

    /// loss[r] = log Σ_v exp(logits[r, v]) − logits[r, target[r]], 0 for a negative target.
    /// Computed without a max shift: Double holds e^±700, far beyond the tests' ±80.
    static func softmaxCrossEntropy(
        _ logits: [Double], targets: [Int32], rows: Int, classes: Int
    ) -> (losses: [Double], logSumExp: [Double]) {
        var losses = [Double](), lses = [Double]()
        for r in 0 ..< rows {
            var sum = 0.0
            for v in 0 ..< classes { sum += Foundation.exp(logits[r * classes + v]) }
            let lse = Foundation.log(sum)
            lses.append(lse)
            let target = Int(targets[r])
            losses.append(target < 0 ? 0 : lse - logits[r * classes + target])
        }
        return (losses, lses)
    }

    // MARK: - Optimizers

    /// torch.optim.AdamW as documented (https://pytorch.org/docs/stable/generated/torch.optim.AdamW.html):
    /// θ ← θ − γλθ; m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; m̂ = m/(1−β1ᵗ); v̂ = v/(1−β2ᵗ);
    /// θ ← θ − γ·m̂/(√v̂ + ε).
    struct AdamW {
        var parameters: [Double]
        var m: [Double]
        var v: [Double]
        var learningRate: Double, beta1: Double, beta2: Double, epsilon: Double, weightDecay: Double

        mutating func step(gradients g: [Double], t: Int) {
            for i in parameters.indices {
                parameters[i] -= learningRate * weightDecay * parameters[i]
                m[i] = beta1 * m[i] + (1 - beta1) * g[i]
                v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
                let mHat = m[i] / (1 - Foundation.pow(beta1, Double(t)))
                let vHat = v[i] / (1 - Foundation.pow(beta2, Double(t)))
                parameters[i] -= learningRate * mHat / (vHat.squareRoot() + epsilon)
            }
        }
    }

    /// target ← α·online + (1 − α)·target.
    static func polyak(target: [Double], online: [Double], alpha: Double) -> [Double] {
        zip(target, online).map { alpha * $1 + (1 - alpha) * $0 }
    }
}
