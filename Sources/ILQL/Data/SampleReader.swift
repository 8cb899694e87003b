// Reading offline-RL samples from JSONL: one `{"sample": ..., "reward": ...}` object per line,
// where anything malformed is an error naming the file, line and field (nothing is dropped).

import Foundation

/// One offline-RL sample: a dialogue of alternating prompt and output phrases with one scalar reward.
///
/// A plain-string sample `s` means `[BOS, s]` (ILQL.md §1). It is stored as `phrases == ["", s]`
/// with ``promptIsBOS`` set: the prompt is the tokenizer's BOS token alone, which the reader cannot
/// express as text because it does not know the tokenizer. ``tokenizedPhrases(with:)`` applies
/// the rule; whoever tokenises phrases themselves must check ``promptIsBOS`` first.
public struct OfflineSample: Equatable, Sendable {
    /// `[prompt, output, prompt, output, …]`: an even number, at least 2. The outputs (odd
    /// indices) are the actions ILQL learns; phrases may be empty strings.
    public var phrases: [String]
    /// True for a plain-string sample: `phrases[0]` is an empty placeholder and the prompt is the
    /// BOS token (one id; EOS for tokenizers without BOS), not the encoding of any text.
    public var promptIsBOS: Bool
    /// The sample's return, before the dataset-wide standardisation of ILQL.md §1.5.
    public var reward: Double
    /// Where the sample came from, for error messages: the file and 1-based line it was read
    /// from (nil for samples made in memory). Not part of equality.
    public var origin: (file: String, line: Int)?

    public static func == (a: OfflineSample, b: OfflineSample) -> Bool {
        a.phrases == b.phrases && a.promptIsBOS == b.promptIsBOS && a.reward == b.reward
    }

    /// A dialogue sample (trlx's list form).
    /// - Precondition: `phrases.count` is even and at least 2.
    public init(phrases: [String], reward: Double) {
        precondition(phrases.count >= 2 && phrases.count % 2 == 0,
                     "a dialogue needs alternating prompt/output phrases, an even number ≥ 2; got \(phrases.count)")
        self.phrases = phrases
        self.promptIsBOS = false
        self.reward = reward
    }

    /// A plain-string sample: the BOS token as prompt, `text` as the one output.
    public init(text: String, reward: Double) {
        self.phrases = ["", text]
        self.promptIsBOS = true
        self.reward = reward
    }

    /// Each phrase's token ids, in order: for a ``promptIsBOS`` prompt the BOS id alone (EOS when
    /// the tokenizer has no BOS, as trlx's `bos_token or eos_token`), for every other phrase the
    /// tokenizer's encoding. EOS is not appended here (that is the batch builder's rule for the
    /// last phrase).
    /// - Throws: ``TokenizerError`` when a phrase cannot be encoded.
    public func tokenizedPhrases(with tokenizer: any Tokenizer) throws -> [[Int32]] {
        var tokens: [[Int32]] = []
        tokens.reserveCapacity(phrases.count)
        for (index, phrase) in phrases.enumerated() {
            if index == 0 && promptIsBOS {
                tokens.append([tokenizer.bosTokenID ?? tokenizer.eosTokenID])
            } else {
                tokens.append(try tokenizer.encode(phrase))
            }
        }
        return tokens
    }
}

/// A sample file line that is not a valid sample, or a file with no samples.
///
/// The description reads `FILE:LINE: FIELD: what is wrong and what to do`, e.g.
/// `train.jsonl:12: reward: is the string "0.5"; it must be a JSON number (write it without quotes)`.
public struct DataError: Error, CustomStringConvertible, Sendable {
    /// The file path, or the source label given to ``parseSamples(jsonl:source:)``.
    public let file: String
    /// The 1-based line, or nil for an error about the whole file.
    public let line: Int?
    /// The field at fault (`sample`, `sample[3]`, `reward`, an unknown key), or nil.
    public let field: String?
    /// What is wrong and what to do.
    public let message: String

    /// Creates an error.
    public init(file: String, line: Int?, field: String?, _ message: String) {
        self.file = file
        self.line = line
        self.field = field
        self.message = message
    }

    /// `file:line: field: message`, leaving out the parts that are nil.
    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        if let field { text += ": \(field)" }
        return text + ": " + message
    }
}

/// The samples of a JSONL file, in file order.
///
/// Each line is `{"sample": "text", "reward": 0.7}` or `{"sample": ["prompt", "output", …],
/// "reward": 0.7}`. Lines holding only whitespace are skipped (editors and `cat` leave them at
/// file ends); every other malformed line is an error: invalid JSON or UTF-8, not an object, a
/// missing or unknown key, a `sample` that is neither a string nor a list of an even number ≥ 2
/// of strings, a `reward` that is not a finite number (booleans, strings, `NaN`, `1e999`).
/// Duplicate keys cannot be detected (Foundation's JSON parser keeps the last).
/// - Throws: ``DataError`` naming file, line and field; also when the file has no samples.
public func readSamples(from url: URL) throws -> [OfflineSample] {
    let data: Data
    do {
        data = try Data(contentsOf: url)
    } catch {
        throw DataError(file: url.path, line: nil, field: nil, "cannot be read (\(error.localizedDescription)); "
            + "check the data path in the config")
    }
    return try parseSampleLines(data, source: url.path)
}

/// The samples of JSONL text; `source` names it in errors. Same rules as ``readSamples(from:)``.
public func parseSamples(jsonl: String, source: String) throws -> [OfflineSample] {
    try parseSampleLines(Data(jsonl.utf8), source: source)
}

/// Splits at `\n` bytes (a Swift `Character` split would keep `\r\n` lines together, and JSON
/// strings may hold U+2028, which is no line break in JSONL); a `\r` before it is whitespace.
private func parseSampleLines(_ data: Data, source: String) throws -> [OfflineSample] {
    var samples: [OfflineSample] = []
    for (index, bytes) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
        guard let text = String(bytes: bytes, encoding: .utf8) else {
            throw DataError(file: source, line: index + 1, field: nil, "is not valid UTF-8; save the file as UTF-8")
        }
        var line = Substring(text)
        if index == 0, line.hasPrefix("\u{FEFF}") { line = line.dropFirst() }  // a UTF-8 byte-order mark
        if line.allSatisfy(\.isWhitespace) { continue }
        samples.append(try parseSampleLine(String(line), source: source, lineNumber: index + 1))
    }
    guard !samples.isEmpty else {
        throw DataError(file: source, line: nil, field: nil, "holds no samples; write one "
            + "{\"sample\": ..., \"reward\": ...} object per line")
    }
    return samples
}

private func parseSampleLine(_ line: String, source: String, lineNumber: Int) throws -> OfflineSample {
    func failure(_ field: String?, _ message: String) -> DataError {
        DataError(file: source, line: lineNumber, field: field, message)
    }
    let json: Any
    do {
        // Fragments allowed, so a bare number or string is reported as "not an object".
        json = try JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed])
    } catch {
        if let literal = nonFiniteRewardLiteral(in: line) {
            throw failure("reward", "is \(literal), which is not a finite number; rewards must be finite")
        }
        let location = JSONInspection.location(of: error, in: Data(line.utf8)).map { " at column \($0.column)" } ?? ""
        throw failure(nil, "is not valid JSON\(location) (\(JSONInspection.detail(of: error))); "
            + "each line must be one {\"sample\": ..., \"reward\": ...} object")
    }
    guard let object = json as? [String: Any] else {
        throw failure(nil, "is \(JSONInspection.typeName(json)), not an object; "
            + "each line must be one {\"sample\": ..., \"reward\": ...} object")
    }
    if let unknown = object.keys.filter({ $0 != "sample" && $0 != "reward" }).sorted().first {
        throw failure(unknown, "is not a known key; a sample line has only \"sample\" and \"reward\"")
    }

    guard let sample = object["sample"] else {
        throw failure("sample", "is missing; give the text, or a list of alternating prompt/output phrases")
    }
    var parsed: OfflineSample
    if let text = sample as? String {
        parsed = OfflineSample(text: text, reward: 0)
    } else if let list = sample as? [Any] {
        guard !list.isEmpty, list.count % 2 == 0 else {
            throw failure("sample", "is a list of \(list.count) phrases; a dialogue needs alternating prompt/output "
                + "phrases, an even number ≥ 2 (write a single text as a plain string)")
        }
        let phrases = try list.enumerated().map { index, element in
            guard let phrase = element as? String else {
                throw failure("sample[\(index)]", "is \(JSONInspection.typeName(element)); every phrase must be a string")
            }
            return phrase
        }
        parsed = OfflineSample(phrases: phrases, reward: 0)
    } else {
        throw failure("sample", "is \(JSONInspection.typeName(sample)); it must be a string or a list of strings")
    }

    guard let rewardValue = object["reward"] else {
        throw failure("reward", "is missing; every sample needs a numeric reward")
    }
    guard let reward = JSONInspection.number(rewardValue) else {
        var hint = ""
        if let text = rewardValue as? String, let number = Double(text) {
            hint = number.isFinite ? " (write it without quotes)" : "; non-finite rewards are not allowed"
        }
        throw failure("reward", "is \(JSONInspection.describe(rewardValue)); it must be a JSON number\(hint)")
    }
    guard reward.isFinite else {
        throw failure("reward", "is \(reward), which is not a finite number; rewards must be finite")
    }
    parsed.reward = reward
    parsed.origin = (source, lineNumber)
    return parsed
}

/// The literal after `"reward":` when it is a non-finite number (`NaN`, `Infinity`, `1e999`),
/// which Foundation's parser rejects as invalid JSON; finding it turns "invalid JSON" into an
/// error that names the field.
private func nonFiniteRewardLiteral(in line: String) -> String? {
    guard let key = line.range(of: "\"reward\"") else { return nil }
    var rest = line[key.upperBound...].drop(while: \.isWhitespace)
    guard rest.first == ":" else { return nil }
    rest = rest.dropFirst().drop(while: \.isWhitespace)
    let literal = rest.prefix { $0.isLetter || $0.isNumber || "+-.".contains($0) }
    guard let value = Double(literal), !value.isFinite else { return nil }
    return String(literal)
}
