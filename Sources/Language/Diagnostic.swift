/// One problem in a script: what, where, and (for runtime errors) the Mnemo
/// call stack. Diagnostics are values; `render` is the one place that turns
/// them into text.
public struct Diagnostic: Error {
    public enum Kind { case compile, runtime, io }

    public var kind: Kind
    public var message: String
    public var range: SourceRange?
    public var notes: [String] = []
    /// The Mnemo call stack, innermost first; runs of one frame (runaway
    /// recursion) are kept once with a count.
    public private(set) var stack: [(frame: String, repeats: Int)] = []

    public mutating func addFrame(_ frame: String) {
        if let last = stack.last, last.frame == frame {
            stack[stack.count - 1].repeats += 1
        } else if stack.count < 40 {
            stack.append((frame, 0))
        }
    }

    public init(_ kind: Kind, _ message: String, at range: SourceRange?, notes: [String] = []) {
        self.kind = kind
        self.message = message
        self.range = range
        self.notes = notes
    }

    /// file.mn:3:7: error: message
    ///     let x = foo(1)
    ///             ^~~
    public func render() -> String {
        var out = ""
        guard let range else { return "error: \(message)" + notes.map { "\n  note: \($0)" }.joined() }
        let (line, column) = range.file.location(of: range.start)
        out += "\(range.file.name):\(line):\(column): error: \(message)\n"
        let text = range.file.line(line)
        out += "    " + text + "\n"
        let endLocation = range.file.location(of: range.end)
        let width = endLocation.line == line ? max(1, endLocation.column - column) : max(1, text.count - column + 1)
        // Tabs in the line keep the caret aligned.
        let lead = text.prefix(column - 1).map { $0 == "\t" ? "\t" : " " }.joined()
        out += "    " + lead + "^" + String(repeating: "~", count: max(0, width - 1))
        for note in notes { out += "\n  note: \(note)" }
        for (frame, repeats) in stack {
            out += "\n  \(frame)"
            if repeats > 0 { out += "\n  ... and \(repeats) more times" }
        }
        return out
    }
}

/// Several compile errors reported together (the parser recovers and goes on).
public struct CompileErrors: Error {
    public let diagnostics: [Diagnostic]
    /// The input ended in the middle of a construct: the REPL reads another line.
    public internal(set) var incomplete = false
    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }
    public func render() -> String { diagnostics.map { $0.render() }.joined(separator: "\n") }
}
