import Graph
import Syntax
import Tensor

// The resolved tree is turned into a tree of Swift closures, each of which
// evaluates one node. Decisions that depend only on the source (which slot,
// which builtin, how call arguments map to parameters) are made once here,
// not on every evaluation: that is what keeps a script loop fast.

package struct Compiler {
    /// Compiled code is kept by the interpreter's names and runs only while
    /// the interpreter does: the closures hold it `unowned(unsafe)` (held
    /// strongly it would never be freed; `unowned` pays a reference count
    /// at every loop step and call).
    unowned(unsafe) let interpreter: Interpreter
    /// Where the resolver put each name of the tree being compiled.
    package let resolved: Resolution

    package func script(_ statements: [Stmt], slotCount: Int) -> CompiledScript {
        CompiledScript(slotCount: slotCount, body: block(statements, tail: true))
    }

    // MARK: Statements

    /// `tail`: the last statement's value becomes the block's result (function
    /// bodies, REPL inputs, and ifs used as values).
    package func block(_ statements: [Stmt], tail: Bool) -> Exec {
        let compiled = statements.enumerated().map { i, s in statement(s, tail: tail && i == statements.count - 1) }
        switch compiled.count {
        case 0: return { _ in .normal }
        case 1: return compiled[0]
        case 2:
            let (a, b) = (compiled[0], compiled[1])
            return { f in
                let flow = try a(f)
                if case .normal = flow { return try b(f) }
                return flow
            }
        default:
            return { f in
                for s in compiled {
                    let flow = try s(f)
                    if case .normal = flow { continue }
                    return flow
                }
                return .normal
            }
        }
    }

    package func statement(_ s: Stmt, tail: Bool) -> Exec {
        switch s.kind {
        case .exprStmt(let s):
            let code = expression(s.expr)
            if tail { return { f in f.result = try code(f); return .normal } }
            return { f in _ = try code(f); return .normal }
        case .letStmt(let s):
            let value = s.value.map(expression) ?? { _ in .nil }
            let store = declarationStore(s.target.pattern, resolved[pattern: s.target])
            return { f in try store(f, try value(f)); return .normal }
        case .fnStmt(let s):
            return functionDeclaration(s)
        case .assignStmt(let s):
            return assignment(s)
        case .returnStmt(let s):
            let value = s.value.map(expression) ?? { _ in .nil }
            return { f in f.result = try value(f); return .returned }
        case .ifStmt(let s):
            let condition = test(s.condition, "if")
            let then = block(s.then, tail: tail)
            let otherwise = s.otherwise.map { block($0, tail: tail) } ?? { _ in .normal }
            return { f in try condition(f) ? try then(f) : try otherwise(f) }
        case .whileStmt(let s):
            let condition = test(s.condition, "while")
            let body = block(s.body, tail: false)
            unowned(unsafe) let interpreter = self.interpreter
            let range = s.range
            return { f in
                while try condition(f) {
                    try interpreter.loopCheck(at: range)
                    let flow = try body(f)
                    if case .breakLoop = flow { break }
                    if case .returned = flow { return flow }
                }
                return .normal
            }
        case .forStmt(let s):
            return forLoop(s)
        case .jumpStmt(let s):
            let flow: Flow = s.isBreak ? .breakLoop : .continueLoop
            return { _ in flow }
        case .assertStmt(let s):
            let condition = test(s.condition, "assert")
            let message = s.message.map(expression)
            let range = s.condition.range
            return { f in
                if try condition(f) { return .normal }
                var text = "assertion failed"
                if let message { text += ": " + Formatter.describe(try message(f)) }
                throw Diagnostic(.runtime, text, at: range)
            }
        case .importStmt(let s):
            guard let module = resolved[module: s], case let .global(g, i)? = resolved[binding: s] else { return { _ in .normal } }
            unowned(unsafe) let interpreter = self.interpreter
            let range = s.range
            return { _ in
                try interpreter.runModule(module, at: range)
                g.values[i] = .module(module)
                return .normal
            }
        case .nogradStmt(let s):
            let body = block(s.body, tail: tail)
            let range = s.range
            return { f in
                if Tracer.isTracing { Tracer.current?.mark(.enterNograd, at: range) }
                defer { if Tracer.isTracing { Tracer.current?.mark(.exitNograd, at: range) } }
                return try Graph.detached { try body(f) }
            }
        }
    }

    /// A condition: must be a bool.
    package func test(_ e: Expr, _ what: String) -> (Frame) throws -> Bool {
        let code = expression(e)
        let range = e.range
        return { f in
            let v = try code(f)
            if case .bool(let b) = v { return b }
            throw Diagnostic(.runtime, "the condition of '\(what)' must be true or false, got \(v.kindName)", at: range)
        }
    }

    package func forLoop(_ s: ForStmt) -> Exec {
        let store = declarationStore(s.target.pattern, resolved[pattern: s.target])
        let body = block(s.body, tail: false)
        unowned(unsafe) let interpreter = self.interpreter
        let range = s.range
        // The common `for i in a..<b` runs without building a range value.
        if let r = s.sequence as? RangeExpr {
            let lower = integer(r.lower, "a range bound"), upper = integer(r.upper, "a range bound")
            let inclusive = r.inclusive
            return { f in
                var i = try lower(f)
                let end = try upper(f) + (inclusive ? 1 : 0)
                while i < end {
                    try interpreter.loopCheck(at: range)
                    try store(f, .number(Double(i)))
                    let flow = try body(f)
                    if case .breakLoop = flow { break }
                    if case .returned = flow { return flow }
                    i += 1
                }
                return .normal
            }
        }
        let sequence = expression(s.sequence)
        let sequenceRange = s.sequence.range
        return { f in
            var result = Flow.normal
            var items = try sequence(f)
            // A traced tensor's rows are steps of the plan.
            if Tracer.isTracing, let tracer = Tracer.current, tracer.recording {
                if case .tensor = items { items = try Compiler.tracedRows(tracer, items, at: sequenceRange) }
                if case .list(let l) = items { tracer.readItems(l, at: sequenceRange) }
                // A progress bar or checkpointed range does its work as it iterates, which a replay would skip.
                if case .object(let o) = items {
                    tracer.refuse("a for loop over a \(o.kindName) does its work as it goes (drawing, checkpointing), which a compiled plan would not repeat", at: sequenceRange)
                }
            }
            do {
                try Operators.iterate(items) { item in
                    try interpreter.loopCheck(at: range)
                    try store(f, item)
                    let flow = try body(f)
                    if case .breakLoop = flow { return false }
                    if case .returned = flow { result = flow; return false }
                    return true
                }
            } catch let e as RuntimeError {
                throw Diagnostic(.runtime, e.message, at: sequenceRange)
            } catch let e as TensorError {
                throw Diagnostic(.runtime, e.message, at: sequenceRange)
            }
            return result
        }
    }

    package func functionDeclaration(_ s: FnStmt) -> Exec {
        let make = closureMaker(s.function)
        switch resolved[binding: s] {
        case .local(let v)? where v.boxed:
            // The cell exists before the closure, so the function can call itself.
            return { f in
                let cell = Box(.nil)
                f.slots[v.slot] = .cell(cell)
                cell.value = .function(make(f))
                return .normal
            }
        case .local(let v)?:
            return { f in f.slots[v.slot] = .function(make(f)); return .normal }
        case let .global(g, i)?:
            return { f in g.values[i] = .function(make(f)); return .normal }
        default:
            return { _ in .normal }
        }
    }
}


/// Gives an error from a builtin or operator its place in the source.
package func locate(_ error: Error, _ range: SourceRange) -> Error {
    switch error {
    case is Diagnostic, is CompileErrors: return error
    case let e as RuntimeError: return Diagnostic(.runtime, e.message, at: range)
    case let e as TensorError: return Diagnostic(.runtime, e.message, at: range)
    case let e as NPYError:
        if case .io(let m) = e { return Diagnostic(.io, m, at: range) }
        return Diagnostic(.runtime, e.description, at: range)
    default: return Diagnostic(.runtime, "\(error)", at: range)
    }
}
