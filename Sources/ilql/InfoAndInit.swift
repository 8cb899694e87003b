import ArgumentParser
import Foundation
import ILQL

/// `ilql info`: what the trainer will run on.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the cores hwloc sees and the OpenBLAS kernel in use.")

    func run() throws {
        let topology = try Topology.shared
        print("cores: \(topology.coreCount) (processing units: \(topology.processingUnitCount))")
        for core in topology.cores { print("  core \(core.index): PUs \(core.osIndices)") }
        print("default workers: \(Topology.defaultWorkerCount())")
        print("OpenBLAS core: \(BLAS.coreName)")
        if let warning = BLAS.slowKernelWarning { print("warning: \(warning)") }
        print(ProcessLaunch.backendDescription)
        if let reason = topology.bindingUnavailableReason { print("thread binding: unavailable (\(reason))") }
    }
}

/// `ilql init`: a freshly initialised GPT-2 checkpoint in Hugging Face format.
struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a freshly initialised GPT-2 checkpoint (model.safetensors + config.json).",
        discussion: """
            The directory loads with transformers' GPT2LMHeadModel.from_pretrained. With --probe, \
            probe.safetensors records seeded tokens and the logits computed here; \
            tools/reference/check_checkpoint.py DIR compares them with transformers.
            """)

    @Option(help: "Directory to write (created if needed).")
    var out: String
    @Option(name: .customLong("n-layer"), help: "Number of transformer blocks.")
    var layerCount = 2
    @Option(name: .customLong("n-head"), help: "Number of attention heads (must divide --n-embd).")
    var headCount = 4
    @Option(name: .customLong("n-embd"), help: "Width of the residual stream.")
    var width = 32
    @Option(name: .customLong("n-positions"), help: "Longest sequence the model accepts.")
    var maxPositions = 64
    @Option(name: .customLong("vocab-size"), help: "Number of token ids.")
    var vocabularySize = 50
    @Option(help: "Seed of the initialisation.")
    var seed: UInt64 = 1
    @Option(help: "Also write probe.safetensors with logits for a seeded batch, given as BATCHxLENGTH (e.g. 2x8).")
    var probe: String?

    func run() throws {
        let config = GPT2Config(layerCount: layerCount, headCount: headCount, width: width,
                                maxPositions: maxPositions, vocabularySize: vocabularySize)
        let probeShape = try probe.map { try parseShape($0, option: "--probe") }
        // Library errors describe themselves (key, file, what to change); ArgumentParser prints
        // them as "Error: …" and exits non-zero.
        let table = try ModelCheckpointTools.createInitialCheckpoint(
            config: config, seed: seed, directory: URL(fileURLWithPath: out), probe: probeShape)
        print("wrote \(out): \(table.parameterCount) parameters\(probeShape == nil ? "" : " and \(ModelCheckpointTools.probeFileName)")")
    }
}


/// `ilql probe`: logits of a checkpoint on seeded tokens, for checking it in another framework.
struct Probe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the logits a checkpoint computes for seeded random tokens (probe.safetensors).",
        discussion: "tools/reference/check_checkpoint.py DIR loads DIR in transformers and compares its logits with these.")

    @Option(help: "A checkpoint directory.")
    var checkpoint: String
    @Option(help: "Tokens to probe, as BATCHxLENGTH.")
    var shape = "2x8"
    @Option(help: "Output file (default: CHECKPOINT/probe.safetensors).")
    var out: String?
    @Option(help: "Seed of the random tokens.")
    var seed: UInt64 = 1

    func run() throws {
        let (batch, length) = try parseShape(shape, option: "--shape")
        let model = try TrainedModel(checkpoint: URL(fileURLWithPath: checkpoint))
        let url = URL(fileURLWithPath: out ?? checkpoint + "/" + ModelCheckpointTools.probeFileName)
        var generator = SeededGenerator(seed: seed)
        try ModelCheckpointTools.writeProbe(config: model.network.gpt2, table: model.network.table, parameters: model.parameters,
                                            batch: batch, length: length, generator: &generator, to: url)
        print("wrote \(url.path)")
    }
}
