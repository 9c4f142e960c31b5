import Foundation
import Tensor

/// A scene as a standalone SVG document.
public enum SVG {
    public static func document(_ figure: Figure) -> String { document(Scene(figure)) }

    public static func document(_ scene: Scene) -> String {
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(scene.width)\" height=\"\(scene.height)\" "
        out += "viewBox=\"0 0 \(scene.width) \(scene.height)\" font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\">\n"
        // Cells are drawn edge to edge; without crispEdges, antialiasing leaves seams between them.
        out += "<g shape-rendering=\"crispEdges\">\n"
        var inCells = true
        for shape in scene.shapes {
            switch shape {
            case let .rect(x, y, w, h, color):
                if !inCells { out += "<g shape-rendering=\"crispEdges\">\n"; inCells = true }
                out += "<rect x=\"\(n(x))\" y=\"\(n(y))\" width=\"\(n(w))\" height=\"\(n(h))\" fill=\"\(color.hex)\"/>\n"
            case let .line(points, color, width):
                if inCells { out += "</g>\n"; inCells = false }
                for run in runs(points) where run.count > 1 {
                    out += "<polyline fill=\"none\" stroke=\"\(color.hex)\" stroke-width=\"\(n(width))\" stroke-linejoin=\"round\" points=\""
                    out += run.map { "\(n($0.0)),\(n($0.1))" }.joined(separator: " ") + "\"/>\n"
                }
            case let .text(s, x, y, scale, anchor, color, vertical):
                if inCells { out += "</g>\n"; inCells = false }
                let a = anchor == .start ? "start" : anchor == .middle ? "middle" : "end"
                // Font size chosen so a monospace face advances about 6 * scale pixels a character, as the PNG's font does.
                let size = n(10 * Double(scale))
                let turn = vertical ? " transform=\"rotate(-90 \(n(x)) \(n(y)))\"" : ""
                out += "<text x=\"\(n(x))\" y=\"\(n(y))\" font-size=\"\(size)\" text-anchor=\"\(a)\" fill=\"\(color.hex)\"\(turn)>\(escape(s))</text>\n"
            }
        }
        if inCells { out += "</g>\n" }
        return out + "</svg>\n"
    }

    /// Runs of consecutive points between gaps.
    static func runs(_ points: [(Double, Double)?]) -> [[(Double, Double)]] {
        var out: [[(Double, Double)]] = [[]]
        for p in points {
            if let p { out[out.count - 1].append(p) } else if !out[out.count - 1].isEmpty { out.append([]) }
        }
        return out
    }

    static func n(_ v: Double) -> String {
        let r = (v * 100).rounded() / 100
        return r == r.rounded() ? String(Int(r)) : String(r)
    }

    public static func escape(_ s: String) -> String {
        escaped(s) { ch in
            switch ch {
            case "&": return "&amp;"
            case "<": return "&lt;"
            case ">": return "&gt;"
            case "\"": return "&quot;"
            // XML 1.0 forbids most control characters even escaped.
            case _ where ch.value < 0x20 && ch != "\t" && ch != "\n": return "?"
            default: return nil
            }
        }
    }
}
