// The driver every fuzz target shares. Built with `-DFUZZING -sanitize=fuzzer,address`
// (tools/fuzz.sh), it hands control to libFuzzer, which calls the target with each input;
// otherwise it replays the files named on the command line (a corpus) through the target.
import CFuzzerDriver
import Foundation

/// The target being fuzzed; set once, before libFuzzer starts.
nonisolated(unsafe) private var currentTarget: (([UInt8]) -> Void)?

#if FUZZING
/// The function libFuzzer calls with each input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    currentTarget?(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}
#endif

/// Runs `target` under libFuzzer (fuzzing builds) or over the files given as arguments.
public func runFuzzTarget(_ target: @escaping ([UInt8]) -> Void) throws {
    currentTarget = target
    #if FUZZING
    // SwiftPM gives every executable its own main, so libFuzzer is entered through its driver
    // function rather than its own main.
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzerTestOneInput))
    #else
    for path in CommandLine.arguments.dropFirst() {
        target([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
    }
    #endif
}
