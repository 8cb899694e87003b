import Foundation
import ILQLKernels
import ILQLModel

/// Scores generated samples: given prompts and their generated continuations (decoded text),
/// returns named lists of numbers, one per sample (trlx's `metric_fn`). Their means are logged as
/// `metrics/<name>@beta=<β>`.
public typealias MetricFunction = (_ prompts: [String], _ outputs: [String]) throws -> [String: [Double]]

/// Evaluation as trlx's ILQL trainer does it: guided generation from the eval prompts once per β,
/// then the task metric on prompt + output.
public final class Evaluator {
    /// Generation settings (β is set per pass).
    public let generation: GenerationConfig
    /// The β values, one generation pass each.
    public let betas: [Float]
    /// The prompts, as given.
    public let prompts: [String]
    private let promptTokens: [[Int32]]
    private let tokenizer: any Tokenizer
    private let metric: MetricFunction?
    private let generator: ILQLGenerator
    private let seed: UInt64

    /// An evaluator for `network`. Prompts are tokenised once (an error names the prompt).
    public init(network: ILQLNetwork, tokenizer: any Tokenizer, prompts: [String], generation: GenerationConfig,
                betas: [Float], metric: MetricFunction?, seed: UInt64) throws {
        self.generation = generation
        self.betas = betas
        self.prompts = prompts
        self.tokenizer = tokenizer
        self.metric = metric
        self.seed = seed
        promptTokens = try prompts.enumerated().map { index, prompt in
            let tokens = try tokenizer.encode(prompt)
            guard !tokens.isEmpty else {
                throw ConfigError(source: "eval prompts", key: "data.eval_prompts", "prompt \(index + 1) (\"\(prompt)\") has no tokens")
            }
            return tokens
        }
        let longest = promptTokens.map(\.count).max() ?? 1
        let maxLength = min(network.gpt2.maxPositions, longest + generation.maxNewTokens)
        guard longest < network.gpt2.maxPositions else {
            throw ConfigError(source: "eval prompts", key: "data.eval_prompts",
                              "a prompt of \(longest) tokens leaves no room to generate within n_positions = \(network.gpt2.maxPositions)")
        }
        generator = ILQLGenerator(network: network, maxBatch: max(1, prompts.count), maxLength: maxLength)
    }

    /// The label of β in metric names: `100` for whole numbers, `0.5` otherwise (trlx prints the
    /// config's numbers as written).
    public static func label(_ beta: Float) -> String {
        beta.rounded() == beta && abs(beta) < 1e9 ? String(Int(beta)) : beta.description
    }

    /// Generates from every prompt at every β and scores the samples. Sampling is seeded from the
    /// run's seed, the step and the β, so an evaluation is reproducible (also after a resume).
    public func evaluate(parameters: ILQLTensors, step: Int) throws -> (metrics: [String: Double], samples: [(beta: Float, prompt: String, output: String)]) {
        var metrics: [String: Double] = [:]
        var samples: [(beta: Float, prompt: String, output: String)] = []
        guard !prompts.isEmpty else { return (metrics, samples) }
        for (index, beta) in betas.enumerated() {
            var settings = generation
            settings.beta = beta
            var random = SeededGenerator(seed: seed ^ (UInt64(step) &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(index) &* 0xD1B5_4A32_D192_ED03))
            let generated = generator.generate(parameters: parameters, prompts: promptTokens, config: settings,
                                               eos: tokenizer.eosTokenID, generator: &random)
            let outputs = generated.map { tokenizer.decode($0) }
            let label = Self.label(beta)
            metrics["metrics/generation_length@beta=\(label)"] =
                Double(generated.reduce(0) { $0 + $1.count }) / Double(generated.count)
            if let metric {
                for (name, values) in try metric(prompts, outputs) where !values.isEmpty {
                    metrics["metrics/\(name)@beta=\(label)"] = values.reduce(0, +) / Double(values.count)
                }
            }
            samples += zip(prompts, outputs).map { (beta, $0, $1) }
        }
        return (metrics, samples)
    }
}

extension RunConfig.TaskConfig {
    /// The metric this task computes: nil for none, trlx's optimality for randomwalks (reading the
    /// graph file now, so a missing graph is reported before training), or the external command.
    public func metric() throws -> MetricFunction? {
        switch self {
        case .none:
            return nil
        case let .randomWalks(graph):
            let loaded = try RandomWalks.loadGraph(from: URL(fileURLWithPath: graph))
            return { prompts, outputs in RandomWalks.metrics(samples: zip(prompts, outputs).map { $0 + $1 }, graph: loaded) }
        case let .command(command):
            return commandMetric(command)
        }
    }
}

/// The metric of an external command: it reads one JSON object per sample on stdin
/// (`{"prompt": …, "output": …}`) and writes one JSON object of named numbers per line on stdout,
/// one line per sample.
public func commandMetric(_ command: String) -> MetricFunction {
    return { prompts, outputs in
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        do { try process.run() } catch {
            throw ConfigError(source: "task.command", key: "task.command", "cannot start \"\(command)\" (\(error))")
        }
        var lines = Data()
        for (prompt, text) in zip(prompts, outputs) {
            lines += try JSONSerialization.data(withJSONObject: ["prompt": prompt, "output": text], options: [.sortedKeys])
            lines += Data("\n".utf8)
        }
        // Read stdout while writing stdin, so a command that answers line by line cannot block.
        final class Replies: @unchecked Sendable { var answer = Data(), complaints = Data() }
        let replies = Replies()
        let group = DispatchGroup()
        DispatchQueue(label: "ilql.metric-command").async(group: group) {
            replies.answer = output.fileHandleForReading.readDataToEndOfFile()
            replies.complaints = errors.fileHandleForReading.readDataToEndOfFile()
        }
        // A command that exits without reading all its input must not kill this process with
        // SIGPIPE: ignore the signal (process-wide, as every program that writes to pipes
        // should) and let the write fail instead; the exit status is reported below.
        signal(SIGPIPE, SIG_IGN)
        try? input.fileHandleForWriting.write(contentsOf: lines)
        try? input.fileHandleForWriting.close()
        group.wait()  // orders the reads of `replies` below after the writes above
        let answer = replies.answer, complaints = replies.complaints
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let detail = String(decoding: complaints, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw ConfigError(source: "task.command", key: "task.command",
                              "\"\(command)\" exited with status \(process.terminationStatus)\(detail.isEmpty ? "" : ": \(detail)")")
        }
        let rows = String(decoding: answer, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
        guard rows.count == prompts.count else {
            throw ConfigError(source: "task.command", key: "task.command",
                              "\"\(command)\" wrote \(rows.count) lines for \(prompts.count) samples (one JSON object per sample expected)")
        }
        var result: [String: [Double]] = [:]
        for (number, row) in rows.enumerated() {
            guard let object = try? JSONSerialization.jsonObject(with: Data(row.utf8)) as? [String: Any] else {
                throw ConfigError(source: "task.command", key: "task.command", "output line \(number + 1) is not a JSON object: \(row)")
            }
            for (name, value) in object {
                guard let value = JSONInspection.number(value), value.isFinite else {
                    throw ConfigError(source: "task.command", key: "task.command",
                                      "output line \(number + 1): \"\(name)\" is not a finite number")
                }
                result[name, default: []].append(value)
            }
        }
        return result
    }
}
