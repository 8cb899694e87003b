import Foundation
import XCTest
import ILQL

/// Runs the built `ilql` executable and collects its exit status and output.
enum CommandLine {
    /// The executable in the products directory beside the test bundle (SwiftPM builds it for
    /// this test target). Where the bundle URL points differs between platforms, so the test
    /// executable's own directory is tried too.
    static let binary: URL = {
        let bundle = Bundle(for: CommandLineTestCase.self).bundleURL
        let candidates = [bundle, bundle.deletingLastPathComponent(),
                          URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).deletingLastPathComponent()]
            .map { $0.appendingPathComponent("ilql") }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }()

    struct Result {
        var status: Int32
        var output: String
        var errors: String
    }

    /// Runs `ilql arguments` in `directory` and waits for it.
    static func run(_ arguments: [String], in directory: URL) throws -> Result {
        let process = try start(arguments, in: directory)
        let output = process.standardOutputPipe.fileHandleForReading.readDataToEndOfFile()
        let errors = process.standardErrorPipe.fileHandleForReading.readDataToEndOfFile()
        process.process.waitUntilExit()
        return Result(status: process.process.terminationStatus, output: String(decoding: output, as: UTF8.self),
                      errors: String(decoding: errors, as: UTF8.self))
    }

    struct Running {
        var process: Process
        var standardOutputPipe: Pipe
        var standardErrorPipe: Pipe
    }

    /// Starts `ilql arguments` without waiting (for kill tests); output goes to /dev/null.
    static func start(_ arguments: [String], in directory: URL, quiet: Bool = false) throws -> Running {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let output = Pipe(), errors = Pipe()
        if quiet {
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
        } else {
            process.standardOutput = output
            process.standardError = errors
        }
        try process.run()
        return Running(process: process, standardOutputPipe: output, standardErrorPipe: errors)
    }
}

/// Shared set-up: a temporary directory with trlx's randomwalks data and a tiny config.
class CommandLineTestCase: XCTestCase {
    var directory: URL!

    /// A 2-layer, 32-wide model on the 1000 walks: 20 steps of 50 sequences take well under a
    /// second even in a debug build.
    static let tinyConfig = """
        train: {seq_length: 11, batch_size: 50, epochs: 1, total_steps: 20, eval_interval: 10, checkpoint_interval: 5, seed: 3}
        model: {n_layer: 2, n_head: 4, n_embd: 32, n_positions: 16, vocab_size: 23}
        tokenizer: {alphabet: abcdefghijklmnopqrstu}
        optimizer: {kwargs: {lr: 1.0e-3}}
        method: {tau: 0.8, alpha: 0.1, gen_kwargs: {max_new_tokens: 9, top_k: 10, beta: [0, 100]}}
        parallel: {micro_batches: 2}
        data: {train: data/train.jsonl}
        task: {name: randomwalks, graph: data/graph.json}

        """

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ilql-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try RandomWalks.writeDataset(seed: 1000, to: directory.appendingPathComponent("data"))
        try write(Self.tinyConfig, to: "tiny.yml")
    }

    override func tearDownWithError() throws {
        // nil when a subclass skipped the test before this class's set-up ran.
        guard let directory else { return }
        try? FileManager.default.removeItem(at: directory)
    }

    func write(_ text: String, to name: String) throws {
        try Data(text.utf8).write(to: directory.appendingPathComponent(name))
    }

    /// Replaces line `number` (1-based) of data/train.jsonl.
    func replaceDataLine(_ number: Int, with line: String) throws {
        var lines = try String(contentsOf: directory.appendingPathComponent("data/train.jsonl"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        lines[number - 1] = line
        try write(lines.joined(separator: "\n") + "\n", to: "data/train.jsonl")
    }

    func ilql(_ arguments: String...) throws -> CommandLine.Result {
        try CommandLine.run(arguments, in: directory)
    }

    /// Asserts a failed run with a message containing `fragment` on stderr.
    func assertFails(_ result: CommandLine.Result, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(result.status, 0, "should fail: \(result.errors)", file: file, line: line)
        XCTAssertTrue(result.errors.contains(fragment), "expected “\(fragment)” in: \(result.errors)", file: file, line: line)
        XCTAssertFalse(result.errors.contains("Fatal error"), "a user mistake must not crash: \(result.errors)", file: file, line: line)
    }

    /// The bytes of a checkpoint's tensors and state, for bit-identity checks.
    func checkpointBytes(_ path: String) throws -> [Data] {
        try ["model.safetensors", "optimizer.safetensors", "trainer_state.json"].map {
            try Data(contentsOf: directory.appendingPathComponent(path).appendingPathComponent($0))
        }
    }
}
