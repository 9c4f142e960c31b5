import Foundation
import Language

/// The interactive loop on plain line input: a complete input runs, an
/// incomplete one (open bracket, trailing operator) reads another line, and
/// no error ends the session.
struct LineREPL {
    let interpreter: Interpreter

    func run() -> ExitStatus {
        let terminal = isatty(0) != 0
        var pending = ""
        var inputNumber = 0
        while true {
            if terminal {
                print(pending.isEmpty ? "mnemo> " : "   ... ", terminator: "")
                fflush(stdout)
            }
            guard let line = readLine() else { break }
            pending += pending.isEmpty ? line : "\n" + line
            if pending.trimmingCharacters(in: .whitespaces).isEmpty { pending = ""; continue }
            inputNumber += 1
            let source = SourceFile(name: "<repl>", text: pending)
            do {
                let value = try interpreter.evaluate(source)
                if case .nil = value {} else { print(Formatter.repr(value)) }
                pending = ""
            } catch let e as CompileErrors where e.incomplete && !line.isEmpty {
                continue
            } catch {
                fflush(stdout)
                Host.writeError(Host.report(error).text)
                pending = ""
            }
            fflush(stdout)
        }
        return .ok
    }
}
