import Foundation
import XCTest
@testable import ILQL

/// ILQL.md's worked example (§1) and golden numbers (§3), computed in float64 from the formulas:
/// the loss here must reproduce them to 1e-6.
final class ILQLGoldenTests: XCTestCase {
    /// §1's two samples: A = prompt [1 2 3], output [0 2 1]; B = prompt [3], output [1]; EOS 4.
    func workedExampleBatch() -> ILQLBatch {
        let rewards = ILQLElementBuilder.standardize([1, 0])
        let elements = zip([[[Int32(1), 2, 3], [0, 2, 1]], [[3], [1]]], rewards).map { phrases, reward in
            ILQLElementBuilder.element(
                phrases: ILQLElementBuilder.truncatedPhrases(phrases, eos: 4, bos: 4, maxLength: 1024),
                standardizedReward: reward)
        }
        return ILQLBatch(elements)
    }

    func testWorkedExampleOfSection1() {
        let rewards = ILQLElementBuilder.standardize([1, 0])
        XCTAssertEqual(rewards[0], 0.70710678, accuracy: 1e-8)
        XCTAssertEqual(rewards[1], -0.70710678, accuracy: 1e-8)
        let batch = workedExampleBatch()
        XCTAssertEqual(batch.inputIDs, [1, 2, 3, 0, 2, 1, 4, 3, 1, 4, 0, 0, 0, 0])
        XCTAssertEqual(batch.actionsIxs, [2, 3, 4, 5, 0, 1, 0, 0])
        XCTAssertEqual(batch.statesIxs, [2, 3, 4, 5, 6, 0, 1, 2, 0, 0])
        XCTAssertEqual(batch.dones, [1, 1, 1, 1, 0, 1, 1, 0, 0, 0])
        XCTAssertEqual(batch.rewards, [0, 0, 0, Float(rewards[0]), 0, Float(rewards[1]), 0, 0])
        XCTAssertEqual((0..<2).flatMap { b in (0..<4).map { batch.action(b, $0) } }, [0, 2, 1, 4, 1, 4, 1, 1])
        XCTAssertEqual((0..<2).flatMap { b in (0..<4).map { batch.mask(b, $0) } }, [1, 1, 1, 1, 1, 1, 0, 0])
        XCTAssertEqual(batch.normalizer, 6)
    }

    // §3's synthetic network outputs at batch b, position p, vocabulary entry v.
    static func logits(_ b: Int, _ p: Int, _ v: Int) -> Double { sin(1 + Double(b) + 0.7 * Double(p) + 1.3 * Double(v)) }
    static func q1(_ b: Int, _ p: Int, _ v: Int) -> Double { 0.5 * cos(0.3 * Double(b) + 0.2 * Double(p) + 0.9 * Double(v)) }
    static func q2(_ b: Int, _ p: Int, _ v: Int) -> Double { 0.5 * sin(0.4 * Double(b) + 0.3 * Double(p) + 0.5 * Double(v) + 0.1) }
    static func t1(_ b: Int, _ p: Int, _ v: Int) -> Double { 0.4 * cos(0.1 + 0.25 * Double(b) + 0.15 * Double(p) + 0.8 * Double(v)) }
    static func t2(_ b: Int, _ p: Int, _ v: Int) -> Double { 0.45 * sin(0.2 * Double(b) + 0.35 * Double(p) + 0.6 * Double(v)) }
    static func value(_ b: Int, _ p: Int) -> Double { 0.3 * sin(0.5 + 0.6 * Double(b) + 0.45 * Double(p)) }

    /// Runs `ILQLLoss` on the synthetic outputs gathered with the batch's indices.
    func goldenLoss(beta: Float) -> (ILQLLossOutput, ILQLConfig) {
        let batch = workedExampleBatch()
        let vocabulary = 5
        var config = ILQLConfig()
        config.tau = 0.7
        config.gamma = 0.99
        config.cqlScale = 0.1
        config.awacScale = 1
        config.beta = beta
        var actions: [Int32] = [], rewards: [Float] = [], mask: [Float] = []
        var q: [[Float]] = [[], []], target: [Float] = [], values: [Float] = [], next: [Float] = [], logitRows: [Float] = []
        for b in 0..<batch.batchSize {
            for t in 0..<batch.actionCount where batch.mask(b, t) != 0 {
                let p = Int(batch.actionsIxs[b * batch.actionCount + t]), a = Int(batch.action(b, t))
                let state = Int(batch.statesIxs[b * (batch.actionCount + 1) + t])
                let nextState = Int(batch.statesIxs[b * (batch.actionCount + 1) + t + 1])
                actions.append(Int32(a))
                rewards.append(batch.rewards[b * batch.actionCount + t])
                mask.append(batch.mask(b, t))
                for v in 0..<vocabulary {
                    q[0].append(Float(Self.q1(b, p, v)))
                    q[1].append(Float(Self.q2(b, p, v)))
                    logitRows.append(Float(Self.logits(b, p, v)))
                }
                target.append(Float(min(Self.t1(b, p, a), Self.t2(b, p, a))))
                values.append(Float(Self.value(b, state)))
                next.append(Float(Self.value(b, nextState)) * batch.dones[b * (batch.actionCount + 1) + t + 1])
            }
        }
        let n = actions.count
        XCTAssertEqual(n, 6)
        let q0 = FloatBuffer(q[0]), q1 = FloatBuffer(q[1])
        let dQ0 = FloatBuffer(count: n * vocabulary), dQ1 = FloatBuffer(count: n * vocabulary)
        let dValues = FloatBuffer(count: n), dLogits = FloatBuffer(count: n * vocabulary)
        // Stored pointers must outlive the call: copy the entry arrays into owned buffers.
        let actionBuffer = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        defer { actionBuffer.deallocate() }
        actionBuffer.initialize(from: actions, count: n)
        let rewardBuffer = FloatBuffer(rewards), maskBuffer = FloatBuffer(mask), targetBuffer = FloatBuffer(target)
        let valueBuffer = FloatBuffer(values), nextBuffer = FloatBuffer(next), logitBuffer = FloatBuffer(logitRows)
        let output = ILQLLoss.accumulate(
            ILQLLossInputs(count: n, vocabularySize: vocabulary, actions: actionBuffer, rewards: rewardBuffer.pointer,
                           mask: maskBuffer.pointer, qRows: [UnsafePointer(q0.pointer), UnsafePointer(q1.pointer)],
                           targetQ: targetBuffer.pointer, values: valueBuffer.pointer, nextValues: nextBuffer.pointer,
                           logitRows: logitBuffer.pointer),
            into: ILQLLossGradients(dQRows: [dQ0.pointer, dQ1.pointer], dValues: dValues.pointer,
                                    dLogitRows: dLogits.pointer),
            config: config, normalizer: batch.normalizer, scratch: ILQLLossScratch(capacity: n))
        return (output, config)
    }

    func testGoldenLossWithBetaZero() {
        let (output, config) = goldenLoss(beta: 0)
        let stats = output.statistics(config, normalizer: 6)
        XCTAssertEqual(stats["losses/loss_q"]!, 0.503320, accuracy: 1e-6)
        XCTAssertEqual(stats["losses/loss_v"]!, 0.048008, accuracy: 1e-6)
        XCTAssertEqual(stats["losses/loss_cql"]!, 3.238963, accuracy: 1e-6)
        XCTAssertEqual(stats["losses/loss_awac"]!, 1.898717, accuracy: 1e-6)
        XCTAssertEqual(stats["losses/loss"]!, 2.773941, accuracy: 1e-6)
        XCTAssertEqual(stats["values/mean"]!, 0.248254, accuracy: 1e-6)
        XCTAssertEqual(stats["values/std"]!, 0.065044, accuracy: 1e-6)
        // With beta = 0 every AWAC weight is exactly 1.
        XCTAssertEqual(stats["awac_weight/min"], 1)
        XCTAssertEqual(stats["awac_weight/max"], 1)
    }

    func testGoldenLossWithBetaOne() {
        let (output, config) = goldenLoss(beta: 1)
        let stats = output.statistics(config, normalizer: 6)
        XCTAssertEqual(stats["losses/loss_awac"]!, 1.417364, accuracy: 1e-6)
        XCTAssertEqual(stats["losses/loss"]!, 2.292588, accuracy: 1e-6)
        XCTAssertEqual(stats["losses/loss_q"]!, 0.503320, accuracy: 1e-6)
    }
}

/// ILQL.md §5's golden decoding step: batch 0, position 6 of §3's synthetic outputs, beta 1,
/// top_k 3, temperature 1.
final class GuidedSamplingGoldenTests: XCTestCase {
    func testGoldenDecodingStep() {
        let v = 5
        let logits = (0..<v).map { Float(ILQLGoldenTests.logits(0, 6, $0)) }
        let targetQ = (0..<v).map { Float(min(ILQLGoldenTests.t1(0, 6, $0), ILQLGoldenTests.t2(0, 6, $0))) }
        let value = Float(ILQLGoldenTests.value(0, 6))
        var scores = [Float](repeating: 0, count: v)
        // Without the cut (k = vocabulary) every score is visible.
        GuidedSampling.scores(into: &scores, logits: logits, targetQ: targetQ, value: value, beta: 1, topK: v,
                              vocabularySize: v)
        let expectedScores: [Float] = [-2.471232, -1.679660, -1.148111, -1.871520, -3.071614]
        for (s, e) in zip(scores, expectedScores) { XCTAssertEqual(s, e, accuracy: 1e-6) }
        GuidedSampling.scores(into: &scores, logits: logits, targetQ: targetQ, value: value, beta: 1, topK: 3,
                              vocabularySize: v)
        XCTAssertEqual(scores[0], -.infinity)
        XCTAssertEqual(scores[4], -.infinity)
        var probabilities = [Float](repeating: 0, count: v)
        GuidedSampling.probabilities(into: &probabilities, scores: scores, temperature: 1, vocabularySize: v)
        let expected: [Float] = [0, 0.283528, 0.482442, 0.234030, 0]
        for (p, e) in zip(probabilities, expected) { XCTAssertEqual(p, e, accuracy: 1e-6) }
        // Temperature 0 takes the best score.
        var generator = SeededGenerator(seed: 1)
        var scratch = [Float](repeating: 0, count: v)
        XCTAssertEqual(GuidedSampling.choose(scores: scores, temperature: 0, vocabularySize: v,
                                             probabilityScratch: &scratch, generator: &generator), 2)
    }

    /// Sampling follows the probabilities: 20,000 seeded draws land within 4 standard errors.
    func testSamplingFrequenciesMatchProbabilities() {
        let scores: [Float] = [-.infinity, log(0.2), log(0.5), log(0.3), -.infinity]
        var generator = SeededGenerator(seed: 42)
        var counts = [Int](repeating: 0, count: 5)
        var scratch = [Float](repeating: 0, count: 5)
        let draws = 20_000
        for _ in 0..<draws {
            counts[Int(GuidedSampling.choose(scores: scores, temperature: 1, vocabularySize: 5,
                                             probabilityScratch: &scratch, generator: &generator))] += 1
        }
        XCTAssertEqual(counts[0], 0)
        XCTAssertEqual(counts[4], 0)
        for (j, p) in [(1, 0.2), (2, 0.5), (3, 0.3)] {
            let standardError = (p * (1 - p) / Double(draws)).squareRoot()
            XCTAssertEqual(Double(counts[j]) / Double(draws), p, accuracy: 4 * standardError)
        }
    }
}
