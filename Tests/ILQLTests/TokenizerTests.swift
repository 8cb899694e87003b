// Tests for the character, byte and GPT-2 BPE tokenizers: ids against the Python reference
// (Fixtures/bpe, written by tools/reference/make_bpe_fixture.py), GPT-2's pre-tokenisation regex,
// round trips, special tokens, every file error, and saving to / loading from a checkpoint directory.

import Foundation
import XCTest
@testable import ILQL
import TestSupport

final class TokenizerTests: XCTestCase {
    static let bpeDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/bpe")

    /// Fixtures/bpe/expected.json: the Python reference's ids for ~40 tricky strings.
    struct Expected: Decodable {
        struct Case: Decodable {
            let text: String
            let ids: [Int32]
        }
        let vocab_size: Int
        let eos_id: Int32
        let cases: [Case]
    }

    static let expected: Expected = {
        let data = try! Data(contentsOf: bpeDirectory.appendingPathComponent("expected.json"))
        return try! JSONDecoder().decode(Expected.self, from: data)
    }()

    static let bpe: BPETokenizer = try! BPETokenizer(
        vocabularyFile: bpeDirectory.appendingPathComponent("vocab.json"),
        mergesFile: bpeDirectory.appendingPathComponent("merges.txt"))

    /// Asserts that `body` throws a `TokenizerError` whose description contains every fragment.
    func assertTokenizerError(_ fragments: [String], file: StaticString = #filePath, line: UInt = #line,
                              _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("expected an error containing \(fragments)", file: file, line: line)
        } catch let error as TokenizerError {
            for fragment in fragments where !error.description.contains(fragment) {
                XCTFail("error \"\(error)\" lacks \"\(fragment)\"", file: file, line: line)
            }
        } catch {
            XCTFail("unexpected error type: \(error)", file: file, line: line)
        }
    }

    // MARK: - Character tokenizer

    func testRandomWalksVocabularyMatchesTrlx() throws {
        let tokenizer = CharacterTokenizer.randomWalks
        XCTAssertEqual(tokenizer.alphabet.joined(), "abcdefghijklmnopqrstu")
        XCTAssertEqual(tokenizer.vocabularySize, 23)
        XCTAssertEqual(tokenizer.eosTokenID, 21)
        XCTAssertEqual(tokenizer.padTokenID, 22)
        XCTAssertNil(tokenizer.bosTokenID)
        XCTAssertEqual(try tokenizer.encode("sda"), [18, 3, 0])
        XCTAssertEqual(try tokenizer.encode("u"), [20])
        XCTAssertEqual(try tokenizer.encode(""), [])
        XCTAssertEqual(tokenizer.decode([18, 3, 0]), "sda")
    }

    func testCharacterSpecialTokensEncodeAndNeverDecode() throws {
        let tokenizer = CharacterTokenizer.randomWalks
        XCTAssertEqual(try tokenizer.encode("ab<|endoftext|>"), [0, 1, 21])
        XCTAssertEqual(try tokenizer.encode("<|pad|>a<|endoftext|><|pad|>"), [22, 0, 21, 22])
        // EOS and pad are left out, like decode(skip_special_tokens=True); unknown ids are visible.
        XCTAssertEqual(tokenizer.decode([1, 21, 2, 22, 22]), "bc")
        XCTAssertEqual(tokenizer.decode([0, 23, -1]), "a\u{FFFD}\u{FFFD}")
    }

    func testCharacterOutsideAlphabetNamesCharacterPositionAndFix() {
        let tokenizer = CharacterTokenizer.randomWalks
        assertTokenizerError(["\"z\" (U+007A)", "position 3", "\"abz\"", "add it to the tokenizer's alphabet"]) {
            _ = try tokenizer.encode("abz")
        }
        // Invisible characters are shown by code point.
        assertTokenizerError(["U+0020", "position 2"]) { _ = try tokenizer.encode("a b") }
        // Positions count Unicode scalars, also after a special token.
        assertTokenizerError(["\"A\" (U+0041)", "position 15"]) { _ = try tokenizer.encode("a<|endoftext|>A") }
    }

    func testCharacterAlphabetIsValidated() {
        assertTokenizerError(["alphabet is empty"]) { _ = try CharacterTokenizer(alphabet: []) }
        assertTokenizerError(["entry 1", "\"bc\"", "2 Unicode scalars"]) { _ = try CharacterTokenizer(alphabet: ["a", "bc"]) }
        assertTokenizerError(["entry 2 repeats", "entry 0"]) { _ = try CharacterTokenizer(alphabet: ["a", "b", "a"]) }
        assertTokenizerError(["eos_token \"a\" is also a character"]) { _ = try CharacterTokenizer(alphabet: ["a"], eosToken: "a") }
        assertTokenizerError(["pad_token is empty"]) { _ = try CharacterTokenizer(alphabet: ["a"], padToken: "") }
        assertTokenizerError(["both \"<x>\""]) { _ = try CharacterTokenizer(alphabet: ["a"], eosToken: "<x>", padToken: "<x>") }
    }

    func testCharacterTokensAreUnicodeScalarsNotGraphemeClusters() throws {
        let tokenizer = try CharacterTokenizer(alphabet: ["e", "\u{301}", "é"], eosToken: "$", padToken: "#")
        XCTAssertEqual(try tokenizer.encode("e\u{301}\u{e9}$#"), [0, 1, 2, 3, 4])
        XCTAssertEqual(tokenizer.decode([0, 1, 2]).unicodeScalars.map(\.value), [0x65, 0x301, 0xE9])
    }

    // MARK: - Byte tokenizer

    func testByteTokenizerIdsAndSpecialTokens() throws {
        let tokenizer = try ByteTokenizer()
        XCTAssertEqual(tokenizer.vocabularySize, 258)
        XCTAssertEqual(tokenizer.eosTokenID, 256)
        XCTAssertEqual(tokenizer.padTokenID, 257)
        XCTAssertNil(tokenizer.bosTokenID)
        XCTAssertEqual(tokenizer.encode("A é\n"), [65, 32, 0xC3, 0xA9, 10])
        XCTAssertEqual(tokenizer.encode("x<|endoftext|><|pad|>"), [120, 256, 257])
        XCTAssertEqual(tokenizer.decode([104, 256, 105, 257]), "hi")
        // A generation cut inside "é", and an id beyond the vocabulary, show as U+FFFD.
        XCTAssertEqual(tokenizer.decode([0x61, 0xC3]), "a\u{FFFD}")
        XCTAssertEqual(tokenizer.decode([300]), "\u{FFFD}")
        assertTokenizerError(["both"]) { _ = try ByteTokenizer(eosToken: "<e>", padToken: "<e>") }
    }

    func testByteTokenizerRoundTripsTheFixtureStrings() throws {
        let tokenizer = try ByteTokenizer()
        for item in Self.expected.cases where !item.text.contains("<|endoftext|>") {
            let ids = tokenizer.encode(item.text)
            XCTAssertEqual(ids.count, item.text.utf8.count, item.text.debugDescription)
            XCTAssertEqual(tokenizer.decode(ids), item.text, item.text.debugDescription)
        }
    }

    // MARK: - GPT-2 byte-level BPE

    func testGPT2ByteTableMatchesGPT2() {
        let table = GPT2ByteMapping.characterForByte
        XCTAssertEqual(Set(table).count, 256)
        XCTAssertEqual(table[Int(UInt8(ascii: " "))], "Ġ")
        XCTAssertEqual(table[Int(UInt8(ascii: "\n"))], "Ċ")
        XCTAssertEqual(table[0], "\u{100}")
        XCTAssertEqual(table[Int(UInt8(ascii: "!"))], "!")
        XCTAssertEqual(table[0xAD], "\u{143}")  // soft hyphen is not printable, so it is remapped
        XCTAssertEqual(table[0xFF], "ÿ")
        for byte in 0...255 { XCTAssertEqual(GPT2ByteMapping.byteForCharacter[table[byte]], UInt8(byte)) }
    }

    func testPreTokenizerMatchesGPT2Regex() {
        // Expected splits from Python `regex.findall` with GPT-2's pattern.
        let cases: [(String, [String])] = [
            ("Hello world", ["Hello", " world"]),
            ("  two  spaces  ", [" ", " two", " ", " spaces", "  "]),
            ("don't 's 'S 'x ''s", ["don", "'t", " '", "s", " '", "S", " '", "x", " ''", "s"]),
            ("a\tb \n c", ["a", "\t", "b", " \n", " c"]),
            ("x   ", ["x", "   "]),
            ("3.14 v2 ½Ⅻ", ["3", ".", "14", " v", "2", " ½Ⅻ"]),
            ("café!? ¿qué?", ["café", "!?", " ¿", "qué", "?"]),
            ("\u{a0}nbsp \u{3000}x", ["\u{a0}", "nbsp", " ", "\u{3000}", "x"]),
            ("e\u{301} 🙂🙂 日本語", ["e", "\u{301}", " 🙂🙂", " 日本語"]),
            ("end\n\n", ["end", "\n\n"]),
            (" ", [" "]),
            ("'", ["'"]),
            ("abc123!!!def", ["abc", "123", "!!!", "def"]),
            ("I'll we've they're I'm he'd", ["I", "'ll", " we", "'ve", " they", "'re", " I", "'m", " he", "'d"]),
        ]
        for (text, expected) in cases {
            let scalars = Array(text.unicodeScalars)
            let words = GPT2PreTokenizer.split(scalars, 0..<scalars.count)
                .map { String(String.UnicodeScalarView(scalars[$0])) }
            XCTAssertEqual(words, expected, text.debugDescription)
        }
    }

    func testBPEMatchesPythonReferenceOnEveryFixtureString() {
        let tokenizer = Self.bpe
        XCTAssertGreaterThanOrEqual(Self.expected.cases.count, 40)
        for item in Self.expected.cases {
            XCTAssertEqual(tokenizer.encode(item.text), item.ids, "text \(item.text.debugDescription)")
        }
    }

    func testBPEDecodeInvertsEncode() {
        let tokenizer = Self.bpe
        for item in Self.expected.cases {
            // Special tokens never decode, so a text holding EOS comes back without it.
            let expected = item.text.replacingOccurrences(of: "<|endoftext|>", with: "")
            XCTAssertEqual(tokenizer.decode(tokenizer.encode(item.text)), expected, item.text.debugDescription)
        }
        XCTAssertEqual(tokenizer.decode([9999]), "\u{FFFD}")
    }

    func testBPESpecialTokensFollowGPT2() throws {
        let tokenizer = Self.bpe
        XCTAssertEqual(tokenizer.vocabularySize, Self.expected.vocab_size)
        XCTAssertEqual(tokenizer.vocabularySize, 501)
        XCTAssertEqual(tokenizer.eosTokenID, Self.expected.eos_id)
        XCTAssertEqual(tokenizer.padTokenID, tokenizer.eosTokenID)
        XCTAssertEqual(tokenizer.bosTokenID, tokenizer.eosTokenID)
        XCTAssertEqual(tokenizer.encode("<|endoftext|>"), [tokenizer.eosTokenID])
        let noBOS = try BPETokenizer(vocabularyFile: Self.bpeDirectory.appendingPathComponent("vocab.json"),
                                     mergesFile: Self.bpeDirectory.appendingPathComponent("merges.txt"),
                                     padToken: "!", usesEOSAsBOS: false)
        XCTAssertNil(noBOS.bosTokenID)
        XCTAssertEqual(noBOS.padTokenID, 0)  // "!" is the first byte token in GPT-2's table
        XCTAssertEqual(noBOS.encode("a!"), [64, 0])
    }

    // MARK: - Files

    /// A temporary directory holding the fixture's vocab.json and merges.txt, with `vocab` and
    /// `merges` replacing them when given.
    func bpeDirectory(vocab: String? = nil, merges: String? = nil) throws -> URL {
        let directory = try makeTemporaryDirectory("ilql-bpe")
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        for (name, replacement) in [("vocab.json", vocab), ("merges.txt", merges)] {
            let data = try replacement.map { Data($0.utf8) } ?? Data(contentsOf: Self.bpeDirectory.appendingPathComponent(name))
            try data.write(to: directory.appendingPathComponent(name))
        }
        return directory
    }

    /// vocab.json text with the 256 byte tokens (id = byte), "ab", EOS and "bc", for the merges tests.
    static let smallVocabulary: String = {
        var vocabulary: [String: Int] = ["ab": 256, "<|endoftext|>": 257, "bc": 258]
        for (byte, character) in GPT2ByteMapping.characterForByte.enumerated() { vocabulary[String(character)] = byte }
        return String(decoding: try! JSONSerialization.data(withJSONObject: vocabulary, options: [.sortedKeys]), as: UTF8.self)
    }()

    func testBPEVocabularyErrorsNameFileAndEntry() throws {
        assertTokenizerError(["missing.json", "does not exist"]) {
            _ = try BPETokenizer(vocabularyFile: URL(fileURLWithPath: "/nonexistent/missing.json"),
                                 mergesFile: Self.bpeDirectory.appendingPathComponent("merges.txt"))
        }
        let cases: [(String, [String])] = [
            ("{\"a\": 1,\n \"b\": oops}", ["vocab.json:2:7", "not valid JSON"]),
            ("[1, 2]", ["vocab.json", "expected a JSON object", "a list"]),
            ("{}", ["empty vocabulary"]),
            ("{\"a\": 1.5}", ["entry \"a\" has id 1.5", "integers"]),
            ("{\"a\": true}", ["entry \"a\" has id true"]),
            ("{\"a\": -1}", ["entry \"a\" has id -1"]),
            ("{\"a\": 3, \"b\": 3}", ["\"a\" and \"b\" share id 3"]),
            ("{\"a\": 0}", ["no token for byte 0x0", "all 256 bytes"]),
            (Self.smallVocabulary.replacingOccurrences(of: "\"<|endoftext|>\"", with: "\"<|end|>\""),
             ["no entry \"<|endoftext|>\" for the EOS token", "eos_token"]),
        ]
        for (vocab, fragments) in cases {
            let directory = try bpeDirectory(vocab: vocab, merges: "#version: 0.2\n")
            assertTokenizerError(fragments) { _ = try loadTokenizer(from: directory) }
        }
    }

    func testBPEMergesErrorsNameFileAndLine() throws {
        let good = try bpeDirectory(vocab: Self.smallVocabulary, merges: "#version: 0.2\na b\n")
        let tokenizer = try XCTUnwrap(loadTokenizer(from: good) as? BPETokenizer)
        XCTAssertEqual(tokenizer.encode("abab"), [256, 256])
        let crlf = try bpeDirectory(vocab: Self.smallVocabulary, merges: "#version: 0.2\r\na b\r\n")
        XCTAssertEqual(try XCTUnwrap(loadTokenizer(from: crlf) as? BPETokenizer).encode("ab"), [256])
        // A repeated merge keeps its last rank, so "b c" (rank 1) beats "a b" (ranks 0 and 2), as in
        // the Python reference and tokenizers 0.23.
        let repeated = try bpeDirectory(vocab: Self.smallVocabulary, merges: "a b\nb c\na b\n")
        XCTAssertEqual(try XCTUnwrap(loadTokenizer(from: repeated) as? BPETokenizer).encode("abc"), [97, 258])
        let cases: [(String, [String])] = [
            ("#version: 0.2\na b\nab\n", ["merges.txt:3", "two tokens separated by one space", "\"ab\""]),
            ("a  b\n", ["merges.txt:1", "two tokens"]),
            ("a b c\n", ["merges.txt:1"]),
            ("#version: 0.2\n\na c\n", ["merges.txt:3", "\"ac\", which is not in", "same tokenizer"]),
            ("#version: 0.2\nab ab\n", ["merges.txt:2", "\"abab\""]),
        ]
        for (merges, fragments) in cases {
            let directory = try bpeDirectory(vocab: Self.smallVocabulary, merges: merges)
            assertTokenizerError(fragments) { _ = try loadTokenizer(from: directory) }
        }
        let invalidUTF8 = try bpeDirectory(vocab: Self.smallVocabulary)
        try Data([0x61, 0x20, 0xFF, 0x0A]).write(to: invalidUTF8.appendingPathComponent("merges.txt"))
        assertTokenizerError(["merges.txt", "not valid UTF-8"]) { _ = try loadTokenizer(from: invalidUTF8) }
    }

    func testEveryTokenizerSurvivesASaveAndLoad() throws {
        let directory = try makeTemporaryDirectory("ilql-tokenizer")
        defer { try? FileManager.default.removeItem(at: directory) }
        let text = "sdab<|endoftext|>"

        let character = CharacterTokenizer.randomWalks
        try character.save(to: directory)
        let loadedCharacter = try XCTUnwrap(loadTokenizer(from: directory) as? CharacterTokenizer)
        XCTAssertEqual(loadedCharacter, character)
        XCTAssertEqual(try loadedCharacter.encode(text), try character.encode(text))
        let description = try String(contentsOf: directory.appendingPathComponent("tokenizer.json"), encoding: .utf8)
        XCTAssertTrue(description.contains("\"type\" : \"character\""), description)

        let byteDirectory = directory.appendingPathComponent("byte")
        try FileManager.default.createDirectory(at: byteDirectory, withIntermediateDirectories: true)
        let byte = try ByteTokenizer(eosToken: "</s>", padToken: "<pad>")
        try byte.save(to: byteDirectory)
        XCTAssertEqual(try XCTUnwrap(loadTokenizer(from: byteDirectory) as? ByteTokenizer), byte)

        let bpeDirectory = directory.appendingPathComponent("bpe")
        try FileManager.default.createDirectory(at: bpeDirectory, withIntermediateDirectories: true)
        try Self.bpe.save(to: bpeDirectory)
        for name in ["vocab.json", "merges.txt"] {
            XCTAssertEqual(try Data(contentsOf: bpeDirectory.appendingPathComponent(name)),
                           try Data(contentsOf: Self.bpeDirectory.appendingPathComponent(name)), "\(name) is copied as is")
        }
        let loadedBPE = try XCTUnwrap(loadTokenizer(from: bpeDirectory) as? BPETokenizer)
        XCTAssertEqual(loadedBPE, Self.bpe)
        XCTAssertEqual(loadedBPE.encode(text), Self.bpe.encode(text))
    }

    func testHuggingFaceTokenizerConfigSetsSpecialTokens() throws {
        let directory = try bpeDirectory()
        // No tokenizer_config.json: GPT-2's defaults.
        let defaults = try XCTUnwrap(loadTokenizer(from: directory) as? BPETokenizer)
        XCTAssertEqual(defaults.bosTokenID, 500)
        let config = #"{"eos_token": {"content": "<|endoftext|>", "lstrip": false}, "pad_token": "!", "bos_token": null, "model_max_length": 1024}"#
        try Data(config.utf8).write(to: directory.appendingPathComponent("tokenizer_config.json"))
        let configured = try XCTUnwrap(loadTokenizer(from: directory) as? BPETokenizer)
        XCTAssertEqual(configured.eosTokenID, 500)
        XCTAssertEqual(configured.padTokenID, 0)
        XCTAssertNil(configured.bosTokenID)
        try Data(#"{"add_prefix_space": true}"#.utf8).write(to: directory.appendingPathComponent("tokenizer_config.json"))
        assertTokenizerError(["tokenizer_config.json", "add_prefix_space"]) { _ = try loadTokenizer(from: directory) }
        try Data(#"{"bos_token": "a"}"#.utf8).write(to: directory.appendingPathComponent("tokenizer_config.json"))
        assertTokenizerError(["\"bos_token\" is \"a\"", "only null"]) { _ = try loadTokenizer(from: directory) }
    }

    func testTokenizerDirectoryErrorsNameFileAndKey() throws {
        let directory = try makeTemporaryDirectory("ilql-tokenizer-errors")
        defer { try? FileManager.default.removeItem(at: directory) }
        assertTokenizerError(["holds no tokenizer", "tokenizer.json", "vocab.json + merges.txt"]) {
            _ = try loadTokenizer(from: directory)
        }
        let descriptionURL = directory.appendingPathComponent("tokenizer.json")
        let cases: [(String, [String])] = [
            ("{\"type\": \"byte\",\n\"eos_token\": \"<e>\" \"pad_token\": \"<p>\"}", ["tokenizer.json:2:20", "not valid JSON"]),
            ("{\"type\": \"word\"}", ["\"type\" is \"word\"", "\"character\" or \"byte\""]),
            ("{\"eos_token\": \"<e>\"}", ["\"type\" is missing"]),
            ("{\"type\": \"byte\", \"eos_token\": \"<e>\", \"pad_token\": \"<p>\", \"colour\": 1}", ["unknown key \"colour\""]),
            ("{\"type\": \"byte\", \"eos_token\": \"<e>\"}", ["\"pad_token\" is missing"]),
            ("{\"type\": \"byte\", \"eos_token\": 5, \"pad_token\": \"<p>\"}", ["\"eos_token\" is a number"]),
            ("{\"type\": \"byte\", \"eos_token\": \"<e>\", \"pad_token\": \"<p>\", \"vocab_size\": 300}",
             ["\"vocab_size\" is 300.0", "has 258 ids"]),
            ("{\"type\": \"character\", \"alphabet\": \"abc\", \"eos_token\": \"<e>\", \"pad_token\": \"<p>\"}",
             ["\"alphabet\" must be a list"]),
            ("{\"type\": \"character\", \"alphabet\": [\"a\", 2], \"eos_token\": \"<e>\", \"pad_token\": \"<p>\"}",
             ["\"alphabet\"[1] is a number"]),
            ("{\"type\": \"character\", \"alphabet\": [\"a\", \"a\"], \"eos_token\": \"<e>\", \"pad_token\": \"<p>\"}",
             ["tokenizer.json", "entry 1 repeats"]),
        ]
        for (json, fragments) in cases {
            try Data(json.utf8).write(to: descriptionURL)
            assertTokenizerError(fragments) { _ = try loadTokenizer(from: directory) }
        }
        // vocab.json without merges.txt is an incomplete BPE, not a fallback to tokenizer.json.
        try Data("{}".utf8).write(to: directory.appendingPathComponent("vocab.json"))
        assertTokenizerError(["merges.txt", "is missing", "needs both"]) { _ = try loadTokenizer(from: directory) }
    }
}
