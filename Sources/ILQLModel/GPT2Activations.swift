import ILQLKernels

/// The saved activations of one transformer block for a (batch, length) micro-batch.
public struct GPT2BlockActivations {
    /// (B·T, C) LayerNorm 1 output, and its per-row mean and 1/std (B·T).
    public var norm1, norm1Mean, norm1Rstd: UnsafeMutablePointer<Float>
    /// (B·T, 3C) fused query/key/value.
    public var qkv: UnsafeMutablePointer<Float>
    /// (B, H, T, T) attention probabilities.
    public var attentionProbabilities: UnsafeMutablePointer<Float>
    /// (B·T, C) attention output before its projection.
    public var attention: UnsafeMutablePointer<Float>
    /// (B·T, C) residual stream after the attention branch.
    public var residualAfterAttention: UnsafeMutablePointer<Float>
    /// (B·T, C) LayerNorm 2 output, and its statistics (B·T).
    public var norm2, norm2Mean, norm2Rstd: UnsafeMutablePointer<Float>
    /// (B·T, 4C) MLP pre-activation, which the forward pass replaces with GELU′ of it (all the
    /// backward pass needs from it), and the GELU output.
    public var fc, fcGelu: UnsafeMutablePointer<Float>
    /// (B·T, C) residual stream after the MLP branch: the block's output.
    public var output: UnsafeMutablePointer<Float>
}

/// One worker's activation arena for GPT-2: every buffer the forward pass saves and the backward
/// pass needs, sized once for the largest micro-batch, so nothing is allocated inside a step.
public final class GPT2Activations {
    /// The shape this arena serves.
    public let config: GPT2Config
    /// Largest batch and length the arena holds.
    public let maxBatch: Int, maxLength: Int
    /// The single allocation behind every view.
    public let storage: FloatBuffer

    /// (B·T, C) token + position embedding: block 0's input.
    public let embedded: UnsafeMutablePointer<Float>
    /// Saved activations per block.
    public let blocks: [GPT2BlockActivations]
    /// (B·T, C) final LayerNorm output: the hidden states `h` the ILQL heads read.
    public let hidden: UnsafeMutablePointer<Float>
    /// (B·T) statistics of the final LayerNorm.
    public let finalMean, finalRstd: UnsafeMutablePointer<Float>
    /// (B·T, V) LM-head logits.
    public let logits: UnsafeMutablePointer<Float>

    // Backward scratch, reused by every block.
    let dResidual, dNorm, dAttention: UnsafeMutablePointer<Float>
    let dQkv: UnsafeMutablePointer<Float>
    let dFcGelu: UnsafeMutablePointer<Float>
    let dAttentionScratch: UnsafeMutablePointer<Float>

    /// Allocates the arena for micro-batches of up to `maxBatch` sequences of `maxLength` tokens.
    public init(config: GPT2Config, maxBatch: Int, maxLength: Int) {
        precondition(maxBatch >= 1 && maxLength >= 1 && maxLength <= config.maxPositions,
                     "activation arena needs 1 ≤ length ≤ n_positions")
        self.config = config
        self.maxBatch = maxBatch
        self.maxLength = maxLength
        let views: Views
        (storage, views) = ArenaCarver.allocate { Views(config: config, maxBatch: maxBatch, maxLength: maxLength, carver: &$0) }
        embedded = views.embedded
        blocks = views.blocks
        hidden = views.hidden
        finalMean = views.finalMean
        finalRstd = views.finalRstd
        logits = views.logits
        dResidual = views.dResidual
        dNorm = views.dNorm
        dAttention = views.dAttention
        dQkv = views.dQkv
        dFcGelu = views.dFcGelu
        dAttentionScratch = views.dAttentionScratch
    }

    /// Every view, in arena order.
    private struct Views {
        var embedded: UnsafeMutablePointer<Float>
        var blocks: [GPT2BlockActivations]
        var hidden, finalMean, finalRstd, logits: UnsafeMutablePointer<Float>
        var dResidual, dNorm, dAttention, dQkv, dFcGelu, dAttentionScratch: UnsafeMutablePointer<Float>

        init(config: GPT2Config, maxBatch: Int, maxLength: Int, carver: inout ArenaCarver) {
            let rows = maxBatch * maxLength, c = config.width
            embedded = carver.take(rows * c)
            blocks = (0..<config.layerCount).map { _ in
                GPT2BlockActivations(
                    norm1: carver.take(rows * c), norm1Mean: carver.take(rows), norm1Rstd: carver.take(rows),
                    qkv: carver.take(rows * 3 * c),
                    attentionProbabilities: carver.take(maxBatch * config.headCount * maxLength * maxLength),
                    attention: carver.take(rows * c), residualAfterAttention: carver.take(rows * c),
                    norm2: carver.take(rows * c), norm2Mean: carver.take(rows), norm2Rstd: carver.take(rows),
                    fc: carver.take(rows * 4 * c), fcGelu: carver.take(rows * 4 * c),
                    output: carver.take(rows * c))
            }
            hidden = carver.take(rows * c)
            finalMean = carver.take(rows)
            finalRstd = carver.take(rows)
            logits = carver.take(rows * config.vocabularySize)
            dResidual = carver.take(rows * c)
            dNorm = carver.take(rows * c)
            dAttention = carver.take(rows * c)
            dQkv = carver.take(rows * 3 * c)
            dFcGelu = carver.take(rows * 4 * c)
            dAttentionScratch = carver.take(maxLength * maxLength)
        }
    }

    /// Bytes held by the arena.
    public var byteCount: Int { storage.count * MemoryLayout<Float>.stride }
}
