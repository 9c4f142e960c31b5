import Foundation
import XCTest

/// The benchmark scripts stay runnable: every bench/*.mn checks, and `mnemo
/// bench` runs a named one and prints its figure beside the native baseline.
final class BenchTests: XCTestCase {
    func testBenchScriptsCheckAndRun() throws {
        let folder = packageRoot + "/bench"
        let scripts = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".mn") }.sorted().map { folder + "/" + $0 }
        XCTAssertGreaterThanOrEqual(scripts.count, 9)
        let check = try runMnemoProcess(["check"] + scripts)
        XCTAssertEqual(check.status, 0, check.error)
        let run = try runMnemoProcess(["bench", "--iterations", "1000", folder + "/empty_loop.mn", folder + "/tensor_add.mn"])
        XCTAssertEqual(run.status, 0, run.error)
        XCTAssertTrue(run.output.contains("native Swift: Tensor + Tensor"), run.output)
        XCTAssertTrue(run.output.contains("empty loop") && run.output.contains("x native add"), run.output)
        XCTAssertTrue(run.output.contains("tensor a + b (length 20)"), run.output)
    }
}
