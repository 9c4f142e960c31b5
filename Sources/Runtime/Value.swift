import Graph
import Syntax
import Tensor

/// A Mnemo value. Numbers are doubles; tensors are float32 and carry their
/// place in the differentiable graph. Lists and records are shared references
/// (like Python's); tensors and tuples are values.
public enum Value {
    case `nil`
    case number(Double)
    case bool(Bool)
    case string(String)
    case tensor(Variable)
    case list(ListBox)
    case tuple([Value])
    case record(Record)
    case function(Closure)
    case builtin(Builtin)
    case module(Module)
    /// lower..<upper
    case range(Int, Int)
    case object(NativeObject)
    /// Internal: a captured variable's cell, kept in a frame slot. Never seen by scripts.
    case cell(Box)
    /// Internal: a global whose definition has not run yet.
    case uninitialized

    /// The kind as scripts name it (`type(x)`), used in error messages.
    public var kindName: String {
        switch self {
        case .nil: return "nil"
        case .number: return "number"
        case .bool: return "bool"
        case .string: return "string"
        case .tensor: return "tensor"
        case .list: return "list"
        case .tuple: return "tuple"
        case .record: return "record"
        case .function, .builtin: return "function"
        case .module: return "module"
        case .range: return "range"
        case .object(let o): return o.kindName
        case .cell(let b): return b.value.kindName
        case .uninitialized: return "undefined"
        }
    }
}

extension Value {
    /// Releases the values a list or record held without recursion: a list
    /// nested ten million deep (`l = [l]` in a loop) would otherwise free
    /// itself one nested call per level and overflow the stack. Containers
    /// only this one holds are emptied onto a work list instead, as the
    /// graph's nodes are (Node.deinit).
    package static func releaseIteratively(_ values: inout [Value]) {
        guard values.contains(where: { if case .list = $0 { return true }; if case .record = $0 { return true }; if case .tuple = $0 { return true }; return false }) else { return }
        var pending = values
        values = []
        while !pending.isEmpty {
            // The value is consumed into its payload, so the loop holds the only extra reference.
            switch Container(pending.removeLast()) {
            case .list(var list):
                if isKnownUniquelyReferenced(&list) { pending.append(contentsOf: list.items); list.items = [] }
            case .record(var record):
                if isKnownUniquelyReferenced(&record) { pending.append(contentsOf: record.values); record.values = [] }
            case .tuple(let items):
                pending.append(contentsOf: items)
            case .other:
                break
            }
        }
    }

    /// Empties every list, record and captured cell reachable from `values`,
    /// shared or not, and so breaks the cycles among them (a list appended
    /// to itself, a function that reads the name holding it), which
    /// reference counting alone never frees. Only for values nothing will
    /// read again: a finished interpreter's names.
    package static func releaseAll(_ values: [Value]) {
        var pending = values
        while let value = pending.popLast() {
            switch value {
            case .list(let list): pending.append(contentsOf: list.items); list.items = []
            case .record(let record): pending.append(contentsOf: record.values); record.values = record.values.map { _ in .nil }
            case .tuple(let items): pending.append(contentsOf: items)
            case .function(let closure):
                for box in closure.captures { pending.append(box.value); box.value = .uninitialized }
            case .cell(let box): pending.append(box.value); box.value = .uninitialized
            default: break
            }
        }
    }

    /// A value's container payload, taken out of the value.
    private enum Container {
        case list(ListBox), record(Record), tuple([Value]), other
        init(_ value: consuming Value) {
            switch consume value {
            case .list(let l): self = .list(l)
            case .record(let r): self = .record(r)
            case .tuple(let t): self = .tuple(t)
            default: self = .other
            }
        }
    }
}

public final class Box: ValueContainer {
    public var value: Value
    package let serial = Serial.next()
    public init(_ value: Value) { self.value = value; super.init() }
    override var asValue: Value { .cell(self) }
}

public final class ListBox: ValueContainer {
    public var items: [Value]
    package let serial = Serial.next()
    public init(_ items: [Value]) { self.items = items; super.init() }
    deinit { Value.releaseIteratively(&items) }
    override var asValue: Value { .list(self) }
}

/// A record: named fields in declaration order. Its set of fields is fixed at
/// creation, so a misspelt field in an assignment is an error, not a new field.
public final class Record: ValueContainer {
    public private(set) var names: [String]
    public var values: [Value]
    package let serial = Serial.next()

    public init(names: [String], values: [Value]) {
        self.names = names
        self.values = values
        super.init()
    }

    override var asValue: Value { .record(self) }

    @inline(__always)
    public func index(of name: String) -> Int? {
        for i in 0..<names.count where names[i] == name { return i }
        return nil
    }

    public subscript(name: String) -> Value? {
        index(of: name).map { values[$0] }
    }

    deinit { Value.releaseIteratively(&values) }
}
