import ArgumentParser
import Foundation
import ILQL

/// `ilql eval`: loss statistics on data and task metrics of a checkpoint, as JSON.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint: loss statistics on data (trlx names) and task metrics per beta, as JSON on stdout.")

    @Option(help: "A checkpoint directory (checkpoints/step_NNNNNN).")
    var checkpoint: String
    @Option(help: "JSONL data for the loss statistics (default: the run's data.train).")
    var data: String?
    @Option(help: "Comma-separated betas for generation (default: the run's method.gen_kwargs.beta).")
    var beta: String?
    @Option(help: "Seed of the sampling.")
    var seed: UInt64 = 0

    func run() throws {
        let model = try TrainedModel(checkpoint: URL(fileURLWithPath: checkpoint))
        guard let config = model.runConfig else {
            throw ValidationError("\(checkpoint) has no config.yml: it was not written by ilql train")
        }
        let betas = try beta.map { try parseList($0, option: "--beta") { Float($0) } } ?? config.evaluationBetas
        let dataPath = data ?? config.trainData
        var result: [String: Any] = [:]
        let samples = try readSamples(from: URL(fileURLWithPath: dataPath))
        for (key, value) in try model.lossStatistics(samples: samples, seqLength: config.trainer.seqLength,
                                                     batchSize: config.trainer.batchSize, source: dataPath) {
            result[key] = value
        }
        let metric = try config.task.metric()
        let evaluator = try Evaluator(network: model.network, tokenizer: model.tokenizer, prompts: config.evalPrompts,
                                      generation: config.generation, betas: betas, metric: metric, seed: seed)
        for (key, value) in try evaluator.evaluate(parameters: model.network.tensors(model.parameters.pointer), step: 0).metrics {
            result[key] = value
        }
        let json = try JSONSerialization.data(withJSONObject: result, options: [.prettyPrinted, .sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }
}
