/// The processes of a run that spans several machines: one process per machine, each running its
/// own worker threads, joined after the in-process all-reduce (DESIGN.md §7).
///
/// Calls are collective: every process makes the same calls in the same order, from one thread
/// (the coordinator's). Implementations: `SingleProcess` here, and `MPIProcessGroup` in the
/// optional `ILQLMPI` module.
public protocol ProcessGroup: AnyObject {
    /// This process's index, 0 ..< `size`; rank 0 writes logs and checkpoints.
    var rank: Int { get }
    /// Number of processes.
    var size: Int { get }
    /// Replaces `count` floats with their elementwise sum over every process; every process gets
    /// the same bits.
    func allReduceSum(_ values: UnsafeMutablePointer<Float>, count: Int) throws
    /// Replaces `count` doubles with their elementwise sum over every process.
    func allReduceSum(_ values: UnsafeMutablePointer<Double>, count: Int) throws
    /// Copies `byteCount` bytes from `root`'s buffer into every other process's.
    func broadcast(_ bytes: UnsafeMutableRawPointer, byteCount: Int, root: Int) throws
}

extension ProcessGroup {
    /// Whether this process writes logs and checkpoints.
    public var isRoot: Bool { rank == 0 }

    /// `root`'s bytes, on every process (each process passes its own; only `root`'s count).
    public func broadcast(_ data: [UInt8], root: Int = 0) throws -> [UInt8] {
        var count = [UInt8](repeating: 0, count: 8)
        if rank == root { withUnsafeBytes(of: UInt64(data.count).littleEndian) { count = Array($0) } }
        try count.withUnsafeMutableBytes { try broadcast($0.baseAddress!, byteCount: 8, root: root) }
        let byteCount = Int(count.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        var bytes = rank == root ? data : [UInt8](repeating: 0, count: byteCount)
        if byteCount > 0 { try bytes.withUnsafeMutableBytes { try broadcast($0.baseAddress!, byteCount: byteCount, root: root) } }
        return bytes
    }

    /// Whether `flag` is raised on any process.
    public func any(_ flag: Bool) throws -> Bool {
        var value: Double = flag ? 1 : 0
        try allReduceSum(&value, count: 1)
        return value > 0
    }
}

/// A run on one machine: reductions and broadcasts leave the data as it is.
public final class SingleProcess: ProcessGroup {
    /// The one process.
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allReduceSum(_ values: UnsafeMutablePointer<Float>, count: Int) {}
    public func allReduceSum(_ values: UnsafeMutablePointer<Double>, count: Int) {}
    public func broadcast(_ bytes: UnsafeMutableRawPointer, byteCount: Int, root: Int) {}
}
