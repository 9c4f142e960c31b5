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
        let message = Diagnostic.visible(self.message)
        guard let range else { return "error: \(message)" + notes.map { "\n  note: \(Diagnostic.visible($0))" }.joined() }
        let (line, column) = range.file.location(of: range.start)
        out += "\(range.file.name):\(line):\(column): error: \(message)\n"
        // Control characters in the line would move the caret (or the terminal): shown as '?'.
        var text = String(range.file.line(line).map { $0 == "\t" || !Diagnostic.isControl($0) ? $0 : "?" })
        let endLocation = range.file.location(of: range.end)
        var width = endLocation.line == line ? max(1, endLocation.column - column) : max(1, text.count - column + 1)
        var caretColumn = column
        // A long line is shown as a window around the caret.
        let window = 160
        if text.count > window {
            let start = max(0, min(column - 1 - 60, text.count - window))
            let end = min(text.count, start + window)
            let slice = text.dropFirst(start).prefix(end - start)
            text = (start > 0 ? "..." : "") + slice + (end < text.count ? "..." : "")
            caretColumn = column - start + (start > 0 ? 3 : 0)
            width = min(width, end - (column - 1))
        }
        out += "    " + text + "\n"
        // Tabs in the line keep the caret aligned.
        let lead = text.prefix(caretColumn - 1).map { $0 == "\t" ? "\t" : " " }.joined()
        out += "    " + lead + "^" + String(repeating: "~", count: max(0, width - 1))
        for note in notes { out += "\n  note: \(Diagnostic.visible(note))" }
        for (frame, repeats) in stack {
            out += "\n  \(frame)"
            if repeats > 0 { out += "\n  ... and \(repeats) more times" }
        }
        return out
    }
}

extension Diagnostic {
    package static func isControl(_ c: Character) -> Bool {
        c.unicodeScalars.contains { $0.value < 0x20 || (0x7f...0x9f).contains($0.value) }
    }

    /// Text from a script or a file (an `error()` message, a header) with its
    /// control characters escaped, so that it cannot drive the terminal.
    package static func visible(_ text: String) -> String {
        guard text.contains(where: { isControl($0) && $0 != "\n" }) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar != "\n" && (scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value)) {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

/// Several compile errors reported together (the parser recovers and goes on).
public struct CompileErrors: Error {
    public let diagnostics: [Diagnostic]
    /// The input ended in the middle of a construct: the REPL reads another line.
    public package(set) var incomplete = false
    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }
    package init(_ diagnostics: [Diagnostic], incomplete: Bool) {
        self.diagnostics = diagnostics
        self.incomplete = incomplete
    }
    public func render() -> String { diagnostics.map { $0.render() }.joined(separator: "\n") }
}
