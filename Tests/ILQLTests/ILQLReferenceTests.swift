import Foundation
import XCTest
@testable import ILQL
import TestSupport

/// GPT-2 with ILQL heads against a PyTorch restatement of trlx's `ILQLConfig.loss` on
/// `transformers`' GPT-2 (fixtures from tools/reference/make_ilql_fixture.py): every loss term,
/// every statistic and every parameter gradient, for several hyperparameter cases.
final class ILQLReferenceTests: XCTestCase {
    static let fixtures = Fixtures.url("ilql", target: "ILQLTests")
    let gpt2 = GPT2Config(layerCount: 2, headCount: 4, width: 32, maxPositions: 16, vocabularySize: 11)

    /// The batch rebuilt from the fixture's phrases with our element builder.
    func rebuiltBatch() throws -> ILQLBatch {
        let file = try SafetensorsFile(contentsOf: Self.fixtures.appendingPathComponent("batch.safetensors"))
        let phrases = try JSONDecoder().decode([[[Int32]]].self, from: Data(file.metadata["phrases"]!.utf8))
        let raw = try JSONDecoder().decode([Double].self, from: Data(file.metadata["raw_rewards"]!.utf8))
        let rewards = ILQLElementBuilder.standardize(raw)
        return ILQLBatch(zip(phrases, rewards).map { phrases, reward in
            ILQLElementBuilder.element(
                phrases: ILQLElementBuilder.truncatedPhrases(phrases, eos: 9, bos: 9, maxLength: 16),
                standardizedReward: reward)
        })
    }

    func testBatchMatchesTrlxCollation() throws {
        let file = try SafetensorsFile(contentsOf: Self.fixtures.appendingPathComponent("batch.safetensors"))
        let batch = try rebuiltBatch()
        XCTAssertEqual(batch.inputIDs, try file.int32s("input_ids"))
        XCTAssertEqual(batch.actionsIxs, try file.int32s("actions_ixs"))
        XCTAssertEqual(batch.statesIxs, try file.int32s("states_ixs"))
        XCTAssertEqual(batch.dones, try file.floats("dones"))
        XCTAssertEqual(batch.rewards, try file.floats("rewards"))
        let actions = try file.int32s("actions")
        XCTAssertEqual((0..<3).flatMap { b in (0..<batch.actionCount).map { batch.action(b, $0) } }, actions)
    }

    /// Max |ours − reference| over max |reference| (see GPT2ReferenceTests for why this measure).
    func scaledError(_ actual: UnsafePointer<Float>, _ expected: [Float]) -> Double {
        var worst = 0.0, scale = 0.0
        for (i, e) in expected.enumerated() {
            worst = max(worst, abs(Double(actual[i]) - Double(e)))
            scale = max(scale, abs(Double(e)))
        }
        return worst / max(scale, .leastNormalMagnitude)
    }

    func check(case name: String) throws {
        let file = try SafetensorsFile(contentsOf: Self.fixtures.appendingPathComponent("case-\(name).safetensors"))
        let meta = file.metadata
        var ilql = ILQLConfig()
        ilql.tau = Float(meta["tau"]!)!
        ilql.gamma = Float(meta["gamma"]!)!
        ilql.cqlScale = Float(meta["cql_scale"]!)!
        ilql.awacScale = Float(meta["awac_scale"]!)!
        ilql.beta = Float(meta["beta"]!)!
        ilql.twoQs = meta["two_qs"] == "True" || meta["two_qs"] == "true"
        let network = ILQLNetwork(gpt2: gpt2, ilql: ilql)
        let parameters = FloatBuffer(count: network.table.totalCount)
        let model = try SafetensorsFile(contentsOf: Self.fixtures.appendingPathComponent(
            ilql.twoQs ? "model-two-qs.safetensors" : "model-one-q.safetensors"))
        try GPT2Checkpoint.loadTensors(from: model, table: network.table, into: parameters.pointer)
        let gradients = FloatBuffer(count: network.table.totalCount)
        let batch = try rebuiltBatch()
        let workspace = network.makeWorkspace(maxBatch: batch.batchSize, maxLength: batch.length)
        let output = network.accumulateGradients(
            parameters: network.tensors(parameters.pointer), gradients: network.tensors(gradients.pointer),
            batch: batch, normalizer: batch.normalizer, workspace: workspace)
        let stats = output.statistics(ilql, normalizer: Double(batch.normalizer))

        // Loss terms and statistics: float32 network against float64, ~1e-6 of each value's scale
        // (measured ≤ 4e-7); 5e-6 relative plus 1e-7 absolute covers it, a wrong term does not.
        var statCount = 0
        for tensor in file.tensors where tensor.name.contains("/") {
            let expected = Double(try file.floats(tensor.name)[0])
            guard let actual = stats[tensor.name] else { XCTFail("\(name): no statistic \(tensor.name)"); continue }
            print("ilql \(name) \(tensor.name): ours \(actual), PyTorch \(expected)")
            XCTAssertEqual(actual, expected, accuracy: 5e-6 * abs(expected) + 1e-7, "\(name) \(tensor.name)")
            statCount += 1
        }
        XCTAssertEqual(statCount, 5 + 4 * (2 + ilql.qHeadCount), "every statistic trlx logs is in the fixture")

        // Gradients: as for the bare trunk (GPT2ReferenceTests), 5e-6 of each tensor's scale.
        var gradientCount = 0
        for tensor in file.tensors where tensor.name.hasPrefix("grad.") {
            let key = String(tensor.name.dropFirst("grad.".count))
            guard let index = network.table.index(ofKey: key) else { XCTFail("\(name): unknown \(key)"); continue }
            let error = scaledError(gradients.pointer + network.table.offsets[index], try file.floats(tensor.name))
            print("ilql \(name) grad \(key): scaled max error \(error)")
            XCTAssertLessThan(error, 5e-6, "\(name) \(key)")
            gradientCount += 1
        }
        XCTAssertEqual(gradientCount, network.table.specs.filter(\.trainable).count, "every trainable parameter is compared")
        // Target heads never receive gradients.
        for (spec, offset) in zip(network.table.specs, network.table.offsets) where !spec.trainable {
            XCTAssertTrue((0..<spec.count).allSatisfy { gradients.pointer[offset + $0] == 0 }, spec.checkpointKey)
        }
    }

    func testDefaultCase() throws { try check(case: "default") }
    func testBetaOne() throws { try check(case: "beta1") }
    func testSingleQHead() throws { try check(case: "one_q") }
    func testWithoutCQL() throws { try check(case: "no_cql") }
    func testWithoutAWAC() throws { try check(case: "no_awac") }
    func testOtherTauAndGamma() throws { try check(case: "tau_gamma") }
}
