import Foundation
import Tensor

/// A picture described once, rendered three ways: to the terminal
/// (`TerminalRenderer`), to SVG and to PNG (both from the same `Scene`).
/// A figure is one or more panels laid out in a grid, each a heat map of a
/// matrix or a set of curves.
public struct Figure {
    public var title: String?
    public var panels: [Panel]
    /// Panels per row; nil puts them all in one column.
    public var columns: Int?

    public init(title: String? = nil, panels: [Panel], columns: Int? = nil) {
        self.title = title.map(Figure.clipped)
        self.panels = panels
        self.columns = columns
    }

    /// Panels a figure may hold: a page of them, not a runaway loop's worth.
    public static let maxPanels = 256

    /// Titles and labels longer than this are cut (with an ellipsis), so that no text sizes a picture.
    public static func clipped(_ s: String) -> String {
        let line = s.replacingOccurrences(of: "\n", with: " ")
        return line.count <= 120 ? line : String(line.prefix(119)) + "\u{2026}"
    }

    public var columnCount: Int { max(1, min(columns ?? 1, panels.count)) }
    public var rowCount: Int { (panels.count + columnCount - 1) / columnCount }
}

public struct Panel {
    public var title: String?
    public var xLabel: String?
    public var yLabel: String?
    public var content: Content

    public enum Content {
        case heatmap(Heatmap)
        case curves(Curves)
    }

    public init(title: String? = nil, xLabel: String? = nil, yLabel: String? = nil, content: Content) {
        self.title = title.map(Figure.clipped)
        self.xLabel = xLabel.map(Figure.clipped)
        self.yLabel = yLabel.map(Figure.clipped)
        self.content = content
    }
}

/// A matrix drawn cell by cell: row 0 at the top, column 0 at the left.
public struct Heatmap {
    /// A matrix and the index of its first row (a crop of a larger one).
    public typealias Matrix = (Tensor, Int)

    public private(set) var rows: Int
    public private(set) var columns: Int
    /// Row-major, rows x columns.
    public private(set) var values: [Float]
    /// The size of the matrix these cells average, when they do.
    public private(set) var binnedFrom: (rows: Int, columns: Int)?
    public let colormap: Colormap
    /// The values mapped to the colormap's two ends (NaN cells are drawn grey).
    public let low: Float
    public let high: Float
    /// The index the first row is labelled with (a crop of a larger matrix).
    public var firstRow = 0

    /// `low`/`high` default to the data's range; the diverging map centres
    /// it on zero so that white means 0.
    public init(matrix: Tensor, colormap: Colormap? = nil, low: Float? = nil, high: Float? = nil) throws {
        let shape: [Int]
        switch matrix.rank {
        case 0: shape = [1, 1]
        case 1: shape = [1, matrix.shape[0]]
        case 2: shape = matrix.shape
        default:
            throw TensorError("a heat map shows a matrix; got shape \(Tensor.shapeText(matrix.shape)) (index or reshape it to two axes)")
        }
        guard shape[0] > 0, shape[1] > 0 else {
            throw TensorError("a heat map needs at least one row and one column; got shape \(Tensor.shapeText(matrix.shape))")
        }
        rows = shape[0]
        columns = shape[1]
        values = matrix.data
        let finite = values.filter { $0.isFinite }
        let dataLow = finite.min() ?? 0, dataHigh = finite.max() ?? 1
        let chosen = colormap ?? (dataLow < 0 && dataHigh > 0 ? .diverging : .viridis)
        self.colormap = chosen
        if let low, let high, !(low < high) {
            throw TensorError("a heat map's low end (\(low)) must be below its high end (\(high))")
        }
        var lo = low ?? dataLow, hi = high ?? dataHigh
        if chosen == .diverging, low == nil, high == nil {
            let m = max(abs(lo), abs(hi))
            lo = -m; hi = m
        }
        if !(hi > lo) { hi = lo + 1 }
        guard lo.isFinite, hi.isFinite else { throw TensorError("a heat map's range must be finite; got \(lo) to \(hi)") }
        self.low = lo
        self.high = hi
    }

    public func value(_ r: Int, _ c: Int) -> Float { values[r * columns + c] }

    /// At most `maxRows` x `maxColumns` cells, each the mean of the cells it
    /// covers (NaN cells left out), with the same colours and range.
    public func binned(maxRows: Int, maxColumns: Int) -> Heatmap {
        guard rows > maxRows || columns > maxColumns else { return self }
        let r2 = min(rows, maxRows), c2 = min(columns, maxColumns)
        var out = [Float](repeating: .nan, count: r2 * c2)
        for r in 0..<r2 {
            let r0 = r * rows / r2, r1 = max(r0 + 1, (r + 1) * rows / r2)
            for c in 0..<c2 {
                let c0 = c * columns / c2, c1 = max(c0 + 1, (c + 1) * columns / c2)
                var sum: Double = 0, n = 0
                for i in r0..<r1 { for j in c0..<c1 where !values[i * columns + j].isNaN { sum += Double(values[i * columns + j]); n += 1 } }
                if n > 0 { out[r * c2 + c] = Float(sum / Double(n)) }
            }
        }
        var copy = self
        copy.rows = r2
        copy.columns = c2
        copy.values = out
        copy.binnedFrom = (rows, columns)
        return copy
    }

    /// Position of a value along the colormap, 0...1; nil for NaN.
    public func level(_ v: Float) -> Float? {
        guard !v.isNaN else { return nil }
        return min(1, max(0, (v - low) / (high - low)))
    }

    public func color(_ v: Float) -> RGB { level(v).map(colormap.color) ?? RGB(128, 128, 128) }
}

/// One or more curves on shared axes.
public struct Curves {
    public struct Series {
        public let name: String?
        public let x: [Double]
        public let y: [Double]
        /// A spread around the curve (low, high at each point), drawn as a pale band in SVG and PNG.
        public let band: [(Double, Double)]?
        public init(name: String?, x: [Double], y: [Double], band: [(Double, Double)]? = nil) {
            self.name = name; self.x = x; self.y = y
            self.band = band?.count == y.count ? band : nil
        }
    }
    public private(set) var series: [Series]
    public let logY: Bool

    /// `smoothing` in [0, 1): each point becomes an exponential moving average
    /// of the points before it (TensorBoard's rule, debiased so the start is
    /// not pulled towards zero). With log scale, non-positive values are left out.
    public init(series: [Series], logY: Bool = false, smoothing: Double = 0) throws {
        guard !series.isEmpty else { throw TensorError("a plot needs at least one curve") }
        guard (0..<1).contains(smoothing) else { throw TensorError("smoothing must be in [0, 1), got \(smoothing)") }
        var kept: [Series] = []
        for s in series {
            guard s.x.count == s.y.count else {
                throw TensorError("a curve needs as many x values as y values; got \(s.x.count) and \(s.y.count)")
            }
            var y = s.y
            if smoothing > 0 {
                var average = 0.0, weight = 0.0
                for i in y.indices where y[i].isFinite {
                    average = smoothing * average + (1 - smoothing) * y[i]
                    weight = smoothing * weight + (1 - smoothing)
                    y[i] = average / weight
                }
            }
            if logY { y = y.map { $0 > 0 ? $0 : .nan } }
            // Beyond 1e300 the axis arithmetic would overflow: such points are gaps.
            let x = s.x.map { abs($0) <= 1e300 ? $0 : .nan }
            y = y.map { abs($0) <= 1e300 ? $0 : .nan }
            kept.append(Series(name: s.name.map(Figure.clipped), x: x, y: y, band: s.band))
        }
        self.series = kept
        self.logY = logY
    }

    /// At most about `limit` points a curve: each run of points is kept as
    /// its first, lowest and highest, so spikes survive (for SVG and PNG, where
    /// every point is a shape).
    public func decimated(limit: Int) -> Curves {
        var copy = self
        copy.series = series.map { s in
            guard s.x.count > limit, limit >= 4 else { return s }
            let run = (s.x.count + limit / 3 - 1) / (limit / 3)
            var keep: [Int] = []
            for start in stride(from: 0, to: s.x.count, by: run) {
                let end = min(s.x.count, start + run)
                var lo = start, hi = start
                for i in start..<end where s.y[i].isFinite {
                    if !s.y[lo].isFinite || s.y[i] < s.y[lo] { lo = i }
                    if !s.y[hi].isFinite || s.y[i] > s.y[hi] { hi = i }
                }
                keep += Set([start, lo, hi]).sorted()
            }
            return Series(name: s.name, x: keep.map { s.x[$0] }, y: keep.map { s.y[$0] }, band: s.band.map { b in keep.map { b[$0] } })
        }
        return copy
    }

    /// The data's bounds over finite points (log10 of y on a log scale); a
    /// flat or empty range is widened so that axes always have extent.
    public var bounds: (x0: Double, x1: Double, y0: Double, y1: Double) {
        var x0 = Double.infinity, x1 = -Double.infinity, y0 = Double.infinity, y1 = -Double.infinity
        for s in series {
            for (k, (x, y)) in zip(s.x, s.y).enumerated() where x.isFinite && y.isFinite {
                let v = logY ? log10(y) : y
                x0 = min(x0, x); x1 = max(x1, x); y0 = min(y0, v); y1 = max(y1, v)
                if let (lo, hi) = s.band?[k] {
                    for e in [lo, hi] where e.isFinite && abs(e) <= 1e300 && (!logY || e > 0) {
                        let w = logY ? log10(e) : e
                        y0 = min(y0, w); y1 = max(y1, w)
                    }
                }
            }
        }
        if x0 > x1 { x0 = 0; x1 = 1 }
        if y0 > y1 { y0 = 0; y1 = 1 }
        if x0 == x1 { x0 -= 0.5; x1 += 0.5 }
        if y0 == y1 { let pad = Swift.max(abs(y0) * 0.1, 0.5); y0 -= pad; y1 += pad }
        return (x0, x1, y0, y1)
    }

    /// Where y sits on the vertical axis (log10 on a log scale); nil when it cannot be drawn.
    public func axisY(_ y: Double) -> Double? {
        guard y.isFinite else { return nil }
        if logY { return y > 0 ? log10(y) : nil }
        return y
    }
}

public struct RGB: Equatable {
    public var r, g, b: UInt8
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { self.r = r; self.g = g; self.b = b }
    public var hex: String { String(format: "#%02x%02x%02x", r, g, b) }
}

public enum Colormap: String, CaseIterable {
    /// Dark purple to yellow, perceptually even (the default for non-negative data).
    case viridis
    /// Black to white.
    case gray
    /// Blue, white at the middle, red (the default for data of both signs).
    case diverging

    /// Anchors spread evenly over 0...1, interpolated linearly. Viridis's
    /// are samples of matplotlib's map (van der Walt and Smith, CC0).
    private var anchors: [(Double, Double, Double)] {
        switch self {
        case .viridis:
            return [(68, 1, 84), (72, 40, 120), (62, 73, 137), (49, 104, 142), (38, 130, 142),
                    (31, 158, 137), (53, 183, 121), (110, 206, 88), (181, 222, 43), (253, 231, 37)]
        case .gray: return [(0, 0, 0), (255, 255, 255)]
        case .diverging: return [(33, 102, 172), (146, 197, 222), (247, 247, 247), (244, 165, 130), (178, 24, 43)]
        }
    }

    public func color(_ t: Float) -> RGB {
        let a = anchors
        let x = Double(min(1, max(0, t))) * Double(a.count - 1)
        let i = min(Int(x), a.count - 2)
        let f = x - Double(i)
        func mix(_ p: Double, _ q: Double) -> UInt8 { UInt8((p + (q - p) * f).rounded()) }
        return RGB(mix(a[i].0, a[i + 1].0), mix(a[i].1, a[i + 1].1), mix(a[i].2, a[i + 1].2))
    }
}

/// Colours of successive curves (a colour-blind-safe set).
public enum Palette {
    public static let colors: [RGB] = [RGB(0, 114, 178), RGB(213, 94, 0), RGB(0, 158, 115), RGB(204, 121, 167),
                                       RGB(230, 159, 0), RGB(86, 180, 233), RGB(0, 0, 0), RGB(240, 228, 66)]
    public static func color(_ i: Int) -> RGB { colors[i % colors.count] }
}

/// Round numbers for axis ticks: 1, 2 or 5 times a power of ten.
public enum Ticks {
    public static func values(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
        guard hi > lo, lo.isFinite, hi.isFinite else { return [lo] }
        let raw = (hi - lo) / Double(max(1, count))
        let power = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= raw } ?? 10 * power
        var out: [Double] = []
        var v = ceil(lo / step - 1e-9) * step
        while v <= hi + step * 1e-9, out.count < 50 {
            out.append(abs(v) < step * 1e-9 ? 0 : v)
            v += step
        }
        return out
    }

    /// A short label: no trailing zeros, exponent form for very large or small numbers.
    public static func label(_ v: Double) -> String {
        if v == 0 { return "0" }
        let a = abs(v)
        if a >= 1e5 || a < 1e-3 { return String(format: "%.0e", v) }
        var s = String(format: "%.3f", v)
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s
    }
}
