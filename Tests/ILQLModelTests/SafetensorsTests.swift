// Tests for the safetensors reader and writer: round trips, byte-exact agreement with files written
// by the Rust implementation, atomic writes, and that every kind of corrupt input is a clear error.

import Foundation
import XCTest
@testable import ILQLModel

final class SafetensorsTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// Written by `safetensors.torch.save` 0.8.0 (Rust) from
    /// {"w": F32 [[1,2],[3,-4.5]], "s": F64 0.25, "h": F16 [1.5,-2,65504], "bf": BF16 [3,-0.5],
    ///  "i": I64 [-1, 2147483647], "q\"\\\n\u{1}é/": I32 [7], "z": F32 zeros(0, 3)}, metadata {"k\t": "v€"};
    /// embedded so the test needs no Python. It pins down dtype-then-name order and JSON escaping.
    static let rustBytes: [UInt8] = hexBytes("""
        b8010000000000007b225f5f6d657461646174615f5f223a7b226b5c74223a2276e282ac227d2c2269223a7b2264747970\
        65223a22493634222c227368617065223a5b325d2c22646174615f6f666673657473223a5b302c31365d7d2c2273223a7b\
        226474797065223a22463634222c227368617065223a5b5d2c22646174615f6f666673657473223a5b31362c32345d7d2c\
        2277223a7b226474797065223a22463332222c227368617065223a5b322c325d2c22646174615f6f666673657473223a5b\
        32342c34305d7d2c227a223a7b226474797065223a22463332222c227368617065223a5b302c335d2c22646174615f6f66\
        6673657473223a5b34302c34305d7d2c22715c225c5c5c6e5c7530303031c3a92f223a7b226474797065223a2249333222\
        2c227368617065223a5b315d2c22646174615f6f666673657473223a5b34302c34345d7d2c226266223a7b226474797065\
        223a2242463136222c227368617065223a5b325d2c22646174615f6f666673657473223a5b34342c34385d7d2c2268223a\
        7b226474797065223a22463136222c227368617065223a5b335d2c22646174615f6f666673657473223a5b34382c35345d\
        7d7d2020202020ffffffffffffffffffffff7f00000000000000000000d03f0000803f0000004000004040000090c00700\
        0000404000bf003e00c0ff7b
        """)
    static let oddName = "q\"\\\n\u{1}é/"

    static func hexBytes(_ hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0...$0 + 1], as: UTF8.self), radix: 16)! }
    }

    // MARK: - Round trips and agreement with Rust

    func testRoundTripSeveralDTypesAndRanks() throws {
        var writer = SafetensorsWriter(metadata: ["format": "pt", "b": "2", "a": "1"])
        try writer.add("matrix", shape: [2, 3], floats: [1, -2, 3.5, 0, .infinity, -0.0])
        try writer.add("scalar", shape: [], floats: [42])
        try writer.add("empty", shape: [0], floats: [])
        try writer.add("empty2d", shape: [3, 0], int32s: [])
        try writer.add("ids", shape: [3, 1], int32s: [7, Int32.min, Int32.max])
        try writer.add("wide", dtype: .int64, shape: [2], rawBytes: [5, 0, 0, 0, 0, 0, 0, 0] + [UInt8](repeating: 0xFF, count: 8))
        try writer.add("double", dtype: .float64, shape: [1], rawBytes: withUnsafeBytes(of: (0.1 as Double).bitPattern.littleEndian, { Array($0) }))
        try writer.add("half", dtype: .float16, shape: [2], rawBytes: [0x00, 0x3C, 0x01, 0x00])  // 1.0, smallest subnormal
        try writer.add("brain", dtype: .bfloat16, shape: [1, 1, 1], rawBytes: [0xC0, 0x3F])  // 1.5
        try writer.add("flags", dtype: .bool, shape: [3], rawBytes: [1, 0, 1])
        try writer.add("bytes", dtype: .uint8, shape: [2], rawBytes: [0, 255])
        try writer.add("small", dtype: .int16, shape: [1], rawBytes: [0xFE, 0xFF])
        let bytes = writer.serialized()

        let file = try SafetensorsFile(bytes: bytes, source: "roundtrip")
        XCTAssertEqual(file.metadata, ["format": "pt", "b": "2", "a": "1"])
        XCTAssertEqual(file.orderedMetadata?.map(\.key), ["a", "b", "format"])
        XCTAssertEqual(file.headerLength % 8, 0)
        XCTAssertEqual(file.names, ["wide", "double", "empty", "matrix", "scalar", "empty2d", "ids", "brain", "half", "small", "bytes", "flags"])
        XCTAssertEqual(file.tensor(named: "matrix")?.shape, [2, 3])
        XCTAssertEqual(file.tensor(named: "scalar")?.elementCount, 1)
        XCTAssertEqual(file.tensor(named: "empty2d")?.dataRange.count, 0)
        XCTAssertNil(file.tensor(named: "absent"))
        let matrix = try file.floats("matrix")
        XCTAssertEqual(matrix.map(\.bitPattern), ([1, -2, 3.5, 0, .infinity, -0.0] as [Float]).map(\.bitPattern))
        XCTAssertEqual(try file.floats("scalar"), [42])
        XCTAssertEqual(try file.floats("empty"), [])
        XCTAssertEqual(try file.int32s("empty2d"), [])
        XCTAssertEqual(try file.int32s("ids"), [7, Int32.min, Int32.max])
        XCTAssertEqual(try file.int32s("wide"), [5, -1])
        XCTAssertEqual(try file.floats("double"), [Float(0.1)])
        XCTAssertEqual(try file.floats("half"), [1, 0x1p-24])
        XCTAssertEqual(try file.floats("brain"), [1.5])
        XCTAssertEqual(try file.rawBytes("flags"), [1, 0, 1])
        XCTAssertEqual(try file.rawBytes("small"), [0xFE, 0xFF])
        XCTAssertEqual(SafetensorsWriter(copying: file).serialized(), bytes)

        // Through the disk as well.
        let url = try temporaryDirectory().appendingPathComponent("roundtrip.safetensors")
        try writer.write(to: url)
        let reread = try SafetensorsFile(contentsOf: url)
        XCTAssertEqual(reread.tensors, file.tensors)
        XCTAssertEqual(try Array(Data(contentsOf: url)), bytes)
    }

    func testEmbeddedRustBytesDecodeAndReserializeIdentically() throws {
        let file = try SafetensorsFile(bytes: Self.rustBytes, source: "rust")
        XCTAssertEqual(file.names, ["i", "s", "w", "z", Self.oddName, "bf", "h"])
        XCTAssertEqual(file.metadata, ["k\t": "v€"])
        XCTAssertEqual(try file.int32s("i"), [-1, Int32.max])
        XCTAssertEqual(try file.floats("s"), [0.25])
        XCTAssertEqual(try file.floats("w"), [1, 2, 3, -4.5])
        XCTAssertEqual(file.tensor(named: "z")?.shape, [0, 3])
        XCTAssertEqual(try file.int32s(Self.oddName), [7])
        XCTAssertEqual(try file.floats("bf"), [3, -0.5])
        XCTAssertEqual(try file.floats("h"), [1.5, -2, 65504])
        XCTAssertEqual(SafetensorsWriter(copying: file).serialized(), Self.rustBytes)
    }

    /// Building the same content from scratch, in another insertion order, gives Rust's bytes:
    /// the writer's ordering, escaping and padding agree with Rust, not just its copying.
    func testWriterFromScratchMatchesRustBytes() throws {
        let file = try SafetensorsFile(bytes: Self.rustBytes, source: "rust")
        var writer = try SafetensorsWriter(orderedMetadata: [(key: "k\t", value: "v€")])
        for name in ["h", Self.oddName, "w", "bf", "z", "s", "i"] {
            let info = try XCTUnwrap(file.tensor(named: name))
            try writer.add(name, dtype: info.dtype, shape: info.shape, rawBytes: file.rawBytes(name))
        }
        XCTAssertEqual(writer.serialized(), Self.rustBytes)
        // Present-but-empty metadata stays present; a 72-byte header gets no padding (Rust bytes).
        var aligned = try SafetensorsWriter(orderedMetadata: [])
        try aligned.add("x", shape: [1], floats: [0])
        let alignedJSON = #"{"__metadata__":{},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        XCTAssertEqual(aligned.serialized(), [72, 0, 0, 0, 0, 0, 0, 0] + Array(alignedJSON.utf8) + [0, 0, 0, 0])
        XCTAssertEqual(try SafetensorsFile(bytes: aligned.serialized(), source: "aligned").orderedMetadata?.count, 0)
        // An empty file is "{}" padded to 8 bytes, as Rust writes it.
        XCTAssertEqual(SafetensorsWriter().serialized(), [8, 0, 0, 0, 0, 0, 0, 0] + Array("{}      ".utf8))
    }

    func testRustWrittenSampleFixture() throws {
        let url = Self.fixtures.appendingPathComponent("safetensors-sample.safetensors")
        let file = try SafetensorsFile(contentsOf: url)
        XCTAssertEqual(file.source, url.path)
        XCTAssertEqual(file.metadata, ["format": "pt", "note": "sample"])
        XCTAssertEqual(file.names, ["c", "a", "b", "d", "e"])
        XCTAssertEqual(file.tensors.map(\.dtype), [.int64, .float32, .float32, .float32, .int32])
        XCTAssertEqual(file.tensors.map(\.shape), [[4], [2, 3], [], [0], [3, 1]])
        XCTAssertEqual(file.tensors.map(\.dataRange), [0..<32, 32..<56, 56..<60, 60..<60, 60..<72])
        XCTAssertEqual(try file.floats("a"), [-1, -0.5, 0, 0.5, 1, 1.5])
        XCTAssertEqual(try file.floats("b"), [3.25])
        XCTAssertEqual(try file.floats("d"), [])
        XCTAssertEqual(try file.int32s("e"), [7, -8, 9])
        // c holds 1 << 40, which does not fit Int32: the narrowing must say so, naming the element.
        assertError(try file.int32s("c"), .valueOutOfRange, ["'c'", "element 3", "1099511627776"])
        XCTAssertEqual(try file.rawBytes("c").count, 32)
        XCTAssertEqual(SafetensorsWriter(copying: file).serialized(), try Array(Data(contentsOf: url)))
    }

    /// Every fixture in the directory (all written by Rust) survives read → write unchanged.
    func testAllFixturesReserializeIdentically() throws {
        let urls = try FileManager.default.subpathsOfDirectory(atPath: Self.fixtures.path)
            .filter { $0.hasSuffix(".safetensors") }.map { Self.fixtures.appendingPathComponent($0) }
        XCTAssertFalse(urls.isEmpty)
        for url in urls {
            let file = try SafetensorsFile(contentsOf: url)
            XCTAssertEqual(SafetensorsWriter(copying: file).serialized(), try Array(Data(contentsOf: url)), url.path)
        }
    }

    // MARK: - Writing

    func testAtomicWriteReplacesExistingFileAndLeavesNoTemporaries() throws {
        let directory = try temporaryDirectory()
        let url = directory.appendingPathComponent("model.safetensors")
        var first = SafetensorsWriter()
        try first.add("x", shape: [2], floats: [1, 2])
        try first.write(to: url)
        var second = SafetensorsWriter(metadata: ["step": "2"])
        try second.add("y", shape: [3], floats: [4, 5, 6])
        try second.write(to: url)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["model.safetensors"])
        let file = try SafetensorsFile(contentsOf: url)
        XCTAssertEqual(file.names, ["y"])
        XCTAssertEqual(try file.floats("y"), [4, 5, 6])
        XCTAssertEqual(file.metadata, ["step": "2"])

        // A failing write (missing directory) throws, names the path and leaves nothing behind.
        let missing = directory.appendingPathComponent("no-such-dir/model.safetensors")
        assertError(try second.write(to: missing), .io, [missing.path, "No such file"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["model.safetensors"])
        assertError(try SafetensorsFile(contentsOf: missing), .io, [missing.path, "cannot open"])
    }

    func testWriterRejectsInvalidTensors() throws {
        var writer = SafetensorsWriter()
        try writer.add("a", shape: [2], floats: [1, 2])
        assertError(try writer.add("a", shape: [1], floats: [1]), .invalidArgument, ["'a'", "already added"])
        assertError(try writer.add("__metadata__", shape: [1], floats: [1]), .invalidArgument, ["reserved"])
        assertError(try writer.add("b", shape: [2, 3], floats: [1, 2]), .countMismatch, ["'b'", "[2, 3]", "24 bytes, got 8"])
        assertError(try writer.add("c", shape: [-1], int32s: []), .invalidArgument, ["'c'", "invalid shape"])
        assertError(try writer.add("d", dtype: .float64, shape: [Int.max, 2], rawBytes: []), .invalidArgument, ["overflow"])
        assertError(try SafetensorsWriter(orderedMetadata: [(key: "k", value: "1"), (key: "k", value: "2")]),
                    .invalidArgument, ["duplicate metadata key 'k'"])
        XCTAssertEqual(writer.names, ["a"])
    }

    // MARK: - Accessor errors

    func testAccessorErrorsNameTheTensor() throws {
        var writer = SafetensorsWriter()
        try writer.add("weights", shape: [2, 2], floats: [1, 2, 3, 4])
        try writer.add("flags", dtype: .bool, shape: [1], rawBytes: [1])
        let file = try SafetensorsFile(bytes: writer.serialized(), source: "acc.safetensors")
        assertError(try file.floats("nope"), .missingTensor, ["acc.safetensors", "no tensor named 'nope'"])
        assertError(try file.floats("flags"), .dtypeMismatch, ["'flags'", "BOOL"])
        assertError(try file.int32s("weights"), .dtypeMismatch, ["'weights'", "F32"])
        var destination = [Float](repeating: -1, count: 5)
        assertError(try file.copyFloats("weights", into: &destination, count: 5), .countMismatch,
                    ["'weights'", "has 4 elements", "expects 5"])
        XCTAssertEqual(destination, [-1, -1, -1, -1, -1])
        try file.copyFloats("weights", into: &destination, count: 4)
        XCTAssertEqual(destination, [1, 2, 3, 4, -1])
    }

    func testHalfWideningIsExactForEveryBitPattern() {
        #if !(os(macOS) && arch(x86_64))
        for bits in 0...UInt16.max {
            let expected = Float(Float16(bitPattern: bits))
            let actual = SafetensorsFile.widenHalf(bits)
            if expected.isNaN { XCTAssertTrue(actual.isNaN) } else { XCTAssertEqual(actual.bitPattern, expected.bitPattern, "\(bits)") }
        }
        #endif
    }

    // MARK: - Validation of corrupt input

    /// A file image with `header` as its JSON (unpadded) and `data` as its data buffer.
    func image(_ header: String, data: [UInt8] = []) -> [UInt8] {
        let json = Array(header.utf8)
        return withUnsafeBytes(of: UInt64(json.count).littleEndian, { Array($0) }) + json + data
    }

    func entry(_ name: String, _ dtype: String = "F32", _ shape: String = "[1]", _ offsets: String = "[0,4]") -> String {
        "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":\(offsets)}"
    }

    /// Asserts that parsing fails with a SafetensorsError naming the source and containing `fragment`.
    func assertRejects(_ bytes: [UInt8], _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        assertError(try SafetensorsFile(bytes: bytes, source: "corrupt.safetensors"), nil,
                    ["corrupt.safetensors: ", fragment], file: file, line: line)
    }

    func assertError<T>(_ body: @autoclosure () throws -> T, _ kind: SafetensorsError.Kind?, _ fragments: [String],
                        file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try body()
            XCTFail("expected an error containing \(fragments)", file: file, line: line)
        } catch let error as SafetensorsError {
            if let kind { XCTAssertEqual(error.kind, kind, "\(error)", file: file, line: line) }
            for fragment in fragments {
                XCTAssertTrue(error.description.contains(fragment), "'\(error)' lacks '\(fragment)'", file: file, line: line)
            }
        } catch {
            XCTFail("unexpected error type: \(error)", file: file, line: line)
        }
    }

    func testRejectsBadLengthPrefix() {
        for count in 0..<8 { assertRejects([UInt8](repeating: 0, count: count), "is \(count) bytes, shorter than the 8-byte") }
        assertRejects([20, 0, 0, 0, 0, 0, 0, 0] + Array("{}".utf8), "header length 20 runs past the end of the file (2 bytes")
        assertRejects([0, 0xE2, 0xF5, 5, 0, 0, 0, 0] + Array("{}".utf8), "100000256 is absurdly large")
        assertRejects([UInt8](repeating: 0xFF, count: 8), "18446744073709551615 is absurdly large")
    }

    func testRejectsMalformedHeaderJSON() {
        assertRejects(image("{\"a\u{FF}\":1}").map { $0 == 0xC3 ? 0xFF : $0 }, "not valid UTF-8 at header byte 3")
        assertRejects(image("{\"\u{E9}\"}").map { $0 == 0xA9 ? 0x41 : $0 }, "not valid UTF-8")  // truncated sequence
        assertRejects(image("{\"a\":"), "not valid JSON: unexpected end at header byte 5")
        assertRejects(image("{} x"), "unexpected trailing 'x' at header byte 3")
        assertRejects(image("{'a':1}"), "expected a string key")
        assertRejects(image("{\"a\":01}"), "not valid JSON")
        assertRejects(image("{\"a\u{1}\":{}}"), "control character in string")
        assertRejects(image("{\"\\ud800\":{}}"), "lone surrogate")
        assertRejects(image("{\"\\q\":{}}"), "invalid escape")
        assertRejects(image(String(repeating: "[", count: 100_000)), "nests deeper than 64 levels")
        assertRejects(image("[]"), "header is a JSON array, not an object")
        assertRejects(image("\"x\""), "header is a JSON string, not an object")
    }

    func testRejectsBadEntries() {
        assertRejects(image("{\"a\":5}"), "tensor 'a' entry is a JSON number, not an object")
        assertRejects(image("{\"a\":{\"shape\":[],\"data_offsets\":[0,4]}}", data: [0, 0, 0, 0]), "'a' has no string field 'dtype'")
        assertRejects(image("{\(entry("a", "F33"))}", data: [0, 0, 0, 0]), "tensor 'a' has unknown dtype 'F33'")
        for shape in ["3", "[-1]", "[1.5]", "[\"1\"]", "[1e0]", "[99999999999999999999]", "null"] {
            assertRejects(image("{\(entry("a", "F32", shape))}", data: [0, 0, 0, 0]), "'a' shape is not a list of non-negative integers")
        }
        assertRejects(image("{\(entry("a", "F32", "[4294967296,4294967296,4]", "[0,0]"))}"), "'a' shape [4294967296, 4294967296, 4] overflows")
        assertRejects(image("{\(entry("a", "F32", "[4611686018427387904]", "[0,0]"))}"), "overflows the element count")
        for offsets in ["[0]", "[0,4,8]", "[-4,0]", "[0,\"4\"]", "4", "[0,4.0]"] {
            assertRejects(image("{\(entry("a", "F32", "[1]", offsets))}", data: [0, 0, 0, 0]), "'a' data_offsets is not a list of two non-negative integers")
        }
        assertRejects(image("{\(entry("a", "F32", "[0]", "[4,0]"))}", data: [0, 0, 0, 0]), "data_offsets [4, 0] has begin > end")
        assertRejects(image("{\(entry("a", "F32", "[2,3]", "[0,20]"))}", data: Array(repeating: 0, count: 20)),
                      "tensor 'a' data_offsets [0, 20] span 20 bytes, but shape [2, 3] of F32 needs 6 × 4 = 24 bytes")
        assertRejects(image("{\(entry("x", "F32", "[100]", "[0,400]"))}", data: Array(repeating: 0, count: 392)),
                      "tensor 'x' data_offsets [0, 400] run past the end of the data (392 bytes)")
    }

    func testRejectsBadCoverage() {
        let eight = [UInt8](repeating: 0, count: 8)
        assertRejects(image("{\(entry("a", "F32", "[2]", "[0,8]")),\(entry("b", "F32", "[1]", "[4,8]"))}", data: eight),
                      "tensor 'b' data_offsets [4, 8] overlap tensor 'a'")
        assertRejects(image("{\(entry("a")),\(entry("b", "F32", "[1]", "[8,12]"))}", data: eight + [0, 0, 0, 0]),
                      "gap of 4 bytes after tensor 'a', before tensor 'b'")
        assertRejects(image("{\(entry("a", "F32", "[1]", "[4,8]"))}", data: eight), "gap of 4 bytes at the start of the data")
        assertRejects(image("{\(entry("a"))}", data: eight), "4 trailing bytes after the last tensor")
        assertRejects(image("{}", data: [1]), "1 trailing bytes")
    }

    func testRejectsBadMetadataAndDuplicates() {
        assertRejects(image("{\"__metadata__\":[]}"), "__metadata__ is a JSON array, not a string-to-string object")
        assertRejects(image("{\"__metadata__\":{\"k\":1}}"), "__metadata__ value for 'k' is a JSON number, not a string")
        assertRejects(image("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}"), "duplicate __metadata__ key 'k'")
        assertRejects(image("{\"__metadata__\":{},\"__metadata__\":{}}"), "duplicate entry '__metadata__'")
        assertRejects(image("{\(entry("a")),\(entry("a"))}", data: [0, 0, 0, 0]), "duplicate entry 'a' in header")
        assertRejects(image("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}", data: [0, 0, 0, 0]),
                      "tensor 'a' repeats field 'dtype'")
    }

    func testTruncationAtEveryLengthThrows() {
        for length in 0..<Self.rustBytes.count {
            XCTAssertThrowsError(try SafetensorsFile(bytes: Array(Self.rustBytes[..<length]), source: "cut")) { error in
                XCTAssertTrue((error as? SafetensorsError)?.description.hasPrefix("cut: ") == true, "\(length): \(error)")
            }
        }
    }

    /// Seeded single- and multi-byte mutations must parse or throw; parsed files must decode or throw.
    func testRandomMutationsNeverCrash() {
        var state: UInt64 = 0x5EED_0F_5AFE
        func next() -> UInt64 {  // SplitMix64: deterministic across platforms and runs
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ z >> 30) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ z >> 27) &* 0x94D0_49BB_1331_11EB
            return z ^ z >> 31
        }
        var parsed = 0, rejected = 0
        for iteration in 0..<2_000 {
            var bytes = Self.rustBytes
            for _ in 0..<(iteration < 1_500 ? 1 : 1 + Int(next() % 4)) {
                let position = Int(next() % UInt64(bytes.count))
                bytes[position] = next() % 2 == 0 ? UInt8(truncatingIfNeeded: next()) : bytes[position] ^ (1 << (next() % 8))
            }
            guard let file = try? SafetensorsFile(bytes: bytes, source: "mutant") else { rejected += 1; continue }
            parsed += 1
            for info in file.tensors {
                _ = try? file.floats(info.name)
                _ = try? file.int32s(info.name)
                XCTAssertEqual(try? file.rawBytes(info.name).count, info.dataRange.count)
            }
            XCTAssertNotNil(try? SafetensorsFile(bytes: SafetensorsWriter(copying: file).serialized(), source: "again"))
        }
        XCTAssertGreaterThan(parsed, 100)
        XCTAssertGreaterThan(rejected, 100)
    }

    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("safetensors-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }
}
