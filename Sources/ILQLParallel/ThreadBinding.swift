// ThreadBinding.swift: pinning the calling thread to one core, and the once-per-process warnings
// the worker pool prints when it cannot.
//
// Each worker binds *itself* (HWLOC_CPUBIND_THREAD from inside the thread) rather than the pool
// binding it from outside: that needs no thread handle, and a worker that binds before it first
// touches its activation arena gets those pages on its core's NUMA node (Linux first-touch policy).

import CHwloc
import Foundation

/// The outcome of binding a thread to a core.
public enum BindingResult: Equatable, Sendable {
    /// The thread now runs only on the processing units of the core with this logical index.
    case bound(core: Int)
    /// The operating system refused the binding (typically a container or CI sandbox that forbids
    /// `sched_setaffinity`); the thread keeps running wherever the scheduler puts it.
    case refused(reason: String)
}

/// `HWLOC_CPUBIND_THREAD` as the `Int32` flags argument hwloc's binding calls take: act on the
/// calling thread only, not on the whole process.
private let currentThreadOnly = Int32(bitPattern: HWLOC_CPUBIND_THREAD.rawValue)

extension Topology {
    /// Binds the calling thread to all processing units of one core.
    ///
    /// The whole core's cpuset is used, not one of its hardware threads, so the scheduler may still
    /// move the thread between siblings of the same core, which costs no cache locality.
    ///
    /// Prints nothing: the caller decides how to report a refusal (see `BindingWarnings`).
    ///
    /// - Parameter index: The core's logical index. Indices past the last core wrap around
    ///   (`index % coreCount`), so more workers than cores share cores instead of failing.
    ///   Negative indices wrap the same way.
    /// - Returns: `.bound(core:)` with the core actually used, or `.refused(reason:)` with the
    ///   operating system's error text (or `bindingUnavailableReason` when binding cannot work
    ///   here at all).
    public func bindCurrentThread(toCore index: Int) -> BindingResult {
        if let reason = bindingUnavailableReason { return .refused(reason: reason) }
        let core = ((index % coreCount) + coreCount) % coreCount
        if hwloc_set_cpubind(topology, coreCPUSets[core], currentThreadOnly) == 0 {
            return .bound(core: core)
        }
        let code = errno  // read before anything else can overwrite it
        return .refused(reason: "\(String(cString: strerror(code))) (errno \(code))")
    }

    /// The operating-system index of the processing unit the calling thread last ran on, or `nil`
    /// when the operating system does not say.
    ///
    /// The answer may be stale by the time it returns (an unbound thread can migrate at any
    /// moment); for a bound thread it always lies within the bound core.
    public func lastCPULocation() -> Int? {
        // On a topology that is not this machine's, hwloc answers with a placeholder, not the truth.
        guard hwloc_topology_is_thissystem(topology) != 0,
              let location = hwloc_bitmap_alloc() else { return nil }
        defer { hwloc_bitmap_free(location) }
        guard hwloc_get_last_cpu_location(topology, location, currentThreadOnly) == 0 else {
            return nil
        }
        let first = hwloc_bitmap_first(location)
        return first >= 0 ? Int(first) : nil
    }
}

extension Topology {
    /// Why a freshly loaded topology cannot bind threads, or `nil` if it can try; see
    /// `bindingUnavailableReason`.
    static func bindingUnavailableReason(of topology: hwloc_topology_t) -> String? {
        if hwloc_topology_is_thissystem(topology) == 0 {
            return "hwloc's topology does not describe this machine (HWLOC_XMLFILE, HWLOC_SYNTHETIC "
                + "or HWLOC_THISSYSTEM=0 is set), so hwloc would only pretend to bind"
        }
        if let support = hwloc_topology_get_support(topology),
           let cpubind = support.pointee.cpubind,
           cpubind.pointee.set_thisthread_cpubind == 0 {
            return "this operating system does not let hwloc bind a single thread"
        }
        return nil
    }
}

/// Warnings that must reach the user once per process, however many threads hit them.
///
/// Every worker binds itself, so a sandbox that forbids binding would otherwise print the same
/// complaint once per worker (and again for every pool started). The first call for a given key
/// prints; later calls for that key are silent.
public enum BindingWarnings {
    /// Identifies one kind of warning; a message is printed at most once per key.
    public struct Key: Hashable, Sendable {
        /// The key's name; two keys with the same name are the same key.
        public let name: String

        /// Makes a key from a name.
        public init(_ name: String) { self.name = name }

        /// The operating system refused to bind a worker thread, so workers run unpinned.
        public static let bindingRefused = Key("bindingRefused")
        /// More workers were asked for than there are cores, so some cores run two workers.
        public static let moreWorkersThanCores = Key("moreWorkersThanCores")
    }

    /// Guards `printed`; worker threads report concurrently.
    private static let lock = NSLock()
    /// The keys already printed. Only touched while holding `lock`.
    nonisolated(unsafe) private static var printed: Set<Key> = []

    /// Prints `warning: <message>` to standard error unless a warning with this key was already
    /// printed by this process.
    ///
    /// - Parameters:
    ///   - key: What the warning is about; one print per key per process.
    ///   - message: The text; only built when it is printed.
    /// - Returns: `true` if this call printed the message.
    @discardableResult
    public static func warnOnce(_ key: Key, _ message: @autoclosure () -> String) -> Bool {
        let isFirst = lock.withLock { printed.insert(key).inserted }
        guard isFirst else { return false }
        // Standard error, so a warning never mixes into output that a script parses.
        FileHandle.standardError.write(Data("warning: \(message())\n".utf8))
        return true
    }
}
