// Topology.swift: the machine's cores as hwloc reports them, loaded once per process.
//
// Workers are pinned to *cores*, not hardware threads: two workers on sibling hyperthreads share
// one core's FMA units and caches, so the step (whose time is the slowest worker's) gains little
// from the second one. hwloc is the source of truth because it already knows the cgroup/affinity
// restrictions of the process (by default it drops the PUs we may not run on), which
// `sysconf(_SC_NPROCESSORS_ONLN)` does not.

import CHwloc
import Foundation

/// The cores and processing units (hardware threads) of this machine, as hwloc reports them.
///
/// The hwloc topology is loaded once in `init` and never modified afterwards. hwloc documents
/// that a loaded topology may be queried, and used for binding, from any number of threads at
/// once, so a `Topology` is shared freely between worker threads (hence `@unchecked Sendable`:
/// every stored property is immutable after `init`).
public final class Topology: @unchecked Sendable {
    /// One physical core and the processing units (hardware threads) it holds.
    public struct Core: Equatable, Sendable {
        /// The core's logical index: 0 ..< `Topology.coreCount`, in hwloc's (locality) order.
        public let index: Int
        /// Operating-system indices of the core's processing units, ascending: the CPU numbers
        /// the kernel uses (`/proc/cpuinfo`, `sched_getcpu`, `taskset`).
        public let osIndices: [Int]
    }

    /// Why a topology could not be loaded.
    public enum LoadError: Error, CustomStringConvertible {
        /// `hwloc_topology_init` or `hwloc_topology_load` failed; `errno` is the C library's reason.
        case hwlocFailed(call: String, errno: Int32)
        /// hwloc loaded but reported no processing unit at all, so there is nothing to run on.
        case noProcessingUnits

        /// A message that says what failed and what to look at.
        public var description: String {
            switch self {
            case let .hwlocFailed(call, code):
                return "hwloc: \(call) failed: \(String(cString: strerror(code))) (errno \(code)); "
                    + "check that libhwloc can read /sys and /proc on this machine"
            case .noProcessingUnits:
                return "hwloc: the topology has no processing units the process may run on"
            }
        }
    }

    /// The loaded topology; owned by this object and destroyed in `deinit`. Internal so the
    /// binding calls in ThreadBinding.swift can use it.
    let topology: hwloc_topology_t
    /// Each core's cpuset, index-aligned with `cores`. The bitmaps belong to `topology` and stay
    /// valid, unchanged, until it is destroyed, so binding needs no allocation or lookup.
    let coreCPUSets: [hwloc_const_cpuset_t]
    /// Processing-unit OS index → logical core index.
    private let coreIndexByOSIndex: [Int: Int]

    /// The cores, in logical order: `cores[i].index == i`. Never empty.
    public let cores: [Core]
    /// The number of processing units (hardware threads) across all cores; at least `coreCount`.
    public let processingUnitCount: Int

    /// Why this topology cannot bind threads at all, or `nil` when it can try.
    ///
    /// Non-nil when hwloc's topology does not describe the running machine (`HWLOC_XMLFILE`,
    /// `HWLOC_SYNTHETIC` or `HWLOC_THISSYSTEM=0` in the environment): hwloc then accepts binding
    /// calls without binding anything, so `bindCurrentThread(toCore:)` refuses instead of
    /// reporting a pin that did not happen. Also non-nil where the operating system cannot bind
    /// a single thread. The worker pool can check it once before starting workers.
    public let bindingUnavailableReason: String?

    /// The number of cores; at least 1.
    public var coreCount: Int { cores.count }

    /// Loads the topology of the machine this process runs on.
    ///
    /// - Throws: `Topology.LoadError` when hwloc cannot build the topology.
    public init() throws {
        var handle: hwloc_topology_t?
        guard hwloc_topology_init(&handle) == 0, let handle else {
            throw LoadError.hwlocFailed(call: "hwloc_topology_init", errno: errno)
        }
        guard hwloc_topology_load(handle) == 0 else {
            let code = errno
            hwloc_topology_destroy(handle)
            throw LoadError.hwlocFailed(call: "hwloc_topology_load", errno: code)
        }

        let puDepth = hwloc_get_type_depth(handle, HWLOC_OBJ_PU)
        let puCount = puDepth < 0 ? 0 : Int(hwloc_get_nbobjs_by_depth(handle, puDepth))
        // Some platforms (virtual machines, some ARM boards) expose PUs but no core objects;
        // each PU then stands for its own core rather than failing.
        var coreDepth = hwloc_get_type_depth(handle, HWLOC_OBJ_CORE)
        if coreDepth < 0 { coreDepth = puDepth }

        var cores: [Core] = []
        var cpusets: [hwloc_const_cpuset_t] = []
        var coreByOSIndex: [Int: Int] = [:]
        if coreDepth >= 0 {
            for logical in 0 ..< hwloc_get_nbobjs_by_depth(handle, coreDepth) {
                guard let object = hwloc_get_obj_by_depth(handle, coreDepth, logical),
                      let cpuset = object.pointee.cpuset
                else { continue }
                let osIndices = Topology.members(of: cpuset)
                // A core whose PUs are all disallowed has an empty cpuset; binding to it would fail.
                guard !osIndices.isEmpty else { continue }
                let index = cores.count
                for os in osIndices { coreByOSIndex[os] = index }
                cores.append(Core(index: index, osIndices: osIndices))
                cpusets.append(cpuset)
            }
        }
        guard !cores.isEmpty else {
            hwloc_topology_destroy(handle)
            throw LoadError.noProcessingUnits
        }

        self.topology = handle
        self.cores = cores
        self.coreCPUSets = cpusets
        self.coreIndexByOSIndex = coreByOSIndex
        self.processingUnitCount = max(puCount, coreByOSIndex.count)
        self.bindingUnavailableReason = Topology.bindingUnavailableReason(of: handle)
    }

    deinit {
        hwloc_topology_destroy(topology)
    }

    /// The OS indices set in an hwloc bitmap, ascending.
    private static func members(of bitmap: hwloc_const_bitmap_t) -> [Int] {
        var result: [Int] = []
        // hwloc_bitmap_next(-1) is the first set bit; -1 marks the end (an infinite bitmap,
        // which a cpuset of real objects never is, would also end there).
        var bit = hwloc_bitmap_next(bitmap, -1)
        while bit >= 0 {
            result.append(Int(bit))
            bit = hwloc_bitmap_next(bitmap, bit)
        }
        return result
    }

    // MARK: - Shared instance

    /// The process-wide topology, loaded on first use (Swift runs a static's initializer once,
    /// thread-safely). Keeping the load's failure lets every caller see the same error instead of
    /// retrying a load that failed.
    private static let sharedResult: Result<Topology, Error> = Result { try Topology() }

    /// The process-wide topology, loaded on first access and kept for the life of the process.
    ///
    /// Loading reads `/sys` and `/proc` and takes milliseconds, so callers share this one rather
    /// than loading their own.
    ///
    /// - Throws: `Topology.LoadError` when hwloc cannot build the topology (the same error on
    ///   every access).
    public static var shared: Topology {
        get throws { try sharedResult.get() }
    }

    /// The number of worker threads to start when the user does not say: one per core hwloc
    /// sees (at least 1).
    ///
    /// Falls back to the number of active processors when hwloc cannot load a topology, so a
    /// missing `/sys` costs pinning, not the ability to train.
    public static func defaultWorkerCount() -> Int {
        if let topology = try? shared { return topology.coreCount }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    // MARK: - Queries

    /// The logical index of the core holding a processing unit.
    ///
    /// - Parameter osIndex: The processing unit's operating-system index (for example the value
    ///   `lastCPULocation()` returns).
    /// - Returns: The core's index, or `nil` when the process may not run on that processing unit.
    public func coreIndex(ofProcessingUnit osIndex: Int) -> Int? {
        coreIndexByOSIndex[osIndex]
    }
}
