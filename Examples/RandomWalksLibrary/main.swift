// Training ILQL from Swift code: samples and rewards in memory, a metric written as a closure,
// and a callback per step. The same run as `ilql train configs/randomwalks.yml`, without files.
//
//   swift run -c release RandomWalksExample [output-directory]
import Foundation
import ILQL

// 1. Data: trlx's random walks, each split into (first letter, rest) with its optimality as reward.
let (graph, walks) = RandomWalks.generate(seed: 1000)
let samples = RandomWalks.samples(walks: walks, graph: graph)

// 2. A metric on generated samples: any closure from (prompts, outputs) to named numbers.
let metric: MetricFunction = { prompts, outputs in
    let walks = zip(prompts, outputs).map { $0 + $1 }
    return ["optimality": walks.map { RandomWalks.optimality(of: $0, graph: graph) }]
}

// 3. The run's settings (trlx's randomwalks example).
var trainer = TrainerConfig(model: GPT2Config(layerCount: 6, headCount: 12, width: 144, maxPositions: 1024, vocabularySize: 23))
trainer.seqLength = 11
trainer.batchSize = 100
trainer.epochs = 20
trainer.optimizer.learningRate = 2e-4
trainer.scheduler.etaMin = 2e-4
trainer.method.tau = 0.8
trainer.method.alpha = 0.1
trainer.parallel.microBatches = 4
var config = RunConfig(trainer: trainer)
config.evalInterval = 50
config.evaluationBetas = [0, 100]
config.generation.maxNewTokens = 9
config.generation.topK = 10
config.evalPrompts = RandomWalks.evalPrompts

// 4. Train, watching every step.
let directory = URL(fileURLWithPath: CommandLine.arguments.dropFirst().first ?? "runs/library-example")
do {
    let run = try TrainingRun(config: config, samples: samples, tokenizer: CharacterTokenizer.randomWalks,
                              metric: metric, runDirectory: directory)
    let final = try run.run { report in
        if report.step % 50 == 0 {
            print(String(format: "step %d: loss %.4f, %.0f tokens/s", report.step, report.loss, report.tokensPerSecond))
        }
    }
    for (name, value) in final.sorted(by: { $0.key < $1.key }) { print(String(format: "%@ = %.4f", name, value)) }
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
