import XCTest
@testable import ILQL

final class TargetSyncTests: XCTestCase {
    let network = ILQLNetwork(gpt2: GPT2Config(layerCount: 1, headCount: 2, width: 8, maxPositions: 8, vocabularySize: 7),
                              ilql: ILQLConfig())

    func makeParameters() -> FloatBuffer {
        let parameters = FloatBuffer(count: network.table.totalCount)
        var generator = SeededGenerator(seed: 9)
        network.table.initialize(parameters.pointer, generator: &generator)
        return parameters
    }

    /// (online, target) values of every target head, in table order.
    func pairs(_ parameters: FloatBuffer) -> [(Float, Float)] {
        var result: [(Float, Float)] = []
        for (spec, offset) in zip(network.table.specs, network.table.offsets) {
            guard case let .copy(of: source) = spec.initialization else { continue }
            let online = network.table.offset(ofKey: source)
            for i in 0..<spec.count { result.append((parameters.pointer[online + i], parameters.pointer[offset + i])) }
        }
        return result
    }

    func testTargetsStartAsExactCopiesAndAreNotTrainable() {
        let parameters = makeParameters()
        let values = pairs(parameters)
        XCTAssertEqual(values.count, 2 * (16 * 8 + 16 + 7 * 16 + 7))
        XCTAssertTrue(values.allSatisfy { $0.0 == $0.1 })
        let targets = network.table.specs.filter { $0.checkpointKey.hasPrefix("ilql_heads.target_q_heads.") }
        XCTAssertEqual(targets.count, 8)
        XCTAssertTrue(targets.allSatisfy { !$0.trainable })
        // Targets come last, so gradients and moments need only the layout before them.
        XCTAssertEqual(network.table.trainablePrefixCount,
                       network.table.offset(ofKey: ILQLHeadsLayout.targetPrefix(0) + "0.weight"))
    }

    func testPolyakWithAlphaOneCopiesAndZeroKeeps() {
        let parameters = makeParameters()
        // Move the online heads away from their targets.
        for (spec, offset) in zip(network.table.specs, network.table.offsets) where spec.checkpointKey.hasPrefix("ilql_heads.q_heads.") {
            for i in 0..<spec.count { parameters.pointer[offset + i] += Float(i % 5) * 0.01 + 0.003 }
        }
        let before = pairs(parameters)
        XCTAssertTrue(before.contains { $0.0 != $0.1 })
        network.syncTargetHeads(parameters.pointer, alpha: 0)
        XCTAssertTrue(zip(before, pairs(parameters)).allSatisfy { $0.0.1.bitPattern == $0.1.1.bitPattern })
        network.syncTargetHeads(parameters.pointer, alpha: 0.25)
        for (old, new) in zip(before, pairs(parameters)) {
            XCTAssertEqual(new.1, 0.25 * old.0 + 0.75 * old.1, accuracy: 1e-7)
        }
        network.syncTargetHeads(parameters.pointer, alpha: 1)
        XCTAssertTrue(pairs(parameters).allSatisfy { $0.0.bitPattern == $0.1.bitPattern })
    }

    func testSyncSchedule() {
        XCTAssertEqual((1...12).filter { network.syncsTargets(afterStep: $0) }, [5, 10])
    }
}
