import Foundation

/// A figure laid out in pixels as rectangles, lines and text: what SVG and
/// PNG both draw, so the two pictures agree to the pixel.
public struct Scene {
    public enum Anchor { case start, middle, end }

    public enum Shape {
        case rect(x: Double, y: Double, width: Double, height: Double, color: RGB)
        /// A polyline; nil points break it (a gap in a curve).
        case line(points: [(Double, Double)?], color: RGB, width: Double)
        /// `y` is the text's baseline; `vertical` turns it a quarter left (a y-axis label).
        case text(String, x: Double, y: Double, scale: Int, anchor: Anchor, color: RGB, vertical: Bool)
    }

    public var width: Int
    public var height: Int
    public var shapes: [Shape] = []
    /// Each panel's plotting area (a heat map's cells, a plot's axes box), in pixels.
    public private(set) var plotAreas: [(x: Double, y: Double, width: Double, height: Double)] = []

    /// Text is drawn in a 5 x 7 pixel font on a 6 x 9 grid, times `scale`.
    public static let glyphAdvance = 6.0, glyphHeight = 7.0

    static func textWidth(_ s: String, scale: Int) -> Double { Double(s.count) * glyphAdvance * Double(scale) }

    static let ink = RGB(40, 40, 40), axis = RGB(110, 110, 110), grid = RGB(225, 225, 225), white = RGB(255, 255, 255)

    /// A larger matrix is drawn averaged to this many cells (two pixels each at least).
    static let maxCells = (rows: 160, columns: 240)

    // Margins around a panel's plotting area, in pixels.
    static let left = 64.0, right = 24.0, top = 34.0, bottom = 48.0, colorbar = 64.0

    /// Lays the figure out; panels of a row share its height, panels of a column its width.
    public init(_ figure: Figure) {
        let sizes = figure.panels.map(Scene.plotSize)
        let columns = figure.columnCount, rows = figure.rowCount
        var columnWidth = [Double](repeating: 0, count: columns), rowHeight = [Double](repeating: 0, count: rows)
        for (i, panel) in figure.panels.enumerated() {
            let extra = Scene.left + Scene.right + (Scene.hasColorbar(panel) ? Scene.colorbar : 0)
            // A title or label wider than a narrow plot widens its column instead of running off it.
            let words = [panel.title, panel.xLabel].compactMap { $0.map { Scene.textWidth($0, scale: 2) + 2 * Scene.left } }.max() ?? 0
            columnWidth[i % columns] = max(columnWidth[i % columns], sizes[i].0 + extra, words)
            rowHeight[i / columns] = max(rowHeight[i / columns], sizes[i].1 + Scene.top + Scene.bottom)
        }
        let titleHeight = figure.title == nil ? 0.0 : 36
        width = Int(max(columnWidth.reduce(0, +), figure.title.map { Scene.textWidth($0, scale: 2) + 20 } ?? 0).rounded(.up))
        height = Int((rowHeight.reduce(0, +) + titleHeight).rounded(.up))
        shapes.append(.rect(x: 0, y: 0, width: Double(width), height: Double(height), color: Scene.white))
        if let title = figure.title {
            shapes.append(.text(title, x: Double(width) / 2, y: 26, scale: 2, anchor: .middle, color: Scene.ink, vertical: false))
        }
        for (i, panel) in figure.panels.enumerated() {
            let c = i % columns, r = i / columns
            let x = columnWidth[..<c].reduce(0, +) + Scene.left
            let y = titleHeight + rowHeight[..<r].reduce(0, +) + Scene.top
            layOut(panel, x: x, y: y, width: sizes[i].0, height: sizes[i].1)
        }
    }

    static func hasColorbar(_ panel: Panel) -> Bool {
        if case .heatmap = panel.content { return true }
        return false
    }

    /// The plotting area of a panel: a heat map's cells are square, 2 to 24
    /// pixels, so a 128 x 20 memory and a 20 x 8 input both read well.
    static func plotSize(_ panel: Panel) -> (Double, Double) {
        switch panel.content {
        case .heatmap(let whole):
            let h = whole.binned(maxRows: maxCells.rows, maxColumns: maxCells.columns)
            let cell = max(2, min(24, min(480 / h.columns, 320 / h.rows)))
            return (Double(cell * h.columns), Double(cell * h.rows))
        case .curves:
            return (480, 260)
        }
    }

    mutating func text(_ s: String, _ x: Double, _ y: Double, anchor: Anchor = .middle, scale: Int = 2, color: RGB = Scene.ink, vertical: Bool = false) {
        shapes.append(.text(s, x: x, y: y, scale: scale, anchor: anchor, color: color, vertical: vertical))
    }

    mutating func layOut(_ panel: Panel, x: Double, y: Double, width: Double, height: Double) {
        plotAreas.append((x, y, width, height))
        // Centred on the plot, but never starting left of the column.
        func centre(_ s: String) -> Double { max(x + width / 2, x - Scene.left + 8 + Scene.textWidth(s, scale: 2) / 2) }
        if let t = panel.title { text(t, centre(t), y - 10) }
        if let l = panel.xLabel { text(l, centre(l), y + height + 40) }
        if let l = panel.yLabel { text(l, x - 46, y + height / 2, vertical: true) }
        switch panel.content {
        case .heatmap(let h): drawHeatmap(h.binned(maxRows: Scene.maxCells.rows, maxColumns: Scene.maxCells.columns), x: x, y: y, width: width, height: height)
        case .curves(let c): drawCurves(c.decimated(limit: 3000), x: x, y: y, width: width, height: height)
        }
    }

    mutating func drawHeatmap(_ h: Heatmap, x: Double, y: Double, width: Double, height: Double) {
        let cw = width / Double(h.columns), ch = height / Double(h.rows)
        for r in 0..<h.rows {
            for c in 0..<h.columns {
                shapes.append(.rect(x: x + Double(c) * cw, y: y + Double(r) * ch, width: cw, height: ch, color: h.color(h.value(r, c))))
            }
        }
        frame(x, y, width, height)
        // Index ticks: first, last and a few round ones between.
        // Ticks count the matrix's own rows and columns, also when its cells were averaged.
        let rows = h.binnedFrom?.rows ?? h.rows, columns = h.binnedFrom?.columns ?? h.columns
        let cw0 = width / Double(columns), ch0 = height / Double(rows)
        for c in Scene.indexTicks(columns, spacing: cw0) {
            let cx = x + (Double(c) + 0.5) * cw0
            shapes.append(.line(points: [(cx, y + height), (cx, y + height + 4)], color: Scene.axis, width: 1))
            text(String(c), cx, y + height + 20, scale: 1)
        }
        if let whole = h.binnedFrom {
            text("\(whole.rows) x \(whole.columns), drawn as \(h.rows) x \(h.columns) means", x, y + height + 52, anchor: .start, scale: 1)
        }
        for r in Scene.indexTicks(rows, spacing: ch0, first: h.firstRow) {
            let cy = y + (Double(r - h.firstRow) + 0.5) * ch0
            shapes.append(.line(points: [(x - 4, cy), (x, cy)], color: Scene.axis, width: 1))
            text(String(r), x - 7, cy + 3.5, anchor: .end, scale: 1)
        }
        // The colour bar, with the values at its ends and middle.
        let bx = x + width + 16, bw = 14.0
        let steps = 64
        for i in 0..<steps {
            let t = Float(steps - 1 - i) / Float(steps - 1)
            shapes.append(.rect(x: bx, y: y + height * Double(i) / Double(steps), width: bw, height: height / Double(steps) + 0.5,
                                color: h.colormap.color(t)))
        }
        frame(bx, y, bw, height)
        let mid = (Double(h.low) + Double(h.high)) / 2
        for (value, cy) in [(Double(h.high), y), (mid, y + height / 2), (Double(h.low), y + height)] {
            text(Ticks.label(value), bx + bw + 4, cy + 3.5, anchor: .start, scale: 1)
        }
    }

    /// Indices to label along an axis of n cells `spacing` pixels apart,
    /// numbered from `first`: round steps at least 28 pixels apart, and the last.
    static func indexTicks(_ n: Int, spacing: Double, first: Int = 0) -> [Int] {
        if n <= 1 { return [first] }
        let minimum = max(1, Int((28 / max(spacing, 0.1)).rounded(.up)))
        let step = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000].first { $0 >= minimum } ?? minimum
        let last = first + n - 1
        var out = Array(stride(from: (first + step - 1) / step * step, through: last, by: step))
        if out.first != first { out.insert(first, at: 0) }
        if out.count > 1, Double(out[1] - out[0]) < Double(step) * 0.6 { out.remove(at: 1) }
        if let end = out.last, end != last {
            if Double(last - end) < Double(step) * 0.6, out.count > 1 { out.removeLast() }
            out.append(last)
        }
        return out
    }

    mutating func frame(_ x: Double, _ y: Double, _ w: Double, _ h: Double) {
        shapes.append(.line(points: [(x, y), (x + w, y), (x + w, y + h), (x, y + h), (x, y)], color: Scene.axis, width: 1))
    }

    mutating func drawCurves(_ c: Curves, x: Double, y: Double, width: Double, height: Double) {
        let b = c.bounds
        func px(_ v: Double) -> Double { x + (v - b.x0) / (b.x1 - b.x0) * width }
        func py(_ v: Double) -> Double { y + height - (v - b.y0) / (b.y1 - b.y0) * height }
        // Grid lines at the ticks, then the curves, then the frame over them.
        for t in Ticks.values(b.x0, b.x1) {
            shapes.append(.line(points: [(px(t), y), (px(t), y + height)], color: Scene.grid, width: 1))
            text(Ticks.label(t), px(t), y + height + 18, scale: 1)
        }
        let yTicks = c.logY ? Ticks.values(floor(b.y0), ceil(b.y1), count: 5).filter { $0 == $0.rounded() && $0 >= b.y0 - 1e-9 && $0 <= b.y1 + 1e-9 }
                            : Ticks.values(b.y0, b.y1)
        for t in yTicks {
            shapes.append(.line(points: [(x, py(t)), (x + width, py(t))], color: Scene.grid, width: 1))
            text(Ticks.label(c.logY ? pow(10, t) : t), x - 6, py(t) + 3.5, anchor: .end, scale: 1)
        }
        // Bands first, under every curve: a pale vertical stroke from low to high at each point, joined up.
        for (i, s) in c.series.enumerated() {
            guard let band = s.band else { continue }
            let base = Palette.color(i)
            func pale(_ v: UInt8) -> UInt8 { UInt8((Double(v) * 0.3 + 255 * 0.7).rounded()) }
            let colour = RGB(pale(base.r), pale(base.g), pale(base.b))
            let points = zip(s.x, band).compactMap { xv, b -> (Double, Double, Double)? in
                guard xv.isFinite, let lo = c.axisY(b.0), let hi = c.axisY(b.1) else { return nil }
                return (px(xv), py(lo), py(hi))
            }
            for (a, b) in zip(points, points.dropFirst()) {
                // Each step between two points as a quadrilateral of thin vertical strokes.
                let steps = max(1, Int((b.0 - a.0).rounded(.up)))
                for k in 0...steps {
                    let t = Double(k) / Double(steps)
                    let x = a.0 + (b.0 - a.0) * t
                    shapes.append(.line(points: [(x, a.1 + (b.1 - a.1) * t), (x, a.2 + (b.2 - a.2) * t)], color: colour, width: 1))
                }
            }
        }
        for (i, s) in c.series.enumerated() {
            let points: [(Double, Double)?] = zip(s.x, s.y).map { xv, yv in
                guard xv.isFinite, let v = c.axisY(yv) else { return nil }
                return (px(xv), py(v))
            }
            shapes.append(.line(points: points, color: Palette.color(i), width: 2))
        }
        frame(x, y, width, height)
        // A legend in the top right corner when any curve is named.
        let named = c.series.enumerated().filter { $0.element.name != nil }
        if !named.isEmpty {
            let longest = named.map { Scene.textWidth($0.element.name!, scale: 1) }.max() ?? 0
            let lx = x + width - longest - 40, ly = y + 8
            shapes.append(.rect(x: lx - 6, y: ly - 4, width: longest + 42, height: Double(named.count) * 14 + 6, color: Scene.white))
            for (k, (i, s)) in named.enumerated() {
                let cy = ly + Double(k) * 14 + 5
                shapes.append(.line(points: [(lx, cy), (lx + 24, cy)], color: Palette.color(i), width: 2))
                text(s.name!, lx + 30, cy + 3.5, anchor: .start, scale: 1)
            }
        }
    }
}
