// A tokenizer whose tokens are the UTF-8 bytes of the text: any text encodes, with no vocabulary
// file, at the price of long sequences.

import Foundation

/// Bytes 0…255 as ids 0…255, then EOS (256) and pad (257): 258 ids, no BOS.
///
/// Every text encodes, so this is the tokenizer for data whose characters are not known in
/// advance and a model trained from scratch. Decoding bytes that are not valid UTF-8 (a generation
/// cut inside a multi-byte character) gives U+FFFD for the broken sequence, like Python's
/// `bytes.decode(errors="replace")`.
public struct ByteTokenizer: Tokenizer, Equatable {
    /// The text that encodes to ``eosTokenID``; it never decodes (see ``decode(_:)``).
    public let eosToken: String
    /// The text that encodes to ``padTokenID``; it never decodes.
    public let padToken: String

    private let specialTokens: SpecialTokenMatcher

    /// Creates the byte tokenizer.
    /// - Parameters:
    ///   - eosToken: the text that encodes to EOS; must not be empty.
    ///   - padToken: the text that encodes to pad; must not be empty or equal `eosToken`.
    /// - Throws: ``TokenizerError`` for an empty or repeated special token text.
    public init(eosToken: String = "<|endoftext|>", padToken: String = "<|pad|>") throws {
        try self.init(eosToken: eosToken, padToken: padToken, source: "ByteTokenizer")
    }

    /// The designated initialiser; `source` names where the settings came from in errors.
    init(eosToken: String, padToken: String, source: String) throws {
        for (name, text) in [("eos_token", eosToken), ("pad_token", padToken)] where text.isEmpty {
            throw TokenizerError(source: source, "\(name) is empty; give it a text such as \"<|endoftext|>\"")
        }
        guard eosToken != padToken else {
            throw TokenizerError(source: source, "eos_token and pad_token are both \"\(eosToken)\"; they need distinct texts")
        }
        self.eosToken = eosToken
        self.padToken = padToken
        self.specialTokens = SpecialTokenMatcher([(eosToken, Self.eos), (padToken, Self.pad)])
    }

    private static let eos: Int32 = 256
    private static let pad: Int32 = 257

    /// 258: the 256 byte values, EOS and pad.
    public var vocabularySize: Int { 258 }
    /// 256.
    public var eosTokenID: Int32 { Self.eos }
    /// 257.
    public var padTokenID: Int32 { Self.pad }
    /// Nil: there is no BOS token, so a plain-string sample's prompt is EOS (as in trlx).
    public var bosTokenID: Int32? { nil }

    /// The UTF-8 bytes of `text`; ``eosToken`` and ``padToken`` inside it become their ids.
    /// Never fails.
    public func encode(_ text: String) -> [Int32] {
        let scalars = Array(text.unicodeScalars)
        var ids: [Int32] = []
        ids.reserveCapacity(text.utf8.count)
        for piece in specialTokens.split(scalars) {
            switch piece {
            case .special(let id):
                ids.append(id)
            case .text(let range):
                for scalar in scalars[range] {
                    UTF8.encode(scalar) { ids.append(Int32($0)) }
                }
            }
        }
        return ids
    }

    /// The text whose UTF-8 bytes are `ids`; EOS and pad are left out, ids above 257 become U+FFFD.
    public func decode(_ ids: [Int32]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count)
        for id in ids where id != Self.eos && id != Self.pad {
            if (0...255).contains(id) {
                bytes.append(UInt8(id))
            } else {
                bytes.append(contentsOf: [0xEF, 0xBF, 0xBD])  // U+FFFD
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Equal when the special tokens are equal.
    public static func == (lhs: ByteTokenizer, rhs: ByteTokenizer) -> Bool {
        lhs.eosToken == rhs.eosToken && lhs.padToken == rhs.padToken
    }
}
