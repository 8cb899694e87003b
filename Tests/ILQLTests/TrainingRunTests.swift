import Foundation
import XCTest
@testable import ILQL
import TestSupport

/// `TrainingRun` from a config: starting from a Hugging Face GPT-2 directory.
final class TrainingRunTests: XCTestCase {
    func testModelPathStartsTheTrunkFromAHuggingFaceDirectory() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try RandomWalks.writeDataset(seed: 1000, to: directory.appendingPathComponent("data"))
        let shape = GPT2Config(layerCount: 2, headCount: 4, width: 32, maxPositions: 16, vocabularySize: 23)
        let base = directory.appendingPathComponent("base")
        try ModelCheckpointTools.createInitialCheckpoint(config: shape, seed: 99, directory: base)
        let yaml = """
            train: {seq_length: 11, batch_size: 50, epochs: 1, total_steps: 2, seed: 3}
            model: {model_path: \(base.path)}
            tokenizer: {alphabet: abcdefghijklmnopqrstu}
            data: {train: \(directory.appendingPathComponent("data/train.jsonl").path)}
            """
        let (config, _) = try RunConfig.parse(try ConfigTree.parse(yaml: yaml, source: "base.yml"), source: "base.yml")
        let run = try TrainingRun(config: config, runDirectory: directory.appendingPathComponent("run"))
        // The shape comes from the model directory (the config's defaults are 6 × 144).
        XCTAssertEqual(run.trainer.config.model, shape)
        let (_, table, parameters) = try GPT2Checkpoint.load(from: base)
        for (spec, offset) in zip(table.specs, table.offsets) {
            let loaded = run.trainer.network.table.offset(ofKey: spec.checkpointKey)
            XCTAssertTrue((0..<spec.count).allSatisfy { run.trainer.parameters.pointer[loaded + $0] == parameters.pointer[offset + $0] },
                          spec.checkpointKey)
        }
        // The heads are initialised (not zero) and the run trains.
        let value = run.trainer.network.table.offset(ofKey: ILQLHeadsLayout.valuePrefix + "0.weight")
        XCTAssertTrue((0..<64).contains { run.trainer.parameters.pointer[value + $0] != 0 })
        try run.run()
        XCTAssertEqual(run.trainer.step, 2)
    }
}
