/// GPT-2's rows of the parameter table and typed views of a flat buffer laid out by it.
///
/// Checkpoint keys and layouts are Hugging Face's (`GPT2LMHeadModel`), so its `model.safetensors`
/// loads directly; the LM head is tied to `transformer.wte.weight` and has no row of its own.
public enum GPT2Layout {
    /// Appends GPT-2's tensors to `table`, with GPT-2's initialisation: normal(0, 0.02) for
    /// embeddings and weights, residual projections scaled by 1/√(2·n_layer), biases 0,
    /// LayerNorm gains 1.
    public static func append(to table: inout ParameterTable, config: GPT2Config) {
        let c = config.width
        let std = 0.02
        let residualStd = std / Double(2 * config.layerCount).squareRoot()
        func row(_ name: String, _ key: String, _ shape: [Int], _ initialization: ParameterInitialization) {
            // Matrices decay, vectors (biases, LayerNorm parameters) do not, as in GPT-2 training
            // recipes; trainers that decay everything (trlx) ignore the flag.
            table.append(ParameterSpec(name: name, checkpointKey: key, shape: shape,
                                       decays: shape.count == 2, initialization: initialization))
        }
        row("tokenEmbedding", "transformer.wte.weight", [config.vocabularySize, c], .normal(standardDeviation: std))
        row("positionEmbedding", "transformer.wpe.weight", [config.maxPositions, c], .normal(standardDeviation: std))
        for l in 0..<config.layerCount {
            let key = "transformer.h.\(l)."
            let name = "layers[\(l)]."
            row(name + "norm1.weight", key + "ln_1.weight", [c], .constant(1))
            row(name + "norm1.bias", key + "ln_1.bias", [c], .constant(0))
            row(name + "qkv.weight", key + "attn.c_attn.weight", [c, 3 * c], .normal(standardDeviation: std))
            row(name + "qkv.bias", key + "attn.c_attn.bias", [3 * c], .constant(0))
            row(name + "attentionProjection.weight", key + "attn.c_proj.weight", [c, c], .normal(standardDeviation: residualStd))
            row(name + "attentionProjection.bias", key + "attn.c_proj.bias", [c], .constant(0))
            row(name + "norm2.weight", key + "ln_2.weight", [c], .constant(1))
            row(name + "norm2.bias", key + "ln_2.bias", [c], .constant(0))
            row(name + "fc.weight", key + "mlp.c_fc.weight", [c, 4 * c], .normal(standardDeviation: std))
            row(name + "fc.bias", key + "mlp.c_fc.bias", [4 * c], .constant(0))
            row(name + "fcProjection.weight", key + "mlp.c_proj.weight", [4 * c, c], .normal(standardDeviation: residualStd))
            row(name + "fcProjection.bias", key + "mlp.c_proj.bias", [c], .constant(0))
        }
        row("finalNorm.weight", "transformer.ln_f.weight", [c], .constant(1))
        row("finalNorm.bias", "transformer.ln_f.bias", [c], .constant(0))
    }

    /// A table holding only GPT-2.
    public static func table(for config: GPT2Config) -> ParameterTable {
        var table = ParameterTable()
        append(to: &table, config: config)
        return table
    }
}

/// Pointers to one transformer block's tensors inside a flat buffer.
public struct GPT2BlockTensors {
    public var norm1Weight, norm1Bias: UnsafeMutablePointer<Float>
    public var qkvWeight, qkvBias: UnsafeMutablePointer<Float>
    public var attentionProjectionWeight, attentionProjectionBias: UnsafeMutablePointer<Float>
    public var norm2Weight, norm2Bias: UnsafeMutablePointer<Float>
    public var fcWeight, fcBias: UnsafeMutablePointer<Float>
    public var fcProjectionWeight, fcProjectionBias: UnsafeMutablePointer<Float>
}

/// Pointers to GPT-2's tensors inside a flat buffer laid out by `GPT2Layout`: the same type views
/// the parameters and the gradients, since both share the table.
public struct GPT2Tensors {
    public var tokenEmbedding: UnsafeMutablePointer<Float>
    public var positionEmbedding: UnsafeMutablePointer<Float>
    public var blocks: [GPT2BlockTensors]
    public var finalNormWeight, finalNormBias: UnsafeMutablePointer<Float>

    /// Views of `base`, a buffer of `table.totalCount` floats.
    public init(base: UnsafeMutablePointer<Float>, table: ParameterTable, config: GPT2Config) {
        func at(_ key: String) -> UnsafeMutablePointer<Float> { base + table.offset(ofKey: key) }
        tokenEmbedding = at("transformer.wte.weight")
        positionEmbedding = at("transformer.wpe.weight")
        blocks = (0..<config.layerCount).map { l in
            let key = "transformer.h.\(l)."
            return GPT2BlockTensors(
                norm1Weight: at(key + "ln_1.weight"), norm1Bias: at(key + "ln_1.bias"),
                qkvWeight: at(key + "attn.c_attn.weight"), qkvBias: at(key + "attn.c_attn.bias"),
                attentionProjectionWeight: at(key + "attn.c_proj.weight"),
                attentionProjectionBias: at(key + "attn.c_proj.bias"),
                norm2Weight: at(key + "ln_2.weight"), norm2Bias: at(key + "ln_2.bias"),
                fcWeight: at(key + "mlp.c_fc.weight"), fcBias: at(key + "mlp.c_fc.bias"),
                fcProjectionWeight: at(key + "mlp.c_proj.weight"), fcProjectionBias: at(key + "mlp.c_proj.bias"))
        }
        finalNormWeight = at("transformer.ln_f.weight")
        finalNormBias = at("transformer.ln_f.bias")
    }
}
