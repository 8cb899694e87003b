import Foundation

/// Locates committed test fixtures in the source tree (they are not bundled as resources, so
/// tests read the same files the reference scripts under `tools/reference/` write).
public enum Fixtures {
    /// `Tests/`, found relative to this source file.
    public static let testsDirectory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()          // TestSupport
        .deletingLastPathComponent()          // Tests

    /// A file or directory inside a test target's `Fixtures` folder (by default ILQLModelTests').
    public static func url(_ relativePath: String, target: String = "ILQLModelTests") -> URL {
        testsDirectory.appendingPathComponent("\(target)/Fixtures").appendingPathComponent(relativePath)
    }
}

/// A fresh temporary directory, removed by the caller (or left for inspection on failure).
public func makeTemporaryDirectory(_ label: String = "ilql-test") throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("\(label)-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
