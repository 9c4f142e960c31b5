import Graph
import Syntax
import Tensor

// Where names live at run time: closures with their captured cells, the
// top-level names of a module or session, and loaded modules.

/// A function written in Mnemo, compiled, with the cells it captured.
public final class Closure {
    package let function: CompiledFunction
    package let captures: [Box]
    package let serial = Serial.next()
    package init(_ function: CompiledFunction, _ captures: [Box]) {
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
    package var mutable: [Bool] = []
    /// Where each was declared, for "already defined" notes.
    package var declarations: [SourceRange?] = []
    /// For names bound by `fn` (constant), the declaration: calls are checked against it.
    package var functions: [Int: FunctionDecl] = [:]
    /// For constants bound to records of known fields (see LocalVariable.fields).
    package var fields: [Int: [String]] = [:]
    /// For names bound by `import`, the module.
    package var modules: [Int: Module] = [:]

    public init() {}

    public func index(of name: String) -> Int? { indexByName[name] }

    /// Drops every value and breaks the cycles among them (`Value.releaseAll`).
    package func releaseValues() {
        let held = values
        values = values.map { _ in .uninitialized }
        Value.releaseAll(held)
    }

    package func declare(_ name: String, mutable: Bool, at range: SourceRange?) -> Int {
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
    package struct Checkpoint {
        package let count: Int
        package let logStart: Int
    }

    /// Each redeclaration's previous state, oldest first.
    private var undoLog: [(index: Int, mutable: Bool, declaration: SourceRange?, function: FunctionDecl?, module: Module?, fields: [String]?)] = []

    package func checkpoint() -> Checkpoint {
        undoLog.removeAll(keepingCapacity: true)
        return Checkpoint(count: names.count, logStart: 0)
    }

    /// After an input failed: names it added that never got a value are
    /// hidden again (their slots stay, since compiled code may refer to them),
    /// and when nothing ran (`compiled == false`), redeclared names get back
    /// their old constness and declaration.
    package func restore(_ c: Checkpoint, compiled: Bool) {
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
    package var body: CompiledScript?
    package enum State { case loaded, running, done }
    package var state = State.loaded

    package init(name: String, path: String, globals: Globals) {
        self.name = name
        self.path = path
        self.globals = globals
    }

    /// The names the module defines, in order.
    public var memberNames: [String] { globals.names }
}
