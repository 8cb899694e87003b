import ArgumentParser
import Foundation
import ILQL
#if ILQL_MPI
import ILQLMPI
#endif

/// The processes an `ilql` command belongs to: every rank `mpirun` started (in a build with the
/// MPI backend), or this process alone.
enum ProcessLaunch {
    /// Environment variables by which MPI launchers announce a multi-process job.
    private static let launcherSizeVariables = ["OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"]

    /// The group this process runs in. Under `mpirun` without the MPI backend it is an error
    /// rather than N independent runs writing the same directory.
    static func processGroup() throws -> any ProcessGroup {
        #if ILQL_MPI
        if MPIProcessGroup.isLaunchedByMPI { return try MPIProcessGroup() }
        #else
        let environment = ProcessInfo.processInfo.environment
        if let size = launcherSizeVariables.lazy.compactMap({ environment[$0].flatMap(Int.init) }).first, size > 1 {
            throw LaunchError(message: "started by an MPI launcher with \(size) processes, but this ilql was built without MPI: install libopenmpi-dev and rebuild (ILQL_MPI=1 swift build -c release)")
        }
        #endif
        return SingleProcess()
    }

    /// Whether this build has the MPI backend, and which MPI it links.
    static var backendDescription: String {
        #if ILQL_MPI
        return "MPI: \(MPIProcessGroup.libraryVersion)"
        #else
        return "MPI: not built (install libopenmpi-dev and rebuild to train under mpirun)"
        #endif
    }

    /// This process's index among the launcher's processes on this machine, and their number
    /// (0 and 1 outside a launcher).
    static var local: (rank: Int, size: Int) {
        let environment = ProcessInfo.processInfo.environment
        let rank = environment["OMPI_COMM_WORLD_LOCAL_RANK"].flatMap(Int.init) ?? 0
        let size = environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init) ?? 1
        return (min(max(rank, 0), max(size, 1) - 1), max(size, 1))
    }

    /// Leaves the group after a run that every process finished the same way.
    static func finish(_ group: any ProcessGroup) {
        #if ILQL_MPI
        (group as? MPIProcessGroup)?.finalize()
        #endif
    }

    /// Reports `error` as this rank's and ends every process of the group, so none waits forever
    /// for one that has given up.
    static func abort(_ group: any ProcessGroup, error: Error, command: any ParsableCommand.Type) -> Never {
        let message = command.message(for: error)
        FileHandle.standardError.write(Data("ilql (rank \(group.rank) of \(group.size)): error: \(message)\n".utf8))
        #if ILQL_MPI
        (group as? MPIProcessGroup)?.abort(code: 1)
        #endif
        exit(1)
    }
}

/// A launch this build cannot serve.
struct LaunchError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
