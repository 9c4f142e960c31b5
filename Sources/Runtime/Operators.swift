import Foundation
import Graph
import Syntax
import Tensor

/// What operators, indexing, member access and iteration do to each kind of value.
package enum Operators {
    package static func tensorOperand(_ v: Value) -> Variable? {
        switch v {
        case .tensor(let t): return t
        case .number(let d): return Variable(Tensor(Float(d)))
        case .bool(let b): return Variable(Tensor(b ? 1 : 0))
        default: return nil
        }
    }

    package static func binary(_ op: BinaryOp, _ a: Value, _ b: Value) throws -> Value {
        switch (a, b) {
        case let (.number(x), .number(y)):
            return try numbers(op, x, y)
        case (.tensor, _), (_, .tensor):
            guard let x = tensorOperand(a), let y = tensorOperand(b) else { break }
            return .tensor(try tensors(op, x, y, a, b))
        case let (.string(x), .string(y)):
            switch op {
            case .add:
                try MemoryBudget.reserve(x.utf8.count + y.utf8.count, for: "a string of \(x.utf8.count + y.utf8.count) bytes")
                return .string(x + y)
            default: if let result = compare(op, x, y) { return result }
            }
        case let (.list(x), .list(y)) where op == .add:
            try reserveList(x.items.count + y.items.count)
            return .list(ListBox(x.items + y.items))
        case let (.list(x), .number(n)) where op == .multiply:
            guard let count = Arguments.exactInt(n), count >= 0, count.multipliedReportingOverflow(by: max(x.items.count, 1)).partialValue <= Tensor.maxElements else {
                throw RuntimeError("a list can be repeated a whole, non-negative, reasonable number of times, got \(Formatter.number(n))")
            }
            try reserveList(count * x.items.count)
            return .list(ListBox(Array([[Value]](repeating: x.items, count: count).joined())))
        case let (.tuple(x), .tuple(y)) where op == .add:
            return .tuple(x + y)
        default:
            break
        }
        if op == .equal { return .bool(equal(a, b)) }
        if op == .notEqual { return .bool(!equal(a, b)) }
        throw RuntimeError("cannot apply '\(op.rawValue)' to \(a.kindName) and \(b.kindName)")
    }

    /// A list of `count` items must fit the memory budget.
    package static func reserveList(_ count: Int) throws {
        try MemoryBudget.reserve(count * MemoryLayout<Value>.stride, for: "a list of \(count) items")
    }

    @inline(__always)
    package static func numbers(_ op: BinaryOp, _ x: Double, _ y: Double) throws -> Value {
        switch op {
        case .add: return .number(x + y)
        case .subtract: return .number(x - y)
        case .multiply: return .number(x * y)
        case .divide:
            if y == 0 { throw RuntimeError("division by zero") }
            return .number(x / y)
        case .modulo:
            if y == 0 { throw RuntimeError("modulo by zero") }
            let r = x.truncatingRemainder(dividingBy: y)
            return .number(r != 0 && (r < 0) != (y < 0) ? r + y : r)
        case .power: return .number(Foundation.pow(x, y))
        case .matmul: throw RuntimeError("'@' needs tensors, got two numbers")
        case .equal, .notEqual, .less, .lessEqual, .greater, .greaterEqual: return compare(op, x, y) ?? .nil
        }
    }

    /// The six comparisons, for numbers and strings alike; nil for another operator.
    @inline(__always)
    package static func compare<T: Comparable>(_ op: BinaryOp, _ x: T, _ y: T) -> Value? {
        switch op {
        case .equal: return .bool(x == y)
        case .notEqual: return .bool(x != y)
        case .less: return .bool(x < y)
        case .lessEqual: return .bool(x <= y)
        case .greater: return .bool(x > y)
        case .greaterEqual: return .bool(x >= y)
        default: return nil
        }
    }

    package static func tensors(_ op: BinaryOp, _ x: Variable, _ y: Variable, _ a: Value, _ b: Value) throws -> Variable {
        switch op {
        case .add: return try Op.add(x, y)
        case .subtract: return try Op.sub(x, y)
        case .multiply:
            if case .number(let s) = b { return Op.scale(x, Float(s)) }
            if case .number(let s) = a { return Op.scale(y, Float(s)) }
            return try Op.mul(x, y)
        case .divide: return try Op.div(x, y)
        case .power:
            if case .number(2) = b { return Op.square(x) }
            return try Op.pow(x, y)
        case .matmul: return try Op.matmul(x, y)
        case .modulo: throw RuntimeError("'%' is not defined for tensors")
        case .equal: return try Op.compare(x, y, .equal)
        case .notEqual: return try Op.compare(x, y, .notEqual)
        case .less: return try Op.compare(x, y, .less)
        case .lessEqual: return try Op.compare(x, y, .lessEqual)
        case .greater: return try Op.compare(x, y, .greater)
        case .greaterEqual: return try Op.compare(x, y, .greaterEqual)
        }
    }

    /// Structural equality of lists and tuples, identity of the rest. Walked
    /// with a work list rather than recursion, so that nesting takes no
    /// stack; a pair of lists already being compared is not expanded again,
    /// so lists that contain themselves compare as the infinite lists they
    /// print as (`l = [1]; l.append(l)` equals any other list built so).
    package static func equal(_ a: Value, _ b: Value) -> Bool {
        var pending = [(a, b)]
        var expanded = Set<PairOfLists>()
        while let (x, y) = pending.popLast() {
            switch (x, y) {
            case (.nil, .nil): continue
            case let (.number(x), .number(y)): if x != y { return false }
            case let (.bool(x), .bool(y)): if x != y { return false }
            case let (.string(x), .string(y)): if x != y { return false }
            case let (.list(x), .list(y)):
                if x === y || !expanded.insert(PairOfLists(x, y)).inserted { continue }
                guard x.items.count == y.items.count else { return false }
                for i in x.items.indices.reversed() { pending.append((x.items[i], y.items[i])) }
            case let (.tuple(x), .tuple(y)):
                guard x.count == y.count else { return false }
                for i in x.indices.reversed() { pending.append((x[i], y[i])) }
            case let (.record(x), .record(y)): if x !== y { return false }
            case let (.function(x), .function(y)): if x !== y { return false }
            case let (.builtin(x), .builtin(y)): if x !== y { return false }
            case let (.module(x), .module(y)): if x !== y { return false }
            case let (.range(a1, b1), .range(a2, b2)): if a1 != a2 || b1 != b2 { return false }
            case let (.object(x), .object(y)): if x !== y { return false }
            default: return false
            }
        }
        return true
    }

    private struct PairOfLists: Hashable {
        let first: ObjectIdentifier, second: ObjectIdentifier
        init(_ x: ListBox, _ y: ListBox) { first = ObjectIdentifier(x); second = ObjectIdentifier(y) }
    }

    package static func negate(_ v: Value) throws -> Value {
        switch v {
        case .number(let d): return .number(-d)
        case .tensor(let t): return .tensor(Op.neg(t))
        default: throw RuntimeError("cannot negate a \(v.kindName)")
        }
    }

    // MARK: Indexing

    package enum IndexValue {
        case single(Value)
        case slice(Int?, Int?, Int?)
    }

    package static func integer(_ v: Value, _ what: String) throws -> Int {
        guard case .number(let d) = v else { throw RuntimeError("\(what) must be a number, got \(v.kindName)") }
        guard let n = Arguments.exactInt(d) else { throw RuntimeError("\(what) must be a whole number, got \(Formatter.number(d))") }
        return n
    }

    package static func tensorSpecs(_ items: [IndexValue]) throws -> [Tensor.IndexSpec] {
        try items.map { item in
            switch item {
            case let .slice(a, b, c): return .range(a, b, c)
            case .single(.range(let lo, let hi)): return .range(lo, hi, 1)
            case .single(let v): return .at(try integer(v, "an index"))
            }
        }
    }

    package static func index(_ base: Value, _ items: [IndexValue]) throws -> Value {
        switch base {
        case .tensor(let t):
            // x[indices] with a list or tensor of indices picks rows.
            if items.count == 1, case .single(let v) = items[0] {
                switch v {
                case .tensor(let idx): return .tensor(try Op.gather(t, idx, axis: 0))
                case .list: return .tensor(try Op.gather(t, try Convert.tensor(v), axis: 0))
                default: break
                }
            }
            return .tensor(try Op.index(t, try tensorSpecs(items)))
        case .list(let l): return try sequenceIndex(l.items, items, "list") { .list(ListBox($0)) }
        case .tuple(let t): return try sequenceIndex(t, items, "tuple") { .tuple($0) }
        case .string(let s):
            return try sequenceIndex(s.map { .string(String($0)) }, items, "string") { parts in
                .string(parts.map { if case .string(let c) = $0 { return c } else { return "" } }.joined())
            }
        case .record(let r):
            guard items.count == 1, case .single(.string(let name)) = items[0] else {
                throw RuntimeError("a record is indexed by a field name string")
            }
            guard let v = r[name] else { throw RuntimeError("record has no field '\(name)'") }
            return v
        default:
            throw RuntimeError("cannot index a \(base.kindName)")
        }
    }

    private static func sequenceIndex(_ values: [Value], _ items: [IndexValue], _ kind: String, _ make: ([Value]) -> Value) throws -> Value {
        guard items.count == 1 else { throw RuntimeError("a \(kind) takes one index, got \(items.count)") }
        switch items[0] {
        case .single(.range(let lo, let hi)):
            let positions = Tensor.slicePositions(lo, hi, 1, values.count)
            return make(positions.map { values[$0] })
        case .single(let v):
            let i = try integer(v, "a \(kind) index")
            let j = i < 0 ? i + values.count : i
            guard j >= 0, j < values.count else { throw RuntimeError("index \(i) is out of range for a \(kind) of length \(values.count)") }
            return values[j]
        case let .slice(a, b, c):
            if c == 0 { throw RuntimeError("slice step cannot be zero") }
            return make(Tensor.slicePositions(a, b, c ?? 1, values.count).map { values[$0] })
        }
    }

    // MARK: Members

    package static func member(_ base: Value, _ name: String, _ interpreter: Interpreter) throws -> Value {
        switch base {
        case .record(let r):
            if let v = r[name] { return v }
            var message = "record has no field '\(name)'"
            if let s = Suggest.closest(to: name, among: r.names) { message += "; did you mean '\(s)'?" }
            throw RuntimeError(message)
        case .module(let m):
            if let v = m.globals.value(of: name) { return v }
            throw RuntimeError("module '\(m.name)' has no member '\(name)'")
        case .object(let o):
            if let method = o.methods[name] { return .builtin(method) }
            if let v = try o.member(name, interpreter) { return v }
            var message = "\(o.kindName) has no member '\(name)'"
            if let s = Suggest.closest(to: name, among: o.memberNames) { message += "; did you mean '\(s)'?" }
            throw RuntimeError(message)
        case .tensor(let t):
            switch name {
            case "shape": return .list(ListBox(t.shape.map { .number(Double($0)) }))
            case "rank": return .number(Double(t.value.rank))
            case "size": return .number(Double(t.value.count))
            case "T": return .tensor(try Op.permute(t, Tensor.swapLastTwo(rank: t.value.rank)))
            default: throw RuntimeError("a tensor has no member '\(name)' (it has shape, rank, size, T)")
            }
        case .list(let l):
            switch name {
            case "append":
                return .builtin(Builtin("append", "value", "Appends a value to this list.") { args in
                    l.items.append(try args["value"]); return .nil
                })
            case "pop":
                return .builtin(Builtin("pop", "", "Removes and returns the last item.") { _ in
                    guard let last = l.items.popLast() else { throw RuntimeError("pop from an empty list") }
                    return last
                })
            default: throw RuntimeError("a list has no member '\(name)' (it has append, pop)")
            }
        default:
            throw RuntimeError("a \(base.kindName) has no member '\(name)'")
        }
    }

    package static func setMember(_ base: Value, _ name: String, _ value: Value) throws {
        switch base {
        case .record(let r):
            guard let i = r.index(of: name) else {
                var message = "record has no field '\(name)'"
                if let s = Suggest.closest(to: name, among: r.names) { message += "; did you mean '\(s)'?" }
                throw RuntimeError(message)
            }
            r.values[i] = value
        case .object(let o):
            if try !o.setMember(name, value) { throw RuntimeError("cannot set '\(name)' of a \(o.kindName)") }
        default:
            throw RuntimeError("cannot set a field of a \(base.kindName)")
        }
    }

    // MARK: Iteration

    /// Calls `body` with each item; `body` returns false to stop.
    package static func iterate(_ v: Value, _ body: (Value) throws -> Bool) throws {
        switch v {
        case .range(let lo, let hi):
            // A range can be long enough to matter: Ctrl-C and the memory budget
            // are checked as it goes (list(0..<2**40) must not run to the end).
            var i = lo
            while i < hi {
                if try !body(.number(Double(i))) { return }
                i += 1
                if i & 0xffff == 0 {
                    if Interrupt.requested { throw RuntimeError("interrupted") }
                    try MemoryBudget.check(adding: 0, for: "the values this loop builds")
                }
            }
        case .list(let l):
            for item in l.items { if try !body(item) { return } }
        case .tuple(let t):
            for item in t { if try !body(item) { return } }
        case .string(let s):
            for c in s { if try !body(.string(String(c))) { return } }
        case .tensor(let t):
            guard t.value.rank > 0 else { throw RuntimeError("cannot iterate over a scalar tensor") }
            for i in 0..<t.shape[0] { if try !body(.tensor(try Op.index(t, [.at(i)]))) { return } }
        case .object(let o as IterableObject):
            try o.iterate(body)
        default:
            throw RuntimeError("cannot iterate over a \(v.kindName)")
        }
    }
}
