import CBLAS

/// General matrix multiply on row-major Float matrices:
/// `C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C`.
///
/// `fast` goes through OpenBLAS's `cblas_sgemm`; `naive` is the algorithmic reference with the
/// same signature (double-precision accumulation), used by tests and as a readable definition.
public enum Gemm {
    /// Whether an operand is used as stored or transposed.
    public enum Transpose: Sendable, CaseIterable {
        case none
        case transposed

        @usableFromInline var cblas: CBLAS_TRANSPOSE {
            self == .none ? CblasNoTrans : CblasTrans
        }
    }

    /// `C = alpha · op(A) · op(B) + beta · C` through `cblas_sgemm`.
    ///
    /// - Parameters:
    ///   - a: `m×k` if `transposeA == .none`, else `k×m`, rows `lda` apart.
    ///   - b: `k×n` if `transposeB == .none`, else `n×k`, rows `ldb` apart.
    ///   - c: `m×n`, rows `ldc` apart. With `beta == 0` its previous contents are ignored.
    @inlinable
    public static func fast(
        _ transposeA: Transpose, _ transposeB: Transpose,
        m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            // BLAS leaves C untouched for k = 0 only when beta = 1; make beta's meaning explicit.
            scale(c, rows: m, columns: n, ld: ldc, by: beta)
            return
        }
        cblas_sgemm(
            CblasRowMajor, transposeA.cblas, transposeB.cblas,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// The reference: the same product with every dot product accumulated in `Double`.
    public static func naive(
        _ transposeA: Transpose, _ transposeB: Transpose,
        m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k {
                    let aValue = transposeA == .none ? a[i * lda + p] : a[p * lda + i]
                    let bValue = transposeB == .none ? b[p * ldb + j] : b[j * ldb + p]
                    sum += Double(aValue) * Double(bValue)
                }
                let previous = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
                c[i * ldc + j] = Float(Double(alpha) * sum + previous)
            }
        }
    }

    @usableFromInline
    static func scale(_ c: UnsafeMutablePointer<Float>, rows: Int, columns: Int, ld: Int, by beta: Float) {
        for i in 0..<rows {
            let row = c + i * ld
            for j in 0..<columns { row[j] = beta == 0 ? 0 : row[j] * beta }
        }
    }
}

/// OpenBLAS settings that the whole process shares.
public enum BLAS {
    /// Makes OpenBLAS run each call on the calling thread only. Parallelism comes from the
    /// trainer's workers, each calling sgemm on its own micro-batch; OpenBLAS's own threads
    /// would compete with them for the same cores.
    public static func useSingleThread() { openblas_set_num_threads(1) }

    /// The name of the OpenBLAS kernel in use (for example "Haswell" or "SkylakeX"); it decides
    /// the sgemm peak, so every benchmark records it.
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// OpenBLAS kernels that use AVX2 with FMA or AVX-512: what a CPU that has those wants.
    static let vectorKernels: Set<String> = ["Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"]

    /// A warning when OpenBLAS runs a kernel older than the CPU (for example "Prescott", SSE3
    /// only, on a CPU with AVX-512): OpenBLAS picks that fallback for CPU models it does not
    /// recognise (Debian 12's 0.3.21 on Intel's 5th-generation Xeons, for one), and sgemm then
    /// runs several times slower than the CPU allows (about 4.8× here against the AVX-512
    /// kernel). The kernel is chosen when the library loads, so the fix is an environment
    /// variable set before the program starts. Nil when the kernel fits the CPU.
    public static var slowKernelWarning: String? {
        slowKernelWarning(core: coreName, cpuVectorLevel: Int(ilql_cpu_vector_level()))
    }

    /// The warning for kernel `core` on a CPU of `cpuVectorLevel` (2: AVX-512, 1: AVX2 with FMA,
    /// 0: neither, or not x86-64).
    static func slowKernelWarning(core: String, cpuVectorLevel level: Int) -> String? {
        guard level > 0, !vectorKernels.contains(core) else { return nil }
        let cpu = level == 2 ? "AVX-512" : "AVX2"
        let suggestion = level == 2
            ? "OPENBLAS_CORETYPE=SkylakeX (AVX-512) or OPENBLAS_CORETYPE=Haswell (AVX2)"
            : "OPENBLAS_CORETYPE=Haswell"
        return "OpenBLAS is running its \(core) kernel on a CPU with \(cpu) (it did not recognise the CPU model): "
            + "matrix products will run several times slower than this CPU allows. Start with \(suggestion) "
            + "in the environment to use the faster kernel."
    }
}
