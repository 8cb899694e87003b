import Foundation

/// What an MPI launcher (`mpirun`/`mpiexec`, or a PMI/PMIx launcher such as `srun`) tells the
/// processes it starts, read from the environment: readable with or without the MPI backend, so
/// a build without it can still tell that it was started by one.
public enum LauncherEnvironment {
    /// Whether an MPI launcher started this process.
    public static var isLaunched: Bool {
        let environment = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"].contains { environment[$0] != nil }
    }

    /// The number of processes the launcher started, where it says (nil outside a launcher).
    public static var processCount: Int? {
        let environment = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"].lazy.compactMap { environment[$0].flatMap(Int.init) }.first
    }

    /// This process's index among the launcher's processes on its machine, and their number
    /// (0 and 1 outside a launcher or where it does not say).
    public static var local: (rank: Int, size: Int) {
        let environment = ProcessInfo.processInfo.environment
        let size = max(1, environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init) ?? 1)
        let rank = environment["OMPI_COMM_WORLD_LOCAL_RANK"].flatMap(Int.init) ?? 0
        return (min(max(rank, 0), size - 1), size)
    }
}
