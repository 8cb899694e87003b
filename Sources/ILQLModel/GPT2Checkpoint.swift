import Foundation
import ILQLKernels

/// Reading and writing GPT-2 weights in Hugging Face's format: `model.safetensors` with
/// `GPT2LMHeadModel` keys and layouts, and a `config.json` that `transformers` understands.
public enum GPT2Checkpoint {
    /// File names inside a checkpoint directory.
    public static let weightsFileName = "model.safetensors"
    public static let configFileName = "config.json"

    /// Keys that Hugging Face files may hold but that carry no parameters of ours: the causal-mask
    /// buffers older `transformers` versions saved, and the tied LM head.
    static func isIgnorable(_ key: String) -> Bool {
        key.hasSuffix(".attn.bias") || key.hasSuffix(".attn.masked_bias") || key == "lm_head.weight"
    }

    /// Reads `config.json` from a checkpoint directory.
    public static func loadConfig(from directory: URL) throws -> GPT2Config {
        let url = directory.appendingPathComponent(configFileName)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ModelError.badCheckpoint(path: url.path, message: "cannot read the file (is this a checkpoint directory?)")
        }
        let json: [String: Any]
        do {
            guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw ModelError.badCheckpoint(path: url.path, message: "is not a JSON object")
            }
            json = object
        } catch let error as ModelError {
            throw error
        } catch {
            throw ModelError.badCheckpoint(path: url.path, message: "is not valid JSON (\(error.localizedDescription))")
        }
        func integer(_ key: String) throws -> Int {
            guard let value = json[key] as? NSNumber, let exact = Int(exactly: value.doubleValue) else {
                throw ModelError.badCheckpoint(path: url.path, message: "missing or non-integer \"\(key)\"")
            }
            return exact
        }
        if let activation = json["activation_function"] as? String,
           !["gelu_new", "gelu_pytorch_tanh", "gelu_fast"].contains(activation) {
            throw ModelError.badCheckpoint(
                path: url.path, message: "activation_function \"\(activation)\" is not supported (only tanh GELU, \"gelu_new\")")
        }
        if let tied = json["tie_word_embeddings"] as? Bool, !tied {
            throw ModelError.badCheckpoint(path: url.path, message: "untied LM heads are not supported (tie_word_embeddings is false)")
        }
        let epsilon = (json["layer_norm_epsilon"] as? NSNumber)?.floatValue ?? LayerNorm.defaultEpsilon
        let config = GPT2Config(
            layerCount: try integer("n_layer"), headCount: try integer("n_head"), width: try integer("n_embd"),
            maxPositions: try integer("n_positions"), vocabularySize: try integer("vocab_size"),
            layerNormEpsilon: epsilon)
        do { try config.validate() } catch {
            throw ModelError.badCheckpoint(path: url.path, message: "\(error)")
        }
        return config
    }

    /// Copies every tensor of `table` from `file` into `parameters` (a buffer of
    /// `table.totalCount` floats). Keys may carry the `transformer.` prefix or not (files saved
    /// from `GPT2Model` omit it). Rows for which `optional` returns true may be absent and then
    /// keep their current values; any other missing tensor, a shape mismatch or an unknown key
    /// is an error naming it.
    public static func loadTensors(
        from file: SafetensorsFile, table: ParameterTable, into parameters: UnsafeMutablePointer<Float>,
        optional: (ParameterSpec) -> Bool = { _ in false }
    ) throws {
        var available: [String: SafetensorsTensorInfo] = [:]
        for tensor in file.tensors {
            if isIgnorable(tensor.name) { continue }
            var key = tensor.name
            if table.index(ofKey: key) == nil, table.index(ofKey: "transformer." + key) != nil { key = "transformer." + key }
            guard table.index(ofKey: key) != nil else {
                throw ModelError.badCheckpoint(path: file.source, message: "unexpected tensor \"\(tensor.name)\" (not part of this model)")
            }
            available[key] = tensor
        }
        for (spec, offset) in zip(table.specs, table.offsets) {
            guard let tensor = available[spec.checkpointKey] else {
                if optional(spec) { continue }
                throw ModelError.badCheckpoint(path: file.source, message: "missing tensor \"\(spec.checkpointKey)\"")
            }
            guard tensor.shape == spec.shape else {
                throw ModelError.badCheckpoint(
                    path: file.source,
                    message: "tensor \"\(spec.checkpointKey)\" has shape \(tensor.shape), this model needs \(spec.shape)")
            }
            try file.copyFloats(tensor.name, into: parameters + offset, count: spec.count)
        }
    }

    /// Adds every tensor of `table` from `parameters` to `writer` under its checkpoint key.
    public static func addTensors(
        to writer: inout SafetensorsWriter, table: ParameterTable, parameters: UnsafePointer<Float>
    ) throws {
        for (spec, offset) in zip(table.specs, table.offsets) {
            try writer.add(spec.checkpointKey, shape: spec.shape,
                           floats: UnsafeBufferPointer(start: parameters + offset, count: spec.count))
        }
    }

    /// Hugging Face's `config.json` fields for this shape (GPT-2 defaults for the rest, dropout
    /// off), merged with `extra` fields (the ILQL config, token ids).
    public static func configJSON(_ config: GPT2Config, extra: [String: Any] = [:]) -> [String: Any] {
        var json: [String: Any] = [
            "model_type": "gpt2",
            "architectures": ["GPT2LMHeadModel"],
            "n_layer": config.layerCount, "n_head": config.headCount, "n_embd": config.width,
            "n_positions": config.maxPositions, "n_ctx": config.maxPositions, "vocab_size": config.vocabularySize,
            "layer_norm_epsilon": Double(config.layerNormEpsilon),
            "activation_function": "gelu_new",
            "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0,
            "initializer_range": 0.02,
            "tie_word_embeddings": true,
            // GPT-2 keeps its end-of-text token last; tokenizers pass their own ids in `extra`.
            "bos_token_id": config.vocabularySize - 1, "eos_token_id": config.vocabularySize - 1,
        ]
        for (key, value) in extra { json[key] = value }
        return json
    }

    /// Writes `model.safetensors` and `config.json` for a GPT-2 held in `parameters`, each file
    /// atomically. Creates `directory` if needed.
    public static func save(
        config: GPT2Config, table: ParameterTable, parameters: UnsafePointer<Float>, to directory: URL,
        extraConfig: [String: Any] = [:]
    ) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var writer = SafetensorsWriter(metadata: ["format": "pt"])
        try addTensors(to: &writer, table: table, parameters: parameters)
        try writer.write(to: directory.appendingPathComponent(weightsFileName))
        let json = try JSONSerialization.data(
            withJSONObject: configJSON(config, extra: extraConfig), options: [.prettyPrinted, .sortedKeys])
        try json.write(to: directory.appendingPathComponent(configFileName), options: .atomic)
    }

    /// Loads a GPT-2 checkpoint directory: its shape from `config.json`, its weights from
    /// `model.safetensors` (as saved by `GPT2LMHeadModel.save_pretrained` or by `save`).
    public static func load(from directory: URL) throws -> (config: GPT2Config, table: ParameterTable, parameters: FloatBuffer) {
        let config = try loadConfig(from: directory)
        let table = GPT2Layout.table(for: config)
        let parameters = FloatBuffer(count: table.totalCount)
        let file = try SafetensorsFile(contentsOf: directory.appendingPathComponent(weightsFileName))
        try loadTensors(from: file, table: table, into: parameters.pointer)
        return (config, table, parameters)
    }
}
