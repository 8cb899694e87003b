import Foundation
import ILQLKernels
import ILQLModel

/// The resumable part of a trainer that is not a tensor: written as `trainer_state.json`.
public struct TrainerState: Codable, Equatable, Sendable {
    /// Format version of this file.
    public var version = 1
    /// Optimizer steps done.
    public var step: Int
    /// The data order, with its generator's state.
    public var dataOrder: DataOrder
}

/// Checkpoint directories (DESIGN.md §5): `model.safetensors` (Hugging Face GPT-2 keys for the
/// trunk, trlx's `ilql_heads.*` keys for the heads), `config.json`, the tokenizer files,
/// `optimizer.safetensors` (AdamW's moments), `trainer_state.json` and the resolved `config.yml`.
/// Written to a temporary directory and renamed into place.
public enum RunCheckpoint {
    /// File names inside a checkpoint directory.
    public static let optimizerFileName = "optimizer.safetensors"
    public static let stateFileName = "trainer_state.json"
    public static let configFileName = "config.yml"

    /// The directory name of the checkpoint after `step` steps.
    public static func name(step: Int) -> String { String(format: "step_%06d", step) }

    /// Writes the trainer's current state to `directory` (replacing it atomically).
    public static func write(trainer: ILQLTrainer, config: RunConfig, tokenizer: any Tokenizer, to directory: URL) throws {
        try DurableFiles.writeDirectory(at: directory) { temporary in
            let table = trainer.network.table
            var model = SafetensorsWriter(metadata: ["format": "pt"])
            try GPT2Checkpoint.addTensors(to: &model, table: table, parameters: trainer.parameters.pointer)
            try model.write(to: temporary.appendingPathComponent(GPT2Checkpoint.weightsFileName))

            var optimizer = SafetensorsWriter(metadata: ["format": "pt", "step": String(trainer.step)])
            for (spec, offset) in zip(table.specs, table.offsets) where spec.trainable {
                for (prefix, buffer) in [("exp_avg.", trainer.firstMoment), ("exp_avg_sq.", trainer.secondMoment)] {
                    try optimizer.add(prefix + spec.checkpointKey, shape: spec.shape,
                                      floats: UnsafeBufferPointer(start: buffer.pointer + offset, count: spec.count))
                }
            }
            try optimizer.write(to: temporary.appendingPathComponent(optimizerFileName))

            let method = config.trainer.method
            let extra: [String: Any] = [
                "eos_token_id": Int(tokenizer.eosTokenID), "bos_token_id": Int(tokenizer.bosTokenID ?? tokenizer.eosTokenID),
                "pad_token_id": Int(tokenizer.padTokenID),
                "ilql": ["tau": Double(method.tau), "gamma": Double(method.gamma), "cql_scale": Double(method.cqlScale),
                         "awac_scale": Double(method.awacScale), "alpha": Double(method.alpha), "beta": Double(method.beta),
                         "steps_for_target_q_sync": method.stepsForTargetQSync, "two_qs": method.twoQs] as [String: Any],
            ]
            let json = try JSONSerialization.data(withJSONObject: GPT2Checkpoint.configJSON(config.trainer.model, extra: extra),
                                                  options: [.prettyPrinted, .sortedKeys])
            try DurableFiles.write(json, to: temporary.appendingPathComponent(GPT2Checkpoint.configFileName))
            try tokenizer.save(to: temporary)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try DurableFiles.write(try encoder.encode(TrainerState(step: trainer.step, dataOrder: trainer.dataOrder)),
                                   to: temporary.appendingPathComponent(stateFileName))
            try DurableFiles.write(Data(try config.yaml().utf8), to: temporary.appendingPathComponent(configFileName))
        }
    }

    /// Loads `model.safetensors` of a checkpoint into a parameter buffer laid out by `network`.
    /// Target heads may be absent (a plain GPT-2 checkpoint): then the heads keep their values.
    public static func loadParameters(from directory: URL, network: ILQLNetwork, into parameters: FloatBuffer,
                                      headsOptional: Bool = false) throws {
        let file = try SafetensorsFile(contentsOf: directory.appendingPathComponent(GPT2Checkpoint.weightsFileName))
        try GPT2Checkpoint.loadTensors(from: file, table: network.table, into: parameters.pointer) { spec in
            headsOptional && spec.checkpointKey.hasPrefix("ilql_heads.")
        }
    }

    /// Restores parameters, AdamW's moments, the step and the data order from `directory` into
    /// a trainer built with the same config.
    public static func restore(_ trainer: ILQLTrainer, from directory: URL) throws {
        try loadParameters(from: directory, network: trainer.network, into: trainer.parameters)
        let optimizerURL = directory.appendingPathComponent(optimizerFileName)
        let optimizer = try SafetensorsFile(contentsOf: optimizerURL)
        let table = trainer.network.table
        for (spec, offset) in zip(table.specs, table.offsets) where spec.trainable {
            for (prefix, buffer) in [("exp_avg.", trainer.firstMoment), ("exp_avg_sq.", trainer.secondMoment)] {
                guard optimizer.tensor(named: prefix + spec.checkpointKey)?.shape == spec.shape else {
                    throw ModelError.badCheckpoint(path: optimizerURL.path,
                                                   message: "missing or misshapen tensor \"\(prefix + spec.checkpointKey)\"")
                }
                try optimizer.copyFloats(prefix + spec.checkpointKey, into: buffer.pointer + offset, count: spec.count)
            }
        }
        let stateURL = directory.appendingPathComponent(stateFileName)
        guard let data = FileManager.default.contents(atPath: stateURL.path) else {
            throw ModelError.badCheckpoint(path: stateURL.path, message: "cannot read the trainer state")
        }
        let state: TrainerState
        do { state = try JSONDecoder().decode(TrainerState.self, from: data) } catch {
            throw ModelError.badCheckpoint(path: stateURL.path, message: "is not a valid trainer state (\(error))")
        }
        guard state.dataOrder.sampleCount == trainer.dataset.count else {
            throw ModelError.badCheckpoint(path: stateURL.path, message:
                "was written for \(state.dataOrder.sampleCount) samples, the data has \(trainer.dataset.count)")
        }
        trainer.step = state.step
        trainer.dataOrder = state.dataOrder
    }

    /// The most recently written complete checkpoint of any run directory directly under `root`.
    public static func newestAcrossRuns(in root: URL) -> URL? {
        let manager = FileManager.default
        let runs = ((try? manager.contentsOfDirectory(atPath: root.path)) ?? []).map { root.appendingPathComponent($0) }
        return runs.compactMap { newest(in: $0) }.max { a, b in
            func written(_ checkpoint: URL) -> Date {
                let attributes = try? manager.attributesOfItem(atPath: checkpoint.appendingPathComponent(stateFileName).path)
                return attributes?[.modificationDate] as? Date ?? .distantPast
            }
            return written(a) < written(b)
        }
    }

    /// The folder of a run directory that holds its checkpoints.
    public static func checkpointsDirectory(of runDirectory: URL) -> URL {
        runDirectory.appendingPathComponent("checkpoints")
    }

    /// Names of the checkpoint directories in `checkpoints`, oldest first (`step_NNNNNN` sorts by
    /// step); temporary `.step_….partial-*` and `.old-*` directories are not among them.
    public static func checkpointNames(in checkpoints: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: checkpoints.path)) ?? [])
            .filter { $0.hasPrefix("step_") && !$0.contains(".") }
            .sorted()
    }

    /// The complete checkpoint with the most steps inside `runDirectory/checkpoints` (or
    /// `runDirectory` itself if it is a checkpoint), ignoring partial directories.
    public static func newest(in runDirectory: URL) -> URL? {
        let manager = FileManager.default
        if manager.fileExists(atPath: runDirectory.appendingPathComponent(stateFileName).path) { return runDirectory }
        let checkpoints = checkpointsDirectory(of: runDirectory)
        return checkpointNames(in: checkpoints)
            .last { manager.fileExists(atPath: checkpoints.appendingPathComponent($0).appendingPathComponent(stateFileName).path) }
            .map { checkpoints.appendingPathComponent($0) }
    }
}
