import ArgumentParser
import Foundation
import ILQL

/// The `ilql` command line: thin, every command is a library call.
@main
struct ILQLCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ilql",
        abstract: "Implicit Language Q-Learning for GPT-2-architecture models on every core of a CPU.",
        discussion: "Start with: ilql randomwalks --out data/randomwalks && ilql train configs/randomwalks.yml",
        subcommands: [Train.self, Eval.self, Generate.self, RandomWalksCommand.self, Bench.self, Info.self, Init.self, Probe.self])

    /// `--resume` may be given without a directory (last on the line, or before another option):
    /// it then means the newest complete checkpoint, spelled `latest` for the parser.
    static func main() {
        var arguments = Array(Swift.CommandLine.arguments.dropFirst())
        if let index = arguments.firstIndex(of: "--resume"),
           index + 1 == arguments.count || arguments[index + 1].hasPrefix("-") {
            arguments.insert(Train.latest, at: index + 1)
        }
        main(arguments)
    }
}

/// Parses a comma-separated list such as `0,1,100`.
func parseList<T>(_ text: String, option: String, _ convert: (Substring) -> T?) throws -> [T] {
    let values = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces)[...] }.compactMap(convert)
    guard !values.isEmpty, values.count == text.split(separator: ",").count else {
        throw ValidationError("\(option) expects a comma-separated list, for example 0,1,100 (got \"\(text)\")")
    }
    return values
}

/// Parses `BATCHxLENGTH` (for example `2x8`) given to `option`.
func parseShape(_ text: String, option: String) throws -> (batch: Int, length: Int) {
    let parts = text.split(separator: "x").compactMap { Int($0) }
    guard parts.count == 2 else { throw ValidationError("\(option) expects BATCHxLENGTH, for example 2x8 (got \"\(text)\")") }
    return (parts[0], parts[1])
}

/// Prints a note to standard error.
func note(_ text: String) { FileHandle.standardError.write(Data("note: \(text)\n".utf8)) }

/// Warns on standard error when OpenBLAS runs a kernel far slower than the CPU allows
/// (`BLAS.slowKernelWarning`): training and benchmarks would be several times slower for it.
func warnIfSlowBLASKernel() {
    if let warning = BLAS.slowKernelWarning { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
}
