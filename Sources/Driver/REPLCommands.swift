import Builtins
import Foundation
import Graph
import Runtime
import Syntax
import Tensor

/// A REPL command (`:load file`). The table below is the one place that
/// names a command, its argument and its help; `:help` and completion read it.
struct REPLCommand {
    enum Argument { case none, name, expression, file, number }

    let name: String
    let argument: Argument
    /// How the argument shows in help: "FILE", "[NAME]".
    let usage: String
    let help: String
    let action: (REPL, String) -> Void
}

enum REPLCommands {
    enum Match {
        case success(REPLCommand)
        case failure(String)
    }

    static let all: [REPLCommand] = [
        REPLCommand(name: "help", argument: .name, usage: "[NAME]",
                    help: "List the commands; with a name, show a builtin's or function's signature and doc.", action: help),
        REPLCommand(name: "type", argument: .expression, usage: "EXPR",
                    help: "Evaluate EXPR and show its kind and shape, not its value.", action: type),
        REPLCommand(name: "graph", argument: .expression, usage: "EXPR",
                    help: "Evaluate EXPR (a loss, say) and profile the graph recorded behind it: ops by kind, count, estimated FLOPs, values held (as graph(EXPR)).", action: graph),
        REPLCommand(name: "vars", argument: .none, usage: "",
                    help: "List the session's names with their kinds and shapes.", action: vars),
        REPLCommand(name: "load", argument: .file, usage: "FILE",
                    help: "Run a script in the session; its names stay defined.", action: { repl, arg in
                        guard let path = fileArgument(arg, repl) else { return }
                        repl.load(path)
                    }),
        REPLCommand(name: "reload", argument: .none, usage: "",
                    help: "Run the last loaded script again.", action: { repl, _ in
                        guard let path = repl.lastLoaded else { return repl.error("error: nothing loaded yet; use :load FILE") }
                        repl.load(path)
                    }),
        REPLCommand(name: "save", argument: .file, usage: "FILE",
                    help: "Write the inputs that ran without error as a script.", action: save),
        REPLCommand(name: "reset", argument: .none, usage: "",
                    help: "Forget every name and reseed; history stays.", action: { repl, _ in
                        repl.reset()
                        repl.write("session reset")
                    }),
        REPLCommand(name: "time", argument: .expression, usage: "EXPR",
                    help: "Evaluate EXPR, show its value and the wall time it took.", action: time),
        REPLCommand(name: "seed", argument: .number, usage: "N",
                    help: "Reseed the random generator (as seed(N) does).", action: { repl, arg in
                        guard let n = UInt64(arg) else { return repl.error("error: :seed takes a non-negative integer, as in :seed 42") }
                        repl.interpreter.random.reseed(n)
                        repl.transcript.append(REPL.Entry(text: "seed(\(n))"))
                    }),
        REPLCommand(name: "nanbreak", argument: .none, usage: "",
                    help: "Toggle debug_nans: stop at the first op whose output or gradient is NaN or infinite.", action: { repl, _ in
                        Graph.debugNonFinite.toggle()
                        repl.write("debug_nans is \(Graph.debugNonFinite ? "on: every op's output and gradient is checked" : "off")")
                        repl.transcript.append(REPL.Entry(text: "debug_nans(\(Graph.debugNonFinite))"))
                    }),
        REPLCommand(name: "quit", argument: .none, usage: "", help: "Leave the REPL (Ctrl-D does too).", action: { repl, _ in
                        repl.quitRequested = true
                    }),
    ]

    /// The command a word names: exact, or an unambiguous prefix (`:l` is `:load`).
    static func match(_ word: String) -> Match {
        if let exact = all.first(where: { $0.name == word }) { return .success(exact) }
        let candidates = all.filter { $0.name.hasPrefix(word) }
        switch candidates.count {
        case 1: return .success(candidates[0])
        case 0: return .failure("error: unknown command ':\(word)'; :help lists the commands")
        default: return .failure("error: ':\(word)' is ambiguous: " + candidates.map { ":" + $0.name }.joined(separator: ", "))
        }
    }

    static func run(_ input: String, in repl: REPL) {
        let body = input.dropFirst()
        let word = String(body.prefix { !$0.isWhitespace })
        let argument = body.dropFirst(word.count).trimmingCharacters(in: .whitespacesAndNewlines)
        switch match(word) {
        case .failure(let message): repl.error(message)
        case .success(let command):
            if command.argument == .none && !argument.isEmpty {
                return repl.error("error: :\(command.name) takes no argument")
            }
            if [REPLCommand.Argument.expression, .file, .number].contains(command.argument) && argument.isEmpty {
                return repl.error("error: usage: :\(command.name) \(command.usage)")
            }
            command.action(repl, argument)
        }
    }

    // MARK: Actions

    private static func help(_ repl: REPL, _ argument: String) {
        if argument.isEmpty {
            var lines = ["Commands (any unambiguous prefix works, e.g. :l for :load):"]
            let width = (all.map { $0.name.count + $0.usage.count }.max() ?? 0) + 4
            for c in all {
                let head = ":" + c.name + (c.usage.isEmpty ? "" : " " + c.usage)
                lines.append("  " + head.padding(toLength: width, withPad: " ", startingAt: 0) + c.help)
            }
            lines.append("Type code to run it; its value prints (end the input with ; to hide it) and is kept as _.")
            lines.append("An open bracket or a trailing operator continues the input on the next line; an empty line ends it.")
            lines.append("Keys: Tab completes, Ctrl-R searches history, Ctrl-C interrupts a computation or clears the line, Ctrl-D leaves.")
            repl.write(lines.joined(separator: "\n"))
            return
        }
        if argument.hasPrefix(":") {
            switch match(String(argument.dropFirst())) {
            case .success(let c): repl.write(":" + c.name + (c.usage.isEmpty ? "" : " " + c.usage) + "\n  " + c.help)
            case .failure(let message): repl.error(message)
            }
            return
        }
        if let text = repl.interpreter.help(for: argument) { return repl.write(text) }
        if Interpreter.keywords.contains(argument) { return repl.write("'\(argument)' is a keyword of the language") }
        if repl.interpreter.stdlibModuleNames.contains(argument) {
            return repl.write("'\(argument)' is a stdlib module: `import \(argument)`, then `:help \(argument)` lists its names")
        }
        repl.error("error: no help for '\(argument)': not a builtin or a name defined in this session")
    }

    private static func type(_ repl: REPL, _ argument: String) {
        guard let value = repl.evaluate(argument) else { return }
        repl.write(Formatter.typeDescription(value))
    }

    private static func graph(_ repl: REPL, _ argument: String) {
        guard let value = repl.evaluate(argument) else { return }
        if case .object(let f as TracedFunction) = value { return repl.write(f.plansText) }
        guard case .tensor(let t) = value else { return repl.error("error: :graph profiles a tensor's graph or a compiled function's plans, got a \(value.kindName)") }
        repl.write(GraphProfile(of: t).text)
    }

    private static func vars(_ repl: REPL, _: String) {
        let globals = repl.interpreter.globals
        let defined = globals.visibleNames.compactMap { name in globals.value(of: name).map { (name, $0) } }
        guard !defined.isEmpty else { return repl.write("no names defined yet") }
        let width = (defined.map(\.0.count).max() ?? 0) + 2
        repl.write(defined.map { name, value in
            name.padding(toLength: width, withPad: " ", startingAt: 0) + Formatter.typeDescription(value)
        }.joined(separator: "\n"))
    }

    private static func time(_ repl: REPL, _ argument: String) {
        let start = DispatchTime.now().uptimeNanoseconds
        guard let value = repl.evaluate(argument) else { return }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        repl.record(argument, value)
        repl.show(value, quiet: Interpreter.endsWithSemicolon(argument))
        repl.write("time: " + formatDuration(seconds))
    }

    static func formatDuration(_ seconds: Double) -> String {
        if seconds < 1e-3 { return String(format: "%.1f us", seconds * 1e6) }
        if seconds < 1 { return String(format: "%.2f ms", seconds * 1e3) }
        return String(format: "%.3f s", seconds)
    }

    private static func save(_ repl: REPL, _ argument: String) {
        guard let path = fileArgument(argument, repl) else { return }
        let text = repl.script()
        do {
            try writeAtomically(text, to: path)
        } catch {
            return repl.error("error: cannot write '\(path)': \(error.localizedDescription)")
        }
        repl.write("saved \(repl.transcript.count) inputs to \(path)")
        // A session may redefine names; a script may not. Say so now, not when it is run.
        do {
            try Interpreter().check(SourceFile(name: path, text: text, path: path))
        } catch {
            repl.error("note: \(path) does not run as it stands; edit it where these errors point:\n" + Host.report(error).text)
        }
    }

    /// A file name, bare or in double quotes; `~` is the home folder.
    private static func fileArgument(_ argument: String, _ repl: REPL) -> String? {
        var path = argument
        if path.hasPrefix("\"") {
            guard path.count >= 2, path.hasSuffix("\"") else {
                repl.error("error: the file name's closing \" is missing")
                return nil
            }
            path = String(path.dropFirst().dropLast())
        }
        return (path as NSString).expandingTildeInPath
    }

    /// Writes through a temporary file and a rename, so a failure never leaves half a file.
    static func writeAtomically(_ text: String, to path: String) throws {
        try SafeFile.write(Array(text.utf8), to: path)
    }
}
