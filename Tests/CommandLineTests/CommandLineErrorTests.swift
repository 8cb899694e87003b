import Foundation
import XCTest
import ILQL

/// Every mistake a user can make gets one clear message and a non-zero exit.
final class CommandLineErrorTests: CommandLineTestCase {
    func testMissingConfigFile() throws {
        assertFails(try ilql("train", "nowhere.yml"), "nowhere.yml: cannot read the config file")
    }

    func testInvalidYAML() throws {
        try write("train: [unclosed\n", to: "bad.yml")
        assertFails(try ilql("train", "bad.yml"), "bad.yml: is not valid YAML")
    }

    func testUnknownKeyIsNamedWithItsLine() throws {
        try write(Self.tinyConfig + "method2: {}\n", to: "extra.yml")
        assertFails(try ilql("train", "extra.yml"), "extra.yml:9: method2: unknown key")
        assertFails(try ilql("train", "tiny.yml", "--set", "method.taux=0.5"), "method.taux: unknown key")
    }

    func testValuesOutOfRange() throws {
        assertFails(try ilql("train", "tiny.yml", "--set", "method.tau=1.5"), "method.tau: must lie in (0, 1) (got 1.5)")
        assertFails(try ilql("train", "tiny.yml", "--set", "method.gamma=-1"), "method.gamma: must lie in [0, 1]")
        assertFails(try ilql("train", "tiny.yml", "--set", "method.alpha=0"), "method.alpha: must lie in (0, 1]")
        assertFails(try ilql("train", "tiny.yml", "--set", "train.seq_length=40"), "train.seq_length: 40 exceeds model.n_positions = 16")
        assertFails(try ilql("train", "tiny.yml", "--set", "train.batch_size=0"), "train.batch_size: must be at least 1")
        assertFails(try ilql("train", "tiny.yml", "--workers", "0"), "--workers must be at least 1")
        assertFails(try ilql("train", "tiny.yml", "--set", "parallel.workers=zero"), "parallel.workers: must be an integer")
        assertFails(try ilql("train", "tiny.yml", "--set", "model.n_head=5"), "model.n_embd: 32 is not divisible by n_head = 5")
        assertFails(try ilql("train", "tiny.yml", "--set", "method"), "expects key.path=value")
    }

    func testMalformedDataLineNamesFileAndLine() throws {
        try replaceDataLine(7, with: #"{"sample": ["b", "cd"], "reward": "high"}"#)
        assertFails(try ilql("train", "tiny.yml"), "data/train.jsonl:7")
        assertFails(try ilql("train", "tiny.yml"), "reward")
    }

    func testMissingDataFile() throws {
        assertFails(try ilql("train", "tiny.yml", "--set", "data.train=missing.jsonl"), "missing.jsonl")
    }

    func testCharacterOutsideTheAlphabetInAPrompt() throws {
        assertFails(try ilql("train", "tiny.yml", "--set", "data.eval_prompts=[b, z]"), "\"z\"")
    }

    func testResumeProblems() throws {
        assertFails(try ilql("train", "--resume", "nothing-here"), "holds no complete checkpoint")
        assertFails(try ilql("train"), "give a CONFIG file, or --resume DIR")
        let first = try ilql("train", "tiny.yml", "--run-dir", "run", "--set", "train.total_steps=5")
        XCTAssertEqual(first.status, 0, first.errors)
        assertFails(try ilql("train", "tiny.yml", "--run-dir", "run"), "already holds a run")
        // A checkpoint of another shape cannot be resumed with this config.
        assertFails(try ilql("train", "tiny.yml", "--set", "model.n_embd=48", "--resume", "run"),
                    "\"transformer.wte.weight\" has shape [23, 32], this model needs [23, 48]")
    }

    func testCheckpointAndCommandProblems() throws {
        assertFails(try ilql("generate", "--checkpoint", "nowhere", "--prompt", "b"), "nowhere/config.json: cannot read the file")
        assertFails(try ilql("generate", "--checkpoint", "nowhere", "--prompt", "b", "--top-k", "0"), "--top-k must be at least 1")
        assertFails(try ilql("bench", "--config", "huge"), "unknown --config huge")
        assertFails(try ilql("bench", "--rounds", "0"), "--workers, --steps and --rounds must be positive")
        assertFails(try ilql("eval", "--checkpoint", "nowhere"), "cannot read the file")
    }

    func testHelpDescribesEveryOption() throws {
        let train = try ilql("train", "--help")
        for option in ["--workers", "--set", "--run-dir", "--resume", "CONFIG"] {
            XCTAssertTrue(train.output.uppercased().contains(option.uppercased()), "train --help lacks \(option)")
        }
        let generate = try ilql("generate", "--help")
        for option in ["--checkpoint", "--prompt", "--beta", "--top-k", "--temperature", "--max-new-tokens", "--seed"] {
            XCTAssertTrue(generate.output.contains(option), "generate --help lacks \(option)")
        }
        let root = try ilql("--help")
        for command in ["train", "eval", "generate", "randomwalks", "bench"] {
            XCTAssertTrue(root.output.contains(command), "--help lacks \(command)")
        }
    }
}
