// The cost of joining machines: MPI_Allreduce of the flat gradient buffer of the `small` and
// `gpt2-124M` configs over shared memory and over TCP loopback, measured with two processes on
// this machine, and the parallel efficiency projected for 8 machines at 10 Gb/s and 100 Gb/s
// (`RingAllReduceModel`: ring all-reduce, weak scaling, no overlap with the backward pass).
//
// Usage: swift run -c release MPIBenchmark [--configs small,gpt2-124M] [--repeats 5] [--steps 3]
//                                          [--json FILE]
//
// Run it directly, not under mpirun: it starts `mpirun -np 2` on itself once per transport
// (`--mca btl self,vader` and `--mca btl self,tcp`), and measures one machine's step time itself
// (ILQL steps on every core, as `ilql bench` does) for the projection.
import Foundation
import ILQL
import ILQLMPI

var configNames = ["small", "gpt2-124M"], repeats = 5, steps = 3
var jsonPath: String?, measuring = false
var arguments = CommandLine.arguments.dropFirst().makeIterator()
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("MPIBenchmark: \(message)\n".utf8))
    exit(2)
}
while let argument = arguments.next() {
    switch argument {
    case "--configs": configNames = (arguments.next() ?? "").split(separator: ",").map(String.init)
    case "--repeats": repeats = Int(arguments.next() ?? "") ?? 0
    case "--steps": steps = Int(arguments.next() ?? "") ?? 0
    case "--json": jsonPath = arguments.next()
    case "--measure": measuring = true  // internal: the mpirun side
    case "--help", "-h":
        print("usage: MPIBenchmark [--configs small,gpt2-124M] [--repeats N] [--steps N] [--json FILE]")
        exit(0)
    default: fail("unknown argument \(argument) (try --help)")
    }
}
let shapes = configNames.map { name -> BenchmarkShape in
    guard let shape = BenchmarkShape.named(name) else { fail("unknown config \(name)") }
    return shape
}
guard repeats >= 1, steps >= 1 else { fail("--repeats and --steps must be positive") }

/// Floats in a shape's gradient buffer: the trainable prefix of its parameter layout.
func gradientFloats(_ shape: BenchmarkShape) -> Int {
    ILQLNetwork(gpt2: shape.config, ilql: ILQLConfig()).table.trainablePrefixCount
}

/// One shape's all-reduce times, as the mpirun side reports them (one JSON line each).
struct Measurement: Codable {
    var config: String
    var floats: Int
    var seconds: [Double]
}

if measuring {
    // Under mpirun: every rank reduces the same buffer size; rank 0 reports the times.
    let group: MPIProcessGroup
    do { group = try MPIProcessGroup() } catch { fail("\(error)") }
    for shape in shapes {
        let count = gradientFloats(shape)
        let buffer = FloatBuffer(count: count)
        for i in 0..<count { buffer.pointer[i] = Float(i % 97) * 1e-3 }  // touch every page first
        var times: [Double] = []
        for round in 0...repeats {
            var ready = 1.0
            do {
                try group.allReduceSum(&ready, count: 1)  // start together
                let start = DispatchTime.now().uptimeNanoseconds
                try group.allReduceSum(buffer.pointer, count: count)
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                if round > 0 { times.append(seconds) }  // round 0 warms up connections and buffers
            } catch { fail("rank \(group.rank): \(error)") }
        }
        if group.isRoot {
            let line = try! JSONEncoder().encode(Measurement(config: shape.name, floats: count, seconds: times))
            print(String(decoding: line, as: UTF8.self))
        }
    }
    group.finalize()
    exit(0)
}

/// Runs this executable under `mpirun -np 2` with the transports `btl`, and collects rank 0's lines.
func measure(btl: String) -> [String: Measurement] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
    process.arguments = ["mpirun", "-np", "2", "--bind-to", "none", "--mca", "btl", btl, me, "--measure",
                         "--configs", configNames.joined(separator: ","), "--repeats", "\(repeats)"]
    var environment = ProcessInfo.processInfo.environment
    if getuid() == 0 {
        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    }
    process.environment = environment
    let output = Pipe()
    process.standardOutput = output
    do { try process.run() } catch { fail("cannot start mpirun (install openmpi-bin): \(error)") }
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { fail("mpirun with --mca btl \(btl) failed (status \(process.terminationStatus))") }
    var results: [String: Measurement] = [:]
    for line in text.split(separator: "\n") where line.hasPrefix("{") {
        if let measurement = try? JSONDecoder().decode(Measurement.self, from: Data(line.utf8)) {
            results[measurement.config] = measurement
        }
    }
    return results
}

let cores = Topology.defaultWorkerCount()
print("MPIBenchmark: 2 processes on one machine (\(ScalingBenchmark.cpuModel), \(cores) cores), \(MPIProcessGroup.libraryVersion), median of \(repeats) all-reduces after 1 warm-up")
let transports = [("shared memory", "self,vader"), ("TCP loopback", "self,tcp")]
var measured: [String: [String: Measurement]] = [:]
for (name, btl) in transports {
    FileHandle.standardError.write(Data("  all-reduce over \(name) (--mca btl \(btl))…\n".utf8))
    measured[name] = measure(btl: btl)
}

// One machine's step on every core, for the projection.
var stepSeconds: [String: Double] = [:]
for shape in shapes {
    FileHandle.standardError.write(Data("  \(shape.name): \(steps) ILQL steps on \(cores) workers…\n".utf8))
    do {
        let rows = try ScalingBenchmark.run(shape: shape, workerCounts: [cores], steps: steps,
                                            microBatches: ScalingBenchmark.defaultMicroBatches(workerCounts: [cores])) { _ in }
        stepSeconds[shape.name] = rows[0].stepSecondsMedian
    } catch { fail("\(error)") }
}

struct Row: Codable {
    var config: String
    var gradientBytes: Int
    var stepSeconds: Double
    var allReduceSeconds: [String: Double]
    var projectedEfficiency8Machines: [String: Double]
}
let links = [("10 Gb/s", RingAllReduceModel(bitsPerSecond: 10e9, latency: 50e-6)),
             ("100 Gb/s", RingAllReduceModel(bitsPerSecond: 100e9, latency: 5e-6))]
var rows: [Row] = []
print("")
print("| config | gradient | step on \(cores) cores | all-reduce, shared memory | all-reduce, TCP loopback | 8 machines at 10 Gb/s | 8 machines at 100 Gb/s |")
print("|---|---|---|---|---|---|---|")
for shape in shapes {
    let floats = gradientFloats(shape), bytes = floats * MemoryLayout<Float>.stride
    let step = stepSeconds[shape.name] ?? .nan
    var allReduce: [String: Double] = [:]
    for (name, _) in transports {
        allReduce[name] = measured[name]?[shape.name].map { Timing.median($0.seconds) } ?? .nan
    }
    var projected: [String: Double] = [:]
    var cells: [String] = []
    for (name, link) in links {
        let efficiency = link.efficiency(stepSeconds: step, bytes: Double(bytes), machines: 8)
        projected[name] = efficiency
        cells.append(String(format: "%.1f%% (all-reduce %.0f ms)", efficiency * 100,
                            link.seconds(bytes: Double(bytes), machines: 8) * 1e3))
    }
    rows.append(Row(config: shape.name, gradientBytes: bytes, stepSeconds: step, allReduceSeconds: allReduce,
                    projectedEfficiency8Machines: projected))
    func rate(_ seconds: Double) -> String {
        // Two processes: each sends and receives half the buffer twice, S bytes in all.
        String(format: "%.0f ms (%.1f GB/s)", seconds * 1e3, Double(bytes) / seconds / 1e9)
    }
    print("| \(shape.name) | \(String(format: "%.0f MiB", Double(bytes) / 1_048_576)) | \(String(format: "%.0f ms", step * 1e3)) | \(rate(allReduce["shared memory"]!)) | \(rate(allReduce["TCP loopback"]!)) | \(cells[0]) | \(cells[1]) |")
}
print("")
print("Projection: efficiency(p) = T_step / (T_step + T_allreduce(p)), T_allreduce(p) = 2(p−1)/p · S/B + 2(p−1)·α,")
print("with S the gradient bytes, p = 8 machines, B the link bandwidth, α = 50 µs (10 Gb/s) or 5 µs (100 Gb/s) per message;")
print("each machine keeps its batch (weak scaling) and the all-reduce does not overlap the backward pass.")
if let jsonPath {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    do { try encoder.encode(rows).write(to: URL(fileURLWithPath: jsonPath)) } catch { fail("\(error)") }
}
