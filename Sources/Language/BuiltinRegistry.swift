import Foundation

/// All builtins by name, declared once each (see the Builtins*.swift files).
public final class BuiltinRegistry {
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

    func addFormerNames(_ pairs: [(former: String, name: String)]) {
        for (former, name) in pairs {
            guard let b = byName[name], byName[former] == nil else { continue }
            byName[former] = b
            formerNames[former] = name
        }
    }

    func add(_ builtins: [Builtin]) {
        for b in builtins {
            if byName[b.name] == nil { all.append(b) }
            byName[b.name] = b
        }
    }

    public static func standard() -> BuiltinRegistry {
        let r = BuiltinRegistry()
        // The core builtins work on numbers, strings and lists, not tensors.
        r.add(CoreBuiltins.all.map { b in
            if case .undeclared = b.gradients { return b.notDifferentiable("not a tensor operation") }
            return b
        })
        r.add(TensorBuiltins.all)
        r.add(GraphBuiltins.all)
        r.add(MemoryBuiltins.all)
        r.add(FigureBuiltins.all)
        r.add(CheckpointBuiltins.all)
        r.add(ProgressBuiltins.all)
        r.add(FileBuiltins.all)
        r.add(TrialBuiltins.all)
        r.addFormerNames([("leastused", "least_used"), ("lruaweights", "lrua_weights"), ("lruawrite", "lrua_write"),
                          ("zeroleastused", "zero_least_used"), ("onehot", "one_hot"), ("crossentropy", "cross_entropy")])
        return r
    }
}

/// The value of the name `builtins`: each builtin as a member.
public final class BuiltinNamespace: NativeObject {
    public static let name = "builtins"
    unowned let registry: BuiltinRegistry
    init(_ registry: BuiltinRegistry) { self.registry = registry }

    public var kindName: String { "builtins" }
    public var memberNames: [String] { registry.names }
    public var methodNames: [String] { registry.names }
    public var summary: String { "<builtins: \(registry.names.count) functions>" }
    public func member(_ name: String, _ interpreter: Interpreter) throws -> Value? { registry[name].map { .builtin($0) } }
}
