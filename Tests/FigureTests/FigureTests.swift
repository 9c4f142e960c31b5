import Figure
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Tensor
import XCTest

final class FigureTests: XCTestCase {
    /// [[0, 1, 2], [3, 4, 5]] in grey from 0 to 5.
    func knownHeatmap() throws -> Figure {
        let m = Tensor(shape: [2, 3], data: [0, 1, 2, 3, 4, 5])
        return Figure(title: "known", panels: [Panel(title: "m", content: .heatmap(try Heatmap(matrix: m, colormap: .gray, low: 0, high: 5)))])
    }

    func testPNGHasTheMatrixColoursAtItsCells() throws {
        let figure = try knownHeatmap()
        let png = try PNG.decode(try PNG.encode(figure))
        let scene = Scene(figure)
        XCTAssertEqual(png.width, scene.width)
        XCTAssertEqual(png.height, scene.height)
        let area = scene.plotAreas[0]
        let cw = area.width / 3, ch = area.height / 2
        for r in 0..<2 {
            for c in 0..<3 {
                let v = UInt8((Double(r * 3 + c) / 5 * 255).rounded())
                let x = Int(area.x + (Double(c) + 0.5) * cw), y = Int(area.y + (Double(r) + 0.5) * ch)
                XCTAssertEqual(png.rgb(x, y), RGB(v, v, v), "cell \(r), \(c)")
            }
        }
        // Outside the panel the page is white; the frame is drawn.
        XCTAssertEqual(png.rgb(2, png.height - 2), RGB(255, 255, 255))
        XCTAssertNotEqual(png.rgb(Int(area.x + area.width), Int(area.y + area.height / 2)), RGB(255, 255, 255))
    }

    func testSVGIsWellFormedXMLWithTheSameCells() throws {
        let figure = try knownHeatmap()
        let svg = SVG.document(figure)
        final class Collect: NSObject, XMLParserDelegate {
            var rects: [(x: Double, y: Double, w: Double, h: Double, fill: String)] = []
            var texts: [String] = []
            var inText = false
            var root: String?
            func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes a: [String: String] = [:]) {
                if root == nil { root = name }
                if name == "rect" { rects.append((Double(a["x"]!)!, Double(a["y"]!)!, Double(a["width"]!)!, Double(a["height"]!)!, a["fill"]!)) }
                if name == "text" { inText = true; texts.append("") }
            }
            func parser(_ parser: XMLParser, foundCharacters s: String) { if inText { texts[texts.count - 1] += s } }
            func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) { if name == "text" { inText = false } }
        }
        let parser = XMLParser(data: Data(svg.utf8))
        let collect = Collect()
        parser.delegate = collect
        XCTAssertTrue(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
        XCTAssertEqual(collect.root, "svg")
        XCTAssertTrue(collect.texts.contains("known"))
        XCTAssertTrue(collect.texts.contains("m"))
        let area = Scene(figure).plotAreas[0]
        let cell = collect.rects.first { abs($0.x - (area.x + area.width * 2 / 3)) < 0.01 && abs($0.y - (area.y + area.height / 2)) < 0.01 }
        XCTAssertEqual(cell?.fill, Colormap.gray.color(1).hex, "the cell of 5, bottom right")
        // Titles with markup characters stay text.
        let tricky = Figure(title: "a < b & \"c\"", panels: figure.panels)
        let p2 = XMLParser(data: Data(SVG.document(tricky).utf8))
        XCTAssertTrue(p2.parse())
    }

    func testTerminalRenderingPlain() throws {
        let text = TerminalRenderer(style: .plain, columns: 40).render(try knownHeatmap())
        XCTAssertEqual(text, """
        known

        m
        0 |      ......------
          |      ......------
          |      ......------
          |++++++######@@@@@@
          |++++++######@@@@@@
          |++++++######@@@@@@
          +------------------ 0..2
           0 " .:-=+*#%@" 5
        """)
        let curves = try Curves(series: [.init(name: "up", x: [0, 1, 2, 3], y: [0, 1, 2, 3]), .init(name: "flat", x: [0, 3], y: [1, 1])])
        let plot = TerminalRenderer(style: .plain, columns: 30, plotHeight: 4).render(Figure(panels: [Panel(xLabel: "step", content: .curves(curves))]))
        // The flat curve, drawn last, covers the rising one where they cross.
        XCTAssertEqual(plot, """
         3 |                      ****
           |             *********
         1 |oooooooooooooooooooooooooo
         0 |*****
           +--------------------------
            0           1.5          3
                       step
            * up   o flat
        """)
    }

    func testTerminalColourModes() throws {
        let h = try knownHeatmap()
        let c256 = TerminalRenderer(style: .ansi256, columns: 40).render(h)
        XCTAssertTrue(c256.contains("\u{1B}[38;5;16m"), "black as the cube's first colour")
        XCTAssertTrue(c256.contains("\u{2580}"))
        let c24 = TerminalRenderer(style: .trueColor, columns: 40).render(h)
        XCTAssertTrue(c24.contains("\u{1B}[38;2;0;0;0m"))
        XCTAssertTrue(c24.contains("\u{1B}[48;2;"))
        let curves = try Curves(series: [.init(name: nil, x: [0, 1], y: [0, 1])])
        let braille = TerminalRenderer(style: .trueColor, columns: 30, plotHeight: 4).render(Figure(panels: [Panel(content: .curves(curves))]))
        XCTAssertTrue(braille.unicodeScalars.contains { (0x2801...0x28FF).contains($0.value) })
        XCTAssertEqual(TerminalStyle.detect(environment: ["NO_COLOR": "1"], isTerminal: true), .plain)
        XCTAssertEqual(TerminalStyle.detect(environment: [:], isTerminal: false), .plain)
        XCTAssertEqual(TerminalStyle.detect(environment: ["COLORTERM": "truecolor"], isTerminal: true), .trueColor)
        XCTAssertEqual(TerminalStyle.detect(environment: ["TERM": "xterm"], isTerminal: true), .ansi256)
    }

    /// The reader takes every row filter and refuses damage clearly.
    func testPNGReaderFiltersAndDamage() throws {
        // A 2 x 2 grey image whose rows use the Paeth and the average filters.
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(type.utf8) + data
            let crc = Zlib.crc32(body)
            func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
            return be(UInt32(data.count)) + body + be(crc)
        }
        let rows: [UInt8] = [4, 10, 20, 3, 5, 5]  // Paeth: 10, 30; average: 5 + 10/2, 5 + (10 + 30)/2
        let packed = try Zlib.compress(rows)
        let file = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", [0, 0, 0, 2, 0, 0, 0, 2, 8, 0, 0, 0, 0])
            + chunk("IDAT", packed) + chunk("IEND", [])
        let image = try PNG.decode(file)
        XCTAssertEqual(image.samples, [10, 30, 10, 25])
        var damaged = file
        damaged[20] ^= 1
        XCTAssertThrowsError(try PNG.decode(damaged)) { XCTAssertTrue("\($0)".contains("CRC")) }
        XCTAssertThrowsError(try PNG.decode(Array(file.prefix(30))))
        XCTAssertThrowsError(try PNG.decode([1, 2, 3]))
    }

    func testBadDescriptionsAreErrors() {
        XCTAssertThrowsError(try Heatmap(matrix: Tensor(shape: [2, 2, 2], data: Array(repeating: 0, count: 8))))
        XCTAssertThrowsError(try Heatmap(matrix: Tensor(shape: [0, 3], data: [])))
        XCTAssertThrowsError(try Curves(series: []))
        XCTAssertThrowsError(try Curves(series: [.init(name: nil, x: [1], y: [1, 2])]))
        XCTAssertThrowsError(try Curves(series: [.init(name: nil, x: [1], y: [1])], smoothing: 1))
        // NaN cells, flat data, a log scale over non-positive values: drawn, not trapped.
        XCTAssertNoThrow(try PNG.encode(Figure(panels: [Panel(content: .heatmap(try Heatmap(matrix: Tensor(shape: [1, 2], data: [.nan, .nan]))))])))
        XCTAssertNoThrow(try PNG.encode(Figure(panels: [Panel(content: .curves(try Curves(series: [.init(name: nil, x: [0, 1], y: [-1, 0])], logY: true)))])))
    }

    func testSmoothingIsADebiasedMovingAverage() throws {
        let c = try Curves(series: [.init(name: nil, x: [0, 1, 2], y: [1, 3, 3])], smoothing: 0.5)
        XCTAssertEqual(c.series[0].y[0], 1, accuracy: 1e-12)
        XCTAssertEqual(c.series[0].y[1], (0.5 * 0.5 + 0.5 * 3) / 0.75, accuracy: 1e-12)
    }
}
