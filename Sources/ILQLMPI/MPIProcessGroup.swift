import CMPIShim
import Foundation
import ILQLParallel

/// The processes started by `mpirun`, joined through Open MPI's `MPI_COMM_WORLD`.
///
/// Create it once per process, on the thread that will make every MPI call (MPI runs with
/// `MPI_THREAD_FUNNELED`); worker threads never touch MPI. Errors come back as
/// `MPIError` instead of aborting, so a lost peer is reported with a message.
public final class MPIProcessGroup: ProcessGroup {
    public let rank: Int
    public let size: Int

    /// Initialises MPI.
    public init() throws {
        var rank: Int32 = 0, size: Int32 = 0
        try MPIError.check(ilql_mpi_initialize(&rank, &size), during: "MPI_Init_thread")
        self.rank = Int(rank)
        self.size = Int(size)
    }

    /// Open MPI's version text.
    public static var libraryVersion: String {
        var buffer = [CChar](repeating: 0, count: 512)
        ilql_mpi_library_version(&buffer, buffer.count)
        return String(cString: buffer).split(separator: ",").first.map(String.init) ?? ""
    }

    public func allReduceSum(_ values: UnsafeMutablePointer<Float>, count: Int) throws {
        try MPIError.check(ilql_mpi_allreduce_sum_float(values, count), during: "MPI_Allreduce")
    }

    public func allReduceSum(_ values: UnsafeMutablePointer<Double>, count: Int) throws {
        try MPIError.check(ilql_mpi_allreduce_sum_double(values, count), during: "MPI_Allreduce")
    }

    public func broadcast(_ bytes: UnsafeMutableRawPointer, byteCount: Int, root: Int) throws {
        try MPIError.check(ilql_mpi_broadcast_bytes(bytes, byteCount, Int32(root)), during: "MPI_Bcast")
    }

    /// Ends every process of the run with `code`: for an error on one rank, so the others do not
    /// wait for it forever.
    public func abort(code: Int32) -> Never {
        ilql_mpi_abort(code)
        exit(code)
    }

    /// Leaves MPI; call once, after the last collective call.
    public func finalize() {
        if ilql_mpi_is_active() != 0 { _ = ilql_mpi_finalize() }
    }
}

/// An MPI call that returned an error.
public struct MPIError: Error, CustomStringConvertible {
    /// The call.
    public let call: String
    /// MPI's error code and its text.
    public let code: Int32
    public let message: String

    static func check(_ code: Int32, during call: String) throws {
        guard code != 0 else { return }
        var buffer = [CChar](repeating: 0, count: 512)
        ilql_mpi_error_string(code, &buffer, buffer.count)
        throw MPIError(call: call, code: code, message: String(cString: buffer))
    }

    public var description: String { "\(call) failed: \(message) (MPI error \(code))" }
}
