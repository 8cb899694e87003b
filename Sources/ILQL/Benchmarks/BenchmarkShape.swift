import Foundation
import ILQLKernels
import ILQLModel

/// The benchmark shapes of DESIGN.md §6: model, batch and sequence length.
public struct BenchmarkShape: Sendable {
    /// The name `--config` takes.
    public let name: String
    /// The trunk's shape.
    public let config: GPT2Config
    /// Sequences per step.
    public let batch: Int
    /// Tokens per sequence (`seq_length`: the longest a sample may be).
    public let length: Int
    /// What the steps train on.
    public var data: BenchmarkData

    /// randomwalks (trlx's example, on its own data), small, and gpt2-124M (llm.c's CPU
    /// setting), the last two on synthetic full-length samples.
    public static let all: [BenchmarkShape] = [
        BenchmarkShape(name: "randomwalks",
                       config: GPT2Config(layerCount: 6, headCount: 12, width: 144, maxPositions: 1024, vocabularySize: 23),
                       batch: 100, length: 11, data: .randomWalks),
        BenchmarkShape(name: "small",
                       config: GPT2Config(layerCount: 6, headCount: 6, width: 384, maxPositions: 1024, vocabularySize: 4096),
                       batch: 8, length: 128, data: .synthetic),
        BenchmarkShape(name: "gpt2-124M",
                       config: GPT2Config(layerCount: 12, headCount: 12, width: 768, maxPositions: 1024, vocabularySize: 50257),
                       batch: 4, length: 64, data: .synthetic),
    ]

    /// The shape called `name`, if any.
    public static func named(_ name: String) -> BenchmarkShape? { all.first { $0.name == name } }

    /// The samples the steps draw their batches from.
    public func dataset() throws -> OfflineDataset {
        switch data {
        case .synthetic:
            return Self.syntheticDataset(config: config, length: length, count: 4 * batch)
        case .randomWalks:
            let (graph, walks) = RandomWalks.generate(seed: 1000)
            return try OfflineDataset(samples: RandomWalks.samples(walks: walks, graph: graph),
                                      tokenizer: CharacterTokenizer.randomWalks, maxLength: length, source: "randomwalks")
        }
    }

    /// `count` samples of exactly `length` tokens (one prompt token, the rest actions), random ids.
    static func syntheticDataset(config: GPT2Config, length: Int, count: Int) -> OfflineDataset {
        var generator = SeededGenerator(seed: 7)
        let eos = Int32(config.vocabularySize - 1)
        let rewards = ILQLElementBuilder.standardize((0..<count).map { _ in generator.nextUnit() })
        return OfflineDataset(elements: rewards.map { reward in
            let tokens = (0..<length).map { _ in Int32(generator.next() % UInt64(eos)) }
            let phrases = ILQLElementBuilder.truncatedPhrases([[tokens[0]], Array(tokens[1...])], eos: eos, bos: eos,
                                                              maxLength: length)
            return ILQLElementBuilder.element(phrases: phrases, standardizedReward: reward)
        })
    }
}

/// What a benchmark's steps train on.
public enum BenchmarkData: String, Sendable, CaseIterable {
    /// Samples of exactly the shape's length with random token ids (4 batches' worth): every
    /// position is real, so there is no padding to skip.
    case synthetic
    /// trlx's randomwalks data (seed 1000, as `ilql randomwalks` writes it): 1000 walks of 3 to
    /// 11 tokens, 8.7 on average. trlx pads each batch to its longest sample (11 tokens in
    /// practice); this trainer computes only the real positions.
    case randomWalks = "randomwalks"
}
