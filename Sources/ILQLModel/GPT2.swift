import ILQLKernels

/// The GPT-2 trunk as a pair of passes over flat buffers.
///
/// Parameters are read-only during a step and shared by every worker; each worker brings its own
/// `GPT2Activations` and its own gradient buffer (viewed through `GPT2Tensors` built from the same
/// table). Shapes in comments: R rows (the positions of every sequence, packed end to end by a
/// `SequenceLayout`: B·T for B sequences of T positions), C width, V vocabulary, H heads.
public struct GPT2: Sendable {
    /// The model's shape.
    public let config: GPT2Config

    /// A model of this shape. The config must be valid (`GPT2Config.validate()`).
    public init(config: GPT2Config) {
        self.config = config
    }

    /// Runs the trunk on `tokens` (R), the sequences of `sequences` end to end, filling
    /// `activations`: `hidden` (R, C) always, and `logits` (R, V) when `computeLogits` is set.
    ///
    /// Token ids must lie in `0..<vocabularySize`, there must be at most `activations.maxBatch`
    /// sequences, and every length must lie in `1...min(maxPositions, activations.maxLength)`;
    /// callers validate data before the step.
    public func forward(
        parameters p: GPT2Tensors, activations a: GPT2Activations,
        tokens: UnsafePointer<Int32>, sequences: SequenceLayout, computeLogits: Bool = true
    ) {
        precondition(sequences.count <= a.maxBatch && sequences.longest <= a.maxLength,
                     "micro-batch larger than the activation arena")
        let c = config.width, rows = sequences.rowCount
        Embedding.forward(out: a.embedded, tokens: tokens, wte: p.tokenEmbedding, wpe: p.positionEmbedding,
                          sequences: sequences, features: c)
        var input = UnsafePointer(a.embedded)
        for (w, s) in zip(p.blocks, a.blocks) {
            LayerNorm.forward(out: s.norm1, mean: s.norm1Mean, rstd: s.norm1Rstd, x: input,
                              weight: w.norm1Weight, bias: w.norm1Bias, rows: rows, features: c,
                              epsilon: config.layerNormEpsilon)
            Matmul.forward(out: s.qkv, input: s.norm1, weight: w.qkvWeight, bias: w.qkvBias,
                           rows: rows, inFeatures: c, outFeatures: 3 * c, layout: .inputMajor)
            Attention.forward(out: s.attention, probabilities: s.attentionProbabilities, qkv: s.qkv,
                              sequences: sequences, features: c, heads: config.headCount)
            Matmul.forward(out: s.residualAfterAttention, input: s.attention,
                           weight: w.attentionProjectionWeight, bias: w.attentionProjectionBias,
                           rows: rows, inFeatures: c, outFeatures: c, layout: .inputMajor)
            Residual.forward(out: s.residualAfterAttention, a: s.residualAfterAttention, b: input, count: rows * c)
            LayerNorm.forward(out: s.norm2, mean: s.norm2Mean, rstd: s.norm2Rstd, x: s.residualAfterAttention,
                              weight: w.norm2Weight, bias: w.norm2Bias, rows: rows, features: c,
                              epsilon: config.layerNormEpsilon)
            Matmul.forward(out: s.fc, input: s.norm2, weight: w.fcWeight, bias: w.fcBias,
                           rows: rows, inFeatures: c, outFeatures: 4 * c, layout: .inputMajor)
            // The backward needs GELU' of the pre-activation and nothing else from it: keep that.
            GELU.forward(out: s.fcGelu, derivative: s.fc, x: s.fc, count: rows * 4 * c)
            Matmul.forward(out: s.output, input: s.fcGelu, weight: w.fcProjectionWeight, bias: w.fcProjectionBias,
                           rows: rows, inFeatures: 4 * c, outFeatures: c, layout: .inputMajor)
            Residual.forward(out: s.output, a: s.output, b: s.residualAfterAttention, count: rows * c)
            input = UnsafePointer(s.output)
        }
        LayerNorm.forward(out: a.hidden, mean: a.finalMean, rstd: a.finalRstd, x: input,
                          weight: p.finalNormWeight, bias: p.finalNormBias, rows: rows, features: c,
                          epsilon: config.layerNormEpsilon)
        if computeLogits {
            // The LM head is the token embedding, transposed (weight tying).
            Matmul.forward(out: a.logits, input: a.hidden, weight: p.tokenEmbedding, bias: nil,
                           rows: rows, inFeatures: c, outFeatures: config.vocabularySize, layout: .outputMajor)
        }
    }

    /// `forward` on `batch` sequences of `length` tokens each (`tokens` is (B, T)).
    public func forward(
        parameters p: GPT2Tensors, activations a: GPT2Activations,
        tokens: UnsafePointer<Int32>, batch: Int, length: Int, computeLogits: Bool = true
    ) {
        forward(parameters: p, activations: a, tokens: tokens, sequences: SequenceLayout(batch: batch, length: length),
                computeLogits: computeLogits)
    }

    /// Accumulates parameter gradients into `gradients` from `dLogits` (R, V) and/or `dHidden`
    /// (R, C), the gradients of the loss with respect to the last `forward`'s logits and hidden
    /// states (the ILQL heads feed `dHidden`). Either may be nil when no loss term reaches it.
    /// `tokens` and `sequences` are the last `forward`'s.
    ///
    /// Gradients accumulate (`+=`), so several micro-batches can add into one buffer.
    public func backward(
        parameters p: GPT2Tensors, gradients g: GPT2Tensors, activations a: GPT2Activations,
        tokens: UnsafePointer<Int32>, sequences: SequenceLayout,
        dLogits: UnsafePointer<Float>?, dHidden: UnsafePointer<Float>?
    ) {
        let c = config.width, rows = sequences.rowCount
        let dHiddenTotal = a.dNorm
        if let dHidden {
            dHiddenTotal.update(from: dHidden, count: rows * c)
        } else {
            dHiddenTotal.update(repeating: 0, count: rows * c)
        }
        if let dLogits {
            Matmul.backward(dInput: dHiddenTotal, dWeight: g.tokenEmbedding, dBias: nil,
                            dOut: dLogits, input: a.hidden, weight: p.tokenEmbedding,
                            rows: rows, inFeatures: c, outFeatures: config.vocabularySize, layout: .outputMajor)
        }
        // dResidual carries the gradient of the residual stream down through the blocks.
        let dResidual = a.dResidual
        dResidual.update(repeating: 0, count: rows * c)
        let lastOutput = config.layerCount > 0 ? UnsafePointer(a.blocks[config.layerCount - 1].output) : UnsafePointer(a.embedded)
        LayerNorm.backward(dX: dResidual, dWeight: g.finalNormWeight, dBias: g.finalNormBias,
                           dOut: dHiddenTotal, x: lastOutput, weight: p.finalNormWeight,
                           mean: a.finalMean, rstd: a.finalRstd, rows: rows, features: c)

        for l in stride(from: config.layerCount - 1, through: 0, by: -1) {
            let w = p.blocks[l], dw = g.blocks[l], s = a.blocks[l]
            let input = l == 0 ? UnsafePointer(a.embedded) : UnsafePointer(a.blocks[l - 1].output)
            // MLP branch: output = residualAfterAttention + fcProjection(GELU(fc(norm2(...)))).
            a.dFcGelu.update(repeating: 0, count: rows * 4 * c)
            Matmul.backward(dInput: a.dFcGelu, dWeight: dw.fcProjectionWeight, dBias: dw.fcProjectionBias,
                            dOut: dResidual, input: s.fcGelu, weight: w.fcProjectionWeight,
                            rows: rows, inFeatures: 4 * c, outFeatures: c, layout: .inputMajor)
            // dFcGelu becomes dFc in place.
            GELU.backwardInPlace(gradient: a.dFcGelu, derivative: s.fc, count: rows * 4 * c)
            a.dNorm.update(repeating: 0, count: rows * c)
            Matmul.backward(dInput: a.dNorm, dWeight: dw.fcWeight, dBias: dw.fcBias,
                            dOut: a.dFcGelu, input: s.norm2, weight: w.fcWeight,
                            rows: rows, inFeatures: c, outFeatures: 4 * c, layout: .inputMajor)
            // The skip connection passes dResidual through unchanged; the branch adds to it.
            LayerNorm.backward(dX: dResidual, dWeight: dw.norm2Weight, dBias: dw.norm2Bias,
                               dOut: a.dNorm, x: s.residualAfterAttention, weight: w.norm2Weight,
                               mean: s.norm2Mean, rstd: s.norm2Rstd, rows: rows, features: c)
            // Attention branch: residualAfterAttention = input + projection(attention(qkv(norm1(input)))).
            a.dAttention.update(repeating: 0, count: rows * c)
            Matmul.backward(dInput: a.dAttention, dWeight: dw.attentionProjectionWeight,
                            dBias: dw.attentionProjectionBias, dOut: dResidual, input: s.attention,
                            weight: w.attentionProjectionWeight,
                            rows: rows, inFeatures: c, outFeatures: c, layout: .inputMajor)
            a.dQkv.update(repeating: 0, count: rows * 3 * c)
            Attention.backward(dQkv: a.dQkv, scratch: a.dAttentionScratch, dOut: a.dAttention, qkv: s.qkv,
                               probabilities: s.attentionProbabilities,
                               sequences: sequences, features: c, heads: config.headCount)
            a.dNorm.update(repeating: 0, count: rows * c)
            Matmul.backward(dInput: a.dNorm, dWeight: dw.qkvWeight, dBias: dw.qkvBias,
                            dOut: a.dQkv, input: s.norm1, weight: w.qkvWeight,
                            rows: rows, inFeatures: c, outFeatures: 3 * c, layout: .inputMajor)
            LayerNorm.backward(dX: dResidual, dWeight: dw.norm1Weight, dBias: dw.norm1Bias,
                               dOut: a.dNorm, x: input, weight: w.norm1Weight,
                               mean: s.norm1Mean, rstd: s.norm1Rstd, rows: rows, features: c)
        }
        Embedding.backward(dWte: g.tokenEmbedding, dWpe: g.positionEmbedding, dOut: dResidual, tokens: tokens,
                           sequences: sequences, features: c)
    }

    /// `backward` after a `forward` on `batch` sequences of `length` tokens each.
    public func backward(
        parameters p: GPT2Tensors, gradients g: GPT2Tensors, activations a: GPT2Activations,
        tokens: UnsafePointer<Int32>, batch: Int, length: Int,
        dLogits: UnsafePointer<Float>?, dHidden: UnsafePointer<Float>?
    ) {
        backward(parameters: p, gradients: g, activations: a, tokens: tokens,
                 sequences: SequenceLayout(batch: batch, length: length), dLogits: dLogits, dHidden: dHidden)
    }

    /// Model FLOPs of one forward pass over the sequences of `sequences`, counted from the shapes:
    /// 2 FLOPs per multiply-add of every matmul (QKV, attention projection, MLP, LM head) at
    /// every row, plus the two attention products over each sequence's full T×T score matrix
    /// (causal masking makes half of it unneeded; the sgemm path computes it and discards it).
    /// Elementwise work is not counted. Backward costs twice the forward matmul FLOPs, so a
    /// training step is 3× this.
    public func forwardFLOPs(sequences: SequenceLayout, includeLogits: Bool = true) -> Double {
        let c = Double(config.width), rows = Double(sequences.rowCount)
        // Σ length² over the sequences: the attention products of each sequence are T×T×C.
        let squares = Double(sequences.squareStarts[sequences.count])
        let perLayer = rows * (2 * c * 3 * c + 2 * c * c + 2 * c * 4 * c + 2 * 4 * c * c) + 2 * 2 * squares * c
        let head = includeLogits ? rows * 2 * c * Double(config.vocabularySize) : 0
        return Double(config.layerCount) * perLayer + head
    }

    /// `forwardFLOPs` of `batch` sequences of `length` tokens each.
    public func forwardFLOPs(batch: Int, length: Int, includeLogits: Bool = true) -> Double {
        forwardFLOPs(sequences: SequenceLayout(batch: batch, length: length), includeLogits: includeLogits)
    }
}
