import Foundation

/// Whole-model operations behind the `ilql init` command: creating a freshly initialised GPT-2
/// checkpoint and recording the logits it computes, so another implementation
/// (`tools/reference/check_checkpoint.py` with `transformers`) can confirm it reads the same model.
public enum ModelCheckpointTools {
    /// The name of the probe file written beside a checkpoint's weights.
    public static let probeFileName = "probe.safetensors"

    /// Writes a GPT-2 of shape `config`, initialised as GPT-2 from `seed`, to `directory` in
    /// Hugging Face format (`model.safetensors`, `config.json`).
    ///
    /// With `probe` set to (batch, length), also writes `probe.safetensors` holding seeded random
    /// `tokens` (I32 [batch, length]) and the `logits` (F32 [batch, length, vocab]) this
    /// implementation computes for them.
    @discardableResult
    public static func createInitialCheckpoint(
        config: GPT2Config, seed: UInt64, directory: URL, probe: (batch: Int, length: Int)? = nil
    ) throws -> ParameterTable {
        try config.validate()
        let table = GPT2Layout.table(for: config)
        let parameters = FloatBuffer(count: table.totalCount)
        var generator = SeededGenerator(seed: seed)
        table.initialize(parameters.pointer, generator: &generator)
        try GPT2Checkpoint.save(config: config, table: table, parameters: parameters.pointer, to: directory)
        if let probe {
            try writeProbe(config: config, table: table, parameters: parameters, batch: probe.batch,
                           length: probe.length, generator: &generator,
                           to: directory.appendingPathComponent(probeFileName))
        }
        return table
    }

    /// Runs the model on seeded random tokens and writes tokens and logits to `url`.
    public static func writeProbe(
        config: GPT2Config, table: ParameterTable, parameters: FloatBuffer, batch: Int, length: Int,
        generator: inout SeededGenerator, to url: URL
    ) throws {
        guard batch >= 1, length >= 1, length <= config.maxPositions else {
            throw ModelError.invalidConfig(key: "probe", message: "needs batch ≥ 1 and 1 ≤ length ≤ n_positions (\(config.maxPositions)); got \(batch)×\(length)")
        }
        let tokens = (0..<(batch * length)).map { _ in Int32(generator.next() % UInt64(config.vocabularySize)) }
        let activations = GPT2Activations(config: config, maxBatch: batch, maxLength: length)
        GPT2(config: config).forward(
            parameters: GPT2Tensors(base: parameters.pointer, table: table, config: config),
            activations: activations, tokens: tokens, batch: batch, length: length)
        var writer = SafetensorsWriter(metadata: ["format": "pt"])
        try writer.add("tokens", shape: [batch, length], int32s: tokens)
        try writer.add("logits", shape: [batch, length, config.vocabularySize],
                       floats: UnsafeBufferPointer(start: activations.logits, count: batch * length * config.vocabularySize))
        try writer.write(to: url)
    }
}
