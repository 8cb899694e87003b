import Foundation
import ILQLKernels
import ILQLModel

/// A checkpoint loaded for use: the network with its parameters, the tokenizer, and the run's
/// config when the checkpoint has one (behind `ilql eval` and `ilql generate`).
public struct TrainedModel {
    /// The network (shape and ILQL settings from the checkpoint).
    public let network: ILQLNetwork
    /// Its parameters.
    public let parameters: FloatBuffer
    /// The tokenizer saved with it.
    public let tokenizer: any Tokenizer
    /// The resolved config of the run that wrote it, if present.
    public let runConfig: RunConfig?

    /// Loads a checkpoint directory written by `ilql train`.
    public init(checkpoint directory: URL) throws {
        let gpt2 = try GPT2Checkpoint.loadConfig(from: directory)
        let configURL = directory.appendingPathComponent(RunCheckpoint.configFileName)
        var ilql = ILQLConfig()
        if FileManager.default.fileExists(atPath: configURL.path) {
            let config = try RunConfig.load(path: configURL.path).config
            ilql = config.trainer.method
            runConfig = config
        } else {
            runConfig = nil
            // Without the run's config, the number of Q heads follows from the weights.
            let file = try SafetensorsFile(contentsOf: directory.appendingPathComponent(GPT2Checkpoint.weightsFileName))
            ilql.twoQs = file.tensor(named: ILQLHeadsLayout.qPrefix(1) + "0.weight") != nil
        }
        network = ILQLNetwork(gpt2: gpt2, ilql: ilql)
        parameters = FloatBuffer(count: network.table.totalCount)
        try RunCheckpoint.loadParameters(from: directory, network: network, into: parameters)
        tokenizer = try loadTokenizer(from: directory)
    }

    /// Guided generation from `prompts` (one sample each).
    public func generate(prompts: [String], config: GenerationConfig, seed: UInt64) throws -> [String] {
        let tokens = try prompts.map { try tokenizer.encode($0) }
        guard let longest = tokens.map(\.count).max(), tokens.allSatisfy({ !$0.isEmpty }) else {
            throw ConfigError(source: "--prompt", key: "", "a prompt must have at least one token")
        }
        guard longest < network.gpt2.maxPositions else {
            throw ConfigError(source: "--prompt", key: "", "the prompt (\(longest) tokens) fills n_positions = \(network.gpt2.maxPositions)")
        }
        let generator = ILQLGenerator(network: network, maxBatch: prompts.count,
                                      maxLength: min(network.gpt2.maxPositions, longest + config.maxNewTokens))
        var random = SeededGenerator(seed: seed)
        return generator.generate(parameters: network.tensors(parameters.pointer), prompts: tokens, config: config,
                                  eos: tokenizer.eosTokenID, generator: &random).map { tokenizer.decode($0) }
    }

    /// Loss terms and statistics (trlx's names) of the model on `samples`, over batches of
    /// `batchSize`, with the whole data's action count as the normaliser (so they are the
    /// statistics of one big batch).
    public func lossStatistics(samples: [OfflineSample], seqLength: Int, batchSize: Int, source: String) throws -> [String: Double] {
        let dataset = try OfflineDataset(samples: samples, tokenizer: tokenizer, maxLength: seqLength, source: source)
        let normalizer = ILQLElement.normalizer(of: dataset.elements)
        let workspace = network.makeWorkspace(maxBatch: batchSize, maxLength: seqLength)
        let gradients = FloatBuffer(count: network.table.trainablePrefixCount)
        let parameterViews = network.tensors(parameters.pointer), gradientViews = network.tensors(gradients.pointer)
        var output = ILQLLossOutput(qHeadCount: network.ilql.qHeadCount)
        for start in stride(from: 0, to: dataset.count, by: batchSize) {
            let batch = dataset.batch(start..<min(start + batchSize, dataset.count))
            output.merge(network.accumulateGradients(parameters: parameterViews, gradients: gradientViews, batch: batch,
                                                     normalizer: normalizer, workspace: workspace))
        }
        return output.statistics(network.ilql, normalizer: Double(normalizer))
    }
}
