import CZlib
import Figure
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Tensor
import XCTest

/// A minimal PNG reader for the tests: checks the signature and every
/// chunk's CRC, inflates the image data and undoes the row filters.
struct DecodedPNG {
    let width: Int, height: Int
    let rgb: [UInt8]

    init(_ bytes: [UInt8]) throws {
        struct Bad: Error { let why: String }
        guard bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else { throw Bad(why: "signature") }
        func u32(_ i: Int) -> Int { Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3]) }
        var i = 8, w = 0, h = 0
        var packed: [UInt8] = []
        var sawEnd = false
        while i + 12 <= bytes.count {
            let length = u32(i)
            let type = String(decoding: bytes[(i + 4)..<(i + 8)], as: UTF8.self)
            guard i + 12 + length <= bytes.count else { throw Bad(why: "chunk \(type) overruns the file") }
            let body = Array(bytes[(i + 4)..<(i + 8 + length)])
            let crc = body.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
            guard Int(crc) == u32(i + 8 + length) else { throw Bad(why: "CRC of \(type)") }
            let data = Array(body.dropFirst(4))
            switch type {
            case "IHDR":
                w = Int(data[0]) << 24 | Int(data[1]) << 16 | Int(data[2]) << 8 | Int(data[3])
                h = Int(data[4]) << 24 | Int(data[5]) << 16 | Int(data[6]) << 8 | Int(data[7])
                guard data[8] == 8, data[9] == 2, data[12] == 0 else { throw Bad(why: "not 8-bit RGB without interlace") }
            case "IDAT": packed += data
            case "IEND": sawEnd = true
            default: break
            }
            i += 12 + length
        }
        guard sawEnd, w > 0, h > 0 else { throw Bad(why: "missing IHDR or IEND") }
        let stride = w * 3 + 1
        var raw = [UInt8](repeating: 0, count: stride * h)
        var size = uLongf(raw.count)
        let status = raw.withUnsafeMutableBufferPointer { dst in packed.withUnsafeBufferPointer { uncompress(dst.baseAddress, &size, $0.baseAddress, uLong($0.count)) } }
        guard status == Z_OK, Int(size) == raw.count else { throw Bad(why: "inflate") }
        var out = [UInt8](repeating: 0, count: w * 3 * h)
        for y in 0..<h {
            let filter = raw[y * stride]
            for x in 0..<(w * 3) {
                let v = raw[y * stride + 1 + x]
                let left = x >= 3 ? out[y * w * 3 + x - 3] : 0
                let up = y > 0 ? out[(y - 1) * w * 3 + x] : 0
                switch filter {
                case 0: out[y * w * 3 + x] = v
                case 1: out[y * w * 3 + x] = v &+ left
                case 2: out[y * w * 3 + x] = v &+ up
                default: throw Bad(why: "filter \(filter)")
                }
            }
        }
        width = w; height = h; rgb = out
    }

    func pixel(_ x: Int, _ y: Int) -> RGB { let i = (y * width + x) * 3; return RGB(rgb[i], rgb[i + 1], rgb[i + 2]) }
}

final class FigureTests: XCTestCase {
    /// [[0, 1, 2], [3, 4, 5]] in grey from 0 to 5.
    func knownHeatmap() throws -> Figure {
        let m = Tensor(shape: [2, 3], data: [0, 1, 2, 3, 4, 5])
        return Figure(title: "known", panels: [Panel(title: "m", content: .heatmap(try Heatmap(matrix: m, colormap: .gray, low: 0, high: 5)))])
    }

    func testPNGHasTheMatrixColoursAtItsCells() throws {
        let figure = try knownHeatmap()
        let png = try DecodedPNG(try PNG.encode(figure))
        let scene = Scene(figure)
        XCTAssertEqual(png.width, scene.width)
        XCTAssertEqual(png.height, scene.height)
        let area = scene.plotAreas[0]
        let cw = area.width / 3, ch = area.height / 2
        for r in 0..<2 {
            for c in 0..<3 {
                let v = UInt8((Double(r * 3 + c) / 5 * 255).rounded())
                let x = Int(area.x + (Double(c) + 0.5) * cw), y = Int(area.y + (Double(r) + 0.5) * ch)
                XCTAssertEqual(png.pixel(x, y), RGB(v, v, v), "cell \(r), \(c)")
            }
        }
        // Outside the panel the page is white; the frame is drawn.
        XCTAssertEqual(png.pixel(2, png.height - 2), RGB(255, 255, 255))
        XCTAssertNotEqual(png.pixel(Int(area.x + area.width), Int(area.y + area.height / 2)), RGB(255, 255, 255))
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
