// libFuzzer target: the JSONL sample reader and the dataset builder must turn any text into
// samples or a DataError naming the line, never a crash. See FuzzSafetensors for how it is built.
import CFuzzerDriver
import Foundation
import ILQL

func fuzzOne(_ bytes: [UInt8]) {
    guard let text = String(bytes: bytes, encoding: .utf8),
          let samples = try? parseSamples(jsonl: text, source: "fuzz.jsonl") else { return }
    for sample in samples where !sample.reward.isFinite { fatalError("a non-finite reward was accepted") }
    _ = try? OfflineDataset(samples: samples, tokenizer: CharacterTokenizer.randomWalks, maxLength: 11, source: "fuzz.jsonl")
    _ = try? OfflineDataset(samples: samples, tokenizer: try! ByteTokenizer(), maxLength: 64, source: "fuzz.jsonl")
}

#if FUZZING
/// The function libFuzzer calls with each input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOne(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}
#endif

@main
struct Fuzz {
    static func main() throws {
        #if FUZZING
        // libFuzzer drives: SwiftPM gives every executable its own main, so the fuzzer is
        // entered through LLVMFuzzerRunDriver instead of libFuzzer's main.
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzerTestOneInput))
        #else
        // Replays the files named on the command line (a corpus) through the target.
        for path in CommandLine.arguments.dropFirst() {
            fuzzOne([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
        }
        #endif
    }
}
