// The tokenizer interface the data pipeline, trainer and generator share, its error type, and the
// splitting-out of special tokens that every tokenizer does before its own encoding.

import Foundation

/// Turns text into token ids and back, and stores itself in a checkpoint directory.
///
/// Three kinds exist: ``CharacterTokenizer`` (a declared alphabet, e.g. randomwalks' letters),
/// ``ByteTokenizer`` (UTF-8 bytes) and ``BPETokenizer`` (GPT-2's byte-level BPE). Each one
/// recognises its EOS and pad tokens' text inside the input, as Hugging Face tokenizers do with
/// special tokens, so `"walk<|endoftext|>"` ends with ``eosTokenID``: the sample builder's rule
/// "append EOS unless the phrase already ends with it" can then be checked on ids.
public protocol Tokenizer: Sendable {
    /// Number of token ids; every id `encode` returns is in `0..<vocabularySize`. The model's
    /// embedding table needs at least this many rows.
    var vocabularySize: Int { get }
    /// The end-of-sequence token: appended to the last phrase of a sample, and where generation stops.
    var eosTokenID: Int32 { get }
    /// The text that encodes to ``eosTokenID`` (e.g. `<|endoftext|>`).
    var eosToken: String { get }
    /// The token right-padded batches are filled with. It may equal ``eosTokenID`` (GPT-2 usage);
    /// padded positions are masked out, so its value never reaches a loss.
    var padTokenID: Int32 { get }
    /// The beginning-of-sequence token that stands alone as the prompt of a plain-string sample
    /// (see ``OfflineSample/promptIsBOS``), or nil when this tokenizer has none, in which case
    /// EOS takes its place (trlx's `tokenizer.bos_token or tokenizer.eos_token`).
    var bosTokenID: Int32? { get }

    /// The ids of `text`, special tokens' text included.
    /// - Throws: ``TokenizerError`` when the text holds something this vocabulary cannot express.
    func encode(_ text: String) throws -> [Int32]

    /// The text of `ids`, leaving out EOS and pad tokens (like Hugging Face's
    /// `decode(skip_special_tokens=True)`, which trlx uses to read generations back). Ids outside
    /// the vocabulary decode to U+FFFD, so a model whose embedding table is wider than the
    /// tokenizer can still be shown.
    func decode(_ ids: [Int32]) -> String

    /// Writes the files that ``loadTokenizer(from:)`` reads back into the existing `directory`:
    /// `tokenizer.json` for character and byte vocabularies, `vocab.json` + `merges.txt` +
    /// `tokenizer_config.json` for BPE.
    func save(to directory: URL) throws
}

/// A tokenizer file that cannot be read, a vocabulary that is inconsistent, or text that the
/// vocabulary cannot express.
///
/// The description starts with the source (a file path, or `encode` for input text) and says what
/// to change, e.g. `encode: character "z" (U+007A) at position 7 is not in the alphabet; add it to
/// the tokenizer's alphabet or remove it from the data`.
public struct TokenizerError: Error, CustomStringConvertible, Sendable {
    /// The file involved (with `:line` when one line is at fault), or `encode` for input text.
    public let source: String
    /// What is wrong and what to do, without the source prefix.
    public let message: String

    /// Creates an error; `description` becomes `"\(source): \(message)"`.
    public init(source: String, _ message: String) {
        self.source = source
        self.message = message
    }

    /// `source: message`.
    public var description: String { "\(source): \(message)" }
}

/// `"c" (U+0063)`: a character as error messages show it, so invisible and look-alike characters
/// can be told apart.
func describeScalar(_ scalar: Unicode.Scalar) -> String {
    let hex = String(scalar.value, radix: 16, uppercase: true)
    let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    let invisible: Set<Unicode.GeneralCategory> = [.control, .format, .spaceSeparator, .lineSeparator,
                                                   .paragraphSeparator, .nonspacingMark, .unassigned]
    let printable = !invisible.contains(scalar.properties.generalCategory) && !scalar.properties.isWhitespace
    return printable ? "\"\(scalar)\" (\(code))" : code
}

/// Finds the special tokens' text (EOS, pad) inside input text, so each tokenizer encodes the
/// stretches between them with its own rules and the special tokens as their single ids.
///
/// Matching is on Unicode scalars, left to right, longest token first at each position: the same
/// result as Hugging Face's special-token split for tokens that do not overlap.
struct SpecialTokenMatcher: Sendable {
    /// One stretch of the input: ordinary text (a range of scalar positions) or a special token.
    enum Piece: Equatable {
        case text(Range<Int>)
        case special(Int32)
    }

    private let tokens: [(scalars: [Unicode.Scalar], id: Int32)]

    /// `tokens` maps each special token's text to its id; empty texts are ignored (they would
    /// match everywhere).
    init(_ tokens: [(text: String, id: Int32)]) {
        self.tokens = tokens
            .filter { !$0.text.isEmpty }
            .map { (Array($0.text.unicodeScalars), $0.id) }
            .sorted { $0.scalars.count > $1.scalars.count }
    }

    /// The pieces of `scalars`, in order; text pieces are never empty.
    func split(_ scalars: [Unicode.Scalar]) -> [Piece] {
        var pieces: [Piece] = []
        var textStart = 0
        var position = 0
        scan: while position < scalars.count {
            for token in tokens where scalars[position] == token.scalars[0]
                && scalars.count - position >= token.scalars.count
                && scalars[position..<(position + token.scalars.count)].elementsEqual(token.scalars) {
                if textStart < position { pieces.append(.text(textStart..<position)) }
                pieces.append(.special(token.id))
                position += token.scalars.count
                textStart = position
                continue scan
            }
            position += 1
        }
        if textStart < scalars.count { pieces.append(.text(textStart..<scalars.count)) }
        return pieces
    }
}
