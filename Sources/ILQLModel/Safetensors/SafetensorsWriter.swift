// Writing safetensors files with the exact byte layout of the Rust `safetensors` crate, so that a
// file written by `safetensors.torch.save_file`, read with SafetensorsFile and written back with
// `SafetensorsWriter(copying:)` is byte-identical. The layout (checked against safetensors 0.8.0):
//   - header JSON is compact (no spaces); `__metadata__` comes first when present (even if empty);
//     each entry's keys are in the order dtype, shape, data_offsets;
//   - tensors are sorted by dtype in descending Rust `Dtype` enum order (U64, I64, F64, C64, F32,
//     U32, I32, BF16, F16, U16, I16, F8*, I8, U8, BOOL), then by name bytewise; the header lists
//     them in that same (data) order;
//   - strings are escaped as serde_json does: `\"`, `\\`, `\b \f \n \r \t`, other bytes below 0x20
//     as `\u00xx` (lowercase hex); everything else, including `/`, DEL and non-ASCII, verbatim;
//   - the header is padded with spaces to a multiple of 8 bytes (no padding when already aligned).
// One deliberate difference: with no tensors and an empty-but-present `__metadata__`, Rust 0.8.0
// emits the invalid JSON `{},"__metadata__":{}}` (serde writes `{}` eagerly for a zero-length
// map); this writer emits `{"__metadata__":{}}`.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Collects tensors and serializes them as a safetensors file.
///
/// Invalid input is reported by throwing from `add`: a duplicate name, the reserved name
/// `__metadata__`, a negative or overflowing shape, or a buffer whose size does not match the
/// shape. Serialization itself cannot fail; writing to disk can.
public struct SafetensorsWriter: Sendable {
    /// The label used as the source of errors thrown before a path is known.
    public static let errorSource = "SafetensorsWriter"

    private struct Entry: Sendable {
        let info: SafetensorsTensorInfo  // dataRange is unused until serialization
        let bytes: [UInt8]
    }

    private let metadataEntries: [(key: String, value: String)]?
    private var entries: [Entry] = []
    private var usedNames = Set<String>()

    /// Starts an empty file. Non-empty metadata is written with keys in bytewise order (Rust
    /// writes hash order, which differs from run to run); empty metadata omits `__metadata__`.
    public init(metadata: [String: String] = [:]) {
        metadataEntries = metadata.isEmpty ? nil : metadata
            .sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            .map { (key: $0.key, value: $0.value) }
    }

    /// Starts an empty file whose `__metadata__` lists `orderedMetadata` in the given order; nil
    /// omits `__metadata__`, `[]` writes an empty one. Throws on a duplicate key.
    public init(orderedMetadata: [(key: String, value: String)]?) throws {
        var keys = Set<String>()
        for (key, _) in orderedMetadata ?? [] where !keys.insert(key).inserted {
            throw SafetensorsError(.invalidArgument, source: Self.errorSource, "duplicate metadata key '\(key)'")
        }
        metadataEntries = orderedMetadata
    }

    /// A writer holding every tensor and the metadata (in file order) of `file`, so that
    /// `serialized()` reproduces a file written by the Rust implementation byte for byte.
    public init(copying file: SafetensorsFile) {
        metadataEntries = file.orderedMetadata
        for info in file.tensors {
            // The file was validated, so names are unique and sizes match; `rawBytes` cannot fail.
            guard let bytes = try? file.rawBytes(info.name) else { continue }
            entries.append(Entry(info: info, bytes: bytes))
            usedNames.insert(info.name)
        }
    }

    /// The names added so far, in insertion order.
    public var names: [String] { entries.map(\.info.name) }

    /// Adds a tensor of any dtype from its little-endian, row-major bytes.
    public mutating func add(_ name: String, dtype: SafetensorsDType, shape: [Int], rawBytes: [UInt8]) throws {
        func fail(_ message: String) -> SafetensorsError {
            SafetensorsError(.invalidArgument, source: Self.errorSource, "tensor '\(name)' \(message)")
        }
        guard name != "__metadata__" else { throw fail("uses the reserved name __metadata__") }
        guard !usedNames.contains(name) else { throw fail("was already added") }
        guard let (elements, byteCount) = safetensorsByteCount(shape: shape, elementSize: dtype.byteSize) else {
            throw fail("has invalid shape \(shape) (negative dimension or element count overflow)")
        }
        guard rawBytes.count == byteCount else {
            throw SafetensorsError(.countMismatch, source: Self.errorSource,
                "tensor '\(name)' shape \(shape) of \(dtype.rawValue) needs \(elements) × \(dtype.byteSize) = "
                + "\(byteCount) bytes, got \(rawBytes.count)")
        }
        usedNames.insert(name)
        entries.append(Entry(info: SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, dataRange: 0..<0),
                             bytes: rawBytes))
    }

    /// Adds an F32 tensor; `floats.count` must equal the product of `shape`.
    public mutating func add(_ name: String, shape: [Int], floats: UnsafeBufferPointer<Float>) throws {
        try add(name, dtype: .float32, shape: shape, rawBytes: Self.littleEndianBytes(floats))
    }

    /// Adds an F32 tensor from an array; `floats.count` must equal the product of `shape`.
    public mutating func add(_ name: String, shape: [Int], floats: [Float]) throws {
        try floats.withUnsafeBufferPointer { try add(name, shape: shape, floats: $0) }
    }

    /// Adds an I32 tensor; `int32s.count` must equal the product of `shape`.
    public mutating func add(_ name: String, shape: [Int], int32s: [Int32]) throws {
        try int32s.withUnsafeBufferPointer {
            try add(name, dtype: .int32, shape: shape, rawBytes: Self.littleEndianBytes($0))
        }
    }

    /// Values as little-endian bytes: a plain copy on little-endian hosts.
    private static func littleEndianBytes<T>(_ values: UnsafeBufferPointer<T>) -> [UInt8] {
        var bytes = Array(UnsafeRawBufferPointer(values))
        #if _endian(big)
        let size = MemoryLayout<T>.size
        for start in stride(from: 0, to: bytes.count, by: size) { bytes[start..<(start + size)].reverse() }
        #endif
        return bytes
    }

    // MARK: - Serialization

    /// Entries in data order: descending Rust dtype order, then name bytewise (see file comment).
    private var orderedEntries: [Entry] {
        entries.sorted { a, b in
            if a.info.dtype != b.info.dtype { return a.info.dtype.rustOrder > b.info.dtype.rustOrder }
            return a.info.name.utf8.lexicographicallyPrecedes(b.info.name.utf8)
        }
    }

    /// The 8-byte length prefix followed by the padded JSON header, for entries in data order.
    private func prefixAndHeader(_ ordered: [Entry]) -> [UInt8] {
        var json: [UInt8] = Array("{".utf8)
        var first = true
        func separator() { if !first { json.append(UInt8(ascii: ",")) }; first = false }
        if let metadataEntries {
            separator()
            Self.appendQuoted("__metadata__", to: &json)
            json.append(contentsOf: ":{".utf8)
            for (index, (key, value)) in metadataEntries.enumerated() {
                if index > 0 { json.append(UInt8(ascii: ",")) }
                Self.appendQuoted(key, to: &json)
                json.append(UInt8(ascii: ":"))
                Self.appendQuoted(value, to: &json)
            }
            json.append(UInt8(ascii: "}"))
        }
        var offset = 0
        for entry in ordered {
            separator()
            let info = entry.info
            let shape = info.shape.map(String.init).joined(separator: ",")
            Self.appendQuoted(info.name, to: &json)
            json.append(contentsOf: ":{\"dtype\":\"\(info.dtype.rawValue)\",\"shape\":[\(shape)],".utf8)
            json.append(contentsOf: "\"data_offsets\":[\(offset),\(offset + entry.bytes.count)]}".utf8)
            offset += entry.bytes.count
        }
        json.append(UInt8(ascii: "}"))
        // Rust pads with spaces so the data buffer starts 8-byte aligned.
        json.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - json.count % 8) % 8))
        var result: [UInt8] = []
        result.reserveCapacity(8 + json.count)
        var length = UInt64(json.count)
        for _ in 0..<8 { result.append(UInt8(truncatingIfNeeded: length)); length >>= 8 }
        return result + json
    }

    /// Appends `text` as a JSON string literal escaped exactly as serde_json escapes it.
    private static func appendQuoted(_ text: String, to json: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        json.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): json.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): json.append(contentsOf: #"\\"#.utf8)
            case 0x08: json.append(contentsOf: #"\b"#.utf8)
            case 0x0C: json.append(contentsOf: #"\f"#.utf8)
            case 0x0A: json.append(contentsOf: #"\n"#.utf8)
            case 0x0D: json.append(contentsOf: #"\r"#.utf8)
            case 0x09: json.append(contentsOf: #"\t"#.utf8)
            case 0x00..<0x20: json.append(contentsOf: #"\u00"#.utf8 + [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: json.append(byte)
            }
        }
        json.append(UInt8(ascii: "\""))
    }

    /// The complete file image: length prefix, padded header, then the tensor data in data order.
    public func serialized() -> [UInt8] {
        let ordered = orderedEntries
        var result = prefixAndHeader(ordered)
        result.reserveCapacity(result.count + ordered.reduce(0) { $0 + $1.bytes.count })
        for entry in ordered { result.append(contentsOf: entry.bytes) }
        return result
    }

    /// Writes the file atomically: the bytes go to a temporary file in the same directory, which is
    /// fsynced and then renamed over `url`, so a crash leaves either the old file or the complete
    /// new one at `url`, never a partial one. The temporary file is removed on failure.
    public func write(to url: URL) throws {
        let path = url.path
        func ioError(_ what: String) -> SafetensorsError {
            SafetensorsError(.io, source: path, "cannot \(what): \(String(cString: strerror(errno))) (errno \(errno))")
        }
        let directory = url.deletingLastPathComponent().path
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UInt64.random(in: 0...UInt64.max)).tmp").path
        // O_EXCL: never follow or clobber something that already sits at the temporary name.
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ioError("create temporary file \(temporary)") }
        var closed = false
        var renamed = false
        defer {
            if !closed { close(fd) }
            if !renamed { unlink(temporary) }
        }
        func writeAll(_ bytes: [UInt8]) throws {
            try bytes.withUnsafeBytes { raw in
                var done = 0
                while done < raw.count {
                    let count = posixWrite(fd, raw.baseAddress! + done, raw.count - done)
                    if count < 0 && errno == EINTR { continue }
                    guard count > 0 else { throw ioError("write temporary file \(temporary)") }
                    done += count
                }
            }
        }
        let ordered = orderedEntries
        try writeAll(prefixAndHeader(ordered))
        for entry in ordered { try writeAll(entry.bytes) }
        guard fsync(fd) == 0 else { throw ioError("fsync temporary file \(temporary)") }
        closed = true
        guard close(fd) == 0 else { throw ioError("close temporary file \(temporary)") }
        guard rename(temporary, path) == 0 else { throw ioError("rename \(temporary) to it") }
        renamed = true
        // Persist the rename itself. Best effort: some filesystems refuse fsync on directories,
        // and by now the complete file is in place either way.
        let directoryFD = open(directory.isEmpty ? "." : directory, O_RDONLY | O_CLOEXEC)
        if directoryFD >= 0 {
            _ = fsync(directoryFD)
            close(directoryFD)
        }
    }
}

/// `write(2)`, named apart because inside `SafetensorsWriter` the name `write` means the method.
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, buffer, count)
    #else
    return Darwin.write(fd, buffer, count)
    #endif
}
