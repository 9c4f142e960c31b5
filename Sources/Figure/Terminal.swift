import Foundation

/// How a terminal can show colour. Plain text (no escape codes) when
/// `NO_COLOR` is set or the output is not a terminal, so logs and expected
/// test outputs stay readable.
public enum TerminalStyle: Equatable {
    case plain
    case ansi256
    case trueColor

    /// The style for standard output, from the environment.
    public static func detect(environment: [String: String] = ProcessInfo.processInfo.environment, isTerminal: Bool = isatty(1) == 1) -> TerminalStyle {
        if let v = environment["NO_COLOR"], !v.isEmpty { return .plain }
        guard isTerminal, environment["TERM"] != "dumb" else { return .plain }
        let colorterm = environment["COLORTERM"]?.lowercased() ?? ""
        return colorterm.contains("truecolor") || colorterm.contains("24bit") ? .trueColor : .ansi256
    }

    /// Columns of the terminal on a file descriptor (COLUMNS, then the window size), 80 otherwise.
    public static func columns(environment: [String: String] = ProcessInfo.processInfo.environment, descriptor: Int32 = 1) -> Int {
        if let c = environment["COLUMNS"].flatMap(Int.init), c >= 20 { return min(c, 1000) }
        var size = winsize()
        if ioctl(descriptor, UInt(TIOCGWINSZ), &size) == 0, size.ws_col >= 20 { return min(Int(size.ws_col), 1000) }
        return 80
    }

    func foreground(_ c: RGB) -> String {
        switch self {
        case .plain: return ""
        case .ansi256: return "\u{1B}[38;5;\(TerminalStyle.cubeIndex(c))m"
        case .trueColor: return "\u{1B}[38;2;\(c.r);\(c.g);\(c.b)m"
        }
    }

    func background(_ c: RGB) -> String {
        switch self {
        case .plain: return ""
        case .ansi256: return "\u{1B}[48;5;\(TerminalStyle.cubeIndex(c))m"
        case .trueColor: return "\u{1B}[48;2;\(c.r);\(c.g);\(c.b)m"
        }
    }

    var reset: String { self == .plain ? "" : "\u{1B}[0m" }

    /// The nearest colour of xterm's 6 x 6 x 6 cube (levels 0, 95, 135, ..., 255).
    static func cubeIndex(_ c: RGB) -> Int {
        func level(_ v: UInt8) -> Int { v < 48 ? 0 : v < 115 ? 1 : (Int(v) - 35) / 40 }
        return 16 + 36 * level(c.r) + 6 * level(c.g) + level(c.b)
    }
}

/// A figure as text for a terminal: heat maps in half blocks (two cells a
/// character, one colour above the other) or, plain, one shade character a
/// cell; curves in Braille dots (two by four a character), or plain, one
/// marker a character.
public struct TerminalRenderer {
    public let style: TerminalStyle
    public let columns: Int
    /// Text lines of a curve's plotting area.
    public let plotHeight: Int

    /// Drawing for standard output, as its terminal (or its absence) allows.
    public static var standardOutput: TerminalRenderer { TerminalRenderer(style: .detect(), columns: TerminalStyle.columns()) }

    public init(style: TerminalStyle, columns: Int = 80, plotHeight: Int = 12) {
        self.style = style
        self.columns = max(20, columns)
        self.plotHeight = max(4, plotHeight)
    }

    public func render(_ figure: Figure) -> String {
        var lines: [String] = []
        if let t = figure.title { lines.append(t) }
        for (i, panel) in figure.panels.enumerated() {
            if i > 0 || figure.title != nil { lines.append("") }
            lines += render(panel)
        }
        return lines.joined(separator: "\n")
    }

    static let shades = Array(" .:-=+*#%@")
    static let markers = Array("*o+x#@%&")

    func render(_ panel: Panel) -> [String] {
        var lines: [String] = []
        if let t = panel.title { lines.append(t) }
        switch panel.content {
        case .heatmap(let h): lines += heatmap(h, panel)
        case .curves(let c): lines += curves(c, panel)
        }
        return lines
    }

    /// Averages of a run of cells, for a matrix larger than the screen.
    static func binned(_ h: Heatmap, rows: Int, columns: Int) -> [[Float]] {
        (0..<rows).map { r in
            let r0 = r * h.rows / rows, r1 = max(r0 + 1, (r + 1) * h.rows / rows)
            return (0..<columns).map { c in
                let c0 = c * h.columns / columns, c1 = max(c0 + 1, (c + 1) * h.columns / columns)
                var sum: Float = 0
                for i in r0..<r1 { for j in c0..<c1 { sum += h.value(i, j) } }
                return sum / Float((r1 - r0) * (c1 - c0))
            }
        }
    }

    func heatmap(_ h: Heatmap, _ panel: Panel) -> [String] {
        let labelWidth = String(h.firstRow + h.rows - 1).count + 1
        let available = max(4, columns - labelWidth - 2)
        let shownColumns = min(h.columns, available)
        // A half block is a square cell; a plain character is half as wide as
        // tall, so it takes two a cell. Small matrices are drawn larger, each
        // cell k x k, up to three times.
        let perCell = style == .plain ? 2 : 1
        let maxRows = style == .plain ? 60 : 120
        let shownRows = min(h.rows, maxRows)
        let k = max(1, min(3, available / (shownColumns * perCell), (style == .plain ? 30 : 60) / shownRows))
        let binned = TerminalRenderer.binned(h, rows: shownRows, columns: shownColumns)
        let cells = (0..<(shownRows * k)).map { r in (0..<(shownColumns * k * perCell)).map { c in binned[r / k][c / (k * perCell)] } }
        let repeatColumns = k * perCell
        var lines: [String] = []
        if let y = panel.yLabel { lines.append(y) }
        let step = style == .plain ? 1 : 2
        var labelled = -4
        for r in stride(from: 0, to: cells.count, by: step) {
            let first = h.firstRow + (r / k) * h.rows / shownRows
            var label = ""
            if r / k - labelled >= 4, r % k == 0 || step > 1 { label = String(first); labelled = r / k }
            var line = String(repeating: " ", count: labelWidth - label.count - 1) + label + " |"
            var colors = ("", "")  // the escape codes in effect, sent again only when they change
            for c in cells[r].indices {
                let top = cells[r][c]
                if style == .plain {
                    line += h.level(top).map { String(TerminalRenderer.shades[min(9, Int($0 * 9.999))]) } ?? "?"
                    continue
                }
                let fg = style.foreground(h.color(top))
                let bg = r + 1 < cells.count ? style.background(h.color(cells[r + 1][c])) : ""
                if fg != colors.0 { line += fg }
                if bg != colors.1 { line += bg }
                colors = (fg, bg)
                line += "\u{2580}"
            }
            lines.append(line + style.reset)
        }
        let width = shownColumns * repeatColumns
        var axis = String(repeating: " ", count: labelWidth) + "+" + String(repeating: "-", count: width)
        axis += " \(panel.xLabel.map { "\($0) " } ?? "")0..\(h.columns - 1)"
        if h.firstRow > 0 { axis += ", rows \(h.firstRow)..\(h.firstRow + h.rows - 1)" }
        lines.append(axis)
        var note = String(repeating: " ", count: labelWidth + 1)
        if h.rows != shownRows || h.columns != shownColumns {
            note += "\(h.rows) x \(h.columns), shown as \(shownRows) x \(shownColumns) (averaged); "
        }
        if style == .plain {
            note += "\(Ticks.label(Double(h.low))) \"\(String(TerminalRenderer.shades))\" \(Ticks.label(Double(h.high)))"
        } else {
            let bar = (0..<16).map { style.background(h.colormap.color(Float($0) / 15)) + " " }.joined() + style.reset
            note += "\(Ticks.label(Double(h.low))) \(bar) \(Ticks.label(Double(h.high)))"
        }
        lines.append(note)
        return lines
    }

    func curves(_ c: Curves, _ panel: Panel) -> [String] {
        let b = c.bounds
        let height = plotHeight
        // Dots per character: 2 x 4 in Braille, 1 x 1 with plain markers.
        let (dx, dy) = style == .plain ? (1, 1) : (2, 4)
        let gh = height * dy
        // The top and bottom rows hold the extremes; the middle row is labelled with the value at its centre.
        let middleDot = Double((height / 2) * dy) + Double(dy - 1) / 2
        let middle = b.y1 - middleDot / Double(gh - 1) * (b.y1 - b.y0)
        let yLabels = [b.y1, middle, b.y0].map { Ticks.label(c.logY ? pow(10, $0) : $0) }
        let labelWidth = (yLabels.map(\.count).max() ?? 1) + 1
        let width = max(10, columns - labelWidth - 2)
        let gw = width * dx
        var dots = [Int](repeating: -1, count: gw * gh)  // the series that set each dot
        /// A dot's place; clamped before conversion, so no value can trap it.
        func point(_ x: Double, _ y: Double) -> (Int, Int) {
            func place(_ f: Double, _ n: Int) -> Int { f.isFinite ? Int(min(max(f * Double(n - 1), -1), Double(n)).rounded()) : -1 }
            return (place((x - b.x0) / (b.x1 - b.x0), gw), place((b.y1 - y) / (b.y1 - b.y0), gh))
        }
        for (i, s) in c.series.enumerated() {
            var last: (Int, Int)?
            for (x, y) in zip(s.x, s.y) {
                guard x.isFinite, let v = c.axisY(y) else { last = nil; continue }
                let p = point(x, v)
                let from = last ?? p
                let n = max(abs(p.0 - from.0), abs(p.1 - from.1))
                for k in 0...n {
                    let t = n == 0 ? 1 : Double(k) / Double(n)
                    let qx = Int((Double(from.0) + Double(p.0 - from.0) * t).rounded())
                    let qy = Int((Double(from.1) + Double(p.1 - from.1) * t).rounded())
                    if qx >= 0, qx < gw, qy >= 0, qy < gh { dots[qy * gw + qx] = i }
                }
                last = p
            }
        }
        var lines: [String] = []
        if let y = panel.yLabel { lines.append(y) }
        for row in 0..<height {
            let label = row == 0 ? yLabels[0] : row == height / 2 ? yLabels[1] : row == height - 1 ? yLabels[2] : ""
            var line = String(repeating: " ", count: labelWidth - label.count) + label + " |"
            var current = -1
            for col in 0..<width {
                if style == .plain {
                    let s = dots[row * gw + col]
                    line.append(s < 0 ? " " : TerminalRenderer.markers[s % TerminalRenderer.markers.count])
                    continue
                }
                // Braille: dots 1-3 and 7 down the left column, 4-6 and 8 down the right.
                let bits: [[UInt32]] = [[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]]
                var mask: UInt32 = 0, owner = -1
                for yy in 0..<4 {
                    for xx in 0..<2 {
                        let s = dots[(row * 4 + yy) * gw + col * 2 + xx]
                        if s >= 0 { mask |= bits[yy][xx]; owner = s }
                    }
                }
                if mask == 0 { line += " "; continue }
                if owner != current { line += style.foreground(Palette.color(owner)); current = owner }
                line.unicodeScalars.append(Unicode.Scalar(0x2800 + mask)!)
            }
            while line.hasSuffix(" ") { line.removeLast() }
            lines.append(line + (current >= 0 ? style.reset : ""))
        }
        lines.append(String(repeating: " ", count: labelWidth) + " +" + String(repeating: "-", count: width))
        let left = Ticks.label(b.x0), mid = Ticks.label((b.x0 + b.x1) / 2), right = Ticks.label(b.x1)
        var xs = [Character](repeating: " ", count: labelWidth + 2 + width)
        func place(_ s: String, at p: Int) { for (k, ch) in s.enumerated() where p + k >= 0 && p + k < xs.count { xs[p + k] = ch } }
        place(left, at: labelWidth + 2)
        place(mid, at: labelWidth + 2 + width / 2 - mid.count / 2)
        place(right, at: labelWidth + 2 + width - right.count)
        lines.append(String(xs).replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression))
        if let x = panel.xLabel { lines.append(String(repeating: " ", count: labelWidth + 2 + max(0, width / 2 - x.count / 2)) + x) }
        let named = c.series.enumerated().filter { $0.element.name != nil }
        if !named.isEmpty || c.logY {
            var legend = String(repeating: " ", count: labelWidth + 2)
            legend += named.map { i, s in
                style == .plain ? "\(TerminalRenderer.markers[i % TerminalRenderer.markers.count]) \(s.name!)"
                                : style.foreground(Palette.color(i)) + "\u{2501}\u{2501}" + style.reset + " \(s.name!)"
            }.joined(separator: "   ")
            if c.logY { legend += (named.isEmpty ? "" : "   ") + "(log scale)" }
            lines.append(legend)
        }
        return lines
    }
}
