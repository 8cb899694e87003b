// Storing tokenizers in checkpoint directories and reading them back, so `generate` and `eval`
// need nothing but the checkpoint.
//
// Character and byte vocabularies are written as this project's `tokenizer.json`:
//
//     {"type": "character", "alphabet": ["a", "b", …], "eos_token": "<|endoftext|>",
//      "pad_token": "<|pad|>", "vocab_size": 23}
//     {"type": "byte", "eos_token": "<|endoftext|>", "pad_token": "<|pad|>", "vocab_size": 258}
//
// Ids follow from the type: the alphabet (or bytes 0…255) in order, then EOS, then pad; there is
// no BOS. `vocab_size` is checked on reading, so a file edited by hand cannot silently change the
// model's output width.
//
// GPT-2 BPE is stored as Hugging Face stores it: `vocab.json` and `merges.txt` copied byte for
// byte, plus a `tokenizer_config.json` naming the special tokens, so `transformers` loads the same
// tokenizer from the checkpoint.

import Foundation

/// The file names a tokenizer is stored under in a checkpoint directory.
public enum TokenizerFileName {
    /// This project's character/byte tokenizer description.
    public static let tokenizer = "tokenizer.json"
    /// GPT-2 BPE: token text → id.
    public static let vocabulary = "vocab.json"
    /// GPT-2 BPE: merge rules by rank.
    public static let merges = "merges.txt"
    /// Hugging Face's tokenizer settings; this project reads and writes its special tokens.
    public static let huggingFaceConfig = "tokenizer_config.json"
}

/// Whether `directory` holds a tokenizer for ``loadTokenizer(from:)``: a tokenizer description or
/// a GPT-2 BPE vocabulary.
public func holdsTokenizer(_ directory: URL) -> Bool {
    [TokenizerFileName.tokenizer, TokenizerFileName.vocabulary].contains {
        FileManager.default.fileExists(atPath: directory.appendingPathComponent($0).path)
    }
}

/// Reads the tokenizer stored in `directory` by a ``Tokenizer/save(to:)``, or a GPT-2 tokenizer
/// directory from Hugging Face.
///
/// `vocab.json` + `merges.txt` mean GPT-2 BPE (with special tokens from `tokenizer_config.json`
/// when present, else GPT-2's defaults: `<|endoftext|>` as EOS, BOS and pad); otherwise
/// `tokenizer.json` must be this project's character or byte description.
/// - Throws: ``TokenizerError`` naming the file and what is wrong with it.
public func loadTokenizer(from directory: URL) throws -> any Tokenizer {
    let vocabularyURL = directory.appendingPathComponent(TokenizerFileName.vocabulary)
    let mergesURL = directory.appendingPathComponent(TokenizerFileName.merges)
    let descriptionURL = directory.appendingPathComponent(TokenizerFileName.tokenizer)
    let exists = { (url: URL) in FileManager.default.fileExists(atPath: url.path) }
    if exists(vocabularyURL) || exists(mergesURL) {
        for url in [vocabularyURL, mergesURL] where !exists(url) {
            throw TokenizerError(source: url.path, "is missing; a GPT-2 BPE tokenizer needs both vocab.json and merges.txt")
        }
        let settings = try readHuggingFaceSettings(directory.appendingPathComponent(TokenizerFileName.huggingFaceConfig))
        return try BPETokenizer(vocabularyFile: vocabularyURL, mergesFile: mergesURL, eosToken: settings.eos,
                                padToken: settings.pad, usesEOSAsBOS: settings.usesEOSAsBOS)
    }
    guard exists(descriptionURL) else {
        throw TokenizerError(source: directory.path, "holds no tokenizer; expected tokenizer.json (character or "
            + "byte vocabulary) or vocab.json + merges.txt (GPT-2 BPE)")
    }
    return try readTokenizerDescription(descriptionURL)
}

// MARK: - Saving

extension CharacterTokenizer {
    /// Writes `tokenizer.json` of type `character` into `directory`.
    public func save(to directory: URL) throws {
        try writeTokenizerJSON([
            "type": "character", "alphabet": alphabet, "eos_token": eosToken, "pad_token": padToken,
            "vocab_size": vocabularySize,
        ], to: directory.appendingPathComponent(TokenizerFileName.tokenizer))
    }
}

extension ByteTokenizer {
    /// Writes `tokenizer.json` of type `byte` into `directory`.
    public func save(to directory: URL) throws {
        try writeTokenizerJSON([
            "type": "byte", "eos_token": eosToken, "pad_token": padToken, "vocab_size": vocabularySize,
        ], to: directory.appendingPathComponent(TokenizerFileName.tokenizer))
    }
}

extension BPETokenizer {
    /// Copies `vocab.json` and `merges.txt` into `directory` and writes a `tokenizer_config.json`
    /// that Hugging Face's `GPT2Tokenizer` reads with the same special tokens.
    public func save(to directory: URL) throws {
        try writeTokenizerFile(vocabularyFile, to: directory.appendingPathComponent(TokenizerFileName.vocabulary))
        try writeTokenizerFile(mergesFile, to: directory.appendingPathComponent(TokenizerFileName.merges))
        try writeTokenizerJSON([
            "tokenizer_class": "GPT2Tokenizer", "eos_token": eosToken, "pad_token": padToken,
            "bos_token": usesEOSAsBOS ? eosToken : NSNull(), "unk_token": eosToken, "add_prefix_space": false,
        ], to: directory.appendingPathComponent(TokenizerFileName.huggingFaceConfig))
    }
}

private func writeTokenizerJSON(_ object: [String: Any], to url: URL) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    try writeTokenizerFile(data + Data("\n".utf8), to: url)
}

private func writeTokenizerFile(_ data: Data, to url: URL) throws {
    do {
        try data.write(to: url, options: .atomic)
    } catch {
        throw TokenizerError(source: url.path, "cannot be written (\(error.localizedDescription))")
    }
}

// MARK: - Reading

/// The bytes of a tokenizer file, or an error naming it.
func readTokenizerFile(_ url: URL) throws -> Data {
    guard FileManager.default.fileExists(atPath: url.path) else {
        throw TokenizerError(source: url.path, "does not exist; check the tokenizer path")
    }
    do {
        return try Data(contentsOf: url)
    } catch {
        throw TokenizerError(source: url.path, "cannot be read (\(error.localizedDescription))")
    }
}

/// The JSON value in `data`, or an error naming `source` with the line and column at fault.
func parseTokenizerJSON(_ data: Data, source: String) throws -> Any {
    do {
        return try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
    } catch {
        let location = JSONInspection.location(of: error, in: data).map { ":\($0.line):\($0.column)" } ?? ""
        throw TokenizerError(source: source + location, "is not valid JSON (\(JSONInspection.detail(of: error)))")
    }
}

/// A JSON object's fields, checked against the keys a file may hold.
private struct JSONFields {
    let object: [String: Any]
    let source: String

    init(_ value: Any, source: String, allowedKeys: Set<String>?) throws {
        guard let object = value as? [String: Any] else {
            throw TokenizerError(source: source, "expected a JSON object, found \(JSONInspection.typeName(value))")
        }
        if let allowedKeys, let unknown = object.keys.filter({ !allowedKeys.contains($0) }).sorted().first {
            throw TokenizerError(source: source, "unknown key \"\(unknown)\"; allowed keys are "
                + allowedKeys.sorted().joined(separator: ", "))
        }
        self.object = object
        self.source = source
    }

    /// A string field; nil when absent or null. Hugging Face may write a special token as
    /// `{"content": "<|endoftext|>", …}` instead of a plain string, so `content` is read too.
    func string(_ key: String) throws -> String? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        if let text = value as? String { return text }
        if let token = value as? [String: Any], let text = token["content"] as? String { return text }
        throw TokenizerError(source: source, "\"\(key)\" is \(JSONInspection.typeName(value)); expected a string")
    }

    func requiredString(_ key: String) throws -> String {
        guard let text = try string(key) else {
            throw TokenizerError(source: source, "\"\(key)\" is missing")
        }
        return text
    }

    /// Whether EOS doubles as BOS: `bos_token` must be null or the EOS text.
    func usesEOSAsBOS(eos: String) throws -> Bool {
        guard let bos = try string("bos_token") else { return false }
        guard bos == eos else {
            throw TokenizerError(source: source, "\"bos_token\" is \"\(bos)\"; only null (no BOS) or the eos_token "
                + "(\"\(eos)\") is supported")
        }
        return true
    }
}

private func readTokenizerDescription(_ url: URL) throws -> any Tokenizer {
    let fields = try JSONFields(parseTokenizerJSON(readTokenizerFile(url), source: url.path), source: url.path,
                                allowedKeys: nil)
    let type = try fields.requiredString("type")
    let keys: Set<String> = ["type", "eos_token", "pad_token", "vocab_size"]
    let tokenizer: any Tokenizer
    switch type {
    case "character":
        let checked = try JSONFields(fields.object, source: url.path, allowedKeys: keys.union(["alphabet"]))
        guard let alphabet = checked.object["alphabet"] as? [Any] else {
            throw TokenizerError(source: url.path, "\"alphabet\" must be a list of one-character strings")
        }
        let letters = try alphabet.enumerated().map { index, entry in
            guard let letter = entry as? String else {
                throw TokenizerError(source: url.path, "\"alphabet\"[\(index)] is \(JSONInspection.typeName(entry)); "
                    + "expected a one-character string")
            }
            return letter
        }
        tokenizer = try CharacterTokenizer(alphabet: letters, eosToken: checked.requiredString("eos_token"),
                                           padToken: checked.requiredString("pad_token"), source: url.path)
    case "byte":
        let checked = try JSONFields(fields.object, source: url.path, allowedKeys: keys)
        tokenizer = try ByteTokenizer(eosToken: checked.requiredString("eos_token"),
                                      padToken: checked.requiredString("pad_token"), source: url.path)
    default:
        throw TokenizerError(source: url.path, "\"type\" is \"\(type)\"; expected \"character\" or \"byte\" (a GPT-2 "
            + "BPE tokenizer is stored as vocab.json + merges.txt instead)")
    }
    if let stated = fields.object["vocab_size"] {
        guard JSONInspection.integer(stated) == tokenizer.vocabularySize else {
            throw TokenizerError(source: url.path, "\"vocab_size\" is \(JSONInspection.describe(stated)) but the "
                + "tokenizer it describes has \(tokenizer.vocabularySize) ids; fix the alphabet or the size")
        }
    }
    return tokenizer
}

/// The special tokens of a GPT-2 tokenizer directory: from `tokenizer_config.json` when it
/// exists (other keys there are Hugging Face's business and ignored), else GPT-2's defaults.
private func readHuggingFaceSettings(_ url: URL) throws -> (eos: String, pad: String?, usesEOSAsBOS: Bool) {
    let gpt2Default = "<|endoftext|>"
    guard FileManager.default.fileExists(atPath: url.path) else { return (gpt2Default, nil, true) }
    let fields = try JSONFields(parseTokenizerJSON(readTokenizerFile(url), source: url.path), source: url.path,
                                allowedKeys: nil)
    if let prefixSpace = fields.object["add_prefix_space"], JSONInspection.isBoolean(prefixSpace),
       (prefixSpace as! NSNumber).boolValue {
        throw TokenizerError(source: url.path, "\"add_prefix_space\" is true, which this implementation does not "
            + "support; GPT-2 is trained without it")
    }
    let eos = try fields.string("eos_token") ?? gpt2Default
    // An absent bos_token means GPT2Tokenizer's default (<|endoftext|>); an explicit null means none.
    let usesEOSAsBOS = fields.object["bos_token"] == nil ? eos == gpt2Default : try fields.usesEOSAsBOS(eos: eos)
    return (eos, try fields.string("pad_token"), usesEOSAsBOS)
}
