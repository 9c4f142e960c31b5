import Graph
import Syntax
import Tensor

// Stores (declarations, assignments) and expressions, compiled to closures.
extension Compiler {
    // MARK: Storing

    /// Binds names declared by `let`, `var` or `for`.
    package func declarationStore(_ pattern: Pattern, _ bindings: [Binding]) -> Store {
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

    package func assignment(_ s: AssignStmt) -> Exec {
        let value = expression(s.value)
        let store = assignmentStore(s.target)
        if let op = s.op {
            let current = expression(s.target)
            let range = s.opRange
            return { f in
                let result = try Compiler.binary(op, try current(f), try value(f), at: range, interpreter)
                try store(f, result)
                return .normal
            }
        }
        return { f in try store(f, try value(f)); return .normal }
    }

    /// Writes to an existing place: a variable, a field, or an element.
    package func assignmentStore(_ target: Expr) -> Store {
        let range = target.range
        switch target.kind {
        case .name(let name):
            switch resolved[binding: name] {
            case .local(let v)?:
                if !v.mutable { return constantError(name.name, range) }
                if v.boxed {
                    return { f, value in
                        if case .cell(let b) = f.slots[v.slot] { b.value = value } else { f.slots[v.slot] = value }
                    }
                }
                return { f, value in f.slots[v.slot] = value }
            case .upvalue(let i)?:
                let what = "'\(name.name)', a variable outside it"
                let trace = Tracer.state
                return { f, value in
                    if trace.isTracing, let tracer = trace.current, tracer.isOlder(f.captures[i]) { tracer.changes(what, at: range) }
                    f.captures[i].value = value
                }
            case let .global(g, i)?:
                if !g.mutable[i] { return constantError(name.name, range) }
                let what = "'\(name.name)', a variable outside it"
                let trace = Tracer.state
                return { _, value in
                    if trace.isTracing { trace.current?.changes(what, at: range) }
                    g.values[i] = value
                }
            default:
                return constantError(name.name, range)
            }
        case .member(let member):
            let base = expression(member.base)
            let name = member.name
            return { f, value in
                let b = try base(f)
                if Tracer.isTracing, let tracer = Tracer.current, tracer.isReplayed(b) || { if case .object = b { return true }; return false }() {
                    tracer.changes("the field '\(name)' of a \(b.kindName) it did not make", at: member.nameRange)
                }
                do { try Operators.setMember(b, name, value) }
                catch { throw locate(error, member.nameRange) }
            }
        case .index(let index):
            let base = expression(index.base)
            let items = indexItems(index.items)
            let writeBack = index.base is NameExpr || index.base is MemberExpr || index.base is IndexExpr
                ? assignmentStore(index.base) : nil
            return { f, value in
                let container = try base(f)
                let positions = try items(f)
                if Tracer.isTracing, let tracer = Tracer.current, tracer.isReplayed(container) || { if case .tensor = container { return true }; return false }() {
                    tracer.changes("an element of a \(container.kindName) it did not make", at: range)
                }
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

    package func constantError(_ name: String, _ range: SourceRange) -> Store {
        { _, _ in throw Diagnostic(.runtime, "cannot assign to '\(name)': it is a constant", at: range) }
    }

    // MARK: Expressions

    package func expression(_ e: Expr) -> Code {
        let range = e.range
        switch e.kind {
        case .number(let e):
            let v = Value.number(e.value)
            return { _ in v }
        case .literal(let e):
            let v: Value = e.literal == .true ? .bool(true) : e.literal == .false ? .bool(false) : .nil
            return { _ in v }
        case .string(let e):
            return string(e)
        case .name(let e):
            return read(e)
        case .list(let e):
            let items = e.items.map(expression)
            return { f in .list(ListBox(try items.map { try $0(f) })) }
        case .tuple(let e):
            let items = e.items.map(expression)
            return { f in .tuple(try items.map { try $0(f) }) }
        case .record(let e):
            let names = e.fields.map(\.name)
            let values = e.fields.map { expression($0.value) }
            return { f in .record(Record(names: names, values: try values.map { try $0(f) })) }
        case .unary(let e):
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
                if Tracer.isTracing, let tracer = Tracer.current {
                    tracer.use(v, .nil, at: range)
                    if tracer.recording, tracer.tracks(v), let a = tracer.encode(v, range, for: "-") {
                        do { return try tracer.operation("-", .negate(a), at: range, readsValues: false) { try Operators.negate(v) } }
                        catch { throw locate(error, range) }
                    }
                }
                if case .number(let d) = v { return .number(-d) }
                do { return try Operators.negate(v) } catch { throw locate(error, range) }
            }
        case .binary(let e):
            return binary(e)
        case .logical(let e):
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
        case .range(let e):
            let lower = integer(e.lower, "a range bound"), upper = integer(e.upper, "a range bound")
            let inclusive = e.inclusive
            return { f in .range(try lower(f), try upper(f) + (inclusive ? 1 : 0)) }
        case .call(let e):
            return call(e)
        case .index(let e):
            let base = expression(e.base)
            let items = indexItems(e.items)
            return { f in
                let b = try base(f)
                let positions = try items(f)
                if Tracer.isTracing, let tracer = Tracer.current { return try Compiler.tracedIndex(tracer, b, positions, at: range) }
                do { return try Operators.index(b, positions) } catch { throw locate(error, range) }
            }
        case .member(let e):
            let trace = Tracer.state
            if let (g, i) = resolved[moduleSlot: e] {
                return { _ in
                    let v = g.values[i]
                    if case .uninitialized = v { throw Diagnostic(.runtime, "'\(e.name)' is used before its definition", at: range) }
                    if trace.isTracing { trace.current?.readGlobal(g, i, v, e.name) }
                    return v
                }
            }
            let base = expression(e.base)
            let name = e.name
            unowned(unsafe) let interpreter = self.interpreter
            return { f in
                let b = try base(f)
                if case .record(let r) = b, let i = r.index(of: name) {
                    if trace.isTracing { trace.current?.readField(r, i) }
                    return r.values[i]
                }
                if Tracer.isTracing, let tracer = Tracer.current { return try Compiler.tracedMember(tracer, b, name, at: e.nameRange, interpreter) }
                do { return try Operators.member(b, name, interpreter) } catch { throw locate(error, e.nameRange) }
            }
        case .function(let e):
            let make = closureMaker(e.function)
            return { f in .function(make(f)) }
        case .statement(let e):
            let exec = statement(e.statement, tail: true)
            return { f in
                let saved = f.result
                f.result = .nil
                _ = try exec(f)
                let value = f.result
                f.result = saved
                return value
            }
        }
    }

    package func read(_ e: NameExpr) -> Code {
        let range = e.range
        let name = e.name
        switch resolved[binding: e] {
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
            let trace = Tracer.state
            return { f in
                if trace.isTracing { trace.current?.readBox(f.captures[i], name) }
                return f.captures[i].value
            }
        case let .global(g, i)?:
            let trace = Tracer.state
            return { _ in
                let v = g.values[i]
                if case .uninitialized = v { throw Diagnostic(.runtime, "'\(name)' is used before its definition", at: range) }
                if trace.isTracing { trace.current?.readGlobal(g, i, v, name) }
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

    package func string(_ e: StringExpr) -> Code {
        let range = e.range
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
                if let text { out += text } else if let code {
                    let v = try code(f)
                    if Tracer.isTracing { Tracer.current?.describes(v, at: range) }
                    out += Formatter.describe(v)
                }
            }
            return .string(out)
        }
    }

    package func binary(_ e: BinaryExpr) -> Code {
        let left = expression(e.left), right = expression(e.right)
        let range = e.opRange
        let op = e.op
        // Number arithmetic, the scalar loop's hot path, is inlined per operator.
        unowned(unsafe) let interpreter = self.interpreter
        // Operators on tensors, checked for NaN when debug_nans is on.
        func general(_ a: Value, _ b: Value) throws -> Value {
            try Compiler.binary(op, a, b, at: range, interpreter)
        }
        let trace = Tracer.state
        func numeric(_ f: @escaping (Double, Double) -> Value) -> Code {
            return { frame in
                let a = try left(frame), b = try right(frame)
                if case .number(let x) = a, case .number(let y) = b {
                    if trace.numbersRead { trace.current?.use(x, y, at: range) }
                    return f(x, y)
                }
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
    package func integer(_ e: Expr, _ what: String) -> (Frame) throws -> Int {
        let code = expression(e)
        let range = e.range
        let trace = Tracer.state
        return { f in
            let v = try code(f)
            if trace.numbersRead { trace.current?.use(v, .nil, at: range) }
            do { return try Operators.integer(v, what) } catch { throw locate(error, range) }
        }
    }

    package func indexItems(_ items: [IndexItem]) -> (Frame) throws -> [Operators.IndexValue] {
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
}
