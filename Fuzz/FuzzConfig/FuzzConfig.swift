// libFuzzer target: the YAML config loader must turn any text into a config or a ConfigError
// naming the key, never a crash; a config that loads must write a YAML that loads to the same
// config. See FuzzSafetensors for how it is built.
import CFuzzerDriver
import Foundation
import ILQL

func fuzzOne(_ bytes: [UInt8]) {
    guard let text = String(bytes: bytes, encoding: .utf8),
          let tree = try? ConfigTree.parse(yaml: text, source: "fuzz.yml"),
          let (config, _) = try? RunConfig.parse(tree, source: "fuzz.yml") else { return }
    guard let yaml = try? config.yaml(),
          let again = try? RunConfig.parse(try ConfigTree.parse(yaml: yaml, source: "resolved.yml"), source: "resolved.yml"),
          again.config.trainer == config.trainer else {
        fatalError("a config that loaded did not survive writing and reading its resolved form")
    }
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
