import Foundation
import Syntax

/// Builtins by name, each declared once (the standard library's in the
/// Builtins target: `BuiltinRegistry.standard()`).
public final class BuiltinRegistry {
    public init() {}

    public private(set) var all: [Builtin] = []
    private var byName: [String: Builtin] = [:]

    public subscript(name: String) -> Builtin? { byName[name] }
    /// Every builtin as a member of one value, `builtins`, reachable where a
    /// local name hides one (a parameter called `memory`: `builtins.memory(...)`).
    public private(set) lazy var namespace = BuiltinNamespace(self)
    public var names: [String] { all.map(\.name) }
    /// Names builtins had before names became snake_case (0.7), still
    /// accepted until 0.8: former name -> name. Completion offers the new
    /// names only; `:help` of a former name says which it became.
    public private(set) var formerNames: [String: String] = [:]

    public func addFormerNames(_ pairs: [(former: String, name: String)]) {
        for (former, name) in pairs {
            guard let b = byName[name], byName[former] == nil else { continue }
            byName[former] = b
            formerNames[former] = name
        }
    }

    public func add(_ builtins: [Builtin]) {
        for b in builtins {
            if byName[b.name] == nil { all.append(b) }
            byName[b.name] = b
        }
    }
}

/// The value of the name `builtins`: each builtin as a member.
public final class BuiltinNamespace: NativeObject {
    public static let name = "builtins"
    unowned let registry: BuiltinRegistry
    package init(_ registry: BuiltinRegistry) { self.registry = registry }

    public var kindName: String { "builtins" }
    public var memberNames: [String] { registry.names }
    public var methodNames: [String] { registry.names }
    public var summary: String { "<builtins: \(registry.names.count) functions>" }
    public func member(_ name: String, _ interpreter: Interpreter) throws -> Value? { registry[name].map { .builtin($0) } }
}
