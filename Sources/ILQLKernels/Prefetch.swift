import CBLAS

/// Cache prefetch hints for kernels whose access pattern the hardware prefetchers do not follow.
public enum Prefetch {
    /// Asks for every cache line of `count` floats at `start` to be brought towards L1, for
    /// reading and writing. A hint only: it never faults and changes no result.
    @inlinable @inline(__always)
    public static func lines(_ start: UnsafePointer<Float>, count: Int) {
        var offset = 0
        while offset < count {
            ilql_prefetch(start + offset)
            offset &+= 16
        }
    }
}
