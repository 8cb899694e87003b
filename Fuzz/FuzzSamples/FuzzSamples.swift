// libFuzzer target: the JSONL sample reader and the dataset builder must turn any text into
// samples or a DataError naming the line, never a crash. Run with tools/fuzz.sh (see FuzzDriver).
import FuzzDriver
import Foundation
import ILQL

func fuzzOne(_ bytes: [UInt8]) {
    guard let text = String(bytes: bytes, encoding: .utf8),
          let samples = try? parseSamples(jsonl: text, source: "fuzz.jsonl") else { return }
    for sample in samples where !sample.reward.isFinite { fatalError("a non-finite reward was accepted") }
    _ = try? OfflineDataset(samples: samples, tokenizer: CharacterTokenizer.randomWalks, maxLength: 11, source: "fuzz.jsonl")
    _ = try? OfflineDataset(samples: samples, tokenizer: try! ByteTokenizer(), maxLength: 64, source: "fuzz.jsonl")
}

@main
struct Fuzz {
    static func main() throws { try runFuzzTarget(fuzzOne) }
}
