import Foundation

/// Progress on standard error while training: a line per step on a terminal (rewritten in place),
/// a line every few percent otherwise, and a summary table of the evaluations at the end.
public final class ProgressReporter {
    private let interactive: Bool
    private var started = DispatchTime.now().uptimeNanoseconds
    private var firstStep = 0
    private var lastPrinted = -1

    /// A reporter; `interactive` rewrites one line in place (default: when stderr is a terminal).
    public init(interactive: Bool = isatty(STDERR_FILENO) != 0) {
        self.interactive = interactive
    }

    func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }

    /// Marks the start of training at `step` of `total`.
    public func start(total: Int, from step: Int) {
        started = DispatchTime.now().uptimeNanoseconds
        firstStep = step
        write("training: \(total) steps\(step > 0 ? ", resuming after step \(step)" : "")\n")
    }

    /// Reports one step.
    public func step(_ report: StepReport, total: Int) {
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let done = report.step - firstStep
        let remaining = done > 0 ? elapsed / Double(done) * Double(total - report.step) : 0
        let line = String(format: "step %d/%d | loss %.4f | %.0f tokens/s | %.0f ms/step | %@ left",
                          report.step, total, report.loss, report.tokensPerSecond, report.seconds * 1e3,
                          Self.duration(remaining))
        if interactive {
            write("\r\u{1B}[K" + line + (report.step == total ? "\n" : ""))
        } else if report.step == total || report.step * 20 / max(total, 1) != lastPrinted {
            lastPrinted = report.step * 20 / max(total, 1)
            write(line + "\n")
        }
    }

    /// Prints the evaluation table and the wall time.
    public func finish(evaluations: [(step: Int, metrics: [String: Double])]) {
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        write("done in \(Self.duration(elapsed))\n")
        guard let last = evaluations.last, !last.metrics.isEmpty else { return }
        let names = last.metrics.keys.sorted()
        write("\n| step | " + names.joined(separator: " | ") + " |\n|---|" + String(repeating: "---|", count: names.count) + "\n")
        for evaluation in evaluations {
            let cells = names.map { evaluation.metrics[$0].map { String(format: "%.4f", $0) } ?? "" }
            write("| \(evaluation.step) | " + cells.joined(separator: " | ") + " |\n")
        }
    }

    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        return total >= 3600 ? String(format: "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60)
            : String(format: "%d:%02d", total / 60, total % 60)
    }
}
