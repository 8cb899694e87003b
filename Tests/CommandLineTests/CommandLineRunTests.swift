import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
import ILQL

/// Whole runs through the command line: files written, evaluation, generation, worker-count
/// independence and resuming after SIGKILL.
final class CommandLineRunTests: CommandLineTestCase {
    func testTrainEvalAndGenerate() throws {
        let run = try ilql("train", "tiny.yml", "--run-dir", "run")
        XCTAssertEqual(run.status, 0, run.errors)
        XCTAssertTrue(run.errors.contains("step 20/20"), run.errors)
        XCTAssertTrue(run.errors.contains("metrics/optimality@beta=100"), "summary table: \(run.errors)")
        let records = try String(contentsOf: directory.appendingPathComponent("run/metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let steps = records.filter { $0["losses/loss"] != nil }
        let evaluations = records.filter { $0["metrics/optimality@beta=100"] != nil }
        XCTAssertEqual(steps.map { $0["step"] as! Int }, Array(1...20))
        XCTAssertEqual(evaluations.map { $0["step"] as! Int }, [0, 10, 20])
        for name in ["losses/loss_q", "losses/loss_v", "losses/loss_cql", "losses/loss_awac", "values/mean",
                     "qvalues/0/mean", "qvalues/1/std", "awac_weight/mean", "learning_rate", "tokens_per_second", "time/step"] {
            XCTAssertNotNil(steps[0][name], "metrics.jsonl lacks \(name)")
        }
        let checkpoint = directory.appendingPathComponent("run/checkpoints/step_000020")
        for file in ["model.safetensors", "config.json", "tokenizer.json", "optimizer.safetensors", "trainer_state.json", "config.yml"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: checkpoint.appendingPathComponent(file).path), file)
        }
        // The resolved config reads back as the same config.
        let resolved = try RunConfig.load(path: directory.appendingPathComponent("run/config.yml").path).config
        let original = try RunConfig.load(path: directory.appendingPathComponent("tiny.yml").path).config
        XCTAssertEqual(resolved.trainer, original.trainer)

        let eval = try ilql("eval", "--checkpoint", "run/checkpoints/step_000020", "--beta", "0,100")
        XCTAssertEqual(eval.status, 0, eval.errors)
        let metrics = try JSONSerialization.jsonObject(with: Data(eval.output.utf8)) as! [String: Double]
        XCTAssertNotNil(metrics["losses/loss"])
        XCTAssertNotNil(metrics["metrics/optimality@beta=0"])
        XCTAssertNotNil(metrics["metrics/optimality@beta=100"])

        let generated = try ilql("generate", "--checkpoint", "run/checkpoints/step_000020", "--prompt", "b",
                                 "--beta", "100", "--seed", "4")
        XCTAssertEqual(generated.status, 0, generated.errors)
        XCTAssertTrue(generated.output.hasPrefix("b"), generated.output)
        XCTAssertEqual(try ilql("generate", "--checkpoint", "run/checkpoints/step_000020", "--prompt", "b",
                                "--beta", "100", "--seed", "4").output, generated.output, "seeded generation repeats")
    }

    func testOneAndTwoWorkersWriteIdenticalCheckpoints() throws {
        XCTAssertEqual(try ilql("train", "tiny.yml", "--workers", "1", "--run-dir", "one").status, 0)
        XCTAssertEqual(try ilql("train", "tiny.yml", "--workers", "2", "--run-dir", "two").status, 0)
        XCTAssertEqual(try checkpointBytes("one/checkpoints/step_000020"), try checkpointBytes("two/checkpoints/step_000020"))
    }

    /// SIGKILL after a checkpoint, then `--resume`: the final checkpoint equals an uninterrupted
    /// run's, byte for byte, and metrics.jsonl holds each step once.
    func testResumeAfterKillIsBitIdentical() throws {
        XCTAssertEqual(try ilql("train", "tiny.yml", "--run-dir", "whole").status, 0)
        let running = try CommandLine.start(["train", "tiny.yml", "--run-dir", "killed"], in: directory, quiet: true)
        let marker = directory.appendingPathComponent("killed/checkpoints/step_000010/trainer_state.json")
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: marker.path) && running.process.isRunning && Date() < deadline {
            usleep(1_000)
        }
        kill(running.process.processIdentifier, SIGKILL)
        running.process.waitUntilExit()
        let resumed = try ilql("train", "--resume", "killed")
        XCTAssertEqual(resumed.status, 0, resumed.errors)
        XCTAssertEqual(try checkpointBytes("killed/checkpoints/step_000020"), try checkpointBytes("whole/checkpoints/step_000020"))
        let steps = try String(contentsOf: directory.appendingPathComponent("killed/metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").compactMap { line -> Int? in
                let record = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                return record?["losses/loss"] != nil ? record?["step"] as? Int : nil
            }
        XCTAssertEqual(steps, Array(1...20))
    }

    /// Kills at random moments of a run that checkpoints every step (so many kills land inside a
    /// checkpoint write): every checkpoint directory left behind is complete and loadable, and the
    /// run still resumes to the uninterrupted result.
    func testKillsDuringCheckpointWritesLeaveOnlyCompleteCheckpoints() throws {
        XCTAssertEqual(try ilql("train", "tiny.yml", "--run-dir", "whole").status, 0)
        var generator = SeededGenerator(seed: 12)
        var arguments = ["train", "tiny.yml", "--run-dir", "stormy", "--set", "train.checkpoint_interval=1"]
        for _ in 0..<6 {
            let running = try CommandLine.start(arguments, in: directory, quiet: true)
            usleep(UInt32(50_000 + generator.next() % 250_000))
            kill(running.process.processIdentifier, SIGKILL)
            running.process.waitUntilExit()
            let checkpoints = directory.appendingPathComponent("stormy/checkpoints")
            for name in (try? FileManager.default.contentsOfDirectory(atPath: checkpoints.path)) ?? [] where !name.hasPrefix(".") {
                let checkpoint = checkpoints.appendingPathComponent(name)
                for file in ["model.safetensors", "optimizer.safetensors", "trainer_state.json", "config.yml", "config.json"] {
                    XCTAssertTrue(FileManager.default.fileExists(atPath: checkpoint.appendingPathComponent(file).path), "\(name)/\(file)")
                }
                XCTAssertNoThrow(try SafetensorsFile(contentsOf: checkpoint.appendingPathComponent("model.safetensors")), name)
            }
            if RunCheckpoint.newest(in: directory.appendingPathComponent("stormy")) != nil {
                arguments = ["train", "--resume", "stormy"]
            }
        }
        XCTAssertEqual(try CommandLine.run(arguments, in: directory).status, 0)
        XCTAssertEqual(try checkpointBytes("stormy/checkpoints/step_000020"), try checkpointBytes("whole/checkpoints/step_000020"))
    }

    func testRandomWalksCommandWritesTrlxData() throws {
        let result = try ilql("randomwalks", "--seed", "1000", "--out", "walks")
        XCTAssertEqual(result.status, 0, result.errors)
        XCTAssertTrue(result.output.contains("mean optimality 0.3515095"), result.output)
        let first = try String(contentsOf: directory.appendingPathComponent("walks/train.jsonl"), encoding: .utf8)
            .split(separator: "\n").first
        XCTAssertEqual(first, #"{"sample": ["s", "da"], "reward": 1.0}"#)
    }
}

/// A smoke run of the benchmark, two rounds of one step (timings are not checked, only that it
/// runs and writes its table, JSON and plot).
final class CommandLineBenchTests: CommandLineTestCase {
    func testBenchSmokeRun() throws {
        let result = try ilql("bench", "--config", "randomwalks", "--workers", "1,2", "--steps", "1", "--rounds", "2",
                              "--json", "bench.json", "--plot", "bench.svg")
        XCTAssertEqual(result.status, 0, result.errors)
        XCTAssertTrue(result.output.contains("| randomwalks | 1 |"), result.output)
        XCTAssertTrue(result.output.contains("| randomwalks | 2 |"), result.output)
        XCTAssertTrue(result.output.contains("share of peak"), result.output)
        XCTAssertTrue(result.output.contains("idle at the barrier"), result.output)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("bench.json"))) as! [String: Any]
        XCTAssertNotNil(json["openblas_core"] as? String)
        let rows = json["rows"] as! [[String: Any]]
        XCTAssertEqual(rows.count, 2)
        // Two rounds of one timed step each, pooled per worker count.
        XCTAssertEqual(rows.map { $0["timed_steps"] as? Int }, [2, 2])
        // One worker never waits for another and has no gradient to add to its own; two wait for
        // part of the step at most. The time shares of the slowest worker's phases, of the
        // waiting and of the coordinator's pass stay within the step.
        XCTAssertEqual(rows[0]["idle_share"] as? Double, 0)
        XCTAssertEqual(rows[0]["all_reduce_share"] as? Double, 0)
        // Efficiencies are relative to one worker; the fastest rounds' too.
        XCTAssertEqual(rows[0]["parallel_efficiency"] as? Double, 1)
        XCTAssertEqual(rows[0]["best_round_efficiency"] as? Double, 1)
        XCTAssertTrue((rows[1]["best_round_efficiency"] as! Double) > 0)
        XCTAssertTrue((rows[1]["all_reduce_share"] as! Double) > 0)
        for row in rows {
            let idle = row["idle_share"] as! Double
            let phases = ["forward_share", "heads_and_loss_share", "backward_share", "gradient_buffers_share"]
                .map { row[$0] as! Double }
            let pass = ["all_reduce_share", "optimizer_share"].map { row[$0] as! Double }
            XCTAssertTrue(idle >= 0 && idle < 1, "idle share \(idle)")
            XCTAssertTrue(phases.allSatisfy { $0 > 0 } && phases.reduce(0, +) <= 1, "phase shares \(phases)")
            XCTAssertTrue(pass.allSatisfy { $0 >= 0 } && pass[1] > 0 && pass.reduce(0, +) <= 1, "pass shares \(pass)")
            XCTAssertTrue((row["concurrent_sgemm_peak_flops_per_second"] as! Double) > 0)
        }
        // randomwalks trains on trlx's walks (3 to 11 tokens), whose padding is not computed: a
        // step's tokens and FLOPs lie below those of 100 full-length sequences of 11 tokens.
        XCTAssertEqual(rows[0]["data"] as? String, "randomwalks")
        let shape = BenchmarkShape.named("randomwalks")!
        let padded = ILQLNetwork(gpt2: shape.config, ilql: ILQLConfig())
            .stepFLOPs(sequences: SequenceLayout(batch: shape.batch, length: shape.length),
                       actions: shape.batch * (shape.length - 1), states: shape.batch * (shape.length - 1))
        let flops = rows[0]["model_flops_per_step"] as! Double, tokens = rows[0]["tokens_per_step"] as! Double
        XCTAssertTrue(tokens > Double(3 * shape.batch) && tokens < Double(shape.batch * shape.length), "\(tokens) tokens")
        XCTAssertTrue(flops > 0.3 * padded && flops < padded, "\(flops) FLOPs against \(padded) for full-length sequences")
        let svg = try Data(contentsOf: directory.appendingPathComponent("bench.svg"))
        XCTAssertTrue(XMLParser(data: svg).parse(), "the plot is well-formed XML")
    }
}
