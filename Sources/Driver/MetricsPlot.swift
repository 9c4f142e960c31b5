import ArgumentParser
import Builtins
import Figure
import Foundation
import Runtime
import Syntax
import Tensor

/// A metrics log as `log_metrics` writes it (JSON lines, or CSV with a
/// header), read into numeric columns. Text and missing values read as NaN,
/// which a curve shows as a gap. A last line still being written (no line
/// end, not parseable yet) is left out, so a running job's log can be read.
struct MetricsLog {
    /// A log that cannot be read, with the exit status it ends the command with.
    struct Failure: Error { let status: ExitStatus; let message: String }

    var names: [String] = []
    var columns: [String: [Double]] = [:]
    var rows = 0

    init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw Failure(status: .ioError, message: "cannot read '\(path)': no such file or not readable") }
        let text = String(decoding: data, as: UTF8.self)
        var lines = text.components(separatedBy: "\n")
        let complete = text.hasSuffix("\n")
        if lines.last == "" { lines.removeLast() }
        if path.lowercased().hasSuffix(".csv") {
            guard let first = lines.first else { return }
            let header = MetricsLog.csvFields(first)
            for name in header where columns[name] == nil { names.append(name); columns[name] = [] }
            for (k, line) in lines.dropFirst().enumerated() where !line.isEmpty {
                let fields = MetricsLog.csvFields(line)
                if fields.count != header.count {
                    if k == lines.count - 2, !complete { break }
                    throw Failure(status: .compileError, message: "\(path):\(k + 2): \(fields.count) fields, the header has \(header.count)")
                }
                add(Dictionary(zip(header, fields.map { Double($0) ?? .nan }), uniquingKeysWith: { a, _ in a }))
            }
        } else {
            for (k, line) in lines.enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                guard JSONDepth.within(Array(line.utf8), 32), let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                    if k == lines.count - 1, !complete { break }
                    throw Failure(status: .compileError, message: "\(path):\(k + 1): not a JSON object")
                }
                var row: [String: Double] = [:]
                for (key, value) in object {
                    // true and false read as 1 and 0 (Foundation cannot tell them from numbers on every platform).
                    if let n = value as? NSNumber { row[key] = n.doubleValue } else { row[key] = .nan }
                }
                add(row)
            }
        }
    }

    /// Appends a row; a column first seen now is NaN in the rows before.
    mutating func add(_ row: [String: Double]) {
        for key in row.keys.sorted() where columns[key] == nil {
            names.append(key)
            columns[key] = [Double](repeating: .nan, count: rows)
        }
        for name in names { columns[name]!.append(row[name] ?? .nan) }
        rows += 1
    }

    static func csvFields(_ line: String) -> [String] {
        var fields: [String] = [], field = "", quoted = false
        var chars = Array(line.trimmingCharacters(in: CharacterSet(charactersIn: "\r")))[...]
        while let c = chars.popFirst() {
            if quoted {
                if c == "\"" {
                    if chars.first == "\"" { field.append("\""); chars.removeFirst() } else { quoted = false }
                } else { field.append(c) }
            } else if c == "\"" { quoted = true }
            else if c == "," { fields.append(field); field = "" }
            else { field.append(c) }
        }
        fields.append(field)
        return fields
    }
}

struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw columns of a metrics log (log_metrics's JSON lines or CSV) as curves, in the terminal or to a PNG or SVG file.",
        discussion: "Example: mnemo plot metrics.jsonl loss bits --smooth 0.9 --out loss.png")

    @Argument(help: "The log file (.jsonl, .json or .csv).") var file: String
    @Argument(help: "The columns to draw (default: every numeric column but the x axis).") var columns: [String] = []
    @Option(help: "The column along the x axis (default: step when there is one, else the row number).") var x: String?
    @Option(help: "Exponential moving average, 0 to 1 (as TensorBoard's smoothing).") var smooth: Double = 0
    @Flag(help: "A log-scale y axis.") var log = false
    @Option(help: "Write the figure to this .png, .svg or .txt file instead of the terminal.") var out: String?
    @Option(help: "The figure's title (default: the file's name).") var title: String?

    func run() throws {
        let metrics: MetricsLog
        do { metrics = try MetricsLog(path: file) } catch let f as MetricsLog.Failure {
            Host.writeError("error: \(f.message)")
            throw ExitCode(f.status.rawValue)
        }
        guard metrics.rows > 0 else { throw ValidationError("'\(file)' holds no rows") }
        let xName = x ?? (metrics.columns["step"] != nil ? "step" : nil)
        if let xName, metrics.columns[xName] == nil {
            throw ValidationError("'\(file)' has no column '\(xName)'; it has \(metrics.names.joined(separator: ", "))")
        }
        let xs = xName.map { metrics.columns[$0]! } ?? (0..<metrics.rows).map(Double.init)
        var chosen = columns
        if chosen.isEmpty {
            chosen = metrics.names.filter { $0 != xName && metrics.columns[$0]!.contains { !$0.isNaN } }
        }
        for c in chosen where metrics.columns[c] == nil {
            throw ValidationError("'\(file)' has no column '\(c)'; it has \(metrics.names.joined(separator: ", "))")
        }
        guard !chosen.isEmpty else { throw ValidationError("'\(file)' has no numeric column to draw") }
        let figure: Figure
        do {
            let curves = try Curves(series: chosen.map { Curves.Series(name: chosen.count > 1 ? $0 : nil, x: xs, y: metrics.columns[$0]!) },
                                    logY: log, smoothing: smooth)
            figure = Figure(title: title ?? (file as NSString).lastPathComponent,
                            panels: [Panel(xLabel: xName ?? "row", yLabel: chosen.count == 1 ? chosen[0] : nil, content: .curves(curves))])
        } catch { throw ValidationError("\(error)") }
        guard let out else {
            print(TerminalRenderer.standardOutput.render(figure))
            return
        }
        do { try figure.save(to: out) } catch {
            Host.writeError("error: --out: \(error)")
            throw ExitCode(ExitStatus.ioError.rawValue)
        }
    }
}
