// The pieces shared by the safetensors reader and writer: the error type, the dtype and tensor
// descriptions, overflow-checked size arithmetic and the JSON header parser.

/// An error from reading, validating or writing a safetensors file.
///
/// The description always starts with the source (usually the file path) and then says what is
/// wrong and where, e.g. `model.safetensors: tensor 'x' data_offsets [0, 400] run past the end of
/// the data (392 bytes)`, so a message is useful without the code that threw it.
public struct SafetensorsError: Error, CustomStringConvertible, Sendable {
    /// The broad class of a failure, for callers that react differently to each.
    public enum Kind: Sendable, Equatable {
        /// The file could not be opened, read, written or renamed.
        case io
        /// The length prefix or the JSON header is malformed.
        case header
        /// A tensor entry is malformed or its data range is inconsistent with the data buffer.
        case layout
        /// No tensor with the requested name exists.
        case missingTensor
        /// The tensor's dtype cannot be read by the accessor that was called.
        case dtypeMismatch
        /// A caller-supplied element count or shape disagrees with the tensor.
        case countMismatch
        /// A stored value does not fit the requested type (e.g. an I64 outside the Int32 range).
        case valueOutOfRange
        /// A writer was given an invalid or duplicate tensor or metadata entry.
        case invalidArgument
    }

    /// What failed, for programmatic handling.
    public let kind: Kind
    /// The label of the file or buffer involved, usually its path.
    public let source: String
    /// What is wrong and where, without the source prefix.
    public let message: String

    /// Creates an error; `description` becomes `"\(source): \(message)"`.
    public init(_ kind: Kind, source: String, _ message: String) {
        self.kind = kind
        self.source = source
        self.message = message
    }

    /// `source: message`.
    public var description: String { "\(source): \(message)" }
}

/// The element types of the safetensors format.
///
/// The raw values are the spellings used in the JSON header. Sub-byte types (F4, F6_*) and the
/// FNUZ float8 variants are not supported: a file using them is rejected as an unknown dtype.
public enum SafetensorsDType: String, CaseIterable, Sendable {
    /// Boolean, one byte per element.
    case bool = "BOOL"
    /// Unsigned 8-bit integer.
    case uint8 = "U8"
    /// Signed 8-bit integer.
    case int8 = "I8"
    /// 8-bit float, 5 exponent bits and 2 mantissa bits.
    case float8E5M2 = "F8_E5M2"
    /// 8-bit float, 4 exponent bits and 3 mantissa bits.
    case float8E4M3 = "F8_E4M3"
    /// 8-bit power-of-two scale (OCP microscaling).
    case float8E8M0 = "F8_E8M0"
    /// Signed 16-bit integer.
    case int16 = "I16"
    /// Unsigned 16-bit integer.
    case uint16 = "U16"
    /// IEEE 754 half precision.
    case float16 = "F16"
    /// bfloat16: the upper 16 bits of an IEEE single.
    case bfloat16 = "BF16"
    /// Signed 32-bit integer.
    case int32 = "I32"
    /// Unsigned 32-bit integer.
    case uint32 = "U32"
    /// IEEE 754 single precision.
    case float32 = "F32"
    /// Complex number made of two 32-bit floats.
    case complex64 = "C64"
    /// IEEE 754 double precision.
    case float64 = "F64"
    /// Signed 64-bit integer.
    case int64 = "I64"
    /// Unsigned 64-bit integer.
    case uint64 = "U64"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .bool, .uint8, .int8, .float8E5M2, .float8E4M3, .float8E8M0: return 1
        case .int16, .uint16, .float16, .bfloat16: return 2
        case .int32, .uint32, .float32: return 4
        case .complex64, .float64, .int64, .uint64: return 8
        }
    }

    /// Position of the dtype in the Rust `safetensors::Dtype` enum, whose derived `Ord` decides
    /// the order of tensors in the data buffer (descending dtype, then name). The cases above are
    /// declared in that same order; the gaps of the Rust enum (F4, F6_*, FNUZ) do not matter for
    /// comparisons among the supported cases.
    var rustOrder: Int { Self.allCases.firstIndex(of: self)! }
}

/// Where one tensor lives in a safetensors file and what it holds.
public struct SafetensorsTensorInfo: Equatable, Sendable {
    /// The tensor's name (the JSON key).
    public let name: String
    /// The element type.
    public let dtype: SafetensorsDType
    /// Dimensions, outermost first; `[]` is a scalar, any zero dimension makes the tensor empty.
    public let shape: [Int]
    /// Byte range inside the data buffer (after the header), i.e. the header's `data_offsets`.
    public let dataRange: Range<Int>

    /// Creates a tensor description; the reader and writer check that the fields are consistent.
    public init(name: String, dtype: SafetensorsDType, shape: [Int], dataRange: Range<Int>) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.dataRange = dataRange
    }

    /// Number of elements: the product of `shape` (1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }
}

/// Product of `shape` times `elementSize`, or nil when a dimension is negative or the product
/// overflows `Int`; shared by reader and writer so a hostile shape can never trap.
func safetensorsByteCount(shape: [Int], elementSize: Int) -> (elements: Int, bytes: Int)? {
    var elements = 1
    for dimension in shape {
        guard dimension >= 0 else { return nil }
        let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
        if overflow { return nil }
        elements = product
    }
    let (bytes, overflow) = elements.multipliedReportingOverflow(by: elementSize)
    return overflow ? nil : (elements, bytes)
}

/// A JSON value as read from a safetensors header.
///
/// A small hand-written parser is used instead of JSONSerialization because the header needs
/// things JSONSerialization cannot give: object keys in file order (Rust writes `__metadata__` in
/// hash order, and reproducing a file byte for byte needs that order), detection of duplicate keys,
/// integers checked exactly rather than through Double, and a nesting limit so a hostile header of
/// a million `[` cannot exhaust the stack.
enum SafetensorsJSON {
    case object([(key: String, value: SafetensorsJSON)])
    case array([SafetensorsJSON])
    case string(String)
    /// The number's text exactly as written (already checked against the JSON grammar).
    case number(String)
    case bool(Bool)
    case null

    /// Why a header is not JSON; `message` is complete and names the header byte offset.
    struct ParseError: Error {
        let message: String
    }

    /// Deepest array/object nesting accepted; real headers use 3 levels.
    static let maximumDepth = 64

    /// "object", "array", ... for error messages.
    var kindName: String {
        switch self {
        case .object: return "object"
        case .array: return "array"
        case .string: return "string"
        case .number: return "number"
        case .bool: return "boolean"
        case .null: return "null"
        }
    }

    /// The value as an Int when it is a plain non-negative integer literal that fits; nil for
    /// negatives, fractions, exponents and overflow.
    var nonNegativeInt: Int? {
        guard case .number(let text) = self else { return nil }
        var value = 0
        for byte in text.utf8 {
            guard (0x30...0x39).contains(byte) else { return nil }
            let (shifted, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = shifted.addingReportingOverflow(Int(byte - 0x30))
            if o1 || o2 { return nil }
            value = sum
        }
        return value
    }

    /// Parses one JSON value surrounded by optional whitespace (the header's space padding).
    static func parse(_ bytes: ArraySlice<UInt8>) throws -> SafetensorsJSON {
        var parser = Parser(bytes: Array(bytes))
        try parser.validateUTF8()
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.position == parser.bytes.count else { throw parser.error("unexpected trailing") }
        return value
    }

    private struct Parser {
        let bytes: [UInt8]
        var position = 0

        func error(_ what: String) -> ParseError {
            guard position < bytes.count else {
                return ParseError(message: "header is not valid JSON: unexpected end at header byte \(position)")
            }
            let byte = bytes[position]
            let shown = (0x21...0x7E).contains(byte) ? "'\(UnicodeScalar(byte))'" : "byte 0x" + String(byte, radix: 16)
            return ParseError(message: "header is not valid JSON: \(what) \(shown) at header byte \(position)")
        }

        /// Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF), as Rust's
        /// `str::from_utf8` requires.
        func validateUTF8() throws {
            var i = 0
            while i < bytes.count {
                let lead = bytes[i]
                let length: Int, low: UInt8, high: UInt8
                switch lead {
                case 0x00...0x7F: i += 1; continue
                case 0xC2...0xDF: (length, low, high) = (2, 0x80, 0xBF)
                case 0xE0: (length, low, high) = (3, 0xA0, 0xBF)
                case 0xED: (length, low, high) = (3, 0x80, 0x9F)
                case 0xE1...0xEF: (length, low, high) = (3, 0x80, 0xBF)
                case 0xF0: (length, low, high) = (4, 0x90, 0xBF)
                case 0xF1...0xF3: (length, low, high) = (4, 0x80, 0xBF)
                case 0xF4: (length, low, high) = (4, 0x80, 0x8F)
                default: throw ParseError(message: "header is not valid UTF-8 at header byte \(i)")
                }
                for k in 1..<length {
                    let range: ClosedRange<UInt8> = k == 1 ? low...high : 0x80...0xBF
                    guard i + k < bytes.count, range.contains(bytes[i + k]) else {
                        throw ParseError(message: "header is not valid UTF-8 at header byte \(i)")
                    }
                }
                i += length
            }
        }

        mutating func skipWhitespace() {
            while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
        }

        /// Consumes `literal` if the input continues with it.
        mutating func consume(_ literal: String) -> Bool {
            let expected = Array(literal.utf8)
            guard bytes.count - position >= expected.count,
                  bytes[position..<(position + expected.count)].elementsEqual(expected) else { return false }
            position += expected.count
            return true
        }

        mutating func value(depth: Int) throws -> SafetensorsJSON {
            guard position < bytes.count else { throw error("expected a value") }
            switch bytes[position] {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                guard depth < SafetensorsJSON.maximumDepth else {
                    throw ParseError(message: "header nests deeper than \(SafetensorsJSON.maximumDepth) levels "
                        + "at header byte \(position)")
                }
                return bytes[position] == UInt8(ascii: "{") ? try object(depth: depth + 1) : try array(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default:
                if consume("true") { return .bool(true) }
                if consume("false") { return .bool(false) }
                if consume("null") { return .null }
                throw error("expected a value, found")
            }
        }

        mutating func object(depth: Int) throws -> SafetensorsJSON {
            position += 1  // "{"
            var members: [(key: String, value: SafetensorsJSON)] = []
            skipWhitespace()
            if consume("}") { return .object(members) }
            while true {
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                    throw error("expected a string key, found")
                }
                let key = try string()
                skipWhitespace()
                guard consume(":") else { throw error("expected ':', found") }
                skipWhitespace()
                members.append((key, try value(depth: depth)))
                skipWhitespace()
                if consume("}") { return .object(members) }
                guard consume(",") else { throw error("expected ',' or '}', found") }
                skipWhitespace()
            }
        }

        mutating func array(depth: Int) throws -> SafetensorsJSON {
            position += 1  // "["
            var elements: [SafetensorsJSON] = []
            skipWhitespace()
            if consume("]") { return .array(elements) }
            while true {
                elements.append(try value(depth: depth))
                skipWhitespace()
                if consume("]") { return .array(elements) }
                guard consume(",") else { throw error("expected ',' or ']', found") }
                skipWhitespace()
            }
        }

        mutating func number() throws -> SafetensorsJSON {
            let start = position
            func digits(_ parser: inout Parser) -> Int {
                let first = parser.position
                while parser.position < parser.bytes.count,
                      (0x30...0x39).contains(parser.bytes[parser.position]) { parser.position += 1 }
                return parser.position - first
            }
            _ = consume("-")
            if consume("0") {
                // A leading zero stands alone ("01" is not JSON).
            } else if digits(&self) == 0 {
                throw error("expected a digit, found")
            }
            if consume("."), digits(&self) == 0 { throw error("expected a digit after '.', found") }
            if consume("e") || consume("E") {
                _ = consume("+") || consume("-")
                if digits(&self) == 0 { throw error("expected an exponent digit, found") }
            }
            return .number(String(decoding: bytes[start..<position], as: UTF8.self))
        }

        mutating func hex4() throws -> UInt32 {
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard position < bytes.count, let digit = hexValue(bytes[position]) else {
                    throw error("expected a hex digit in \\u escape, found")
                }
                value = value << 4 | digit
                position += 1
            }
            return value
        }

        func hexValue(_ byte: UInt8) -> UInt32? {
            switch byte {
            case 0x30...0x39: return UInt32(byte - 0x30)
            case 0x41...0x46: return UInt32(byte - 0x41 + 10)
            case 0x61...0x66: return UInt32(byte - 0x61 + 10)
            default: return nil
            }
        }

        /// A string starting at the opening quote. The input is valid UTF-8, so raw bytes are
        /// copied through; escapes are decoded, and lone surrogates rejected as serde_json does.
        mutating func string() throws -> String {
            position += 1  // opening quote
            var out: [UInt8] = []
            while true {
                guard position < bytes.count else { throw error("unterminated string:") }
                let byte = bytes[position]
                switch byte {
                case UInt8(ascii: "\""):
                    position += 1
                    return String(decoding: out, as: UTF8.self)
                case 0x00..<0x20:
                    throw error("control character in string:")
                case UInt8(ascii: "\\"):
                    position += 1
                    guard position < bytes.count else { throw error("unterminated escape:") }
                    let escape = bytes[position]
                    position += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800...0xDBFF).contains(scalar) {
                            guard consume("\\u") else { throw error("lone surrogate in \\u escape before") }
                            let low = try hex4()
                            guard (0xDC00...0xDFFF).contains(low) else { throw error("invalid low surrogate before") }
                            scalar = 0x10000 + (scalar - 0xD800) << 10 + (low - 0xDC00)
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { throw error("lone surrogate in \\u escape before") }
                        UTF8.encode(unicode) { out.append($0) }
                    default:
                        position -= 1
                        throw error("invalid escape")
                    }
                default:
                    out.append(byte)
                    position += 1
                }
            }
        }
    }
}
