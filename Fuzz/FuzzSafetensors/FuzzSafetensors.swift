// libFuzzer target: the safetensors reader must turn any bytes into a file or a SafetensorsError,
// never a crash or an out-of-bounds read. Build and run with tools/fuzz.sh; a normal build makes
// a replayer that runs the target over the files given on its command line.
import CFuzzerDriver
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
