import XCTest
@testable import ILQL

/// The external metric command: JSON lines in, JSON lines of named numbers out.
final class CommandMetricTests: XCTestCase {
    func testCommandScoresEverySample() throws {
        // Scores each sample by the length of its input line, using only the shell.
        let metric = commandMetric(#"while IFS= read -r line; do echo "{\"chars\": ${#line}, \"one\": 1}"; done"#)
        let scores = try metric(["b", "cd"], ["x", "yz"])
        XCTAssertEqual(scores["one"], [1, 1])
        XCTAssertEqual(scores["chars"], [Double(#"{"output":"x","prompt":"b"}"#.count), Double(#"{"output":"yz","prompt":"cd"}"#.count)])
    }

    func testFailingOrMisbehavingCommandsAreClearErrors() {
        XCTAssertThrowsError(try commandMetric("echo broken >&2; exit 3")(["b"], ["c"])) {
            XCTAssertTrue("\($0)".contains("exited with status 3: broken"), "\($0)")
        }
        XCTAssertThrowsError(try commandMetric("echo '{\"a\": 1}'")(["b", "c"], ["d", "e"])) {
            XCTAssertTrue("\($0)".contains("wrote 1 lines for 2 samples"), "\($0)")
        }
        XCTAssertThrowsError(try commandMetric("cat > /dev/null; echo '{\"a\": \"high\"}'")(["b"], ["c"])) {
            XCTAssertTrue("\($0)".contains("\"a\" is not a finite number"), "\($0)")
        }
    }
}
