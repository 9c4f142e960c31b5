import Graph
import Tensor

// The resolved tree is turned into a tree of Swift closures, each of which
// evaluates one node. Decisions that depend only on the source (which slot,
// which builtin, how call arguments map to parameters) are made once here,
// not on every evaluation: that is what keeps a script loop fast.

typealias Code = (Frame) throws -> Value
typealias Exec = (Frame) throws -> Flow
typealias Store = (Frame, Value) throws -> Void

enum Flow { case normal, breakLoop, continueLoop, returned }

/// The slots of one function activation (or of a script's top level).
final class Frame {
    var slots: [Value]
    let captures: [Box]
    /// The value of `return`, or of the last expression of the body.
    var result: Value = .nil

    init(slotCount: Int, captures: [Box]) {
        slots = [Value](repeating: .nil, count: slotCount)
        self.captures = captures
    }
}

final class CompiledFunction {
    let name: String
    let parameterNames: [String]
    let defaults: [Code?]
    let boxedParameters: [Int]
    let slotCount: Int
    let captures: [Capture]
    let body: Exec
    /// The `fn` as written, for help and the REPL's `:type`.
    let declaration: FunctionDecl

    init(name: String, parameterNames: [String], defaults: [Code?], boxedParameters: [Int], slotCount: Int, captures: [Capture], body: @escaping Exec, declaration: FunctionDecl) {
        self.name = name; self.parameterNames = parameterNames; self.defaults = defaults; self.declaration = declaration
        self.boxedParameters = boxedParameters; self.slotCount = slotCount; self.captures = captures; self.body = body
    }
}

final class CompiledScript {
    let slotCount: Int
    let body: Exec
    init(slotCount: Int, body: @escaping Exec) { self.slotCount = slotCount; self.body = body }
}

struct Compiler {
    unowned let interpreter: Interpreter

    func script(_ statements: [Stmt], slotCount: Int) -> CompiledScript {
        CompiledScript(slotCount: slotCount, body: block(statements, tail: true))
    }

    // MARK: Statements

    /// `tail`: the last statement's value becomes the block's result (function
    /// bodies, REPL inputs, and ifs used as values).
    func block(_ statements: [Stmt], tail: Bool) -> Exec {
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

    func statement(_ s: Stmt, tail: Bool) -> Exec {
        switch s {
        case let s as ExprStmt:
            let code = expression(s.expr)
            if tail { return { f in f.result = try code(f); return .normal } }
            return { f in _ = try code(f); return .normal }
        case let s as LetStmt:
            let value = s.value.map(expression) ?? { _ in .nil }
            let store = declarationStore(s.target.pattern, s.target.bindings)
            return { f in try store(f, try value(f)); return .normal }
        case let s as FnStmt:
            return functionDeclaration(s)
        case let s as AssignStmt:
            return assignment(s)
        case let s as ReturnStmt:
            let value = s.value.map(expression) ?? { _ in .nil }
            return { f in f.result = try value(f); return .returned }
        case let s as IfStmt:
            let condition = test(s.condition, "if")
            let then = block(s.then, tail: tail)
            let otherwise = s.otherwise.map { block($0, tail: tail) } ?? { _ in .normal }
            return { f in try condition(f) ? try then(f) : try otherwise(f) }
        case let s as WhileStmt:
            let condition = test(s.condition, "while")
            let body = block(s.body, tail: false)
            let interpreter = self.interpreter
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
        case let s as ForStmt:
            return forLoop(s)
        case let s as JumpStmt:
            let flow: Flow = s.isBreak ? .breakLoop : .continueLoop
            return { _ in flow }
        case let s as AssertStmt:
            let condition = test(s.condition, "assert")
            let message = s.message.map(expression)
            let range = s.condition.range
            return { f in
                if try condition(f) { return .normal }
                var text = "assertion failed"
                if let message { text += ": " + Formatter.describe(try message(f)) }
                throw Diagnostic(.runtime, text, at: range)
            }
        case let s as ImportStmt:
            guard let module = s.loaded, case let .global(g, i)? = s.binding else { return { _ in .normal } }
            let interpreter = self.interpreter
            let range = s.range
            return { _ in
                try interpreter.runModule(module, at: range)
                g.values[i] = .module(module)
                return .normal
            }
        case let s as NogradStmt:
            let body = block(s.body, tail: tail)
            return { f in try Graph.detached { try body(f) } }
        default:
            // A statement kind added to the parser but not here fails loudly
            // where it runs, never compiles to nothing.
            let kind = String(describing: type(of: s)), range = s.range
            return { _ in throw Diagnostic(.runtime, "internal error: this build of Mnemo cannot run a \(kind) yet", at: range) }
        }
    }

    /// A condition: must be a bool.
    private func test(_ e: Expr, _ what: String) -> (Frame) throws -> Bool {
        let code = expression(e)
        let range = e.range
        return { f in
            let v = try code(f)
            if case .bool(let b) = v { return b }
            throw Diagnostic(.runtime, "the condition of '\(what)' must be true or false, got \(v.kindName)", at: range)
        }
    }

    private func forLoop(_ s: ForStmt) -> Exec {
        let store = declarationStore(s.target.pattern, s.target.bindings)
        let body = block(s.body, tail: false)
        let interpreter = self.interpreter
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
            let items = try sequence(f)
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

    private func functionDeclaration(_ s: FnStmt) -> Exec {
        let make = closureMaker(s.function)
        switch s.binding {
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

    // MARK: Storing

    /// Binds names declared by `let`, `var` or `for`.
    private func declarationStore(_ pattern: Pattern, _ bindings: [Binding]) -> Store {
        var next = 0
        func build(_ p: Pattern) -> Store {
            switch p {
            case .wildcard:
                return { _, _ in }
            case .name:
                let binding = bindings[next]
                next += 1
                switch binding {
                case .local(let v) where v.boxed:
                    return { f, value in f.slots[v.slot] = .cell(Box(value)) }
                case .local(let v):
                    return { f, value in f.slots[v.slot] = value }
                case let .global(g, i):
                    return { _, value in g.values[i] = value }
                default:
                    return { _, _ in }
                }
            case let .tuple(items, range):
                let stores = items.map(build)
                return { f, value in
                    let parts: [Value]
                    switch value {
                    case .tuple(let t): parts = t
                    case .list(let l): parts = l.items
                    default: throw Diagnostic(.runtime, "cannot destructure a \(value.kindName) into \(stores.count) names", at: range)
                    }
                    guard parts.count == stores.count else {
                        throw Diagnostic(.runtime, "cannot destructure \(parts.count) values into \(stores.count) names", at: range)
                    }
                    for (store, part) in zip(stores, parts) { try store(f, part) }
                }
            }
        }
        return build(pattern)
    }

    private func assignment(_ s: AssignStmt) -> Exec {
        let value = expression(s.value)
        let store = assignmentStore(s.target)
        if let op = s.op {
            let current = expression(s.target)
            let range = s.opRange
            return { f in
                let result: Value
                do { result = try Operators.binary(op, try current(f), try value(f)) }
                catch { throw locate(error, range) }
                try store(f, result)
                return .normal
            }
        }
        return { f in try store(f, try value(f)); return .normal }
    }

    /// Writes to an existing place: a variable, a field, or an element.
    private func assignmentStore(_ target: Expr) -> Store {
        let range = target.range
        switch target {
        case let name as NameExpr:
            switch name.binding {
            case .local(let v)?:
                if !v.mutable { return constantError(name.name, range) }
                if v.boxed {
                    return { f, value in
                        if case .cell(let b) = f.slots[v.slot] { b.value = value } else { f.slots[v.slot] = value }
                    }
                }
                return { f, value in f.slots[v.slot] = value }
            case .upvalue(let i)?:
                return { f, value in f.captures[i].value = value }
            case let .global(g, i)?:
                if !g.mutable[i] { return constantError(name.name, range) }
                return { _, value in g.values[i] = value }
            default:
                return constantError(name.name, range)
            }
        case let member as MemberExpr:
            let base = expression(member.base)
            let name = member.name
            return { f, value in
                do { try Operators.setMember(try base(f), name, value) }
                catch { throw locate(error, member.nameRange) }
            }
        case let index as IndexExpr:
            let base = expression(index.base)
            let items = indexItems(index.items)
            let writeBack = index.base is NameExpr || index.base is MemberExpr || index.base is IndexExpr
                ? assignmentStore(index.base) : nil
            return { f, value in
                let container = try base(f)
                let positions = try items(f)
                do {
                    switch container {
                    case .list(let l):
                        guard positions.count == 1, case .single(let v) = positions[0] else {
                            throw RuntimeError("a list element is assigned with one index")
                        }
                        let i = try Operators.integer(v, "a list index")
                        let j = i < 0 ? i + l.items.count : i
                        guard j >= 0, j < l.items.count else { throw RuntimeError("index \(i) is out of range for a list of length \(l.items.count)") }
                        l.items[j] = value
                    case .record(let r):
                        guard positions.count == 1, case .single(.string(let name)) = positions[0] else {
                            throw RuntimeError("a record is indexed by a field name string")
                        }
                        try Operators.setMember(.record(r), name, value)
                    case .tensor(let t):
                        guard let v = Operators.tensorOperand(value) else {
                            throw RuntimeError("cannot store a \(value.kindName) into a tensor")
                        }
                        if t.isParameter {
                            // A parameter's elements change in place, as assign() changes all of
                            // them: it stays the parameter its optimizer and model hold.
                            t.value = try Op.setIndex(Variable(t.value), try Operators.tensorSpecs(positions), Variable(v.value)).value
                            return
                        }
                        guard let writeBack else { throw RuntimeError("cannot assign into a temporary tensor") }
                        let updated = try Op.setIndex(t, try Operators.tensorSpecs(positions), v)
                        try writeBack(f, .tensor(updated))
                    default:
                        throw RuntimeError("cannot assign into a \(container.kindName)")
                    }
                } catch {
                    throw locate(error, range)
                }
            }
        default:
            return { _, _ in throw Diagnostic(.runtime, "cannot assign to this expression", at: range) }
        }
    }

    private func constantError(_ name: String, _ range: SourceRange) -> Store {
        { _, _ in throw Diagnostic(.runtime, "cannot assign to '\(name)': it is a constant", at: range) }
    }

    // MARK: Expressions

    func expression(_ e: Expr) -> Code {
        let range = e.range
        switch e {
        case let e as NumberExpr:
            let v = Value.number(e.value)
            return { _ in v }
        case let e as LiteralExpr:
            let v: Value = e.kind == .true ? .bool(true) : e.kind == .false ? .bool(false) : .nil
            return { _ in v }
        case let e as StringExpr:
            return string(e)
        case let e as NameExpr:
            return read(e)
        case let e as ListExpr:
            let items = e.items.map(expression)
            return { f in .list(ListBox(try items.map { try $0(f) })) }
        case let e as TupleExpr:
            let items = e.items.map(expression)
            return { f in .tuple(try items.map { try $0(f) }) }
        case let e as RecordExpr:
            let names = e.fields.map(\.name)
            let values = e.fields.map { expression($0.value) }
            return { f in .record(Record(names: names, values: try values.map { try $0(f) })) }
        case let e as UnaryExpr:
            let operand = expression(e.operand)
            if e.op == .not {
                return { f in
                    let v = try operand(f)
                    guard case .bool(let b) = v else { throw Diagnostic(.runtime, "'not' needs true or false, got \(v.kindName)", at: range) }
                    return .bool(!b)
                }
            }
            return { f in
                let v = try operand(f)
                if case .number(let d) = v { return .number(-d) }
                do { return try Operators.negate(v) } catch { throw locate(error, range) }
            }
        case let e as BinaryExpr:
            return binary(e)
        case let e as LogicalExpr:
            let left = expression(e.left), right = expression(e.right)
            let isAnd = e.isAnd
            let word = isAnd ? "and" : "or"
            return { f in
                let a = try left(f)
                guard case .bool(let x) = a else { throw Diagnostic(.runtime, "'\(word)' needs true or false, got \(a.kindName)", at: e.left.range) }
                if x != isAnd { return a }
                let b = try right(f)
                guard case .bool = b else { throw Diagnostic(.runtime, "'\(word)' needs true or false, got \(b.kindName)", at: e.right.range) }
                return b
            }
        case let e as RangeExpr:
            let lower = integer(e.lower, "a range bound"), upper = integer(e.upper, "a range bound")
            let inclusive = e.inclusive
            return { f in .range(try lower(f), try upper(f) + (inclusive ? 1 : 0)) }
        case let e as CallExpr:
            return call(e)
        case let e as IndexExpr:
            let base = expression(e.base)
            let items = indexItems(e.items)
            return { f in
                let b = try base(f)
                let positions = try items(f)
                do { return try Operators.index(b, positions) } catch { throw locate(error, range) }
            }
        case let e as MemberExpr:
            if let (g, i) = e.moduleSlot {
                return { _ in
                    let v = g.values[i]
                    if case .uninitialized = v { throw Diagnostic(.runtime, "'\(e.name)' is used before its definition", at: range) }
                    return v
                }
            }
            let base = expression(e.base)
            let name = e.name
            let interpreter = self.interpreter
            return { f in
                let b = try base(f)
                if case .record(let r) = b, let i = r.index(of: name) { return r.values[i] }
                do { return try Operators.member(b, name, interpreter) } catch { throw locate(error, e.nameRange) }
            }
        case let e as FunctionExpr:
            let make = closureMaker(e.function)
            return { f in .function(make(f)) }
        case let e as StatementExpr:
            let exec = statement(e.statement, tail: true)
            return { f in
                let saved = f.result
                f.result = .nil
                _ = try exec(f)
                let value = f.result
                f.result = saved
                return value
            }
        default:
            return { _ in throw Diagnostic(.runtime, "internal: cannot evaluate this expression", at: range) }
        }
    }

    private func read(_ e: NameExpr) -> Code {
        let range = e.range
        let name = e.name
        switch e.binding {
        case .local(let v)?:
            let slot = v.slot
            if v.boxed {
                return { f in
                    let s = f.slots[slot]
                    if case .cell(let b) = s { return b.value }
                    return s
                }
            }
            return { f in f.slots[slot] }
        case .upvalue(let i)?:
            return { f in f.captures[i].value }
        case let .global(g, i)?:
            return { _ in
                let v = g.values[i]
                if case .uninitialized = v { throw Diagnostic(.runtime, "'\(name)' is used before its definition", at: range) }
                return v
            }
        case .builtin(let b)?:
            let v = Value.builtin(b)
            return { _ in v }
        case .value(let v)?:
            return { _ in v }
        case nil:
            return { _ in throw Diagnostic(.runtime, "unknown name '\(name)'", at: range) }
        }
    }

    private func string(_ e: StringExpr) -> Code {
        let parts: [(String?, Code?)] = e.parts.map { part in
            switch part {
            case .text(let s): return (s, nil)
            case .expr(let x): return (nil, expression(x))
            }
        }
        if parts.count == 1, let text = parts[0].0 {
            let v = Value.string(text)
            return { _ in v }
        }
        return { f in
            var out = ""
            for (text, code) in parts {
                if let text { out += text } else if let code { out += Formatter.describe(try code(f)) }
            }
            return .string(out)
        }
    }

    private func binary(_ e: BinaryExpr) -> Code {
        let left = expression(e.left), right = expression(e.right)
        let range = e.opRange
        let op = e.op
        // Number arithmetic, the scalar loop's hot path, is inlined per operator.
        let interpreter = self.interpreter
        // Operators on tensors, checked for NaN when debug_nans is on.
        func general(_ a: Value, _ b: Value) throws -> Value {
            do {
                if Graph.debugNonFinite {
                    return try interpreter.checkingNonFinite(op.rawValue, range, inputs: [a, b]) { try Operators.binary(op, a, b) }
                }
                return try Operators.binary(op, a, b)
            } catch { throw locate(error, range) }
        }
        func numeric(_ f: @escaping (Double, Double) -> Value) -> Code {
            return { frame in
                let a = try left(frame), b = try right(frame)
                if case .number(let x) = a, case .number(let y) = b { return f(x, y) }
                return try general(a, b)
            }
        }
        switch op {
        case .add: return numeric { .number($0 + $1) }
        case .subtract: return numeric { .number($0 - $1) }
        case .multiply: return numeric { .number($0 * $1) }
        case .less: return numeric { .bool($0 < $1) }
        case .lessEqual: return numeric { .bool($0 <= $1) }
        case .greater: return numeric { .bool($0 > $1) }
        case .greaterEqual: return numeric { .bool($0 >= $1) }
        case .equal: return numeric { .bool($0 == $1) }
        case .notEqual: return numeric { .bool($0 != $1) }
        default:
            return { frame in try general(try left(frame), try right(frame)) }
        }
    }

    /// An expression that must be a whole number.
    private func integer(_ e: Expr, _ what: String) -> (Frame) throws -> Int {
        let code = expression(e)
        let range = e.range
        return { f in
            do { return try Operators.integer(try code(f), what) } catch { throw locate(error, range) }
        }
    }

    private func indexItems(_ items: [IndexItem]) -> (Frame) throws -> [Operators.IndexValue] {
        let compiled: [(Frame) throws -> Operators.IndexValue] = items.map { item in
            switch item {
            case .single(let e):
                let code = expression(e)
                return { f in .single(try code(f)) }
            case let .slice(a, b, c):
                let parts = [a, b, c].map { $0.map { integer($0, "a slice bound") } }
                return { f in .slice(try parts[0]?(f), try parts[1]?(f), try parts[2]?(f)) }
            }
        }
        if compiled.count == 1 {
            let only = compiled[0]
            return { f in [try only(f)] }
        }
        return { f in try compiled.map { try $0(f) } }
    }

    // MARK: Calls and closures

    private func call(_ e: CallExpr) -> Code {
        let args = e.arguments.map { expression($0.value) }
        let range = e.range
        let interpreter = self.interpreter
        // A call to a builtin named directly: map arguments to parameters now.
        if let name = e.callee as? NameExpr, case .builtin(let b)? = name.binding, let plan = argumentPlan(b, e.arguments) {
            let template = b.parameters.map { $0.defaultValue ?? .nil }
            let variadic = b.variadicIndex
            return { f in
                var values = template
                if let variadic {
                    var rest: [Value] = []
                    for (k, arg) in args.enumerated() {
                        let v = try arg(f)
                        if plan[k] == variadic { rest.append(v) } else { values[plan[k]] = v }
                    }
                    values[variadic] = .tuple(rest)
                } else {
                    for k in 0..<args.count { values[plan[k]] = try args[k](f) }
                }
                do {
                    if Graph.debugNonFinite {
                        return try interpreter.checkingNonFinite(b.name, range, inputs: values) {
                            try b.implementation(Arguments(values: values, builtin: b, interpreter: interpreter, callRange: range))
                        }
                    }
                    return try b.implementation(Arguments(values: values, builtin: b, interpreter: interpreter, callRange: range))
                } catch { throw locate(error, range) }
            }
        }
        let callee = expression(e.callee)
        let labels: [String?]? = e.arguments.contains { $0.label != nil } ? e.arguments.map(\.label) : nil
        return { f in
            let c = try callee(f)
            var values: [Value] = []
            values.reserveCapacity(args.count)
            for arg in args { values.append(try arg(f)) }
            return try interpreter.call(c, values, labels: labels, at: range)
        }
    }

    /// For each call-site argument, its parameter index (nil if the call is malformed;
    /// the resolver has reported it already).
    private func argumentPlan(_ b: Builtin, _ arguments: [Argument]) -> [Int]? {
        if b.labelCollectorIndex != nil { return nil }  // bound at the call, by Builtin.bind
        var plan: [Int] = []
        var position = 0
        let variadic = b.variadicIndex
        for arg in arguments {
            if let label = arg.label {
                guard let i = b.parameters.firstIndex(where: { $0.name == label && !$0.variadic }) else { return nil }
                plan.append(i)
            } else if let v = variadic, position >= v {
                plan.append(v)
            } else {
                guard position < b.parameters.count else { return nil }
                plan.append(position)
                position += 1
            }
        }
        let given = Set(plan)
        for (i, p) in b.parameters.enumerated() where p.defaultValue == nil && !p.variadic && !given.contains(i) { return nil }
        return plan
    }

    /// Compiles a function once; the result makes a closure each time the
    /// definition runs, capturing the cells it needs from the running frame.
    private func closureMaker(_ decl: FunctionDecl) -> (Frame) -> Closure {
        let compiled = CompiledFunction(
            name: decl.name,
            parameterNames: decl.parameters.map(\.name),
            defaults: decl.parameters.map { $0.defaultValue.map(expression) },
            boxedParameters: decl.boxedParameters,
            slotCount: decl.slotCount,
            captures: decl.captures,
            body: block(decl.body, tail: true),
            declaration: decl)
        let captures = decl.captures
        return { f in
            Closure(compiled, captures.map { c in
                if c.fromLocal {
                    if case .cell(let b) = f.slots[c.index] { return b }
                    let b = Box(f.slots[c.index])
                    f.slots[c.index] = .cell(b)
                    return b
                }
                return f.captures[c.index]
            })
        }
    }
}

/// Gives an error from a builtin or operator its place in the source.
func locate(_ error: Error, _ range: SourceRange) -> Error {
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
