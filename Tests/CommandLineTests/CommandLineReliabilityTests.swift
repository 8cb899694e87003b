import Foundation
import XCTest
import ILQL

/// Runs that meet numerical faults, signals, broken checkpoints and bad data lose nothing and
/// say what happened.
final class CommandLineReliabilityTests: CommandLineTestCase {
    func testNonFiniteLossStopsWithTheLastGoodStateSaved() throws {
        // A learning rate of 1e6 blows the parameters up after the first update.
        let result = try ilql("train", "tiny.yml", "--run-dir", "blown", "--set", "optimizer.kwargs.lr=1.0e+6")
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.errors.contains("step 2 produced a non-finite losses/loss_q"), result.errors)
        XCTAssertTrue(result.errors.contains("the last good state (step 1) is saved"), result.errors)
        let checkpoint = directory.appendingPathComponent("blown/checkpoints/step_000001")
        let state = try JSONDecoder().decode(TrainerState.self, from: Data(contentsOf: checkpoint.appendingPathComponent("trainer_state.json")))
        XCTAssertEqual(state.step, 1)
        XCTAssertNoThrow(try TrainedModel(checkpoint: checkpoint))
    }

    func testNonFiniteBatchesCanBeSkipped() throws {
        let result = try ilql("train", "tiny.yml", "--run-dir", "skipping", "--set", "optimizer.kwargs.lr=1.0e+6",
                              "--set", "train.on_nonfinite=skip")
        XCTAssertEqual(result.status, 0, result.errors)
        let last = try String(contentsOf: directory.appendingPathComponent("skipping/metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .last { $0["losses/loss"] != nil }!
        XCTAssertEqual(last["step"] as? Int, 20)
        XCTAssertEqual(last["skipped_steps"] as? Int, 19)
        XCTAssertEqual(last["skipped"] as? [String], ["losses/loss_q", "losses/loss_v", "gradient"])
    }

    func testOnlyTheNewestCheckpointsAreKept() throws {
        XCTAssertEqual(try ilql("train", "tiny.yml", "--run-dir", "pruned", "--set", "train.keep_checkpoints=2").status, 0)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("pruned/checkpoints").path)
        XCTAssertEqual(names.sorted(), ["step_000015", "step_000020"])
        assertFails(try ilql("train", "tiny.yml", "--set", "train.keep_checkpoints=0"), "train.keep_checkpoints: must be at least 1")
        assertFails(try ilql("train", "tiny.yml", "--set", "train.on_nonfinite=ignore"), "train.on_nonfinite: must be stop or skip")
    }

    /// SIGTERM finishes the step, writes a checkpoint and exits 130; `--resume` with no directory
    /// (the run directory given) continues to the uninterrupted result.
    func testSignalStopsAfterTheStepWithACheckpoint() throws {
        let longer = ["--set", "train.epochs=5", "--set", "train.total_steps=100", "--set", "train.checkpoint_interval=50"]
        XCTAssertEqual(try CommandLine.run(["train", "tiny.yml", "--run-dir", "whole"] + longer, in: directory).status, 0)
        let running = try CommandLine.start(["train", "tiny.yml", "--run-dir", "stopped"] + longer, in: directory)
        let log = directory.appendingPathComponent("stopped/metrics.jsonl")
        let deadline = Date().addingTimeInterval(60)
        // Wait for a few steps to be logged, then ask politely.
        while (((try? String(contentsOf: log, encoding: .utf8))?.split(separator: "\n").count) ?? 0) < 5, Date() < deadline {
            usleep(2_000)
        }
        kill(running.process.processIdentifier, SIGTERM)
        let errors = String(decoding: running.standardErrorPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        running.process.waitUntilExit()
        XCTAssertEqual(running.process.terminationStatus, 130, errors)
        XCTAssertTrue(errors.contains("interrupted after step"), errors)
        let resumed = try CommandLine.run(["train", "tiny.yml", "--resume", "--run-dir", "stopped"] + longer, in: directory)
        XCTAssertEqual(resumed.status, 0, resumed.errors)
        XCTAssertTrue(resumed.errors.contains("resuming after step"), resumed.errors)
        XCTAssertEqual(try checkpointBytes("stopped/checkpoints/step_000100"), try checkpointBytes("whole/checkpoints/step_000100"))
    }

    func testBrokenCheckpointFilesAreNamed() throws {
        XCTAssertEqual(try ilql("train", "tiny.yml", "--run-dir", "run", "--set", "train.total_steps=5").status, 0)
        let checkpoint = directory.appendingPathComponent("run/checkpoints/step_000005")
        let weights = checkpoint.appendingPathComponent("model.safetensors")
        let original = try Data(contentsOf: weights)
        func generate() throws -> CommandLine.Result {
            try ilql("generate", "--checkpoint", "run/checkpoints/step_000005", "--prompt", "b")
        }
        XCTAssertEqual(try generate().status, 0)

        try original.prefix(original.count - 100).write(to: weights)
        assertFails(try generate(), "model.safetensors")
        var corrupted = original
        corrupted[12] = UInt8(ascii: "#")
        try corrupted.write(to: weights)
        assertFails(try generate(), "model.safetensors")

        // A tensor missing, and a tensor of the wrong dtype.
        let file = try SafetensorsFile(bytes: [UInt8](original), source: "model.safetensors")
        var missing = SafetensorsWriter(), wrongType = SafetensorsWriter()
        for tensor in file.tensors {
            let bytes = try file.rawBytes(tensor.name)
            if tensor.name != "transformer.ln_f.bias" {
                try missing.add(tensor.name, dtype: tensor.dtype, shape: tensor.shape, rawBytes: bytes)
            }
            try wrongType.add(tensor.name, dtype: tensor.name == "transformer.ln_f.bias" ? .int32 : tensor.dtype,
                              shape: tensor.shape, rawBytes: bytes)
        }
        try missing.write(to: weights)
        assertFails(try generate(), "missing tensor \"transformer.ln_f.bias\"")
        try wrongType.write(to: weights)
        assertFails(try generate(), "transformer.ln_f.bias")
    }

    func testSampleWithNoActionLeftNamesTheLine() throws {
        try replaceDataLine(9, with: #"{"sample": ["bcdefghijklmn", "a"], "reward": 0.5}"#)  // the prompt alone fills seq_length
        assertFails(try ilql("train", "tiny.yml"), "data/train.jsonl:9: sample: has no output token left")
    }

    func testNonFiniteRewardNamesTheLine() throws {
        try replaceDataLine(2, with: #"{"sample": ["b", "cd"], "reward": NaN}"#)
        assertFails(try ilql("train", "tiny.yml"), "data/train.jsonl:2: reward")
    }

    func testCharacterOutsideTheAlphabetInDataNamesTheLine() throws {
        try replaceDataLine(4, with: #"{"sample": ["b", "cz"], "reward": 0.5}"#)
        let result = try ilql("train", "tiny.yml")
        assertFails(result, "data/train.jsonl:4")
        assertFails(result, "\"z\"")
    }
}
