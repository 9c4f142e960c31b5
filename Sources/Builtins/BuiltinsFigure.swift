import Figure
import Foundation
import Graph
import Memory
import Runtime
import Syntax
import Tensor

/// A figure as a Mnemo value: printing it draws it in the terminal,
/// `save("f.png", fig)` or `save("f.svg", fig)` writes it.
final class FigureObject: NativeObject {
    let figure: Figure
    init(_ figure: Figure) { self.figure = figure }

    var kindName: String { "figure" }
    var memberNames: [String] { ["title", "panels"] }
    var summary: String {
        let kinds = figure.panels.map { p -> String in
            switch p.content {
            case .heatmap(let h): return "heat map \(h.rows) x \(h.columns)"
            case .curves(let c): return c.series.count == 1 ? "1 curve" : "\(c.series.count) curves"
            }
        }
        return "<figure\(figure.title.map { " \"\($0)\"" } ?? ""): \(kinds.joined(separator: ", "))>"
    }

    /// Drawn for the terminal standard output is (plain text when it is not one, or NO_COLOR is set).
    var display: String? { TerminalRenderer.standardOutput.render(figure) }

    func member(_ name: String, _ interpreter: Interpreter) throws -> Value? {
        switch name {
        case "title": return figure.title.map { .string($0) } ?? .nil
        case "panels": return .number(Double(figure.panels.count))
        default: return nil
        }
    }
}

enum FigureBuiltins {
    static func optionalString(_ a: Arguments, _ name: String) throws -> String? {
        let value = try a[name]
        if case .nil = value { return nil }
        if case .string(let s) = value { return s }
        return Formatter.describe(value)
    }

    /// The one figure that `figure` makes and `show` prints, from their items, title and columns.
    static func combined(_ a: Arguments) throws -> Figure {
        var panels: [Panel] = []
        try collectPanels(try a["items"], into: &panels, a.interpreter)
        guard !panels.isEmpty else { throw RuntimeError("\(a.builtin.name) needs at least one figure, tensor or memory") }
        let columns = try a.optionalInt("columns")
        if let c = columns, c < 1 { throw RuntimeError("columns must be at least 1, got \(c)") }
        return Figure(title: try optionalString(a, "title"), panels: panels, columns: columns)
    }

    static func colormap(_ a: Arguments, _ parameter: String) throws -> Colormap? {
        guard let name = try optionalString(a, parameter) else { return nil }
        guard let map = Colormap(rawValue: name) else {
            throw RuntimeError("unknown colormap \"\(name)\"; one of: \(Colormap.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return map
    }

    /// Numbers from a list of numbers or one-element tensors, or a tensor's elements.
    static func numbers(_ v: Value, _ what: String) throws -> [Double] {
        switch v {
        case .tensor(let t): return t.value.data.map(Double.init)
        case .list, .tuple, .range:
            var out: [Double] = []
            try Operators.iterate(v) { item in
                switch item {
                case .number(let d): out.append(d)
                case .bool(let b): out.append(b ? 1 : 0)
                case .tensor(let t) where t.value.count == 1: out.append(Double(t.value.scalar))
                case .nil: out.append(.nan)
                default: throw RuntimeError("\(what) must hold numbers, got a \(item.kindName)")
                }
                return true
            }
            return out
        default: throw RuntimeError("\(what) must be a list of numbers or a tensor, got a \(v.kindName)")
        }
    }

    /// The curves a `plot` argument describes: numbers (one curve), a tensor
    /// [T] or [S, T], a list of curves, or a record of named curves.
    static func curves(_ v: Value) throws -> [(String?, [Double])] {
        switch v {
        case .record(let r):
            return try zip(r.names, r.values).map { ($0, try numbers($1, "curve '\($0)'")) }
        case .tensor(let t) where t.value.rank == 2:
            let n = t.shape[1]
            return (0..<t.shape[0]).map { i in (nil, t.value.data[(i * n)..<((i + 1) * n)].map(Double.init)) }
        case .tensor(let t) where t.value.rank > 2:
            throw RuntimeError("plot takes a tensor of one curve [T] or several [S, T]; got shape \(Tensor.shapeText(t.shape))")
        case .list(let l) where l.items.contains(where: { if case .list = $0 { return true }; if case .tensor(let t) = $0 { return t.value.count != 1 }; return false }):
            return try l.items.enumerated().map { (nil, try numbers($1, "curve \($0 + 1)")) }
        default:
            return [(nil, try numbers(v, "the values to plot"))]
        }
    }

    static let all: [Builtin] = [
        Builtin("heatmap", "x, title = nil, xlabel = nil, ylabel = nil, colormap = nil, low = nil, high = nil",
                "A figure of a matrix (a vector is one row), row 0 at the top. colormap: \"viridis\" (default for values of one sign), \"diverging\" (default for both signs, white at 0) or \"gray\"; low/high fix the values at its ends. Print it to see it in the terminal; save(\"f.png\", fig) or .svg writes it.") { a in
            let t = try a.tensor("x").value
            let h = try Heatmap(matrix: t, colormap: try colormap(a, "colormap"),
                                low: try a.optionalNumber("low").map(Float.init), high: try a.optionalNumber("high").map(Float.init))
            return .object(FigureObject(Figure(panels: [Panel(title: try optionalString(a, "title"), xLabel: try optionalString(a, "xlabel"),
                                                              yLabel: try optionalString(a, "ylabel"), content: .heatmap(h))])))
        }.notDifferentiable("draws a picture"),
        Builtin("plot", "y, x = nil, title = nil, xlabel = nil, ylabel = nil, labels = nil, smooth = 0, log = false",
                "A figure of curves: y is a list of numbers or a tensor (one curve), a tensor [S, T] or a list of lists (several), or a record of named curves ({loss: l, acc: a}). x: shared x values (default 0, 1, ...). labels: names for the legend. smooth: 0 to 1, an exponential moving average (as TensorBoard's). log: a log-scale y axis.") { a in
            var series = try curves(try a["y"])
            guard !series.isEmpty else { throw RuntimeError("plot needs at least one curve") }
            if try !a.isAbsent("labels") {
                let names = try a.items("labels").map(Formatter.describe)
                guard names.count == series.count else { throw RuntimeError("plot: \(names.count) labels for \(series.count) curves") }
                series = zip(names, series).map { ($0, $1.1) }
            }
            let xs = try a.isAbsent("x") ? nil : try numbers(try a["x"], "x")
            let made = try series.map { name, y -> Curves.Series in
                let x = xs ?? y.indices.map(Double.init)
                guard x.count == y.count else { throw RuntimeError("plot: \(x.count) x values for a curve of \(y.count) points") }
                return Curves.Series(name: name, x: x, y: y)
            }
            let c = try Curves(series: made, logY: try a.bool("log"), smoothing: try a.number("smooth"))
            return .object(FigureObject(Figure(panels: [Panel(title: try optionalString(a, "title"), xLabel: try optionalString(a, "xlabel"),
                                                              yLabel: try optionalString(a, "ylabel"), content: .curves(c))])))
        }.notDifferentiable("draws a picture"),
        Builtin("figure", "*items, title = nil, columns = nil",
                "One figure from several: figures (their panels), tensors (heat maps), memories (their memory view, as show draws it), or lists of these; columns: panels per row (default one column).") { a in
            .object(FigureObject(try combined(a)))
        }.notDifferentiable("draws a picture"),
        Builtin("show", "*items, title = nil, columns = nil",
                "Prints figure(items...): for a memory, the NTM paper's view of what its heads did (write and read weightings over time, the vectors added and read, the contents; an LRUA memory's usage).") { a in
            a.interpreter.emit(try combined(a))
            return .nil
        }.notDifferentiable("draws a picture"),
    ]


    static func collectPanels(_ v: Value, into panels: inout [Panel], _ interpreter: Interpreter) throws {
        guard panels.count <= Figure.maxPanels else {
            throw RuntimeError("a figure holds at most \(Figure.maxPanels) panels; draw fewer at a time")
        }
        switch v {
        case .object(let o as FigureObject): panels += o.figure.panels
        case .object(let o as MemoryObject): panels += try memoryView(o.bank)
        case .tensor(let t): panels.append(Panel(content: .heatmap(try Heatmap(matrix: t.value))))
        case .list(let l): for item in l.items { try collectPanels(item, into: &panels, interpreter) }
        case .tuple(let items): for item in items { try collectPanels(item, into: &panels, interpreter) }
        default: throw RuntimeError("cannot draw a \(v.kindName); give figures, tensors or memories")
        }
        if panels.count > Figure.maxPanels { throw RuntimeError("a figure holds at most \(Figure.maxPanels) panels; draw fewer at a time") }
    }

    /// The NTM paper's picture of a run (Graves et al. 2014, figs. 6 and 9):
    /// the write and read weightings over time (location down, time across),
    /// then the vectors added and read, per head; an LRUA memory's usage; the
    /// contents. Locations are cropped to the ones the heads used (weight
    /// above 0.01 at some step), as the paper's figures are. `row`: which
    /// sequence of a batched memory.
    static func memoryView(_ bank: MemoryBank, row: Int = 0) throws -> [Panel] {
        let heads = Set(bank.accesses.map(\.head)).sorted()
        func rowOf(_ t: Tensor, _ n: Int) -> [Float] {
            let r = t.count / n > row ? row : 0
            return Array(t.data[(r * n)..<((r + 1) * n)])
        }
        var used = [Bool](repeating: false, count: bank.slots)
        for a in bank.accesses { for (i, w) in rowOf(a.weighting, bank.slots).enumerated() where w > 0.01 { used[i] = true } }
        let first = max(0, (used.firstIndex(of: true) ?? 0) - 2)
        let last = min(bank.slots - 1, (used.lastIndex(of: true) ?? bank.slots - 1) + 2)
        /// Steps as columns, [n x T]; for locations, the used rows only.
        func overTime(_ columns: [[Float]], _ n: Int, locations: Bool) throws -> Heatmap.Matrix {
            let rows = locations ? Array(first...last) : Array(0..<n)
            var data = [Float](repeating: 0, count: rows.count * columns.count)
            for (t, col) in columns.enumerated() { for (i, r) in rows.enumerated() { data[i * columns.count + t] = col[r] } }
            return (Tensor(shape: [rows.count, columns.count], data: data), locations ? first : 0)
        }
        func panel(_ title: String, _ m: Heatmap.Matrix, xLabel: String, yLabel: String, colormap: Colormap? = nil, range: ClosedRange<Float>? = nil) throws -> Panel {
            var h = try Heatmap(matrix: m.0, colormap: colormap, low: range?.lowerBound, high: range?.upperBound)
            h.firstRow = m.1
            return Panel(title: title, xLabel: xLabel, yLabel: yLabel, content: .heatmap(h))
        }
        let suffix = { (h: Int) in heads.count > 1 ? ", head \(h)" : "" }
        var weightings: [Panel] = [], vectors: [Panel] = []
        for writes in [true, false] {
            for h in heads {
                let chosen = bank.accesses.filter { $0.isWrite == writes && $0.head == h }
                guard !chosen.isEmpty else { continue }
                let w = try overTime(chosen.map { rowOf($0.weighting, bank.slots) }, bank.slots, locations: true)
                weightings.append(try panel((writes ? "write weightings" : "read weightings") + suffix(h), w, xLabel: "time", yLabel: "location",
                                            colormap: .gray, range: 0...1))
                let moved = chosen.compactMap(\.vector).filter { $0.count % bank.width == 0 }
                if moved.count == chosen.count {
                    let v = try overTime(moved.map { rowOf($0, bank.width) }, bank.width, locations: false)
                    vectors.append(try panel((writes ? "adds" : "reads") + suffix(h), v, xLabel: "time", yLabel: "element"))
                }
            }
        }
        var panels = weightings + vectors
        // A several-head write keeps its usage once per head: one column a step.
        let usages = bank.accesses.filter { $0.isWrite && $0.head == (heads.first ?? 0) }.compactMap(\.usage)
        if !usages.isEmpty {
            panels.append(try panel("usage before each write", try overTime(usages.map { rowOf($0, bank.slots) }, bank.slots, locations: true),
                                    xLabel: "write", yLabel: "location", colormap: .viridis))
        }
        let contents = rowOf(bank.contents.value, bank.slots * bank.width)
        let shown = Array(contents[(first * bank.width)..<((last + 1) * bank.width)])
        panels.append(try panel("contents", (Tensor(shape: [last - first + 1, bank.width], data: shown), first), xLabel: "element", yLabel: "location"))
        return panels
    }
}
