import XCTest
@testable import ILQL

final class OfflineDatasetTests: XCTestCase {
    func testRandomWalkSamplesBecomeElements() throws {
        let samples = try parseSamples(jsonl: """
            {"sample": ["s", "da"], "reward": 1.0}
            {"sample": ["e", "bjnbdtkna"], "reward": 0.25}
            """, source: "walks.jsonl")
        let dataset = try OfflineDataset(samples: samples, tokenizer: CharacterTokenizer.randomWalks, maxLength: 11, source: "walks.jsonl")
        // "s" = 18, "d" = 3, "a" = 0, EOS = 21.
        XCTAssertEqual(dataset.elements[0].inputIDs, [18, 3, 0, 21])
        XCTAssertEqual(dataset.elements[0].actionsIxs, [0, 1, 2])
        XCTAssertEqual(dataset.elements[0].rewards[2], Float(ILQLElementBuilder.standardize([1, 0.25])[0]))
        // 1 + 9 letters + EOS = 11 tokens: exactly seq_length, nothing cut.
        XCTAssertEqual(dataset.elements[1].inputIDs.count, 11)
        XCTAssertEqual(dataset.elements[1].inputIDs.last, 21)
        let batch = dataset.batch([1, 0])
        XCTAssertEqual(batch.length, 11)
        XCTAssertEqual(batch.actionCount, 10)
    }

    func testTruncationKeepsTheStartAndDropsEOS() throws {
        let samples = [OfflineSample(phrases: ["b", "cdefghijklmn"], reward: 1), OfflineSample(phrases: ["c", "d"], reward: 0)]
        let dataset = try OfflineDataset(samples: samples, tokenizer: CharacterTokenizer.randomWalks, maxLength: 5, source: "s")
        XCTAssertEqual(dataset.elements[0].inputIDs, [1, 2, 3, 4, 5])
        XCTAssertEqual(dataset.elements[0].dones, [1, 1, 1, 1, 0])
    }

    func testSampleWithoutActionsIsAnError() {
        let samples = [OfflineSample(phrases: ["b", "c"], reward: 1), OfflineSample(phrases: ["bcdef", "g"], reward: 0)]
        XCTAssertThrowsError(try OfflineDataset(samples: samples, tokenizer: CharacterTokenizer.randomWalks, maxLength: 5, source: "data.jsonl")) {
            XCTAssertTrue("\($0)".contains("data.jsonl") && "\($0)".contains("sample 2 has no output token left"), "\($0)")
        }
    }
}
