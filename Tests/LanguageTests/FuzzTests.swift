import Driver
import Foundation
import XCTest

/// The short fuzz pass of the test suite: every input of the kept fuzz corpus
/// (Fuzz/corpus, and the seeds it grew from) and a fixed set of mutations of
/// them go through the fuzz harness, as the libFuzzer target runs them, in
/// this process: a crash or a hang here fails the suite. The long runs use
/// the libFuzzer build (Fuzz/README.md).
final class FuzzTests: XCTestCase {
    func inputs() throws -> [[UInt8]] {
        var found: [[UInt8]] = []
        for folder in ["Fuzz/seeds", "Fuzz/corpus"] {
            let dir = packageRoot + "/" + folder
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() {
                if let data = FileManager.default.contents(atPath: dir + "/" + name) { found.append([UInt8](data)) }
            }
        }
        return found
    }

    func testKeptCorpusAndMutationsEndCleanly() throws {
        let corpus = try inputs()
        XCTAssertGreaterThan(corpus.count, 50)
        var state: UInt64 = 2026
        func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(max(n, 1)))
        }
        FuzzHarness.withBudgets {
            for input in corpus { FuzzHarness.run(input) }
            // Mutations as libFuzzer makes them: bytes changed, cut, repeated, or spliced from another input.
            for _ in 0..<400 {
                var bytes = corpus[next(corpus.count)]
                guard bytes.count > 1 else { continue }
                switch next(4) {
                case 0: bytes[1 + next(bytes.count - 1)] = UInt8(next(256))
                case 1: bytes.removeSubrange((1 + next(bytes.count - 1))...)
                case 2: let at = 1 + next(bytes.count - 1); bytes.insert(contentsOf: bytes[at...].prefix(16), at: at)
                default: let other = corpus[next(corpus.count)]; bytes += other.dropFirst().prefix(64)
                }
                FuzzHarness.run(bytes)
            }
        }
    }
}
