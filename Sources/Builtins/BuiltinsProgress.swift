import Figure
import Foundation
import Graph
import Runtime
import Syntax
import Tensor

/// A progress bar over a loop: `for step in progress(1...steps) { ... }`.
/// On a terminal it is redrawn in place on standard error at most eight
/// times a second; otherwise (a log, `mnemo test`) a plain line goes out
/// every `every` seconds and when the loop ends, with no escape codes.
/// Standard error keeps it out of the script's printed output.
final class ProgressObject: IterableObject, LiveLine {
    let source: Value
    let total: Int?
    let label: String?
    let interval: Double
    let onTerminal: Bool
    let columns: Int
    let write: (String) -> Void
    /// The interpreter whose printed lines clear the bar while it is drawn.
    weak var interpreter: Interpreter?
    private(set) var count = 0
    private var values: [(String, String)] = []
    private var start: UInt64 = 0
    private var lastDraw: UInt64 = 0
    private var drawn = false
    private var finished = false

    init(source: Value, total: Int?, label: String?, interval: Double, onTerminal: Bool, columns: Int, write: @escaping (String) -> Void) {
        (self.source, self.total, self.label, self.interval, self.onTerminal, self.columns, self.write) =
            (source, total, label, interval, onTerminal, columns, write)
    }

    var kindName: String { "progress" }
    var memberNames: [String] { ["count", "total", "elapsed"] + methods.names }
    var summary: String { "<progress \(count)\(total.map { "/\($0)" } ?? "")>" }

    lazy var methods: Methods = Methods([
        Builtin("set", "**values", "Shows values beside the bar (bar.set(loss: l, bits: b)); numbers with four significant digits.") { [unowned self] a in
            guard case .record(let r) = try a["values"] else { return .nil }
            for (name, v) in zip(r.names, r.values) {
                let text: String
                switch v {
                case .number(let d): text = ProgressObject.short(d)
                case .tensor(let t) where t.value.count == 1: text = ProgressObject.short(Double(t.value.scalar))
                default: text = Formatter.describe(v)
                }
                if let i = values.firstIndex(where: { $0.0 == name }) { values[i].1 = text } else { values.append((name, text)) }
            }
            return .nil
        },
    ])

    func member(_ name: String, _ interpreter: Interpreter) throws -> Value? {
        switch name {
        case "count": return .number(Double(count))
        case "total": return total.map { .number(Double($0)) } ?? .nil
        case "elapsed": return .number(seconds(now()))
        default: return nil
        }
    }

    static func short(_ d: Double) -> String {
        guard d.isFinite else { return Formatter.number(d) }
        if d != 0, abs(d) < 1e-3 || abs(d) >= 1e6 { return String(format: "%.3e", d) }
        return String(format: "%.4g", d)
    }

    @inline(__always) func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
    func seconds(_ t: UInt64) -> Double { start == 0 ? 0 : Double(t - start) / 1e9 }

    /// Called before each item: one counter and one clock read, the text
    /// made only when it is due.
    /// Goes through the source, counting each item. The bar's last line goes
    /// out however the loop ends (break, return, error).
    func iterate(_ body: (Value) throws -> Bool) throws {
        defer { finish() }
        try Operators.iterate(source) { item in
            tick()
            return try body(item)
        }
    }

    func tick() {
        if start == 0 {
            start = now()
            lastDraw = start
            if onTerminal { interpreter?.activeProgress = self }
            draw(force: true)
        }
        count += 1
        draw(force: false)
    }

    func draw(force: Bool) {
        guard !finished, start != 0 else { return }
        let t = now()
        if onTerminal {
            guard force || t - lastDraw >= 125_000_000 else { return }
            lastDraw = t
            write("\r\u{1B}[K" + line(at: t))
            drawn = true
        } else if !force, Double(t - lastDraw) >= interval * 1e9 {
            lastDraw = t
            write(line(at: t) + "\n")
        }
    }

    /// Clears the drawn bar, so that printed lines start at the left margin.
    func clearLine() {
        if onTerminal, drawn { write("\r\u{1B}[K"); drawn = false }
    }

    func finish() {
        guard !finished, start != 0 else { return }
        let text = line(at: now())
        finished = true
        if interpreter?.activeProgress === self { interpreter?.activeProgress = nil }
        write(onTerminal ? "\r\u{1B}[K" + text + "\n" : text + "\n")
    }

    static func clock(_ s: Double) -> String {
        guard s.isFinite, s >= 0, s < 1e7 else { return "?" }
        let whole = Int(s)
        return whole >= 3600 ? String(format: "%d:%02d:%02d", whole / 3600, whole / 60 % 60, whole % 60) : String(format: "%02d:%02d", whole / 60, whole % 60)
    }

    func line(at t: UInt64) -> String {
        let elapsed = seconds(t)
        let rate = elapsed > 0 ? Double(count) / elapsed : 0
        let rateText = rate >= 1 || rate == 0 ? String(format: "%.1f it/s", rate) : String(format: "%.2f s/it", 1 / rate)
        let extra = values.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
        let name = label.map { "\($0): " } ?? ""
        guard let total, total > 0 else {
            return "\(name)\(count) [\(ProgressObject.clock(elapsed)), \(rateText)]" + (extra.isEmpty ? "" : " " + extra)
        }
        let fraction = min(1, Double(count) / Double(total))
        let left = rate > 0 ? Double(total - count) / rate : .nan
        let percent = String(format: "%3d%%", Int(fraction * 100))
        let counts = "\(count)/\(total) [\(ProgressObject.clock(elapsed))<\(left.isNaN ? "?" : ProgressObject.clock(left)), \(rateText)]"
        let tail = counts + (extra.isEmpty ? "" : " " + extra)
        guard onTerminal else { return "\(name)\(percent) \(tail)" }
        // The bar fills what the terminal's width leaves, in eighths of a character.
        let width = max(10, min(40, columns - name.count - percent.count - tail.count - 4))
        let eighths = Int(fraction * Double(width * 8))
        var bar = String(repeating: "\u{2588}", count: eighths / 8)
        if eighths % 8 > 0 { bar.unicodeScalars.append(Unicode.Scalar(0x2590 - eighths % 8)!) }
        bar += String(repeating: " ", count: max(0, width - bar.count))
        return "\(name)\(percent)|\(bar)| \(tail)"
    }
}

enum ProgressBuiltins {
    static let all: [Builtin] = [
        Builtin("progress", "values, total = nil, label = nil, every = 10",
                "A progress bar over a loop: for step in progress(1...steps) { ... }. It shows the count, percentage, elapsed time, time left, rate and values set with bar.set(loss: l) (keep the bar: let bar = progress(...); for step in bar { bar.set(loss: l) }). On a terminal it redraws in place on standard error; otherwise it writes a plain line every `every` seconds and one at the end.") { a in
            let source = try a["values"]
            var total = try a.optionalInt("total")
            if total == nil {
                switch source {
                case .range(let lo, let hi): total = max(0, hi - lo)
                case .list(let l): total = l.items.count
                case .tuple(let t): total = t.count
                case .tensor(let t) where t.value.rank > 0: total = t.shape[0]
                case .string(let s): total = s.count
                case .object(let loop as CheckpointedLoop):
                    if case .range(let lo, let hi) = loop.source { total = max(0, hi - lo) }
                default: break
                }
            }
            if case .object(is CheckpointedLoop) = source {} else { try Arguments.requireIterable(a, "values") }
            let every = try a.number("every")
            guard every > 0, every.isFinite else { throw RuntimeError("progress: every must be a positive number of seconds") }
            // The bar goes to standard error: its terminal decides, by the same rule as figures.
            let onTerminal = TerminalStyle.detect(isTerminal: isatty(2) == 1) != .plain
            let columns = TerminalStyle.columns(descriptor: 2)
            let bar = ProgressObject(source: source, total: total, label: try FigureBuiltins.optionalString(a, "label"), interval: every,
                                     onTerminal: onTerminal, columns: columns,
                                     write: { text in fflush(stdout); fputs(text, stderr); fflush(stderr) })
            bar.interpreter = a.interpreter
            return .object(bar)
        }.notDifferentiable("shows progress"),
        Builtin("log_metrics", "path, values",
                "With path nil (trial().log outside a sweep) it does nothing. Otherwise it appends one record of numbers and strings ({step: s, loss: l}) to a log, flushed at once so `tail -f` follows it: a JSON line, or a CSV row when the path ends in .csv (the header written first, when the file is new). pandas reads either (read_json(lines=True), read_csv).") { a in
            if try a.isAbsent("path") { return .nil }
            let path = try a.string("path")
            guard case .record(let r) = try a["values"], !r.names.isEmpty else { throw a.wrong("values", "a record of numbers and strings, such as {step: s, loss: l}") }
            let cells: [(String, String, String)] = try zip(r.names, r.values).map { name, v in
                switch v {
                case .number(let d): return (name, jsonNumber(d), csvNumber(d))
                case .tensor(let t) where t.value.count == 1:
                    let d = Double(t.value.scalar)
                    return (name, jsonNumber(d), csvNumber(d))
                case .bool(let b): return (name, b ? "true" : "false", b ? "true" : "false")
                case .string(let s): return (name, SafeTensors.jsonString(s), CSV.field(s))
                case .nil: return (name, "null", "")
                default: throw RuntimeError("log_metrics: field '\(name)' is a \(v.kindName); a log holds numbers, bools and strings")
                }
            }
            let line: String
            if path.lowercased().hasSuffix(".csv") {
                let header = r.names.map(CSV.field).joined(separator: ",")
                let existing = FileManager.default.contents(atPath: path).map { String(decoding: $0.prefix(64 * 1024), as: UTF8.self) }
                if let existing, !existing.isEmpty {
                    let first = existing.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? ""
                    guard first == header else {
                        throw RuntimeError("log_metrics: '\(path)' has columns \(first), this record \(header); a CSV log keeps one set of columns")
                    }
                    line = cells.map(\.2).joined(separator: ",") + "\n"
                } else {
                    line = header + "\n" + cells.map(\.2).joined(separator: ",") + "\n"
                }
            } else {
                line = "{" + cells.map { "\(SafeTensors.jsonString($0.0)):\($0.1)" }.joined(separator: ",") + "}\n"
            }
            do { try SafeFile.append(Array(line.utf8), to: path, mode: 0o666) } catch { throw RuntimeError("\(error)") }
            return .nil
        }.notDifferentiable("writes a file"),
    ]

    /// JSON has no NaN or infinity: they are written as null (pandas reads NaN).
    static func jsonNumber(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        return d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : "\(d)"
    }

    static func csvNumber(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d > 0 ? "inf" : "-inf" }
        return jsonNumber(d)
    }
}
