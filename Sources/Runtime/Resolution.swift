import Syntax

/// What the resolver decided about one unit's syntax tree (a script, a REPL
/// input, a module), read by the compiler: where each name lives, the
/// module each import loaded and the slot of each member of a module. Kept
/// beside the tree, keyed by node, so that the tree holds no runtime types.
package final class Resolution {
    private var bindings: [ObjectIdentifier: Binding] = [:]
    private var patterns: [ObjectIdentifier: [Binding]] = [:]
    private var moduleSlots: [ObjectIdentifier: (Globals, Int)] = [:]
    private var modules: [ObjectIdentifier: Module] = [:]

    /// Where a name lives: a NameExpr's, or the one an FnStmt or ImportStmt declares.
    package subscript(binding node: AnyObject) -> Binding? {
        get { bindings[ObjectIdentifier(node)] }
        set { bindings[ObjectIdentifier(node)] = newValue }
    }

    /// Where each name of a `let` or `for` pattern lives, in the pattern's order.
    package subscript(pattern target: BindingPattern) -> [Binding] {
        get { patterns[ObjectIdentifier(target)] ?? [] }
        set { patterns[ObjectIdentifier(target)] = newValue }
    }

    /// For a member of a module (`nn.Linear`): the module's globals and the member's slot.
    package subscript(moduleSlot member: MemberExpr) -> (Globals, Int)? {
        get { moduleSlots[ObjectIdentifier(member)] }
        set { moduleSlots[ObjectIdentifier(member)] = newValue }
    }

    /// The module an import loaded (nil when loading it failed).
    package subscript(module s: ImportStmt) -> Module? {
        get { modules[ObjectIdentifier(s)] }
        set { modules[ObjectIdentifier(s)] = newValue }
    }
}

/// Where a name lives, decided by the resolver.
package enum Binding {
    /// A slot in the current function's frame.
    case local(LocalVariable)
    /// A captured variable of the enclosing closure.
    case upvalue(Int)
    /// A top-level name of a module (or of the REPL session).
    case global(Globals, Int)
    case builtin(Builtin)
    /// A constant the language provides (`builtins`).
    case value(Value)
}

/// A local variable as the resolver sees it. `boxed` becomes true when a
/// closure captures it; the compiler reads it after resolution is complete.
package final class LocalVariable {
    package let name: String
    package let slot: Int
    package let mutable: Bool
    package let range: SourceRange
    package var boxed = false
    /// Set when bound by `fn`, so calls can be checked.
    package var function: FunctionDecl?
    /// The fields of the record a `let` binds, when the resolver can tell
    /// (a record literal, or a call of a function that returns one), so that
    /// a misspelt field is reported before the script runs.
    package var fields: [String]?
    package init(name: String, slot: Int, mutable: Bool, range: SourceRange) {
        self.name = name; self.slot = slot; self.mutable = mutable; self.range = range
    }
}

