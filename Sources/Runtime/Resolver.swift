import Syntax

/// Binds every name to where it lives (a frame slot, a captured cell, a
/// global, a builtin) and reports, before anything runs, the mistakes that can
/// be seen statically: unknown names (with a suggestion), wrong arity or
/// labels in calls to known functions, assignment to constants, misplaced
/// `break`/`return`, unknown module members. A typo must not surface after a
/// ten-minute training loop.
package final class Resolver {
    package final class FunctionScope {
        package let decl: FunctionDecl?
        package let enclosing: FunctionScope?
        package var scopes: [[String: LocalVariable]] = [[:]]
        package var nextSlot = 0
        package var captures: [Capture] = []
        package var captureByKey: [String: Int] = [:]
        package var loops = 0
        /// Inside an `if` used as a value: jumps out of it are not allowed.
        package var valueIfDepth = 0
        package var valueIfLoopFloor = 0
        package init(decl: FunctionDecl?, enclosing: FunctionScope?) { self.decl = decl; self.enclosing = enclosing }
    }

    package let globals: Globals
    package let builtins: BuiltinRegistry
    package let loader: ModuleLoader
    package let file: SourceFile
    /// The REPL may redefine a name; a script may not.
    package let allowRedefinition: Bool
    package var current: FunctionScope
    /// Globals given a value by this script so far.
    package var definedGlobals = Set<Int>()
    package private(set) var diagnostics: [Diagnostic] = []
    /// What it decides, for the compiler.
    package let resolved = Resolution()

    package init(globals: Globals, builtins: BuiltinRegistry, loader: ModuleLoader, file: SourceFile, allowRedefinition: Bool) {
        self.globals = globals
        self.builtins = builtins
        self.loader = loader
        self.file = file
        self.allowRedefinition = allowRedefinition
        self.current = FunctionScope(decl: nil, enclosing: nil)
    }

    /// A global that has a value already (from an earlier REPL input), or is
    /// defined above in this script. (Asked per use, not collected up front,
    /// so that a REPL input costs what it uses, however many names exist.)
    package func isDefined(_ i: Int) -> Bool {
        if definedGlobals.contains(i) { return true }
        if i < globals.values.count, case .uninitialized = globals.values[i] { return false }
        return i < globals.values.count
    }

    /// Resolves a whole script; returns the number of frame slots its top level needs.
    package func resolveScript(_ statements: [Stmt]) -> Int {
        predeclare(statements)
        for s in statements { statement(s) }
        return current.nextSlot
    }

    package func error(_ message: String, _ range: SourceRange, notes: [String] = []) {
        diagnostics.append(Diagnostic(.compile, message, at: range, notes: notes))
    }

    package var atTopLevel: Bool { current.decl == nil && current.enclosing == nil && current.scopes.count == 1 }

    /// Top-level names are known before the code runs, so functions may refer to
    /// functions defined further down.
    package func predeclare(_ statements: [Stmt]) {
        var seen: [String: SourceRange] = [:]
        func declare(_ name: String, _ range: SourceRange, mutable: Bool) {
            if let first = seen[name], !allowRedefinition {
                let line = first.file.location(of: first.start).line
                error("'\(name)' is already defined", range, notes: ["first defined at line \(line)"])
                return
            }
            seen[name] = range
            _ = globals.declare(name, mutable: mutable, at: range)
        }
        for s in statements {
            switch s.kind {
            case .letStmt(let s): for (name, r) in names(in: s.target.pattern) { declare(name, r, mutable: s.mutable) }
            case .fnStmt(let s): declare(s.function.name, s.nameRange, mutable: false)
            case .importStmt(let s): declare(s.alias, s.nameRange, mutable: false)
            default: break
            }
        }
    }

    package func names(in pattern: Pattern) -> [(String, SourceRange)] {
        switch pattern {
        case let .name(n, r): return [(n, r)]
        case .wildcard: return []
        case .tuple(let items, _): return items.flatMap(names)
        }
    }

    // MARK: Declarations

    package func declareLocal(_ name: String, _ range: SourceRange, mutable: Bool) -> LocalVariable {
        if let existing = current.scopes[current.scopes.count - 1][name] {
            let line = existing.range.file.location(of: existing.range.start).line
            error("'\(name)' is already defined in this scope", range, notes: ["first defined at line \(line)"])
        }
        let v = LocalVariable(name: name, slot: current.nextSlot, mutable: mutable, range: range)
        current.nextSlot += 1
        current.scopes[current.scopes.count - 1][name] = v
        return v
    }

    /// Declares a name where the statement stands: a global at the top level, else a local.
    package func declare(_ name: String, _ range: SourceRange, mutable: Bool) -> Binding {
        if atTopLevel, let i = globals.index(of: name) {
            definedGlobals.insert(i)
            return .global(globals, i)
        }
        return .local(declareLocal(name, range, mutable: mutable))
    }

    package func bind(_ target: BindingPattern, mutable: Bool) {
        resolved[pattern: target] = names(in: target.pattern).map { declare($0.0, $0.1, mutable: mutable) }
    }

    package func withScope(_ body: () -> Void) {
        current.scopes.append([:])
        body()
        current.scopes.removeLast()
    }

    // MARK: Statements

    package func statement(_ s: Stmt) {
        switch s.kind {
        case .letStmt(let s):
            if let v = s.value { expression(v) }
            bind(s.target, mutable: s.mutable)
            if !s.mutable, let f = s.value as? FunctionExpr, resolved[pattern: s.target].count == 1 {
                remember(function: f.function, for: resolved[pattern: s.target][0])
            }
            if !s.mutable, resolved[pattern: s.target].count == 1, let value = s.value, let fields = recordFields(of: value) {
                switch resolved[pattern: s.target][0] {
                case .local(let v): v.fields = fields
                case let .global(g, i): g.fields[i] = fields
                default: break
                }
            }
        case .fnStmt(let s):
            let binding = declare(s.function.name, s.nameRange, mutable: false)
            resolved[binding: s] = binding
            remember(function: s.function, for: binding)
            function(s.function)
        case .exprStmt(let s):
            expression(s.expr)
        case .assignStmt(let s):
            expression(s.value)
            assignmentTarget(s.target)
        case .returnStmt(let s):
            if current.decl == nil { error("'return' outside a function", s.range) }
            else if current.valueIfDepth > 0 { error("'return' inside an if used as a value", s.range) }
            if let v = s.value { expression(v) }
        case .ifStmt(let s):
            expression(s.condition)
            withScope { s.then.forEach(statement) }
            if let other = s.otherwise { withScope { other.forEach(statement) } }
        case .whileStmt(let s):
            expression(s.condition)
            loop { withScope { s.body.forEach(statement) } }
        case .forStmt(let s):
            expression(s.sequence)
            loop {
                withScope {
                    resolved[pattern: s.target] = names(in: s.target.pattern).map { .local(declareLocal($0.0, $0.1, mutable: false)) }
                    s.body.forEach(statement)
                }
            }
        case .jumpStmt(let s):
            let word = s.isBreak ? "break" : "continue"
            if current.loops == 0 { error("'\(word)' outside a loop", s.range) }
            else if current.valueIfDepth > 0 && current.loops <= current.valueIfLoopFloor {
                error("'\(word)' inside an if used as a value", s.range)
            }
        case .assertStmt(let s):
            expression(s.condition)
            if let m = s.message { expression(m) }
        case .importStmt(let s):
            guard atTopLevel else { error("'import' must be at the top level of a file", s.range); return }
            do {
                let module = try loader.load(s.module, from: file, at: s.range)
                resolved[module: s] = module
                let binding = declare(s.alias, s.nameRange, mutable: false)
                resolved[binding: s] = binding
                if case let .global(g, i) = binding { g.modules[i] = module }
            } catch let d as Diagnostic {
                diagnostics.append(d)
            } catch let e as CompileErrors {
                diagnostics += e.diagnostics
            } catch {
                self.error("cannot import '\(s.module)': \(error)", s.range)
            }
            // The name exists even when its module failed, so that its uses
            // are not reported again as unknown or used too early.
            if resolved[binding: s] == nil { resolved[binding: s] = declare(s.alias, s.nameRange, mutable: false) }
        case .nogradStmt(let s):
            withScope { s.body.forEach(statement) }
        }
    }

    package func loop(_ body: () -> Void) {
        current.loops += 1
        body()
        current.loops -= 1
    }

    /// The fields of the record an expression makes, when that is certain: a
    /// record literal, or a call of a known function whose body ends in one
    /// and has no `return` (a constructor such as ntm.NTM).
    package func recordFields(of e: Expr) -> [String]? {
        if let r = e as? RecordExpr { return r.fields.map(\.name) }
        guard let call = e as? CallExpr else { return nil }
        let decl: FunctionDecl?
        if let member = call.callee as? MemberExpr, let (g, i) = resolved[moduleSlot: member] { decl = g.functions[i] }
        else if let name = call.callee as? NameExpr, let binding = resolved[binding: name] {
            switch binding {
            case .local(let v) where !v.mutable: decl = v.function
            case let .global(g, i) where !g.mutable[i]: decl = g.functions[i]
            default: decl = nil
            }
        } else { decl = nil }
        guard let decl, let last = decl.body.last as? ExprStmt, let record = last.expr as? RecordExpr,
              !decl.body.contains(where: containsReturn) else { return nil }
        return record.fields.map(\.name)
    }

    /// Whether a statement (outside nested functions) can return early.
    package func containsReturn(_ s: Stmt) -> Bool {
        switch s.kind {
        case .returnStmt: return true
        case .ifStmt(let s): return s.then.contains(where: containsReturn) || (s.otherwise?.contains(where: containsReturn) ?? false)
        case .whileStmt(let s): return s.body.contains(where: containsReturn)
        case .forStmt(let s): return s.body.contains(where: containsReturn)
        case .nogradStmt(let s): return s.body.contains(where: containsReturn)
        case .exprStmt(let s): return (s.expr as? StatementExpr).map { containsReturn($0.statement) } ?? false
        case .letStmt(let s): return (s.value as? StatementExpr).map { containsReturn($0.statement) } ?? false
        // A nested function's return is its own; the others hold no statements.
        case .fnStmt, .assignStmt, .jumpStmt, .assertStmt, .importStmt: return false
        }
    }

    package func remember(function decl: FunctionDecl, for binding: Binding) {
        switch binding {
        case .local(let v): v.function = decl
        case let .global(g, i): g.functions[i] = decl
        default: break
        }
    }

    package func assignmentTarget(_ target: Expr) {
        switch target.kind {
        case .name(let name):
            guard let binding = lookup(name.name, name.range) else { return }
            resolved[binding: name] = binding
            switch binding {
            case .local(let v) where !v.mutable:
                error("cannot assign to '\(name.name)': it is a constant", name.range,
                      notes: ["declared at line \(v.range.file.location(of: v.range.start).line); use 'var' to make it assignable"])
            case .upvalue:
                if let v = findCaptured(name.name), !v.mutable {
                    error("cannot assign to '\(name.name)': it is a constant", name.range)
                }
            case let .global(g, i) where !g.mutable[i]:
                error("cannot assign to '\(name.name)': it is a constant", name.range,
                      notes: g.modules[i] != nil || g.functions[i] != nil ? [] : ["use 'var' to make it assignable"])
            case .builtin, .value:
                error("cannot assign to the builtin '\(name.name)'", name.range)
            default: break
            }
        case .member(let member):
            expression(member)
        case .index(let index):
            // The base is resolved as a read: lists change in place, and a tensor
            // written back to a constant is reported when it happens.
            expression(index.base)
            indexItems(index.items)
        default:
            error("cannot assign to this expression", target.range)
        }
    }

    package func findCaptured(_ name: String) -> LocalVariable? {
        var scope = current.enclosing
        while let s = scope {
            for table in s.scopes.reversed() { if let v = table[name] { return v } }
            scope = s.enclosing
        }
        return nil
    }

    // MARK: Functions

    package func function(_ decl: FunctionDecl) {
        let scope = FunctionScope(decl: decl, enclosing: current)
        current = scope
        for p in decl.parameters {
            if let d = p.defaultValue { expression(d) }
            _ = declareLocal(p.name, p.range, mutable: true)
        }
        withScope { decl.body.forEach(statement) }
        decl.slotCount = scope.nextSlot
        decl.captures = scope.captures
        decl.boxedParameters = decl.parameters.indices.filter { i in scope.scopes[0][decl.parameters[i].name]?.boxed == true }
        current = scope.enclosing!
    }
}

/// "Did you mean": the closest name by edit distance, if close enough.
package enum Suggest {
    package static func closest(to name: String, among candidates: [String]) -> String? {
        // A one- or two-letter name is one edit from too many others to guess.
        let limit = name.count < 3 ? 0 : max(1, name.count / 3)
        var best: (String, Int)? = nil
        for c in Set(candidates) where c != name && !c.hasPrefix("<") {
            let d = distance(name.lowercased(), c.lowercased())
            if d <= limit, best == nil || d < best!.1 || (d == best!.1 && c < best!.0) { best = (c, d) }
        }
        return best?.0
    }

    /// Edits between two names, a swap of neighbouring letters counting as one
    /// (the commonest typo: `rnu` for `run`).
    package static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var twoBack = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var row = [i] + [Int](repeating: 0, count: b.count)
            for j in 1...b.count {
                row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { row[j] = min(row[j], twoBack[j - 2] + 1) }
            }
            twoBack = previous
            previous = row
        }
        return previous[b.count]
    }
}
