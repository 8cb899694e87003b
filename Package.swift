// swift-tools-version:6.0
//
// ILQL.swift: Implicit Language Q-Learning for GPT-2-architecture models on every core of a CPU.
// Dependencies point one way: ILQLKernels ← ILQLModel ← ILQL → ILQLParallel, with the `ilql`
// command line and the benchmarks on top.

import Foundation
import PackageDescription

/// The CPU the numeric modules are tuned for: the building machine by default (SwiftPM builds from
/// source, so the binary runs where it was built); `ILQL_TARGET_CPU=x86-64` (or `haswell`, …)
/// builds for another.
let targetCPU = ProcessInfo.processInfo.environment["ILQL_TARGET_CPU"] ?? "native"

/// Whether to build the MPI backend (`ILQLMPI`, used by `ilql train` under `mpirun`): with
/// `ILQL_MPI=1` always (the build fails without Open MPI), with `ILQL_MPI=0` never, and otherwise
/// when pkg-config finds Open MPI (`libopenmpi-dev`). Without it everything else builds and tests.
let buildsMPI: Bool = {
    switch ProcessInfo.processInfo.environment["ILQL_MPI"] {
    case "1": return true
    case "0": return false
    default:
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = ["pkg-config", "--exists", "ompi-c"]
        probe.standardOutput = FileHandle.nullDevice
        probe.standardError = FileHandle.nullDevice
        guard (try? probe.run()) != nil else { return false }
        probe.waitUntilExit()
        return probe.terminationStatus == 0
    }
}()

/// Flags for every module that runs numeric loops.
let numericSwiftSettings: [SwiftSetting] = [
    // Without it Swift targets baseline x86-64 (SSE2): elementwise loops vectorise 4 floats wide
    // instead of 8 (AVX2) or 16 (AVX-512), and GELU, LayerNorm and softmax take twice as long or more.
    .unsafeFlags(["-target-cpu", targetCPU]),
    // Lets clang treat `sqrtf`/`expf` and friends as pure builtins instead of calls that may set
    // `errno`; without it LLVM keeps `sqrt` scalar on Linux and the loops around it unvectorised.
    .unsafeFlags(["-Xcc", "-fno-math-errno"]),
    // Kernels work through raw pointers; the exclusivity checks add a runtime call per access to
    // class-stored state and buy nothing there.
    .unsafeFlags(["-enforce-exclusivity=unchecked"]),
]

/// The MPI targets, when built.
let mpiTargets: [Target] = buildsMPI ? [
    .systemLibrary(
        name: "CMPI", pkgConfig: "ompi-c",
        providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
    /// C functions over MPI_COMM_WORLD: MPI's handles and constants are macros Swift cannot import.
    .target(name: "CMPIShim", dependencies: ["CMPI"]),
    /// `MPIProcessGroup`: the processes `mpirun` starts, joined after the in-process all-reduce.
    .target(name: "ILQLMPI", dependencies: ["ILQLParallel", "CMPIShim"]),
    /// All-reduce time over shared memory and TCP, and the projected multi-machine efficiency.
    .executableTarget(
        name: "MPIBenchmark", dependencies: ["ILQL", "ILQLMPI"],
        path: "Benchmarks/MPIBenchmark",
        swiftSettings: numericSwiftSettings),
] : []

let package = Package(
    name: "ILQL",
    platforms: [.macOS(.v13)],
    products: [
        // MARK: - Public API
        .library(name: "ILQL", targets: ["ILQL"]),
        .executable(name: "ilql", targets: ["ilql"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // MARK: - System libraries (found through pkg-config)
        .systemLibrary(
            name: "CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "pkgconf"])]),
        .systemLibrary(
            name: "CHwloc", pkgConfig: "hwloc",
            providers: [.apt(["libhwloc-dev", "pkgconf"])]),

        // MARK: - Implementation modules
        /// Math on flat Float buffers: forward/backward pairs, sgemm wrappers, AdamW, Polyak.
        /// Never starts threads.
        .target(
            name: "ILQLKernels", dependencies: ["CBLAS"],
            swiftSettings: numericSwiftSettings),
        /// GPT-2 trunk: parameter table, forward, backward, KV cache, safetensors I/O.
        .target(
            name: "ILQLModel", dependencies: ["ILQLKernels"],
            swiftSettings: numericSwiftSettings),
        /// hwloc topology, pinned worker threads; runs closures over flat buffers, knows no model.
        .target(
            name: "ILQLParallel", dependencies: ["CHwloc"],
            swiftSettings: numericSwiftSettings),

        // MARK: - Public API
        /// The library users import.
        .target(
            name: "ILQL", dependencies: ["ILQLModel", "ILQLParallel", "ILQLKernels", "Yams"],
            swiftSettings: numericSwiftSettings),
        /// The command-line tool: thin, every command is a library call.
        .executableTarget(
            name: "ilql",
            dependencies: ["ILQL", .product(name: "ArgumentParser", package: "swift-argument-parser")]
                + (buildsMPI ? ["ILQLMPI"] : []),
            // `#if ILQL_MPI` rather than `canImport`: a module left in .build by an earlier MPI
            // build must not switch the code path on when the backend is not linked.
            swiftSettings: buildsMPI ? [.define("ILQL_MPI")] : []),

        // MARK: - Benchmarks (kept out of the library's dependency graph)
        /// Single-thread forward+backward of the GPT-2 trunk against the sgemm peak.
        .executableTarget(
            name: "ModelBenchmark", dependencies: ["ILQL"],
            path: "Benchmarks/ModelBenchmark",
            swiftSettings: numericSwiftSettings),
        /// ILQL training steps at 1…N workers: tokens/s, parallel efficiency, time shares.
        .executableTarget(
            name: "ScalingBenchmark", dependencies: ["ILQL"],
            path: "Benchmarks/ScalingBenchmark",
            swiftSettings: numericSwiftSettings),

        // MARK: - Examples
        /// Training from Swift code with in-memory samples, a metric closure and a step callback.
        .executableTarget(
            name: "RandomWalksExample", dependencies: ["ILQL"], path: "Examples/RandomWalksLibrary"),

        // MARK: - Fuzz targets (libFuzzer with tools/fuzz.sh; a plain build makes corpus replayers)
        .target(name: "CFuzzerDriver", path: "Fuzz/CFuzzerDriver"),
        .target(name: "FuzzDriver", dependencies: ["CFuzzerDriver"], path: "Fuzz/FuzzDriver"),
        .executableTarget(
            name: "FuzzSafetensors", dependencies: ["ILQL", "FuzzDriver"], path: "Fuzz/FuzzSafetensors"),
        .executableTarget(
            name: "FuzzSamples", dependencies: ["ILQL", "FuzzDriver"], path: "Fuzz/FuzzSamples"),
        .executableTarget(
            name: "FuzzConfig", dependencies: ["ILQL", "FuzzDriver"], path: "Fuzz/FuzzConfig"),

        // MARK: - Unit test bundles
        /// Naive double-precision references, finite differences and fixture loading shared by the tests.
        .target(
            name: "TestSupport", dependencies: ["ILQLModel", "ILQLKernels"],
            path: "Tests/TestSupport"),
        .testTarget(
            name: "ILQLKernelsTests", dependencies: ["ILQLKernels", "TestSupport"]),
        .testTarget(
            name: "ILQLModelTests", dependencies: ["ILQLModel", "ILQLKernels", "TestSupport"],
            // Fixtures are read from the source tree (see TestSupport.fixtureURL), not bundled.
            exclude: ["Fixtures"]),
        .testTarget(
            name: "ILQLParallelTests", dependencies: ["ILQLParallel"]),
        .testTarget(
            name: "ILQLTests", dependencies: ["ILQL", "TestSupport"],
            exclude: ["Fixtures"]),
        /// End-to-end tests of the `ilql` executable: exit codes, messages, runs, resume.
        .testTarget(
            name: "CommandLineTests", dependencies: ["ilql", "ILQL", "TestSupport"]),
    ] + mpiTargets,
    swiftLanguageModes: [.v5]
)
