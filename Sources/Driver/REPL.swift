import Builtins
import Foundation
import Runtime
import Syntax

/// The interactive session: reads inputs from a line editor, gathers the
/// lines of an incomplete input, and runs each complete one as code or as a
/// `:command`. No error ends the session; only `:quit` or end of input does.
public final class REPL {
    /// The interpreter holding the session's names; `:reset` replaces it.
    public private(set) var interpreter: Interpreter
    private let makeInterpreter: () -> Interpreter
    let editor: LineEditor
    /// Where results and messages go (stdout); errors go to `error`.
    let write: (String) -> Void
    private let writeError: (String) -> Void
    /// An input that ran without error, for `:save`; `keptAsLast` when its value became `_`.
    struct Entry {
        let text: String
        var keptAsLast = false
    }
    /// The inputs that ran without error, in order.
    var transcript: [Entry] = []
    /// The file `:reload` runs again.
    var lastLoaded: String?
    var quitRequested = false
    /// The status of the last input that failed, if any.
    var lastFailure: ExitStatus?

    static let prompt = "mnemo> "
    static let continuationPrompt = "   ... "

    public init(makeInterpreter: @escaping () -> Interpreter, editor: LineEditor,
         write: @escaping (String) -> Void = { print($0); fflush(stdout) },
         error: @escaping (String) -> Void = { fflush(stdout); FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) {
        self.makeInterpreter = makeInterpreter
        self.interpreter = makeInterpreter()
        self.editor = editor
        self.write = write
        self.writeError = error
    }

    /// The REPL on this process's terminal (readline), or on piped input
    /// (plain lines, no prompts), after running `file` into it if given.
    static func open(_ makeInterpreter: @escaping () -> Interpreter, loading file: String? = nil) -> ExitStatus {
        let editor: LineEditor = isatty(0) != 0 ? ReadlineEditor(history: HistoryFile.standard()) : PlainLineEditor()
        let repl = REPL(makeInterpreter: makeInterpreter, editor: editor)
        Interrupts.install()  // before the script, so Ctrl-C stops it and the REPL still opens
        if let file { repl.load(file) }
        return repl.run()
    }

    /// Reads and runs inputs until `:quit` or end of input.
    public func run() -> ExitStatus {
        Interrupts.install()
        editor.completer = REPLCompleter(repl: self)
        var lines: [String] = []
        while !quitRequested {
            switch editor.read(prompt: lines.isEmpty ? REPL.prompt : REPL.continuationPrompt) {
            case .end:
                // Piped input that had a failing input exits with that failure's status, as a script would.
                if editor is PlainLineEditor, let lastFailure { return lastFailure }
                return .ok
            case .interrupt:
                lines = []
            case .line(let line):
                let blank = line.trimmingCharacters(in: .whitespaces).isEmpty
                if lines.isEmpty && blank { continue }
                lines.append(line)
                let input = lines.joined(separator: "\n")
                // An empty line ends an incomplete input (and shows why it is incomplete).
                if !blank && !input.trimmingCharacters(in: .whitespaces).hasPrefix(":") && Interpreter.isIncomplete(input) { continue }
                lines = []
                editor.addHistory(input)
                handle(input)
            }
        }
        if editor is PlainLineEditor, let lastFailure { return lastFailure }
        return .ok
    }

    /// Runs one complete input: a command, or code whose value is printed
    /// (unless it ends with `;`) and kept as `_`.
    public func handle(_ input: String) {
        let trimmed = input.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix(":") {
            REPLCommands.run(trimmed, in: self)
            return
        }
        if let value = evaluate(input) {
            record(input, value)
            show(value, quiet: Interpreter.endsWithSemicolon(input))
        }
    }

    /// Evaluates code in the session; on error, reports it and returns nil.
    func evaluate(_ code: String, name: String = "<repl>", path: String? = nil) -> Value? {
        do {
            return try interpreter.evaluate(SourceFile(name: name, text: code, path: path))
        } catch {
            report(error)
            return nil
        }
    }

    func record(_ input: String, _ value: Value) {
        var kept = true
        if case .nil = value { kept = false }
        transcript.append(Entry(text: input, keptAsLast: kept))
    }

    /// The transcript as a script. A script has no `_`: when an input used
    /// it, the inputs whose values it stood for assign a variable instead.
    func script() -> String {
        var lines = ["# Saved from a mnemo session: the inputs that ran without error."]
        if transcript.contains(where: { Interpreter.mentions("_", in: $0.text) }) {
            var name = "last_value"
            while transcript.contains(where: { Interpreter.mentions(name, in: $0.text) }) { name += "_" }
            lines.append("var \(name) = nil  # the REPL's _")
            for entry in transcript {
                let text = Interpreter.renaming("_", to: name, in: entry.text)
                lines.append(entry.keptAsLast && Interpreter.isSingleExpression(entry.text) ? "\(name) = \(text)" : text)
            }
        } else {
            lines += transcript.map(\.text)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func show(_ value: Value, quiet: Bool) {
        if case .nil = value { return }
        interpreter.globals.set("_", value)
        guard !quiet else { return }
        // A figure draws itself; other values show as values.
        if case .object(let o) = value, let picture = o.display { write(picture) } else { write(Formatter.repr(value)) }
    }

    func report(_ e: Error) {
        let (text, status) = Host.report(e)
        error(text)
        lastFailure = status
    }

    /// Shows an error; on piped input, the session then ends with a failure status.
    func error(_ text: String) {
        lastFailure = .failure
        writeError(text)
    }

    /// Runs a script file into the session (`:load`, `mnemo -i FILE`): its
    /// names join the session's, and `:reload` can run it again.
    @discardableResult
    func load(_ path: String) -> Bool {
        switch Host.readSource(path) {
        case .failure(let d):
            report(d)
            return false
        case .success(let source):
            lastLoaded = path
            interpreter.scriptDirectory = (path as NSString).deletingLastPathComponent
            guard evaluate(source.text, name: source.name, path: path) != nil else { return false }
            transcript.append(Entry(text: "# :load \(path)\n" + source.text))
            return true
        }
    }

    /// Tab completion at the end of `before` (the line up to the cursor).
    public func complete(_ before: String) -> REPLCompleter.Completion {
        REPLCompleter(repl: self).complete(before)
    }

    /// A fresh interpreter: every name and the random state go; history stays.
    func reset() {
        interpreter = makeInterpreter()
        transcript = []
    }
}
