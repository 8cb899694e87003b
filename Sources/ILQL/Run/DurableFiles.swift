import Foundation

/// Writing files and directories so that a crash leaves either the old complete version or the
/// new complete one, never a half-written file where a complete one is expected.
public enum DurableFiles {
    /// Writes `data` to `url` through a temporary file in the same directory, flushed to disk and
    /// then renamed over the target.
    public static func write(_ data: Data, to url: URL) throws {
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).partial-\(getpid())")
        try? FileManager.default.removeItem(at: temporary)
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: temporary.path])
        }
        do {
            let handle = try FileHandle(forWritingTo: temporary)
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
            guard rename(temporary.path, url.path) == 0 else {
                throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
        synchronizeDirectory(directory)
    }

    /// Flushes a directory's entries (new names, renames) to disk; best effort.
    public static func synchronizeDirectory(_ directory: URL) {
        let descriptor = open(directory.path, O_RDONLY)
        guard descriptor >= 0 else { return }
        fsync(descriptor)
        close(descriptor)
    }

    /// Fills a fresh temporary directory beside `destination` with `fill`, flushes it, and
    /// renames it to `destination` (replacing an existing one only after the new one is
    /// complete). A crash at any point leaves `destination` either absent, the old version, or
    /// the new complete version; a leftover `*.partial-*` directory is never mistaken for one.
    public static func writeDirectory(at destination: URL, _ fill: (URL) throws -> Void) throws {
        let parent = destination.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        let temporary = parent.appendingPathComponent(".\(destination.lastPathComponent).partial-\(getpid())")
        try? FileManager.default.removeItem(at: temporary)
        try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: false)
        do {
            try fill(temporary)
            synchronizeDirectory(temporary)
            if FileManager.default.fileExists(atPath: destination.path) {
                let old = parent.appendingPathComponent(".\(destination.lastPathComponent).old-\(getpid())")
                try? FileManager.default.removeItem(at: old)
                try FileManager.default.moveItem(at: destination, to: old)
                try FileManager.default.moveItem(at: temporary, to: destination)
                try? FileManager.default.removeItem(at: old)
            } else {
                try FileManager.default.moveItem(at: temporary, to: destination)
            }
            synchronizeDirectory(parent)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }
}
