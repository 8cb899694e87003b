import ILQLKernels
import ILQLParallel

/// The sgemm rates the benchmarks compare model FLOP/s against.
extension Timing {
    /// Best-of-`repeats` rate of a square single-threaded sgemm large enough to reach the kernel's
    /// steady state (1024³ by default): the peak model FLOP/s are compared against.
    public static func sgemmPeak(size n: Int = 1024, repeats: Int = 7) -> Double {
        BLAS.useSingleThread()
        return SgemmOperands(size: n).bestRate(repeats: repeats)
    }

    /// The same sgemm run by `workers` pinned worker threads at once (as the trainer's workers
    /// run), each with its own matrices: each worker's best-of-`repeats` rate, summed.
    ///
    /// Next to `workers × sgemmPeak()` it shows how far the machine itself scales when every
    /// worker multiplies at the same time: cores that share a power or thermal budget, memory
    /// bandwidth, or a host with other tenants, give less than `workers` times one core's rate,
    /// and no trainer can scale better than that.
    public static func concurrentSgemmPeak(workers: Int, size n: Int = 1024, repeats: Int = 7) -> Double {
        // Every matrix is allocated here, not in the workers: memory a worker thread allocates
        // stays in its glibc arena after it exits and would count in the next trainer's
        // resident memory.
        let operands = (0..<workers).map { _ in SgemmOperands(size: n) }
        let rates = UnsafeMutablePointer<Double>.allocate(capacity: workers)
        rates.initialize(repeating: 0, count: workers)
        defer { rates.deallocate() }
        let pool = WorkerPool(workers: workers) { _ in BLAS.useSingleThread() }
        pool.run { index in rates[index] = operands[index].bestRate(repeats: repeats) }
        pool.shutdown()
        return (0..<workers).reduce(0) { $0 + rates[$1] }
    }
}

/// Three n×n matrices and the best rate of `c = a · b` on them.
private final class SgemmOperands: @unchecked Sendable {
    let n: Int
    let a: FloatBuffer, b: FloatBuffer, c: FloatBuffer

    init(size n: Int) {
        self.n = n
        a = FloatBuffer(count: n * n)
        b = FloatBuffer(count: n * n)
        c = FloatBuffer(count: n * n)
        for i in 0..<(n * n) { a.pointer[i] = Float(i % 7) * 0.1; b.pointer[i] = Float(i % 5) * 0.1 }
    }

    /// Best-of-`repeats` rate on the calling thread, OpenBLAS's thread count as set.
    func bestRate(repeats: Int) -> Double {
        var best = Double.infinity
        for _ in 0..<repeats {
            best = min(best, Timing.seconds {
                Gemm.fast(.none, .none, m: n, n: n, k: n, a: a.pointer, lda: n, b: b.pointer, ldb: n,
                          beta: 0, c: c.pointer, ldc: n)
            })
        }
        return 2 * Double(n * n * n) / best
    }
}
