// libFuzzer target: the safetensors reader must turn any bytes into a file or a SafetensorsError,
// never a crash or an out-of-bounds read. Build and run with tools/fuzz.sh (see FuzzDriver).
import FuzzDriver
import Foundation
import ILQL

func fuzzOne(_ bytes: [UInt8]) {
    guard let file = try? SafetensorsFile(bytes: bytes, source: "fuzz") else { return }
    for tensor in file.tensors {
        _ = try? file.rawBytes(tensor.name)
        _ = try? file.floats(tensor.name)
        _ = try? file.int32s(tensor.name)
    }
    // What was read writes back (in the writer's canonical order, which may differ from the
    // file's) and reads again with the same tensors.
    let rewritten = SafetensorsWriter(copying: file).serialized()
    guard let again = try? SafetensorsFile(bytes: rewritten, source: "fuzz-rewrite"),
          again.names.sorted() == file.names.sorted(),
          file.tensors.allSatisfy({ tensor in
              again.tensor(named: tensor.name)?.shape == tensor.shape
                  && (try? again.rawBytes(tensor.name)) == (try? file.rawBytes(tensor.name))
          }) else {
        fatalError("a file that parsed did not survive a rewrite")
    }
}

@main
struct Fuzz {
    static func main() throws { try runFuzzTarget(fuzzOne) }
}
