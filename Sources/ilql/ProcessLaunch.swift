import ArgumentParser
import Foundation
import ILQL
#if ILQL_MPI
import ILQLMPI
#endif

/// The processes an `ilql` command belongs to: every rank `mpirun` started (in a build with the
/// MPI backend), or this process alone.
enum ProcessLaunch {
    /// The group this process runs in. Under `mpirun` without the MPI backend it is an error
    /// rather than N independent runs writing the same directory.
    static func processGroup() throws -> any ProcessGroup {
        #if ILQL_MPI
        if LauncherEnvironment.isLaunched { return try MPIProcessGroup() }
        #else
        if let size = LauncherEnvironment.processCount, size > 1 {
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
