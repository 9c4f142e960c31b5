import Graph
import Syntax
import Tensor

// The interpreter's own operations on tensors and objects while a compiled
// function is traced (`Tracer`): each becomes a step of the plan.
extension Compiler {
    /// A binary operator, recorded when it works on a tensor (or on a number read from one).
    static func binary(_ op: BinaryOp, _ a: Value, _ b: Value, at range: SourceRange, _ interpreter: Interpreter) throws -> Value {
        if Tracer.isTracing { return try tracedBinary(op, a, b, at: range, interpreter) }
        do {
            if Graph.debugNonFinite {
                return try interpreter.checkingNonFinite(op.rawValue, range, inputs: [a, b]) { try Operators.binary(op, a, b) }
            }
            return try Operators.binary(op, a, b)
        } catch { throw locate(error, range) }
    }

    @inline(never)
    private static func tracedBinary(_ op: BinaryOp, _ a: Value, _ b: Value, at range: SourceRange, _ interpreter: Interpreter) throws -> Value {
        func run() throws -> Value {
            if Graph.debugNonFinite {
                return try interpreter.checkingNonFinite(op.rawValue, range, inputs: [a, b]) { try Operators.binary(op, a, b) }
            }
            return try Operators.binary(op, a, b)
        }
        do {
            if let tracer = Tracer.current {
                tracer.use(a, b, at: range)
                if tracer.recording, tracer.tracks(a) || tracer.tracks(b),
                   let x = tracer.encode(a, range, for: op.rawValue), let y = tracer.encode(b, range, for: op.rawValue) {
                    return try tracer.operation(op.rawValue, .binary(op, x, y), at: range, readsValues: false, run)
                }
            }
            return try run()
        } catch { throw locate(error, range) }
    }

    /// Indexing: a tensor's is a step; a list's, tuple's or record's is the interpreter's.
    static func tracedIndex(_ tracer: Tracer, _ base: Value, _ positions: [Operators.IndexValue], at range: SourceRange) throws -> Value {
        do {
            for p in positions { if case .single(let v) = p { tracer.use(v, .nil, at: range) } }
            switch base {
            case .list(let l): tracer.readItems(l, at: range)
            case .record(let r):
                if positions.count == 1, case .single(.string(let name)) = positions[0], let i = r.index(of: name) { tracer.readField(r, i) }
            default: break
            }
            guard tracer.recording, case .tensor = base, let b = tracer.encode(base, range, for: "indexing") else {
                return try Operators.index(base, positions)
            }
            var items: [IndexTemplate] = []
            for p in positions {
                switch p {
                case .single(let v):
                    guard let t = tracer.encode(v, range, for: "indexing") else { return try Operators.index(base, positions) }
                    items.append(.single(t))
                case let .slice(a, b, c): items.append(.slice(a, b, c))
                }
            }
            return try tracer.operation("index", .index(b, items), at: range, readsValues: false) { try Operators.index(base, positions) }
        } catch { throw locate(error, range) }
    }

    /// A member of an object (a method, or state that may change) or a
    /// tensor's transpose is a step; a tensor's shape is fixed by the
    /// arguments' kind; a list's `append` or `pop` on a list a step made
    /// would not be repeated.
    static func tracedMember(_ tracer: Tracer, _ base: Value, _ name: String, at range: SourceRange, _ interpreter: Interpreter) throws -> Value {
        do {
            if tracer.recording {
                // An object's every member, and a tensor's transpose (its shape is part of the kind).
                var isStep = false
                if case .object = base { isStep = true }
                if case .tensor = base, name == "T" { isStep = true }
                if isStep, let b = tracer.encode(base, range, for: name) {
                    return try tracer.operation("." + name, .member(b, name), at: range, readsValues: false) { try Operators.member(base, name, interpreter) }
                }
                switch base {
                case .list(let l) where l.serial > tracer.start && tracer.isReplayed(base):
                    tracer.changes("a list that a builtin made (with '\(name)')", at: range)
                default: break
                }
            }
            return try Operators.member(base, name, interpreter)
        } catch { throw locate(error, range) }
    }

    /// A tensor's rows for a `for` loop, each an index step.
    static func tracedRows(_ tracer: Tracer, _ sequence: Value, at range: SourceRange) throws -> Value {
        guard case .tensor(let t) = sequence, t.value.rank > 0, let base = tracer.encode(sequence, range, for: "a for loop") else { return sequence }
        var rows: [Value] = []
        for i in 0..<t.shape[0] {
            let position = Operators.IndexValue.single(.number(Double(i)))
            rows.append(try tracer.operation("index", .index(base, [.single(.constant(.number(Double(i))))]), at: range, readsValues: false) {
                try Operators.index(sequence, [position])
            })
        }
        return .list(ListBox(rows))
    }
}
