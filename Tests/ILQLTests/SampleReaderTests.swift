// Tests for the JSONL sample reader: both sample forms, skipped blank lines, and that every kind of
// malformed line is an error naming the file, the 1-based line and the field.

import Foundation
import XCTest
@testable import ILQL
import TestSupport

final class SampleReaderTests: XCTestCase {
    /// Asserts that parsing `jsonl` fails with a `DataError` at `line` and `field` whose message
    /// contains every fragment.
    func assertDataError(_ jsonl: String, line: Int?, field: String?, _ fragments: [String],
                         file: StaticString = #filePath, lineNumber: UInt = #line) {
        do {
            let samples = try parseSamples(jsonl: jsonl, source: "data.jsonl")
            XCTFail("expected an error for \(jsonl.debugDescription), got \(samples)", file: file, line: lineNumber)
        } catch let error as DataError {
            XCTAssertEqual(error.file, "data.jsonl", file: file, line: lineNumber)
            XCTAssertEqual(error.line, line, "\(error)", file: file, line: lineNumber)
            XCTAssertEqual(error.field, field, "\(error)", file: file, line: lineNumber)
            for fragment in fragments where !error.message.contains(fragment) {
                XCTFail("error \"\(error)\" lacks \"\(fragment)\"", file: file, line: lineNumber)
            }
        } catch {
            XCTFail("unexpected error type: \(error)", file: file, line: lineNumber)
        }
    }

    func testPlainAndDialogueSamples() throws {
        let samples = try parseSamples(jsonl: """
            {"sample": "a good day", "reward": 0.7}
            {"reward": -1, "sample": ["Q: hi", " A: hello", "Q: again?", " A: bye"]}
            {"sample": ["b", "da"], "reward": 1e-3}
            {"sample": "", "reward": 0}
            """, source: "data.jsonl")
        XCTAssertEqual(samples, [
            OfflineSample(text: "a good day", reward: 0.7),
            OfflineSample(phrases: ["Q: hi", " A: hello", "Q: again?", " A: bye"], reward: -1),
            OfflineSample(phrases: ["b", "da"], reward: 0.001),
            OfflineSample(text: "", reward: 0),
        ])
        XCTAssertEqual(samples[0].phrases, ["", "a good day"])
        XCTAssertTrue(samples[0].promptIsBOS)
        XCTAssertFalse(samples[2].promptIsBOS)
        // A plain string and the dialogue ["", s] are different samples: only one has a BOS prompt.
        XCTAssertNotEqual(OfflineSample(text: "s", reward: 1), OfflineSample(phrases: ["", "s"], reward: 1))
    }

    func testWhitespaceOnlyLinesAreSkippedAndLineNumbersStayTrue() throws {
        let jsonl = "\u{FEFF}{\"sample\": \"x\", \"reward\": 1}\r\n\n   \t\r\n{\"sample\": \"y\", \"reward\": 2}\r\n\n"
        XCTAssertEqual(try parseSamples(jsonl: jsonl, source: "data.jsonl").map(\.reward), [1, 2])
        assertDataError("\n\n{\"sample\": \"x\", \"reward\": 1}\n\n{\"sample\": 3, \"reward\": 1}\n", line: 5,
                        field: "sample", ["is a number"])
    }

    func testEmptyInputHasNoSamples() {
        for jsonl in ["", "\n", "  \n\t\n"] {
            assertDataError(jsonl, line: nil, field: nil, ["holds no samples"])
        }
    }

    func testMalformedLinesNameLineAndField() {
        let good = "{\"sample\": \"ok\", \"reward\": 1}\n"
        let cases: [(line: String, field: String?, fragments: [String])] = [
            ("{\"sample\": \"x\", \"reward\": 1", nil, ["is not valid JSON"]),
            ("{\"sample\": \"x\" \"reward\": 1}", nil, ["is not valid JSON at column 16"]),
            ("sample,reward", nil, ["is not valid JSON"]),
            ("[\"x\", 1]", nil, ["is a list, not an object"]),
            ("0.5", nil, ["is a number, not an object"]),
            ("\"text\"", nil, ["is a string, not an object"]),
            ("{\"reward\": 1}", "sample", ["is missing"]),
            ("{\"sample\": null, \"reward\": 1}", "sample", ["is null", "string or a list of strings"]),
            ("{\"sample\": 12, \"reward\": 1}", "sample", ["is a number"]),
            ("{\"sample\": {\"text\": \"x\"}, \"reward\": 1}", "sample", ["is an object"]),
            ("{\"sample\": [], \"reward\": 1}", "sample", ["list of 0 phrases", "even number ≥ 2"]),
            ("{\"sample\": [\"only prompt\"], \"reward\": 1}", "sample", ["list of 1 phrases"]),
            ("{\"sample\": [\"p\", \"o\", \"p\"], \"reward\": 1}", "sample", ["list of 3 phrases"]),
            ("{\"sample\": [\"p\", \"o\", 7, \"o\"], \"reward\": 1}", "sample[2]", ["is a number", "must be a string"]),
            ("{\"sample\": [\"p\", null], \"reward\": 1}", "sample[1]", ["is null"]),
            ("{\"sample\": [\"p\", [\"o\"]], \"reward\": 1}", "sample[1]", ["is a list"]),
            ("{\"sample\": \"x\"}", "reward", ["is missing"]),
            ("{\"sample\": \"x\", \"reward\": true}", "reward", ["is true (a boolean)", "must be a JSON number"]),
            ("{\"sample\": \"x\", \"reward\": false}", "reward", ["is false (a boolean)"]),
            ("{\"sample\": \"x\", \"reward\": null}", "reward", ["is null"]),
            ("{\"sample\": \"x\", \"reward\": [1]}", "reward", ["is a list"]),
            ("{\"sample\": \"x\", \"reward\": \"0.7\"}", "reward", ["the string \"0.7\"", "without quotes"]),
            ("{\"sample\": \"x\", \"reward\": \"NaN\"}", "reward", ["the string \"NaN\"", "non-finite"]),
            ("{\"sample\": \"x\", \"reward\": \"-Infinity\"}", "reward", ["non-finite"]),
            ("{\"sample\": \"x\", \"reward\": \"good\"}", "reward", ["the string \"good\"", "must be a JSON number"]),
            ("{\"sample\": \"x\", \"reward\": NaN}", "reward", ["is NaN", "not a finite number"]),
            ("{\"sample\": \"x\", \"reward\": Infinity}", "reward", ["is Infinity", "not a finite number"]),
            ("{\"sample\": \"x\", \"reward\": -Infinity}", "reward", ["is -Infinity"]),
            ("{\"sample\": \"x\", \"reward\": 1e999}", "reward", ["is 1e999", "not a finite number"]),
            ("{\"reward\" : -2E+400, \"sample\": \"x\"}", "reward", ["is -2E+400"]),
            ("{\"sample\": \"x\", \"reward\": 1, \"score\": 2}", "score", ["is not a known key"]),
            ("{\"sample\": \"x\", \"reward\": 1, \"Reward\": 2, \"id\": 3}", "Reward", ["is not a known key"]),
        ]
        for item in cases {
            assertDataError(good + item.line + "\n" + good, line: 2, field: item.field, item.fragments)
        }
    }

    func testExtremeButFiniteRewardsAreKept() throws {
        let samples = try parseSamples(jsonl: """
            {"sample": "a", "reward": 1e-999}
            {"sample": "b", "reward": -1.7976931348623157e308}
            {"sample": "c", "reward": 3}
            {"sample": "d", "reward": 123456789012345678901234567890}
            """, source: "data.jsonl")
        XCTAssertEqual(samples.map(\.reward), [0, -1.7976931348623157e308, 3, 1.2345678901234568e29])
    }

    func testErrorDescriptionReadsFileLineFieldMessage() {
        XCTAssertEqual(DataError(file: "train.jsonl", line: 12, field: "reward", "is missing").description,
                       "train.jsonl:12: reward: is missing")
        XCTAssertEqual(DataError(file: "train.jsonl", line: nil, field: nil, "holds no samples").description,
                       "train.jsonl: holds no samples")
    }

    func testReadSamplesFromFile() throws {
        let directory = try makeTemporaryDirectory("ilql-samples")
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("train.jsonl")
        try Data("{\"sample\": [\"b\", \"da\"], \"reward\": 1}\n{\"sample\": \"café ☕\", \"reward\": 0.5}\n".utf8).write(to: url)
        XCTAssertEqual(try readSamples(from: url), [
            OfflineSample(phrases: ["b", "da"], reward: 1), OfflineSample(text: "café ☕", reward: 0.5),
        ])

        // A byte that is not UTF-8 is reported on its line, not replaced.
        var bytes = Data("{\"sample\": \"a\", \"reward\": 1}\n{\"sample\": \"".utf8)
        bytes.append(contentsOf: [0xC3, 0x28])
        bytes.append(Data("\", \"reward\": 1}\n".utf8))
        try bytes.write(to: url)
        XCTAssertThrowsError(try readSamples(from: url)) { error in
            XCTAssertEqual((error as? DataError)?.line, 2)
            XCTAssertTrue("\(error)".hasPrefix(url.path + ":2: is not valid UTF-8"), "\(error)")
        }

        let missing = directory.appendingPathComponent("missing.jsonl")
        XCTAssertThrowsError(try readSamples(from: missing)) { error in
            XCTAssertTrue("\(error)".hasPrefix(missing.path + ": cannot be read"), "\(error)")
        }
    }

    func testTokenizedPhrasesPutBOSAloneBeforePlainText() throws {
        let walk = OfflineSample(phrases: ["b", "da"], reward: 1)
        XCTAssertEqual(try walk.tokenizedPhrases(with: CharacterTokenizer.randomWalks), [[1], [3, 0]])
        // The character tokenizer has no BOS, so EOS takes its place as in trlx.
        let plain = OfflineSample(text: "bda", reward: 1)
        XCTAssertEqual(try plain.tokenizedPhrases(with: CharacterTokenizer.randomWalks), [[21], [1, 3, 0]])
        XCTAssertEqual(try plain.tokenizedPhrases(with: TokenizerTests.bpe).first, [500])
        XCTAssertThrowsError(try OfflineSample(text: "bdz", reward: 1).tokenizedPhrases(with: CharacterTokenizer.randomWalks))
    }
}
