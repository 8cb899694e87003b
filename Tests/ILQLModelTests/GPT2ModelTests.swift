import Foundation
import XCTest
import ILQLKernels
@testable import ILQLModel
import TestSupport

/// The parameter table, initialisation, KV-cache decoding and checkpoint round trips.
final class GPT2ModelTests: XCTestCase {
    let config = GPT2Config(layerCount: 2, headCount: 4, width: 32, maxPositions: 16, vocabularySize: 37)

    func makeModel(seed: UInt64 = 7) -> (ParameterTable, FloatBuffer) {
        let table = GPT2Layout.table(for: config)
        let parameters = FloatBuffer(count: table.totalCount)
        var generator = SeededGenerator(seed: seed)
        table.initialize(parameters.pointer, generator: &generator)
        return (table, parameters)
    }

    func testTableMatchesHuggingFaceKeysShapesAndAlignment() throws {
        let table = GPT2Layout.table(for: config)
        XCTAssertEqual(table.parameterCount, config.parameterCount)
        // The key set is exactly the one `save_pretrained` writes (the fixture), shapes included.
        let file = try SafetensorsFile(contentsOf: Fixtures.url("gpt2-tiny/model.safetensors"))
        XCTAssertEqual(Set(table.specs.map(\.checkpointKey)), Set(file.names))
        for spec in table.specs {
            XCTAssertEqual(file.tensor(named: spec.checkpointKey)?.shape, spec.shape, spec.checkpointKey)
            XCTAssertEqual(spec.decays, spec.shape.count == 2, spec.checkpointKey)
        }
        XCTAssertEqual(table.specs.first { $0.checkpointKey == "transformer.h.0.attn.c_attn.weight" }?.shape, [32, 96])
        for offset in table.offsets { XCTAssertEqual(offset % ParameterTable.alignmentInFloats, 0) }
        for (index, offset) in table.offsets.enumerated().dropFirst() {
            XCTAssertGreaterThanOrEqual(offset, table.offsets[index - 1] + table.specs[index - 1].count, "tensors overlap")
        }
    }

    func testInitialisationFollowsGPT2AndIsSeeded() {
        let big = GPT2Config(layerCount: 4, headCount: 4, width: 64, maxPositions: 32, vocabularySize: 500)
        let table = GPT2Layout.table(for: big)
        let parameters = FloatBuffer(count: table.totalCount)
        var generator = SeededGenerator(seed: 1)
        table.initialize(parameters.pointer, generator: &generator)
        func standardDeviation(_ key: String) -> Double {
            let i = table.index(ofKey: key)!
            let values = UnsafeBufferPointer(start: parameters.pointer + table.offsets[i], count: table.specs[i].count)
            let mean = values.reduce(0.0) { $0 + Double($1) } / Double(values.count)
            return (values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(values.count)).squareRoot()
        }
        // 32,000 samples: the sample std is within 1.5% of the true one with overwhelming probability.
        XCTAssertEqual(standardDeviation("transformer.wte.weight"), 0.02, accuracy: 0.0003)
        XCTAssertEqual(standardDeviation("transformer.h.0.mlp.c_fc.weight"), 0.02, accuracy: 0.0004)
        // Residual projections: 0.02 / √(2·4) = 0.00707.
        XCTAssertEqual(standardDeviation("transformer.h.3.mlp.c_proj.weight"), 0.02 / 8.0.squareRoot(), accuracy: 0.00015)
        let gain = parameters.pointer + table.offset(ofKey: "transformer.h.1.ln_2.weight")
        XCTAssertTrue((0..<64).allSatisfy { gain[$0] == 1 })
        let bias = parameters.pointer + table.offset(ofKey: "transformer.h.1.attn.c_attn.bias")
        XCTAssertTrue((0..<192).allSatisfy { bias[$0] == 0 })

        let again = FloatBuffer(count: table.totalCount)
        var sameSeed = SeededGenerator(seed: 1)
        table.initialize(again.pointer, generator: &sameSeed)
        XCTAssertEqual(parameters.array, again.array)
        var otherSeed = SeededGenerator(seed: 2)
        table.initialize(again.pointer, generator: &otherSeed)
        XCTAssertNotEqual(parameters.array, again.array)
    }

    /// Decoding token by token with the cache gives the logits of the full forward at every
    /// position, for sequences of different lengths decoded together.
    func testKVCacheDecodingMatchesFullForward() {
        let (table, parameters) = makeModel()
        let weights = GPT2Tensors(base: parameters.pointer, table: table, config: config)
        let model = GPT2(config: config)
        let lengths = [16, 5, 1]
        var generator = SeededGenerator(seed: 99)
        let sequences = lengths.map { n in (0..<n).map { _ in Int32(generator.next() % UInt64(config.vocabularySize)) } }
        let decoder = GPT2Decoder(config: config, batch: lengths.count, maxLength: 16)
        var worst = 0.0
        var expected: [[Float]] = []  // full-forward logits per sequence, (T, V)
        for sequence in sequences {
            let activations = GPT2Activations(config: config, maxBatch: 1, maxLength: sequence.count)
            model.forward(parameters: weights, activations: activations, tokens: sequence, batch: 1, length: sequence.count)
            expected.append(Array(UnsafeBufferPointer(start: activations.logits, count: sequence.count * config.vocabularySize)))
        }
        for position in 0..<lengths.max()! {
            let active = lengths.map { position < $0 }
            let tokens = sequences.map { position < $0.count ? $0[position] : 0 }
            decoder.step(parameters: weights, tokens: tokens, active: active)
            for (b, sequence) in sequences.enumerated() where position < sequence.count {
                let v = config.vocabularySize
                let reference = expected[b][(position * v)..<((position + 1) * v)]
                let scale = reference.map { abs(Double($0)) }.max()!
                for (j, e) in reference.enumerated() {
                    worst = max(worst, abs(Double(decoder.logits[b * v + j]) - Double(e)) / scale)
                }
            }
        }
        XCTAssertEqual(decoder.positions, lengths)
        print("KV-cache vs full forward: scaled max logit error \(worst)")
        // Same math in another summation order (dot loops instead of sgemm): float32 rounding only.
        XCTAssertLessThan(worst, 2e-6)
    }

    /// Sequences packed end to end (no padding computed) give the hidden states of a right-padded
    /// batch at its real positions, and the same parameter gradients: under the causal mask
    /// padding never reaches a real position, and padded rows carry no gradient.
    func testPackedSequencesMatchPaddedBatch() {
        let (table, parameters) = makeModel()
        let weights = GPT2Tensors(base: parameters.pointer, table: table, config: config)
        let model = GPT2(config: config)
        let lengths = [5, 16, 1, 9], t = 16, b = lengths.count, c = config.width
        var generator = SeededGenerator(seed: 5)
        let sequences = lengths.map { n in (0..<n).map { _ in Int32(generator.next() % UInt64(config.vocabularySize)) } }
        let layout = SequenceLayout(lengths: lengths)
        var padded = [Int32](repeating: 3, count: b * t)  // padding ids are arbitrary: never seen
        for (i, sequence) in sequences.enumerated() { for (j, id) in sequence.enumerated() { padded[i * t + j] = id } }
        // The gradient reaching the hidden states: random at real positions, zero at padding.
        var random = SeededRandom(seed: 6)
        let dHiddenPacked = random.floats(layout.rowCount * c)
        var dHiddenPadded = [Float](repeating: 0, count: b * t * c)
        for i in 0..<b {
            for j in 0..<lengths[i] {
                for k in 0..<c { dHiddenPadded[(i * t + j) * c + k] = dHiddenPacked[(layout.rowStart(i) + j) * c + k] }
            }
        }

        func run(_ body: (GPT2Activations, GPT2Tensors) -> Void) -> (hidden: [Float], gradients: [Float]) {
            let activations = GPT2Activations(config: config, maxBatch: b, maxLength: t)
            let gradients = FloatBuffer(count: table.totalCount)
            body(activations, GPT2Tensors(base: gradients.pointer, table: table, config: config))
            return (Array(UnsafeBufferPointer(start: activations.hidden, count: b * t * c)), gradients.array)
        }
        let packed = run { activations, gradients in
            model.forward(parameters: weights, activations: activations, tokens: sequences.flatMap { $0 },
                          sequences: layout, computeLogits: false)
            model.backward(parameters: weights, gradients: gradients, activations: activations,
                           tokens: sequences.flatMap { $0 }, sequences: layout, dLogits: nil, dHidden: dHiddenPacked)
        }
        let reference = run { activations, gradients in
            model.forward(parameters: weights, activations: activations, tokens: padded, batch: b, length: t,
                          computeLogits: false)
            model.backward(parameters: weights, gradients: gradients, activations: activations, tokens: padded,
                           batch: b, length: t, dLogits: nil, dHidden: dHiddenPadded)
        }
        var realRows: [Float] = []
        for i in 0..<b { realRows += reference.hidden[(i * t * c)..<((i * t + lengths[i]) * c)] }
        // Both compute the same sums; OpenBLAS may order a product's K ≤ 4C = 128 terms differently
        // for another number of rows M (its small-matrix kernels), which moves a float sum by at
        // most γ_128 ≈ 7.6e-6 of its terms' magnitude, and the gradients' row sums run over up to
        // B·T = 64 rows in another grouping: 1e-5 of each tensor's scale covers both.
        assertRelativeClose(Array(packed.hidden.prefix(layout.rowCount * c)), realRows.map(Double.init),
                            tolerance: 1e-5, "packed vs padded hidden states", floorFraction: 1)
        for spec in table.specs {
            let offset = table.offset(ofKey: spec.checkpointKey)
            let range = offset..<(offset + spec.count)
            assertRelativeClose(Array(packed.gradients[range]), reference.gradients[range].map(Double.init),
                                tolerance: 1e-5, "packed vs padded gradient of \(spec.checkpointKey)", floorFraction: 1)
        }
    }

    func testSaveAndLoadRoundTripIsExact() throws {
        let (table, parameters) = makeModel()
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try GPT2Checkpoint.save(config: config, table: table, parameters: parameters.pointer, to: directory)
        let (loadedConfig, loadedTable, loaded) = try GPT2Checkpoint.load(from: directory)
        XCTAssertEqual(loadedConfig, config)
        XCTAssertEqual(loadedTable.totalCount, table.totalCount)
        XCTAssertEqual(loaded.array.map(\.bitPattern), parameters.array.map(\.bitPattern))
        // Writing what was read gives the same bytes.
        let first = try Data(contentsOf: directory.appendingPathComponent("model.safetensors"))
        let second = directory.appendingPathComponent("again")
        try GPT2Checkpoint.save(config: loadedConfig, table: loadedTable, parameters: loaded.pointer, to: second)
        XCTAssertEqual(first, try Data(contentsOf: second.appendingPathComponent("model.safetensors")))
    }

    func testLoadingAcceptsKeysWithoutTransformerPrefixAndIgnoresMaskBuffers() throws {
        let (table, parameters) = makeModel()
        var writer = SafetensorsWriter()
        for (spec, offset) in zip(table.specs, table.offsets) {
            let key = String(spec.checkpointKey.dropFirst("transformer.".count))
            try writer.add(key, shape: spec.shape, floats: UnsafeBufferPointer(start: parameters.pointer + offset, count: spec.count))
        }
        try writer.add("h.0.attn.bias", shape: [1, 1, 16, 16], floats: [Float](repeating: 1, count: 256))
        let file = try SafetensorsFile(bytes: writer.serialized(), source: "prefixless.safetensors")
        let loaded = FloatBuffer(count: table.totalCount)
        try GPT2Checkpoint.loadTensors(from: file, table: table, into: loaded.pointer)
        XCTAssertEqual(loaded.array, parameters.array)
    }

    func testLoadErrorsNameTheTensor() throws {
        let (table, parameters) = makeModel()
        func attempt(_ edit: (inout SafetensorsWriter) throws -> Void, skip: String? = nil) throws -> String {
            var writer = SafetensorsWriter()
            for (spec, offset) in zip(table.specs, table.offsets) where spec.checkpointKey != skip {
                try writer.add(spec.checkpointKey, shape: spec.shape,
                               floats: UnsafeBufferPointer(start: parameters.pointer + offset, count: spec.count))
            }
            try edit(&writer)
            let file = try SafetensorsFile(bytes: writer.serialized(), source: "broken.safetensors")
            let target = FloatBuffer(count: table.totalCount)
            do {
                try GPT2Checkpoint.loadTensors(from: file, table: table, into: target.pointer)
            } catch {
                return "\(error)"
            }
            XCTFail("loading should have failed")
            return ""
        }
        let missing = try attempt({ _ in }, skip: "transformer.h.1.mlp.c_fc.bias")
        XCTAssertTrue(missing.contains("broken.safetensors") && missing.contains("missing tensor \"transformer.h.1.mlp.c_fc.bias\""), missing)
        let shape = try attempt({ try $0.add("transformer.h.1.mlp.c_fc.bias", shape: [64], floats: [Float](repeating: 0, count: 64)) },
                                skip: "transformer.h.1.mlp.c_fc.bias")
        XCTAssertTrue(shape.contains("\"transformer.h.1.mlp.c_fc.bias\" has shape [64], this model needs [128]"), shape)
        let unknown = try attempt({ try $0.add("transformer.h.7.ln_1.weight", shape: [32], floats: [Float](repeating: 0, count: 32)) })
        XCTAssertTrue(unknown.contains("unexpected tensor \"transformer.h.7.ln_1.weight\""), unknown)
    }

    func testConfigValidationNamesTheField() {
        var bad = config
        bad.width = 30
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("n_embd 30 is not divisible by n_head = 4"), "\($0)") }
        bad = config
        bad.layerCount = 0
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("n_layer"), "\($0)") }
    }

    func testConfigJSONFromCheckpointDirectory() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("config.json")
        try Data(#"{"n_layer": 2, "n_head": 4, "n_embd": 32, "n_positions": 16, "vocab_size": 37, "activation_function": "relu"}"#.utf8).write(to: url)
        XCTAssertThrowsError(try GPT2Checkpoint.loadConfig(from: directory)) {
            XCTAssertTrue("\($0)".contains("activation_function \"relu\" is not supported"), "\($0)")
        }
        try Data(#"{"n_layer": 2, "n_head": 4, "n_embd": 32, "vocab_size": 37}"#.utf8).write(to: url)
        XCTAssertThrowsError(try GPT2Checkpoint.loadConfig(from: directory)) {
            XCTAssertTrue("\($0)".contains("missing or non-integer \"n_positions\""), "\($0)")
        }
        try Data("not json".utf8).write(to: url)
        XCTAssertThrowsError(try GPT2Checkpoint.loadConfig(from: directory)) {
            XCTAssertTrue("\($0)".contains("config.json: is not valid JSON"), "\($0)")
        }
    }
}
