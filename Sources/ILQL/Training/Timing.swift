import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Timing helpers for the benchmarks and the trainer's step reports.
public enum Timing {
    /// Wall time of `body` in seconds.
    public static func seconds(_ body: () -> Void) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// `body`'s result, its wall time in seconds added to `seconds` (also when it throws).
    @discardableResult
    static func adding<T>(to seconds: inout Double, _ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        return try body()
    }

    /// Peak resident memory of this process so far, in bytes (getrusage's maximum RSS).
    public static func peakResidentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }

    /// The median of `values` (which must not be empty).
    public static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
