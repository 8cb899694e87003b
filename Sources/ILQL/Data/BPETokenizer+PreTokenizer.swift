// GPT-2's fixed steps before BPE merges: splitting text into words with its regex, and spelling
// each word's UTF-8 bytes as printable characters (the "bytes to unicode" table vocab.json uses).

/// GPT-2's pre-tokenisation, written out as a scanner over Unicode scalars.
///
/// GPT-2 splits text with the regex
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// (Python's `regex` module, where `\s` is the Unicode White_Space property). Foundation's
/// NSRegularExpression on Linux does not reliably support `\p{…}` classes, so the alternatives are
/// tried here in the same order, with the same greediness and backtracking:
/// - an ASCII apostrophe contraction, case-sensitive;
/// - an optional U+0020 space then a run of letters, of numbers, or of "other" characters
///   (neither whitespace, letter nor number);
/// - a whitespace run that stops before the last whitespace character when a non-space follows,
///   so that character can lead the next word (`"  word"` → `" "`, `" word"`);
/// - a single whitespace character otherwise.
enum GPT2PreTokenizer {
    /// What the regex's character classes see in one scalar.
    enum CharacterClass: Equatable {
        case letter, number, whitespace, other
    }

    static func characterClass(_ scalar: Unicode.Scalar) -> CharacterClass {
        if scalar.properties.isWhitespace { return .whitespace }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return .other
        }
    }

    /// The suffixes after an apostrophe that make a contraction; their order does not matter,
    /// as none is a prefix of another.
    private static let contractions: [[Unicode.Scalar]] = ["s", "t", "re", "ve", "m", "ll", "d"].map { Array($0.unicodeScalars) }

    /// The words of `scalars[range]`, as consecutive ranges covering it exactly.
    static func split(_ scalars: [Unicode.Scalar], _ range: Range<Int>) -> [Range<Int>] {
        var words: [Range<Int>] = []
        var start = range.lowerBound
        let end = range.upperBound
        while start < end {
            let stop = wordEnd(scalars, from: start, end: end)
            words.append(start..<stop)
            start = stop
        }
        return words
    }

    /// Where the word that starts at `start` ends (exclusive); always beyond `start`.
    private static func wordEnd(_ scalars: [Unicode.Scalar], from start: Int, end: Int) -> Int {
        // 's 't 're 've 'm 'll 'd
        if scalars[start] == "'" {
            for suffix in contractions where end - start - 1 >= suffix.count
                && scalars[(start + 1)..<(start + 1 + suffix.count)].elementsEqual(suffix) {
                return start + 1 + suffix.count
            }
        }
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: the run's class is that of the first
        // scalar after the optional space, and the space only joins a run that is not whitespace.
        let runStart = scalars[start] == " " && start + 1 < end ? start + 1 : start
        let runClass = characterClass(scalars[runStart])
        if runClass != .whitespace {
            var stop = runStart + 1
            while stop < end, characterClass(scalars[stop]) == runClass { stop += 1 }
            return stop
        }
        // `\s+(?!\S)` then `\s+`.
        var stop = start + 1
        while stop < end, characterClass(scalars[stop]) == .whitespace { stop += 1 }
        if stop < end, stop - start >= 2 { return stop - 1 }
        return stop
    }
}

/// GPT-2's reversible spelling of bytes as printable characters, so BPE tokens (which may hold
/// any bytes, including spaces and partial UTF-8 sequences) are readable strings in vocab.json.
///
/// The 188 printable Latin-1 bytes (`!`…`~`, `¡`…`¬`, `®`…`ÿ`) stand for themselves; the other 68
/// bytes, in increasing order, become U+0100, U+0101, … (so a space, byte 0x20, is `Ġ` U+0120).
enum GPT2ByteMapping {
    /// The character that stands for each byte value.
    static let characterForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            if printable {
                table[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The byte each table character stands for; characters outside the table are absent.
    static let byteForCharacter: [Unicode.Scalar: UInt8] = {
        var inverse: [Unicode.Scalar: UInt8] = [:]
        for (byte, character) in characterForByte.enumerated() { inverse[character] = UInt8(byte) }
        return inverse
    }()

    /// The bytes a vocabulary token's text stands for, or nil when the text uses a character
    /// outside the table, which no byte-level token does. (`<|endoftext|>` is all printable
    /// ASCII, so it maps to its own bytes; decoders leave it out by id, not here.)
    static func bytes(ofToken token: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        for scalar in token.unicodeScalars {
            guard let byte = byteForCharacter[scalar] else { return nil }
            bytes.append(byte)
        }
        return bytes
    }
}
