import Figure
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest

/// `mnemo run --report DIR`: one page with the run's output and figures in
/// the order the script made them, checked by parsing it and, where a
/// browser is installed, by looking at it.
final class ReportTests: XCTestCase {
    let script = """
    seed(5)
    print("before the figure")
    print(heatmap(tensor([[0, 1], [2, 3]]), title: "the matrix", colormap: "viridis"))
    print("loss", end: " ")
    print(0.25)
    show(plot([3, 2, 1], title: "falling"))
    print("a < b & c")
    error("stopped on purpose")
    """

    func makeReport() throws -> (directory: String, status: Int32, stdout: String) {
        let base = NSTemporaryDirectory() + "/mnemo-report-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: base) }
        try script.write(toFile: base + "/run.mn", atomically: true, encoding: .utf8)
        let r = try runMnemoProcess(["run", "--report", base + "/report", base + "/run.mn", "first", "second"])
        return (base + "/report", r.status, r.output)
    }

    func testPageHoldsOutputAndFiguresInOrder() throws {
        let (directory, status, stdout) = try makeReport()
        XCTAssertEqual(status, 70, "the script's error still ends the run with its status")
        XCTAssertTrue(stdout.contains("before the figure"), "the terminal still gets the output")
        let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/index.html"))
        final class Walk: NSObject, XMLParserDelegate {
            var order: [String] = []      // "pre:TEXT", "svg:TITLE", "pre.error:TEXT"
            var cells: [String] = []
            var stack: [(String, String)] = []  // element, class
            var text = ""
            func parser(_ p: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes a: [String: String] = [:]) {
                stack.append((name, a["class"] ?? ""))
                text = ""
            }
            func parser(_ p: XMLParser, foundCharacters s: String) { text += s }
            func parser(_ p: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
                let (element, cls) = stack.removeLast()
                if element == "pre", cls != "source" { order.append((cls == "error" ? "error:" : "pre:") + text) }
                if element == "text", stack.contains(where: { $0.0 == "svg" }), text == "the matrix" || text == "falling" { order.append("svg:" + text) }
                if element == "td" { cells.append(text) }
            }
        }
        let parser = XMLParser(data: data)
        let walk = Walk()
        parser.delegate = walk
        XCTAssertTrue(parser.parse(), "the page is well-formed: \(parser.parserError.map { "\($0)" } ?? "")")
        XCTAssertEqual(walk.order.count, 6, "\(walk.order)")
        XCTAssertEqual(Array(walk.order.prefix(5)), ["pre:before the figure", "svg:the matrix", "pre:loss 0.25", "svg:falling", "pre:a < b & c"])
        XCTAssertTrue(walk.order.last?.hasPrefix("error:") == true && walk.order.last!.contains("stopped on purpose"))
        XCTAssertTrue(walk.cells.contains("first second"), "the arguments: \(walk.cells)")
        XCTAssertTrue(walk.cells.contains("5"), "the seed")
        XCTAssertTrue(walk.cells.contains { $0.hasPrefix("0.") }, "the version")
    }

    /// With Chromium installed (Debian's `chromium`), the page is drawn by a
    /// real browser: the heat map's corner cells show viridis's two ends.
    func testPageInABrowser() throws {
        guard let browser = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first(where: FileManager.default.isExecutableFile) else {
            throw XCTSkip("no Chromium installed")
        }
        let (directory, _, _) = try makeReport()
        let shot = directory + "/shot.png"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: browser)
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--force-device-scale-factor=1",
                             "--window-size=1200,1600", "--screenshot=\(shot)", "file://\(directory)/index.html"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let image = try PNG.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: shot))))
        XCTAssertEqual(image.width, 1200)
        func near(_ a: RGB, _ b: RGB) -> Bool { abs(Int(a.r) - Int(b.r)) + abs(Int(a.g) - Int(b.g)) + abs(Int(a.b) - Int(b.b)) < 24 }
        var low = 0, high = 0
        for y in Swift.stride(from: 0, to: image.height, by: 2) {
            for x in Swift.stride(from: 0, to: image.width, by: 2) {
                let p = image.rgb(x, y)
                if near(p, Colormap.viridis.color(0)) { low += 1 }
                if near(p, Colormap.viridis.color(1)) { high += 1 }
            }
        }
        // A 24-pixel cell sampled every other pixel gives 144 samples; the colour bar adds a few.
        XCTAssertGreaterThan(low, 100, "the dark cell (0) is on the page")
        XCTAssertGreaterThan(high, 100, "the bright cell (3) is on the page")
    }
}
