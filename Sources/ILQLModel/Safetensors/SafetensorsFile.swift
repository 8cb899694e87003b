// Reading, validating and decoding safetensors files (https://github.com/huggingface/safetensors).
//
// Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON, then the data buffer.
// Everything is validated up front so the accessors can index the buffer without further checks:
// a corrupt, truncated or hostile file must produce a SafetensorsError, never a trap.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A parsed, fully validated safetensors file held in memory.
///
/// Construction checks the length prefix, the JSON header, every tensor entry and that the tensors
/// tile the data buffer exactly (no overlaps, gaps or trailing bytes), as the format requires.
public struct SafetensorsFile: Sendable {
    /// Header lengths above this are rejected before anything is allocated or parsed; the Rust
    /// implementation uses the same limit.
    public static let maximumHeaderLength = 100_000_000

    /// The label used in error messages (the path for files read from disk).
    public let source: String
    /// The `__metadata__` string map (empty when the header has none).
    public let metadata: [String: String]
    /// The `__metadata__` entries in header order, or nil when the header has no `__metadata__`.
    /// Rust writes metadata in hash order, so this order is what reproduces a file byte for byte.
    public let orderedMetadata: [(key: String, value: String)]?
    /// All tensors, ordered by position in the data buffer (ties keep header order).
    public let tensors: [SafetensorsTensorInfo]
    /// The length of the JSON header in bytes, including padding.
    public let headerLength: Int

    private let bytes: [UInt8]
    private let dataStart: Int
    private let indexByName: [String: Int]

    /// The tensor names in data order.
    public var names: [String] { tensors.map(\.name) }

    /// Reads and validates the file at `url`; errors name its path.
    public init(contentsOf url: URL) throws {
        let path = url.path
        try self.init(bytes: Self.readAll(path: path), source: path)
    }

    /// Validates an in-memory file image; `source` labels every error message (e.g. the path).
    public init(bytes: [UInt8], source: String) throws {
        func fail(_ kind: SafetensorsError.Kind, _ message: String) -> SafetensorsError {
            SafetensorsError(kind, source: source, message)
        }
        guard bytes.count >= 8 else {
            throw fail(.header, "file is \(bytes.count) bytes, shorter than the 8-byte header length")
        }
        var declared: UInt64 = 0
        for i in (0..<8).reversed() { declared = declared << 8 | UInt64(bytes[i]) }
        guard declared <= UInt64(Self.maximumHeaderLength) else {
            throw fail(.header, "header length \(declared) is absurdly large "
                + "(limit \(Self.maximumHeaderLength) bytes)")
        }
        let headerLength = Int(declared)
        guard headerLength <= bytes.count - 8 else {
            throw fail(.header, "header length \(headerLength) runs past the end of the file "
                + "(\(bytes.count - 8) bytes after the length prefix)")
        }
        let headerBytes = bytes[8..<(8 + headerLength)]
        let root: SafetensorsJSON
        do {
            root = try SafetensorsJSON.parse(headerBytes)
        } catch let error as SafetensorsJSON.ParseError {
            throw fail(.header, error.message)
        }
        guard case .object(let members) = root else {
            throw fail(.header, "header is a JSON \(root.kindName), not an object")
        }

        let dataLength = bytes.count - 8 - headerLength
        var infos: [SafetensorsTensorInfo] = []
        var seen = Set<String>()
        var ordered: [(key: String, value: String)]?
        for (name, value) in members {
            guard seen.insert(name).inserted else { throw fail(.header, "duplicate entry '\(name)' in header") }
            if name == "__metadata__" {
                ordered = try Self.parseMetadata(value, fail: fail)
            } else {
                infos.append(try Self.parseTensor(name, value, dataLength: dataLength, fail: fail))
            }
        }

        // Sort by (begin, end) with header position as the tie-break so the order is deterministic.
        let sorted = infos.indices.sorted { a, b in
            let (x, y) = (infos[a].dataRange, infos[b].dataRange)
            return (x.lowerBound, x.upperBound, a) < (y.lowerBound, y.upperBound, b)
        }.map { infos[$0] }
        var covered = 0
        var previous: String?
        for info in sorted {
            let range = info.dataRange
            if range.lowerBound < covered {
                throw fail(.layout, "tensor '\(info.name)' data_offsets [\(range.lowerBound), "
                    + "\(range.upperBound)] overlap tensor '\(previous ?? "")' (which ends at \(covered))")
            }
            if range.lowerBound > covered {
                let after = previous.map { "after tensor '\($0)'" } ?? "at the start of the data"
                throw fail(.layout, "gap of \(range.lowerBound - covered) bytes \(after), before tensor "
                    + "'\(info.name)' at offset \(range.lowerBound); the data buffer must be fully covered")
            }
            covered = range.upperBound
            if !range.isEmpty { previous = info.name }
        }
        if covered != dataLength {
            throw fail(.layout, "\(dataLength - covered) trailing bytes after the last tensor: tensors "
                + "cover \(covered) of the \(dataLength) data bytes")
        }

        self.source = source
        self.orderedMetadata = ordered
        self.metadata = Dictionary(ordered ?? [], uniquingKeysWith: { first, _ in first })
        self.tensors = sorted
        self.headerLength = headerLength
        self.bytes = bytes
        self.dataStart = 8 + headerLength
        self.indexByName = Dictionary(sorted.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    private static func parseMetadata(
        _ value: SafetensorsJSON, fail: (SafetensorsError.Kind, String) -> SafetensorsError
    ) throws -> [(key: String, value: String)] {
        guard case .object(let members) = value else {
            throw fail(.header, "__metadata__ is a JSON \(value.kindName), not a string-to-string object")
        }
        var keys = Set<String>()
        return try members.map { key, entry in
            guard keys.insert(key).inserted else { throw fail(.header, "duplicate __metadata__ key '\(key)'") }
            guard case .string(let text) = entry else {
                throw fail(.header, "__metadata__ value for '\(key)' is a JSON \(entry.kindName), not a string")
            }
            return (key, text)
        }
    }

    private static func parseTensor(
        _ name: String, _ value: SafetensorsJSON, dataLength: Int,
        fail: (SafetensorsError.Kind, String) -> SafetensorsError
    ) throws -> SafetensorsTensorInfo {
        guard case .object(let fields) = value else {
            throw fail(.layout, "tensor '\(name)' entry is a JSON \(value.kindName), not an object")
        }
        // Unknown fields are ignored, as the Rust reader does; repeated fields are ambiguous.
        var found: [String: SafetensorsJSON] = [:]
        for (key, field) in fields where ["dtype", "shape", "data_offsets"].contains(key) {
            guard found.updateValue(field, forKey: key) == nil else {
                throw fail(.layout, "tensor '\(name)' repeats field '\(key)'")
            }
        }
        guard case .string(let dtypeName)? = found["dtype"] else {
            throw fail(.layout, "tensor '\(name)' has no string field 'dtype'")
        }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
            throw fail(.layout, "tensor '\(name)' has unknown dtype '\(dtypeName)'")
        }
        guard case .array(let dims)? = found["shape"], case let shape = dims.compactMap(\.nonNegativeInt),
              shape.count == dims.count else {
            throw fail(.layout, "tensor '\(name)' shape is not a list of non-negative integers")
        }
        guard case .array(let offsets)? = found["data_offsets"], offsets.count == 2,
              let begin = offsets[0].nonNegativeInt, let end = offsets[1].nonNegativeInt else {
            throw fail(.layout, "tensor '\(name)' data_offsets is not a list of two non-negative integers")
        }
        let location = "tensor '\(name)' data_offsets [\(begin), \(end)]"
        guard begin <= end else { throw fail(.layout, "\(location) has begin > end") }
        guard let (elements, byteCount) = safetensorsByteCount(shape: shape, elementSize: dtype.byteSize) else {
            throw fail(.layout, "tensor '\(name)' shape \(shape) overflows the element count")
        }
        guard end - begin == byteCount else {
            throw fail(.layout, "\(location) span \(end - begin) bytes, but shape \(shape) of \(dtype.rawValue) "
                + "needs \(elements) × \(dtype.byteSize) = \(byteCount) bytes")
        }
        guard end <= dataLength else {
            throw fail(.layout, "\(location) run past the end of the data (\(dataLength) bytes)")
        }
        return SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, dataRange: begin..<end)
    }

    // MARK: - Accessors

    /// The description of the tensor called `name`, or nil.
    public func tensor(named name: String) -> SafetensorsTensorInfo? {
        indexByName[name].map { tensors[$0] }
    }

    private func info(_ name: String) throws -> SafetensorsTensorInfo {
        guard let info = tensor(named: name) else {
            throw SafetensorsError(.missingTensor, source: source, "no tensor named '\(name)'")
        }
        return info
    }

    /// Calls `body` with the tensor's bytes inside the file image, without copying.
    public func withRawBytes<R>(_ name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let info = try info(name)
        return try bytes.withUnsafeBytes { all in
            try body(UnsafeRawBufferPointer(rebasing: all[(dataStart + info.dataRange.lowerBound)..<(dataStart + info.dataRange.upperBound)]))
        }
    }

    /// A copy of the tensor's bytes, little-endian and row-major as stored.
    public func rawBytes(_ name: String) throws -> [UInt8] {
        try withRawBytes(name) { Array($0) }
    }

    /// The tensor's values as Float. F32 is copied as is; F64 is rounded to the nearest Float
    /// (magnitudes beyond Float's range become ±infinity); F16 and BF16 are widened exactly.
    public func floats(_ name: String) throws -> [Float] {
        let count = try info(name).elementCount
        return try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { try copyFloats(name, into: buffer.baseAddress!, count: count) }
            initialized = count
        }
    }

    /// Decodes the tensor into `destination` as `floats(_:)` does, without an intermediate array.
    /// `count` must equal the tensor's element count, otherwise this throws before writing anything.
    public func copyFloats(_ name: String, into destination: UnsafeMutablePointer<Float>, count: Int) throws {
        let info = try info(name)
        guard count == info.elementCount else {
            throw SafetensorsError(.countMismatch, source: source,
                "tensor '\(name)' has \(info.elementCount) elements (shape \(info.shape)), "
                + "but the destination expects \(count)")
        }
        try withRawBytes(name) { raw in
            switch info.dtype {
            case .float32:
                #if _endian(little)
                if count > 0 { memcpy(destination, raw.baseAddress!, count * 4) }
                #else
                for i in 0..<count { destination[i] = Float(bitPattern: raw.littleEndian(UInt32.self, at: i)) }
                #endif
            case .float64:
                for i in 0..<count { destination[i] = Float(Double(bitPattern: raw.littleEndian(UInt64.self, at: i))) }
            case .float16:
                for i in 0..<count { destination[i] = Self.widenHalf(raw.littleEndian(UInt16.self, at: i)) }
            case .bfloat16:
                for i in 0..<count {
                    destination[i] = Float(bitPattern: UInt32(raw.littleEndian(UInt16.self, at: i)) << 16)
                }
            default:
                throw SafetensorsError(.dtypeMismatch, source: source,
                    "tensor '\(name)' is \(info.dtype.rawValue), not a float type (F32, F64, F16, BF16)")
            }
        }
    }

    /// The tensor's values as Int32: I32 as is, I64 narrowed with a range check.
    public func int32s(_ name: String) throws -> [Int32] {
        let info = try info(name)
        return try withRawBytes(name) { raw in
            let count = info.elementCount
            switch info.dtype {
            case .int32:
                return (0..<count).map { Int32(bitPattern: raw.littleEndian(UInt32.self, at: $0)) }
            case .int64:
                return try (0..<count).map { i in
                    let wide = Int64(bitPattern: raw.littleEndian(UInt64.self, at: i))
                    guard let narrow = Int32(exactly: wide) else {
                        throw SafetensorsError(.valueOutOfRange, source: source,
                            "tensor '\(name)' element \(i) is \(wide), outside the Int32 range")
                    }
                    return narrow
                }
            default:
                throw SafetensorsError(.dtypeMismatch, source: source,
                    "tensor '\(name)' is \(info.dtype.rawValue), not an integer type (I32, I64)")
            }
        }
    }

    /// IEEE half → single; exact for every input, including subnormals, infinities and NaNs.
    static func widenHalf(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int(h >> 10 & 0x1F)
        let mantissa = UInt32(h & 0x3FF)
        switch exponent {
        case 0:  // zero or subnormal: mantissa × 2^-24, exactly representable as a Float
            let magnitude = Float(mantissa) * 0x1p-24
            return Float(bitPattern: magnitude.bitPattern | sign)
        case 0x1F:  // infinity or NaN (payload kept)
            return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13)
        default:
            return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | mantissa << 13)
        }
    }

    /// Reads a whole file into one array (a single copy, unlike going through `Data`).
    private static func readAll(path: String) throws -> [UInt8] {
        func ioError(_ what: String) -> SafetensorsError {
            SafetensorsError(.io, source: path, "cannot \(what): \(String(cString: strerror(errno))) (errno \(errno))")
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ioError("open for reading") }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw ioError("stat") }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw SafetensorsError(.io, source: path, "is not a regular file")
        }
        let size = Int(status.st_size)
        var failure: SafetensorsError?
        let result = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            while initialized < size {
                let got = read(fd, buffer.baseAddress! + initialized, size - initialized)
                if got > 0 { initialized += got; continue }
                if got < 0 && errno == EINTR { continue }
                if got < 0 { failure = ioError("read") }
                return  // EOF: the file shrank while reading; validation will judge what we got
            }
        }
        if let failure { throw failure }
        return result
    }
}

extension UnsafeRawBufferPointer {
    /// The `index`-th little-endian `T` in the buffer; the caller has validated the bounds.
    fileprivate func littleEndian<T: FixedWidthInteger>(_: T.Type, at index: Int) -> T {
        T(littleEndian: loadUnaligned(fromByteOffset: index * MemoryLayout<T>.size, as: T.self))
    }
}
