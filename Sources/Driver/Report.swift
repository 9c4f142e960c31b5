import Builtins
import Figure
import Foundation
import Runtime
import Syntax
import Tensor

/// A run written up as one self-contained HTML page: what the script
/// printed and the figures it printed or showed (inline SVG), in the order
/// it produced them, with its arguments, seed, version and times, like
/// Futhark's `literate` or Dex's rendered output. The page is also
/// well-formed XML, so tests (and tools) can parse it.
final class Report {
    enum Item { case text(String), figure(Figure) }

    let script: String
    let arguments: [String]
    let started = Date()
    private(set) var items: [Item] = []

    init(script: String, arguments: [String]) {
        self.script = script
        self.arguments = arguments
    }

    /// Printed text, line ends included; consecutive pieces join into one block.
    func text(_ s: String) {
        if case .text(let previous)? = items.last { items[items.count - 1] = .text(previous + s) } else { items.append(.text(s)) }
    }

    func figure(_ f: Figure) { items.append(.figure(f)) }

    /// The page; `error` is how the run ended when it failed.
    func html(seed: Int?, error: String?, source: String?) -> String {
        let seconds = Date().timeIntervalSince(started)
        let time = ISO8601DateFormatter().string(from: started)
        let name = (script as NSString).lastPathComponent
        var page = """
        <!DOCTYPE html>
        <html xmlns="http://www.w3.org/1999/xhtml" lang="en">
        <head>
        <meta charset="utf-8"/>
        <title>\(SVG.escape(name))</title>
        <style>
        body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #222; }
        h1 { font-size: 1.4em; }
        table.run { border-collapse: collapse; margin-bottom: 1.5em; }
        table.run th { text-align: left; padding-right: 1.5em; font-weight: 600; }
        table.run td { font-family: monospace; }
        pre { background: #f6f6f6; padding: 0.6em 0.8em; overflow-x: auto; }
        pre.error { background: #fdecea; color: #8a1c14; }
        div.figure { margin: 1em 0; overflow-x: auto; }
        </style>
        </head>
        <body>
        <h1>\(SVG.escape(name))</h1>
        <table class="run">
        <tr><th>script</th><td>\(SVG.escape(script))</td></tr>
        <tr><th>arguments</th><td>\(SVG.escape(arguments.isEmpty ? "(none)" : arguments.joined(separator: " ")))</td></tr>
        <tr><th>seed</th><td>\(seed.map(String.init) ?? "default (\(Interpreter.defaultSeed))")</td></tr>
        <tr><th>mnemo</th><td>\(Interpreter.version), matrix products: \(SVG.escape(MatrixBackend.description))</td></tr>
        <tr><th>started</th><td>\(time)</td></tr>
        <tr><th>took</th><td>\(String(format: "%.2f s", seconds))</td></tr>
        <tr><th>ended</th><td>\(error == nil ? "normally" : "with an error")</td></tr>
        </table>

        """
        for item in items {
            switch item {
            case .text(let s):
                page += "<pre class=\"output\">" + SVG.escape(s.hasSuffix("\n") ? String(s.dropLast()) : s) + "</pre>\n"
            case .figure(let f):
                page += "<div class=\"figure\">\n" + SVG.document(f) + "</div>\n"
            }
        }
        if let error { page += "<pre class=\"error\">" + SVG.escape(error) + "</pre>\n" }
        if let source {
            page += "<details><summary>the script</summary>\n<pre class=\"source\">" + SVG.escape(source) + "</pre>\n</details>\n"
        }
        return page + "</body>\n</html>\n"
    }

    /// Writes DIR/index.html atomically, creating DIR.
    func write(to directory: String, seed: Int?, error: String?, source: String?) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try SafeFile.write(Array(html(seed: seed, error: error, source: source).utf8), to: directory + "/index.html")
    }
}
