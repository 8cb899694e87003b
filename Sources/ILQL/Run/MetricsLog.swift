import Foundation

/// `metrics.jsonl`: one JSON object per line, per training step and per evaluation, with trlx's
/// stat names plus `step`.
public final class MetricsLog {
    /// The file.
    public let url: URL
    private let handle: FileHandle

    /// Opens (creating) the log. When resuming after `step`, records of later steps (written by
    /// the interrupted run after its last checkpoint) are dropped first, so the log reads as if
    /// the run had never stopped.
    public init(url: URL, keepingThrough step: Int?) throws {
        self.url = url
        let manager = FileManager.default
        if let step, let data = manager.contents(atPath: url.path) {
            let kept = String(decoding: data, as: UTF8.self).split(separator: "\n").filter { line in
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let recorded = JSONInspection.integer(object["step"] as Any) else { return false }
                return recorded <= step
            }
            try DurableFiles.write(Data(kept.map { $0 + "\n" }.joined().utf8), to: url)
        } else if !manager.fileExists(atPath: url.path) || step == nil {
            try DurableFiles.write(Data(), to: url)
        }
        handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
    }

    deinit { try? handle.close() }

    /// Appends one record (keys sorted, so lines diff cleanly). JSON has no NaN or infinity:
    /// such values are written as null (a skipped step's record says which terms they were).
    public func append(_ record: [String: Any]) throws {
        let record = record.mapValues { value -> Any in
            if let number = value as? Double, !number.isFinite { return NSNull() }
            return value
        }
        var data = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys, .withoutEscapingSlashes])
        data.append(0x0A)
        try handle.write(contentsOf: data)
    }
}
