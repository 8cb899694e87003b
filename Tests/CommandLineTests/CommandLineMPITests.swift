import Foundation
import XCTest
import ILQL

/// `ilql train` under `mpirun` on one machine (loopback): skipped where `ilql` was built without
/// the MPI backend or `mpirun` is missing.
final class CommandLineMPITests: CommandLineTestCase {
    /// `mpirun -np N` with the settings every test uses: no launcher binding (each rank pins its
    /// own workers with hwloc), allowed as root (CI containers), no single-copy shared-memory
    /// transport (containers often forbid the ptrace it needs).
    func mpirun(_ processes: Int, _ arguments: [String], launcherOptions: [String] = []) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["mpirun", "-np", "\(processes)", "--bind-to", "none", "--oversubscribe",
                             "--mca", "btl_vader_single_copy_mechanism", "none"] + launcherOptions
            + [CommandLine.binary.path] + arguments
        process.currentDirectoryURL = directory
        var environment = ProcessInfo.processInfo.environment
        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        process.environment = environment
        return process
    }

    /// Runs `mpirun -np N [launcherOptions] ilql arguments` and waits.
    func ilqlMPI(_ processes: Int, _ arguments: String..., launcherOptions: [String] = []) throws -> CommandLine.Result {
        let process = try mpirun(processes, arguments, launcherOptions: launcherOptions)
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CommandLine.Result(status: process.terminationStatus, output: String(decoding: outputData, as: UTF8.self),
                                  errors: String(decoding: errorData, as: UTF8.self))
    }

    override func setUpWithError() throws {
        let info = try CommandLine.run(["info"], in: FileManager.default.temporaryDirectory)
        guard info.output.contains("MPI: Open MPI") else {
            throw XCTSkip("ilql was built without the MPI backend (\(info.output.split(separator: "\n").last ?? ""))")
        }
        let which = Process()
        which.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        which.arguments = ["which", "mpirun"]
        which.standardOutput = FileHandle.nullDevice
        try which.run()
        which.waitUntilExit()
        guard which.terminationStatus == 0 else { throw XCTSkip("mpirun is not installed (openmpi-bin)") }
        try super.setUpWithError()
    }

    /// Two processes with one worker each take the same steps as one process with two workers:
    /// the same micro-batches, the same reduction tree, hence the same bits; rank 0's log holds
    /// the whole batch's statistics.
    func testTwoProcessesMatchOneProcessWithTwoWorkers() throws {
        let steps = ["--set", "train.total_steps=10", "--set", "train.checkpoint_interval=10"]
        let threads = try CommandLine.run(["train", "tiny.yml", "--workers", "2", "--run-dir", "threads"] + steps,
                                          in: directory)
        XCTAssertEqual(threads.status, 0, threads.errors)
        // Over shared memory (Open MPI's default between processes of one machine), and over TCP,
        // the transport between machines.
        for (run, transport) in [("ranks-shm", ["--mca", "btl", "self,vader"]), ("ranks-tcp", ["--mca", "btl", "self,tcp"])] {
            let ranks = try ilqlMPI(2, "train", "tiny.yml", "--workers", "1", "--run-dir", run,
                                    "--set", "train.total_steps=10", "--set", "train.checkpoint_interval=10",
                                    launcherOptions: transport)
            XCTAssertEqual(ranks.status, 0, ranks.errors)
            XCTAssertTrue(ranks.errors.contains("2 processes × 1 workers"), ranks.errors)
            XCTAssertEqual(try checkpointBytes("\(run)/checkpoints/step_000010"),
                           try checkpointBytes("threads/checkpoints/step_000010"), run)
            XCTAssertEqual(try losses(in: run), try losses(in: "threads"), run)
            XCTAssertEqual(try losses(in: run).count, 10, run)
        }
    }

    /// SIGKILL to rank 1: mpirun ends rank 0 within seconds and says which rank died; the newest
    /// checkpoint is complete, and the run resumes from it under mpirun.
    func testDeadRankEndsTheRunAndTheCheckpointResumes() throws {
        let process = try mpirun(2, ["train", "tiny.yml", "--workers", "1", "--run-dir", "run",
                                     "--set", "train.total_steps=100000", "--set", "train.epochs=100000",
                                     "--set", "train.eval_interval=100000", "--set", "train.checkpoint_interval=5"])
        let errors = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        try process.run()
        let marker = directory.appendingPathComponent("run/checkpoints/step_000010/trainer_state.json")
        let deadline = Date().addingTimeInterval(120)
        while !FileManager.default.fileExists(atPath: marker.path) && process.isRunning && Date() < deadline {
            usleep(10_000)
        }
        XCTAssertTrue(process.isRunning, "the run ended before it could be killed")
        let rankOne = try XCTUnwrap(childProcess(of: process.processIdentifier, withRank: 1), "no rank 1 under mpirun")
        let killed = Date()
        kill(rankOne, SIGKILL)
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let seconds = Date().timeIntervalSince(killed)
        print("mpirun ended \(String(format: "%.2f", seconds)) s after rank 1 was killed")
        XCTAssertLessThan(seconds, 20, "the other rank must not hang")
        XCTAssertNotEqual(process.terminationStatus, 0)
        XCTAssertTrue(errorText.contains("rank 1"), errorText)

        let newest = try XCTUnwrap(RunCheckpoint.newest(in: directory.appendingPathComponent("run")))
        XCTAssertNoThrow(try SafetensorsFile(contentsOf: newest.appendingPathComponent("model.safetensors")))
        let reached = try XCTUnwrap(Int(newest.lastPathComponent.dropFirst("step_".count)))
        let resumed = try ilqlMPI(2, "train", "--resume", "run", "--set", "train.total_steps=\(reached + 3)")
        XCTAssertEqual(resumed.status, 0, resumed.errors)
        XCTAssertEqual(RunCheckpoint.newest(in: directory.appendingPathComponent("run"))?.lastPathComponent,
                       RunCheckpoint.name(step: reached + 3))
    }

    /// A mistake seen by rank 0 ends every process at once with the message, not a hang.
    func testErrorOnRankZeroEndsEveryProcess() throws {
        let result = try ilqlMPI(2, "train", "missing.yml")
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.errors.contains("rank 0 of 2"), result.errors)
        XCTAssertTrue(result.errors.contains("missing.yml"), result.errors)
    }

    /// `losses/loss` of each step in a run's metrics.jsonl.
    func losses(in run: String) throws -> [Double] {
        try String(contentsOf: directory.appendingPathComponent("\(run)/metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["losses/loss"] as? Double
            }
    }

    /// The child of `parent` (mpirun) whose environment says it is MPI rank `rank`.
    func childProcess(of parent: Int32, withRank rank: Int) -> Int32? {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = Int32(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let closing = stat.lastIndex(of: ")") else { continue }
            // Fields after the command name: state, then the parent's pid.
            let fields = stat[stat.index(after: closing)...].split(separator: " ")
            guard fields.count > 1, Int32(fields[1]) == parent,
                  let environment = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
            let variables = environment.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if variables.contains("OMPI_COMM_WORLD_RANK=\(rank)") { return pid }
        }
        return nil
    }
}
