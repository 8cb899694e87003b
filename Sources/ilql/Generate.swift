import ArgumentParser
import Foundation
import ILQL

/// `ilql generate`: guided generation from a checkpoint.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a continuation of a prompt with a checkpoint's Q and V heads guiding the language model.")

    @Option(help: "A checkpoint directory (checkpoints/step_NNNNNN).")
    var checkpoint: String
    @Option(help: "The prompt text.")
    var prompt: String
    @Option(help: "Weight of the advantage Q − V added to the log-probabilities.")
    var beta: Float = 1
    @Option(help: "Keep the k best-scoring tokens at each step.")
    var topK: Int = 20
    @Option(help: "Sampling temperature; 0 picks the best-scoring token.")
    var temperature: Float = 1
    @Option(help: "Most tokens to generate.")
    var maxNewTokens: Int = 56
    @Option(help: "Seed of the sampling.")
    var seed: UInt64 = 0

    func validate() throws {
        if topK < 1 { throw ValidationError("--top-k must be at least 1 (got \(topK))") }
        if temperature < 0 { throw ValidationError("--temperature must not be negative (got \(temperature))") }
        if maxNewTokens < 1 { throw ValidationError("--max-new-tokens must be at least 1 (got \(maxNewTokens))") }
    }

    func run() throws {
        let model = try TrainedModel(checkpoint: URL(fileURLWithPath: checkpoint))
        var config = GenerationConfig()
        config.beta = beta
        config.topK = topK
        config.temperature = temperature
        config.maxNewTokens = maxNewTokens
        let output = try model.generate(prompts: [prompt], config: config, seed: seed)[0]
        print(prompt + output)
    }
}
