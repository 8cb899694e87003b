// GPT-2's byte-level BPE tokenizer, read from a local vocab.json + merges.txt: the vocabulary of
// GPT-2 checkpoints, and of any model trained with Hugging Face's ByteLevelBPETokenizer.

import Foundation

/// GPT-2's byte-level byte-pair encoding, as in OpenAI's `encoder.py` and Hugging Face's
/// `GPT2Tokenizer`.
///
/// Encoding splits the text on the special tokens' text (EOS, pad), splits each stretch into words
/// with GPT-2's regex (``GPT2PreTokenizer``), spells each word's UTF-8 bytes with GPT-2's byte table
/// and applies the merges of `merges.txt` lowest rank first until none applies. Every text
/// encodes: each single byte is a token. There is no cache of encoded words; a word is a few bytes
/// and its merge loop is cheap next to a training step.
///
/// Special tokens follow GPT-2's usage: EOS is `<|endoftext|>`, pad defaults to EOS (padded
/// positions are masked, so sharing the id is harmless) and BOS is EOS.
public struct BPETokenizer: Tokenizer, Equatable {
    /// The text of the EOS token; it must be a token of vocab.json.
    public let eosToken: String
    /// The text of the pad token; a token of vocab.json, often the same as ``eosToken``.
    public let padToken: String
    /// Whether plain-string samples use EOS as their BOS prompt, as GPT-2 does; when false,
    /// ``bosTokenID`` is nil.
    public let usesEOSAsBOS: Bool
    /// One more than the largest id in vocab.json.
    public let vocabularySize: Int
    /// The id of ``eosToken`` in vocab.json.
    public let eosTokenID: Int32
    /// The id of ``padToken`` in vocab.json.
    public let padTokenID: Int32
    /// ``eosTokenID`` when ``usesEOSAsBOS``, else nil.
    public var bosTokenID: Int32? { usesEOSAsBOS ? eosTokenID : nil }

    /// The two files exactly as read, so saving a checkpoint copies them byte for byte.
    let vocabularyFile: Data
    let mergesFile: Data

    /// The id of each single-byte token, by byte value.
    private let byteTokenIDs: [Int32]
    /// (left id, right id) → the merge's rank (lower merges first) and the merged token's id.
    private let mergesByPair: [UInt64: (rank: Int32, merged: Int32)]
    /// The bytes each id decodes to; nil for ids vocab.json does not use.
    private let bytesByID: [[UInt8]?]
    private let specialTokens: SpecialTokenMatcher

    /// Reads a GPT-2 vocabulary.
    /// - Parameters:
    ///   - vocabularyFile: `vocab.json`, an object from token text (in GPT-2's byte spelling) to id.
    ///   - mergesFile: `merges.txt`, an optional `#version` line then one `left right` pair per line,
    ///     highest priority first.
    ///   - eosToken: the EOS token's text; it must be in vocab.json.
    ///   - padToken: the pad token's text (in vocab.json); nil means the EOS token.
    ///   - usesEOSAsBOS: whether EOS is also the BOS token, as in GPT-2.
    /// - Throws: ``TokenizerError`` naming the file, line and entry at fault.
    public init(vocabularyFile: URL, mergesFile: URL, eosToken: String = "<|endoftext|>", padToken: String? = nil,
                usesEOSAsBOS: Bool = true) throws {
        try self.init(vocabularyData: readTokenizerFile(vocabularyFile), vocabularySource: vocabularyFile.path,
                      mergesData: readTokenizerFile(mergesFile), mergesSource: mergesFile.path,
                      eosToken: eosToken, padToken: padToken, usesEOSAsBOS: usesEOSAsBOS)
    }

    /// Parses the two files' contents; the sources name them in errors.
    init(vocabularyData: Data, vocabularySource: String, mergesData: Data, mergesSource: String,
         eosToken: String, padToken: String?, usesEOSAsBOS: Bool) throws {
        let vocabulary = try Self.parseVocabulary(vocabularyData, source: vocabularySource)
        let maxID = vocabulary.values.max() ?? -1
        var bytesByID = [[UInt8]?](repeating: nil, count: Int(maxID) + 1)
        for (token, id) in vocabulary {
            bytesByID[Int(id)] = GPT2ByteMapping.bytes(ofToken: token) ?? Array(token.utf8)
        }
        var byteTokenIDs: [Int32] = []
        for byte in 0..<256 {
            let character = GPT2ByteMapping.characterForByte[byte]
            guard let id = vocabulary[String(character)] else {
                throw TokenizerError(source: vocabularySource, "has no token for byte 0x\(String(byte, radix: 16)) "
                    + "(spelled \"\(character)\"); a byte-level BPE vocabulary lists all 256 bytes")
            }
            byteTokenIDs.append(id)
        }
        let padText = padToken ?? eosToken
        for (name, text) in [("EOS", eosToken), ("pad", padText)] where vocabulary[text] == nil {
            throw TokenizerError(source: vocabularySource, "has no entry \"\(text)\" for the \(name) token; "
                + "name a token of this vocabulary as the \(name) token (tokenizer_config.json's "
                + "\(name.lowercased())_token)")
        }
        self.eosToken = eosToken
        self.padToken = padText
        self.usesEOSAsBOS = usesEOSAsBOS
        self.vocabularySize = Int(maxID) + 1
        self.eosTokenID = vocabulary[eosToken]!
        self.padTokenID = vocabulary[padText]!
        self.vocabularyFile = vocabularyData
        self.mergesFile = mergesData
        self.byteTokenIDs = byteTokenIDs
        self.mergesByPair = try Self.parseMerges(mergesData, source: mergesSource, vocabulary: vocabulary,
                                                 vocabularySource: vocabularySource)
        self.bytesByID = bytesByID
        self.specialTokens = SpecialTokenMatcher([(eosToken, eosTokenID), (padText, padTokenID)])
    }

    // MARK: - Encoding and decoding

    /// The ids of `text`; ``eosToken`` and ``padToken`` inside it become their ids. Never fails.
    public func encode(_ text: String) -> [Int32] {
        let scalars = Array(text.unicodeScalars)
        var ids: [Int32] = []
        var wordBytes: [UInt8] = []
        for piece in specialTokens.split(scalars) {
            switch piece {
            case .special(let id):
                ids.append(id)
            case .text(let range):
                for word in GPT2PreTokenizer.split(scalars, range) {
                    wordBytes.removeAll(keepingCapacity: true)
                    for scalar in scalars[word] { UTF8.encode(scalar) { wordBytes.append($0) } }
                    ids.append(contentsOf: merge(wordBytes))
                }
            }
        }
        return ids
    }

    /// The BPE merge loop of one word: start from single bytes, then repeatedly merge every
    /// left-to-right occurrence of the lowest-ranked adjacent pair, until no pair has a rank.
    private func merge(_ bytes: [UInt8]) -> [Int32] {
        var symbols = bytes.map { byteTokenIDs[Int($0)] }
        while symbols.count > 1 {
            var best: (rank: Int32, left: Int32, right: Int32, merged: Int32)?
            for index in 0..<(symbols.count - 1) {
                if let found = mergesByPair[Self.pairKey(symbols[index], symbols[index + 1])],
                   found.rank < best?.rank ?? .max {
                    best = (found.rank, symbols[index], symbols[index + 1], found.merged)
                }
            }
            guard let best else { break }
            var merged: [Int32] = []
            merged.reserveCapacity(symbols.count - 1)
            var index = 0
            while index < symbols.count {
                if index + 1 < symbols.count, symbols[index] == best.left, symbols[index + 1] == best.right {
                    merged.append(best.merged)
                    index += 2
                } else {
                    merged.append(symbols[index])
                    index += 1
                }
            }
            symbols = merged
        }
        return symbols
    }

    private static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// The text whose bytes the tokens of `ids` spell; EOS and pad are left out, unknown ids become
    /// U+FFFD, and byte sequences that are not valid UTF-8 decode to U+FFFD (Python's
    /// `errors="replace"`, GPT-2's default).
    public func decode(_ ids: [Int32]) -> String {
        var bytes: [UInt8] = []
        for id in ids where id != eosTokenID && id != padTokenID {
            if id >= 0, Int(id) < bytesByID.count, let tokenBytes = bytesByID[Int(id)] {
                bytes.append(contentsOf: tokenBytes)
            } else {
                bytes.append(contentsOf: [0xEF, 0xBF, 0xBD])  // U+FFFD
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Equal when both files are byte-identical and the special-token settings agree.
    public static func == (lhs: BPETokenizer, rhs: BPETokenizer) -> Bool {
        lhs.vocabularyFile == rhs.vocabularyFile && lhs.mergesFile == rhs.mergesFile && lhs.eosToken == rhs.eosToken
            && lhs.padToken == rhs.padToken && lhs.usesEOSAsBOS == rhs.usesEOSAsBOS
    }

    // MARK: - Reading vocab.json and merges.txt

    private static func parseVocabulary(_ data: Data, source: String) throws -> [String: Int32] {
        let object = try parseTokenizerJSON(data, source: source)
        guard let entries = object as? [String: Any] else {
            throw TokenizerError(source: source, "expected a JSON object from token text to id, found "
                + "\(JSONInspection.typeName(object))")
        }
        guard !entries.isEmpty else {
            throw TokenizerError(source: source, "is an empty vocabulary; it needs at least the 256 byte tokens")
        }
        // String keys compare by canonical equivalence, so "é" and "e\u{301}" would be one key;
        // byte-level spellings hold no combining marks, so distinct tokens never collide.
        var vocabulary: [String: Int32] = [:]
        var tokensByID: [Int32: String] = [:]
        // Sorted so that, of several bad entries, the same one is reported every run.
        for (token, value) in entries.sorted(by: { $0.key < $1.key }) {
            guard let id = JSONInspection.integer(value), let id32 = Int32(exactly: id), id32 >= 0 else {
                throw TokenizerError(source: source, "entry \"\(token)\" has id \(JSONInspection.describe(value)); "
                    + "ids must be integers from 0 to \(Int32.max)")
            }
            if let other = tokensByID[id32] {
                throw TokenizerError(source: source, "entries \"\(other)\" and \"\(token)\" share id \(id32); "
                    + "each token needs its own id")
            }
            tokensByID[id32] = token
            vocabulary[token] = id32
        }
        return vocabulary
    }

    private static func parseMerges(_ data: Data, source: String, vocabulary: [String: Int32],
                                    vocabularySource: String) throws -> [UInt64: (rank: Int32, merged: Int32)] {
        guard let text = String(data: data, encoding: .utf8) else {
            throw TokenizerError(source: source, "is not valid UTF-8; it should be the merges.txt saved with vocab.json")
        }
        var merges: [UInt64: (rank: Int32, merged: Int32)] = [:]
        var rank: Int32 = 0
        // Split on scalars: as Characters, "\r\n" is one and would not split at "\n".
        for (index, scalars) in text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = Substring(scalars.last == "\r" ? scalars.dropLast() : scalars)
            // The header GPT-2's file starts with; blank lines (the final newline) carry nothing.
            if (index == 0 && line.hasPrefix("#version")) || line.isEmpty { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw TokenizerError(source: "\(source):\(index + 1)", "expected two tokens separated by one "
                    + "space, found \"\(line)\"")
            }
            let left = String(parts[0]), right = String(parts[1])
            for part in [left, right, left + right] where vocabulary[part] == nil {
                throw TokenizerError(source: "\(source):\(index + 1)", "merge \"\(left) \(right)\" uses \"\(part)\", "
                    + "which is not in \(vocabularySource); vocab.json and merges.txt must come from the same tokenizer")
            }
            // A repeated pair keeps its last rank, as OpenAI's encoder.py (transformers' slow
            // GPT2Tokenizer) and tokenizers 0.23 do; tokenizers 0.22 kept the first. GPT-2's own
            // merges.txt has no repeats.
            merges[pairKey(vocabulary[left]!, vocabulary[right]!)] = (rank, vocabulary[left + right]!)
            rank += 1
        }
        return merges
    }
}
