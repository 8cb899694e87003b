// A tokenizer with one token per character of a declared alphabet: the randomwalks vocabulary
// (letters a…u, then EOS and pad, 23 ids as in trlx's randomwalks model).

import Foundation

/// One token per character of a declared alphabet, then EOS and pad.
///
/// Ids `0..<alphabet.count` are the alphabet in order, `alphabet.count` is EOS and
/// `alphabet.count + 1` is pad; there is no BOS token. A "character" is one Unicode scalar, as in Python's `list(text)`,
/// so encoding and decoding never regroup combining marks.
///
/// Text that holds a character outside the alphabet is an error rather than an unknown token:
/// a silently replaced character would train the model on data other than the file's.
public struct CharacterTokenizer: Tokenizer, Equatable {
    /// The characters in id order; each entry is exactly one Unicode scalar.
    public let alphabet: [String]
    /// The text that encodes to ``eosTokenID``; it never decodes (see ``decode(_:)``).
    public let eosToken: String
    /// The text that encodes to ``padTokenID``; it never decodes.
    public let padToken: String

    private let idsByScalar: [Unicode.Scalar: Int32]
    private let specialTokens: SpecialTokenMatcher

    /// trlx's randomwalks vocabulary: the 21 node letters `a`…`u` (ids 0…20), EOS 21, pad 22, no BOS
    /// (randomwalks samples are `[first letter, rest of the walk]`, so no prompt is a lone BOS).
    public static let randomWalks: CharacterTokenizer = {
        let letters = (0..<21).map { String(UnicodeScalar(UInt8(ascii: "a") + UInt8($0))) }
        // Cannot fail: 21 distinct single letters and two distinct multi-character special tokens.
        return try! CharacterTokenizer(alphabet: letters)
    }()

    /// Creates a tokenizer for `alphabet`.
    /// - Parameters:
    ///   - alphabet: distinct entries of one Unicode scalar each, in id order.
    ///   - eosToken: the text that encodes to EOS; must not be empty or a character of the alphabet.
    ///   - padToken: the text that encodes to pad; same rules, and different from `eosToken`.
    /// - Throws: ``TokenizerError`` naming the offending entry.
    public init(alphabet: [String], eosToken: String = "<|endoftext|>", padToken: String = "<|pad|>") throws {
        try self.init(alphabet: alphabet, eosToken: eosToken, padToken: padToken, source: "CharacterTokenizer")
    }

    /// The designated initialiser; `source` names where the alphabet came from in errors.
    init(alphabet: [String], eosToken: String, padToken: String, source: String) throws {
        guard !alphabet.isEmpty else {
            throw TokenizerError(source: source, "the alphabet is empty; list the characters the data uses")
        }
        var idsByScalar: [Unicode.Scalar: Int32] = [:]
        for (index, entry) in alphabet.enumerated() {
            let scalars = Array(entry.unicodeScalars)
            guard scalars.count == 1 else {
                throw TokenizerError(source: source, "alphabet entry \(index) \"\(entry)\" is \(scalars.count) Unicode "
                    + "scalars; each entry must be exactly one character")
            }
            if let previous = idsByScalar[scalars[0]] {
                throw TokenizerError(source: source, "alphabet entry \(index) repeats \(describeScalar(scalars[0])) "
                    + "of entry \(previous); remove one of them")
            }
            idsByScalar[scalars[0]] = Int32(index)
        }
        for (name, text) in [("eos_token", eosToken), ("pad_token", padToken)] {
            guard !text.isEmpty else {
                throw TokenizerError(source: source, "\(name) is empty; give it a text such as \"<|endoftext|>\"")
            }
            // A one-character special token equal to a letter would make that letter ambiguous.
            let scalars = Array(text.unicodeScalars)
            if scalars.count == 1, idsByScalar[scalars[0]] != nil {
                throw TokenizerError(source: source, "\(name) \"\(text)\" is also a character of the alphabet; "
                    + "choose a text outside it")
            }
        }
        guard eosToken != padToken else {
            throw TokenizerError(source: source, "eos_token and pad_token are both \"\(eosToken)\"; they need distinct texts")
        }
        self.alphabet = alphabet
        self.eosToken = eosToken
        self.padToken = padToken
        self.idsByScalar = idsByScalar
        self.specialTokens = SpecialTokenMatcher([(eosToken, Int32(alphabet.count)), (padToken, Int32(alphabet.count + 1))])
    }

    /// The alphabet plus EOS and pad.
    public var vocabularySize: Int { alphabet.count + 2 }
    /// `alphabet.count`.
    public var eosTokenID: Int32 { Int32(alphabet.count) }
    /// `alphabet.count + 1`.
    public var padTokenID: Int32 { Int32(alphabet.count + 1) }
    /// Nil: there is no BOS token, so a plain-string sample's prompt is EOS (as in trlx).
    public var bosTokenID: Int32? { nil }

    /// One id per character; ``eosToken`` and ``padToken`` inside the text become their ids.
    /// - Throws: ``TokenizerError`` naming the first character outside the alphabet and its
    ///   position (1-based, counted in Unicode scalars).
    public func encode(_ text: String) throws -> [Int32] {
        let scalars = Array(text.unicodeScalars)
        var ids: [Int32] = []
        ids.reserveCapacity(scalars.count)
        for piece in specialTokens.split(scalars) {
            switch piece {
            case .special(let id):
                ids.append(id)
            case .text(let range):
                for position in range {
                    guard let id = idsByScalar[scalars[position]] else {
                        throw unknownCharacter(at: position, in: scalars)
                    }
                    ids.append(id)
                }
            }
        }
        return ids
    }

    private func unknownCharacter(at position: Int, in scalars: [Unicode.Scalar]) -> TokenizerError {
        let excerpt = String(String.UnicodeScalarView(scalars.prefix(40))) + (scalars.count > 40 ? "…" : "")
        let shownAlphabet = alphabet.count <= 30 ? alphabet.joined() : alphabet.prefix(30).joined() + "…"
        return TokenizerError(source: "encode", "character \(describeScalar(scalars[position])) at position "
            + "\(position + 1) of \"\(excerpt)\" is not in the alphabet (\(shownAlphabet)); add it to the "
            + "tokenizer's alphabet or remove it from the data")
    }

    /// The alphabet characters of `ids`; EOS and pad are left out, other ids become U+FFFD.
    public func decode(_ ids: [Int32]) -> String {
        var scalars = String.UnicodeScalarView()
        for id in ids where id != eosTokenID && id != padTokenID {
            if id >= 0, Int(id) < alphabet.count {
                scalars.append(contentsOf: alphabet[Int(id)].unicodeScalars)
            } else {
                scalars.append("\u{FFFD}")
            }
        }
        return String(scalars)
    }

    /// Equal when alphabet and special tokens are equal.
    public static func == (lhs: CharacterTokenizer, rhs: CharacterTokenizer) -> Bool {
        lhs.alphabet == rhs.alphabet && lhs.eosToken == rhs.eosToken && lhs.padToken == rhs.padToken
    }
}
