import Builtins
import Driver
import Foundation
import Runtime
import Syntax
import XCTest

/// Metric logs are read by other tools: every JSON line parses, a CSV has
/// one header, and `mnemo test`'s placeholders match only what they say.
final class LogTests: XCTestCase {
    func testJSONLinesAndCSVAreReadable() throws {
        let base = NSTemporaryDirectory() + "/mnemo-log-\(UUID().uuidString)"
        defer { for ext in ["jsonl", "csv"] { try? FileManager.default.removeItem(atPath: "\(base).\(ext)") } }
        let r = runMnemo("""
        for step in 1...3 {
          log_metrics("\(base).jsonl", {step: step, loss: 1 / step, tag: "x\\"y", ok: step > 1, bad: if step == 3 { number("nan") } else { 1 }})
          log_metrics("\(base).csv", {step: step, loss: tensor(0.5) * step, tag: "a,b"})
        }
        """)
        XCTAssertNil(r.error)
        let lines = try String(contentsOfFile: "\(base).jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        let rows = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(rows[1]["loss"] as? Double, 0.5)
        XCTAssertEqual(rows[0]["tag"] as? String, "x\"y")
        XCTAssertEqual(rows[2]["step"] as? Int, 3)
        XCTAssertTrue(rows[2]["bad"] is NSNull, "NaN is written as null")
        XCTAssertEqual(try String(contentsOfFile: "\(base).csv", encoding: .utf8), "step,loss,tag\n1,0.5,\"a,b\"\n2,1,\"a,b\"\n3,1.5,\"a,b\"\n")
        // Another set of columns in the same CSV is refused, and the file is left as it was.
        let again = runMnemo("log_metrics(\"\(base).csv\", {step: 4, accuracy: 1})")
        XCTAssertTrue("\((again.error as? Diagnostic)?.message ?? "")".contains("keeps one set of columns"))
        XCTAssertEqual(try String(contentsOfFile: "\(base).csv", encoding: .utf8).split(separator: "\n").count, 4)
    }

    /// `mnemo plot` draws a log's columns against its steps, in plain text
    /// when the output is not a terminal, or to a file; a log being written
    /// (its last line cut short) still reads.
    func testPlotCommandReadsLogs() throws {
        let base = NSTemporaryDirectory() + "/mnemo-plot-\(UUID().uuidString)"
        defer { for ext in ["jsonl", "csv", "svg"] { try? FileManager.default.removeItem(atPath: "\(base).\(ext)") } }
        try ((1...20).map { #"{"step":\#($0 * 10),"loss":\#(1.0 / Double($0)),"acc":\#(Double($0) / 20)}"# }.joined(separator: "\n") + "\n{\"step\":21")
            .write(toFile: "\(base).jsonl", atomically: true, encoding: .utf8)
        let text = try runMnemoProcess(["plot", "\(base).jsonl", "loss", "acc"])
        XCTAssertEqual(text.status, 0, text.error)
        XCTAssertTrue(text.output.contains("* loss   o acc"), text.output)
        XCTAssertTrue(text.output.contains(" 10 ") && text.output.contains("200"), "the x axis runs over the steps")
        XCTAssertFalse(text.output.contains("\u{1B}"), "no escape codes when the output is not a terminal")
        let svg = try runMnemoProcess(["plot", "\(base).jsonl", "--out", "\(base).svg", "--log"])
        XCTAssertEqual(svg.status, 0, svg.error)
        XCTAssertTrue(try String(contentsOfFile: "\(base).svg", encoding: .utf8).hasPrefix("<svg"))
        try "step,loss\n1,2\n2,1,9\n".write(toFile: "\(base).csv", atomically: true, encoding: .utf8)
        let bad = try runMnemoProcess(["plot", "\(base).csv"])
        XCTAssertEqual(bad.status, 65)
        XCTAssertTrue(bad.error.contains(".csv:3: 3 fields, the header has 2"), bad.error)
        let missing = try runMnemoProcess(["plot", "\(base).jsonl", "lost"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.error.contains("has no column 'lost'"), missing.error)
    }

    func testExpectedOutputPlaceholders() {
        XCTAssertTrue(ExpectedOutput.matches("done in [time] s\n", "done in 12.5 s\n"))
        XCTAssertTrue(ExpectedOutput.matches("[[time]<[time], [time] it/s]", "[00:03<1:02:03, 1.5e-3 it/s]"))
        XCTAssertTrue(ExpectedOutput.matches("rate [any] end", "rate 3 per (second) end"))
        XCTAssertFalse(ExpectedOutput.matches("done in [time] s", "done in soon s"), "[time] is a number")
        XCTAssertFalse(ExpectedOutput.matches("a [time]\nb", "a 1\nb\nc"), "the line count must agree")
        XCTAssertFalse(ExpectedOutput.matches("loss 0.5 [time]", "loss 0.6 1"), "the rest of a line is compared exactly")
        XCTAssertFalse(ExpectedOutput.matches("x.y [any]", "xzy 1"), "text around placeholders is literal")
    }
}
