// libFuzzer target: the YAML config loader must turn any text into a config or a ConfigError
// naming the key, never a crash; a config that loads must write a YAML that loads to the same
// config. Run with tools/fuzz.sh (see FuzzDriver).
import FuzzDriver
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

@main
struct Fuzz {
    static func main() throws { try runFuzzTarget(fuzzOne) }
}
