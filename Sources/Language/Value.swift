import Graph
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
    static func releaseIteratively(_ values: inout [Value]) {
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

public final class Box {
    public var value: Value
    public init(_ value: Value) { self.value = value }
}

public final class ListBox {
    public var items: [Value]
    public init(_ items: [Value]) { self.items = items }
    deinit { Value.releaseIteratively(&items) }
}

/// A record: named fields in declaration order. Its set of fields is fixed at
/// creation, so a misspelt field in an assignment is an error, not a new field.
public final class Record {
    public private(set) var names: [String]
    public var values: [Value]

    public init(names: [String], values: [Value]) {
        self.names = names
        self.values = values
    }

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

/// Host objects with members: optimizers, memories and heads.
public protocol NativeObject: AnyObject {
    var kindName: String { get }
    var memberNames: [String] { get }
    /// The members that are methods (completion adds "(" to these).
    var methodNames: [String] { get }
    func member(_ name: String, _ interpreter: Interpreter) throws -> Value?
    func setMember(_ name: String, _ value: Value) throws -> Bool
    /// Values inside it that may hold parameters (for `params`).
    var children: [Value] { get }
    var summary: String { get }
    /// What `print` shows, when more than the summary (a figure draws itself).
    var display: String? { get }
}

extension NativeObject {
    public func setMember(_ name: String, _ value: Value) throws -> Bool { false }
    public var children: [Value] { [] }
    public var methodNames: [String] { [] }
    public var display: String? { nil }
}

/// A host object's methods, made once per object: a method called in a
/// training loop should not build its builtin (and parse its signature) on
/// every step.
struct Methods {
    private let byName: [String: Builtin]
    let names: [String]

    init(_ list: [Builtin]) {
        byName = Dictionary(uniqueKeysWithValues: list.map { ($0.name, $0) })
        names = list.map(\.name)
    }

    subscript(name: String) -> Builtin? { byName[name] }
}

/// A function written in Mnemo, compiled, with the cells it captured.
public final class Closure {
    let function: CompiledFunction
    let captures: [Box]
    init(_ function: CompiledFunction, _ captures: [Box]) {
        self.function = function
        self.captures = captures
    }
    public var name: String { function.name }
    public var capturedValues: [Value] { captures.map(\.value) }
}

/// The top-level names of a module, or of a REPL session.
public final class Globals {
    public private(set) var names: [String] = []
    private var indexByName: [String: Int] = [:]
    public var values: [Value] = []
    var mutable: [Bool] = []
    /// Where each was declared, for "already defined" notes.
    var declarations: [SourceRange?] = []
    /// For names bound by `fn` (constant), the declaration: calls are checked against it.
    var functions: [Int: FunctionDecl] = [:]
    /// For constants bound to records of known fields (see LocalVariable.fields).
    var fields: [Int: [String]] = [:]
    /// For names bound by `import`, the module.
    var modules: [Int: Module] = [:]

    public init() {}

    public func index(of name: String) -> Int? { indexByName[name] }

    func declare(_ name: String, mutable: Bool, at range: SourceRange?) -> Int {
        if let i = indexByName[name] {
            undoLog.append((i, self.mutable[i], declarations[i], functions[i], modules[i], fields[i]))
            self.mutable[i] = mutable
            declarations[i] = range
            functions[i] = nil
            modules[i] = nil
            fields[i] = nil
            return i
        }
        indexByName[name] = names.count
        names.append(name)
        values.append(.uninitialized)
        self.mutable.append(mutable)
        declarations.append(range)
        return names.count - 1
    }

    public func value(of name: String) -> Value? {
        guard let i = indexByName[name] else { return nil }
        if case .uninitialized = values[i] { return nil }
        return values[i]
    }

    /// Names that lookups find, in declaration order (a REPL input that failed
    /// may leave a hidden slot behind; see `restore`).
    public var visibleNames: [String] {
        names.indices.filter { indexByName[names[$0]] == $0 }.map { names[$0] }
    }

    /// Defines or replaces a mutable name from the host (the REPL's `_`).
    public func set(_ name: String, _ value: Value) {
        let i = declare(name, mutable: true, at: nil)
        values[i] = value
    }

    /// What `restore` needs to undo the declarations of one REPL input: the
    /// count of names before it, and where its entries in the undo log begin
    /// (a log of redeclared slots, so that an input costs what it declares,
    /// not a copy of every name: a long paste stays linear).
    struct Checkpoint {
        let count: Int
        let logStart: Int
    }

    /// Each redeclaration's previous state, oldest first.
    private var undoLog: [(index: Int, mutable: Bool, declaration: SourceRange?, function: FunctionDecl?, module: Module?, fields: [String]?)] = []

    func checkpoint() -> Checkpoint {
        undoLog.removeAll(keepingCapacity: true)
        return Checkpoint(count: names.count, logStart: 0)
    }

    /// After an input failed: names it added that never got a value are
    /// hidden again (their slots stay, since compiled code may refer to them),
    /// and when nothing ran (`compiled == false`), redeclared names get back
    /// their old constness and declaration.
    func restore(_ c: Checkpoint, compiled: Bool) {
        for i in c.count..<names.count where indexByName[names[i]] == i {
            if case .uninitialized = values[i] { indexByName[names[i]] = nil }
        }
        guard !compiled else { return }
        for entry in undoLog[c.logStart...].reversed() where entry.index < c.count {
            mutable[entry.index] = entry.mutable
            declarations[entry.index] = entry.declaration
            functions[entry.index] = entry.function
            modules[entry.index] = entry.module
            fields[entry.index] = entry.fields
        }
    }
}

/// A loaded `.mn` file used through `import`: its names, and its compiled body,
/// run once on first import.
public final class Module {
    public let name: String
    public let path: String
    public let globals: Globals
    var body: CompiledScript?
    enum State { case loaded, running, done }
    var state = State.loaded

    init(name: String, path: String, globals: Globals) {
        self.name = name
        self.path = path
        self.globals = globals
    }

    /// The names the module defines, in order.
    public var memberNames: [String] { globals.names }
}
