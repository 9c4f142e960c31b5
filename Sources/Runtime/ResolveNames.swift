import Syntax

// Names, expressions and the calls the resolver can check before running.
extension Resolver {
    // MARK: Names

    package func lookup(_ name: String, _ range: SourceRange) -> Binding? {
        for table in current.scopes.reversed() { if let v = table[name] { return .local(v) } }
        if let i = capture(name, in: current) { return .upvalue(i) }
        if let i = globals.index(of: name) {
            if current.decl == nil && !isDefined(i) {
                if let b = builtins[name] { return .builtin(b) }
                error("'\(name)' is used before its definition", range)
                return nil
            }
            return .global(globals, i)
        }
        if let b = builtins[name] { return .builtin(b) }
        if name == BuiltinNamespace.name { return .value(.object(builtins.namespace)) }
        var message = "unknown name '\(name)'"
        if let suggestion = Suggest.closest(to: name, among: visibleNames()) { message += "; did you mean '\(suggestion)'?" }
        error(message, range)
        return nil
    }

    /// Finds `name` in an enclosing function and threads it through each closure in between.
    package func capture(_ name: String, in scope: FunctionScope) -> Int? {
        guard let enclosing = scope.enclosing else { return nil }
        var found: Capture?
        for table in enclosing.scopes.reversed() {
            if let v = table[name] { v.boxed = true; found = Capture(fromLocal: true, index: v.slot); break }
        }
        if found == nil, let i = capture(name, in: enclosing) { found = Capture(fromLocal: false, index: i) }
        guard let c = found else { return nil }
        let key = "\(c.fromLocal ? "L" : "U")\(c.index)"
        if let existing = scope.captureByKey[key] { return existing }
        scope.captures.append(c)
        scope.captureByKey[key] = scope.captures.count - 1
        return scope.captures.count - 1
    }

    package func visibleNames() -> [String] {
        var names: [String] = []
        var scope: FunctionScope? = current
        while let s = scope {
            for table in s.scopes { names += table.keys }
            scope = s.enclosing
        }
        return names + globals.visibleNames + builtins.names
    }

    // MARK: Expressions

    package func expression(_ e: Expr) {
        switch e.kind {
        case .number, .literal:
            break
        case .string(let e):
            for case .expr(let x) in e.parts { expression(x) }
        case .name(let e):
            resolved[binding: e] = lookup(e.name, e.range)
        case .list(let e): e.items.forEach(expression)
        case .tuple(let e): e.items.forEach(expression)
        case .record(let e): e.fields.forEach { expression($0.value) }
        case .unary(let e): expression(e.operand)
        case .binary(let e): expression(e.left); expression(e.right)
        case .logical(let e): expression(e.left); expression(e.right)
        case .range(let e): expression(e.lower); expression(e.upper)
        case .call(let e):
            expression(e.callee)
            e.arguments.forEach { expression($0.value) }
            checkCall(e)
        case .index(let e):
            expression(e.base)
            indexItems(e.items)
        case .member(let e):
            expression(e.base)
            if let base = e.base as? NameExpr, let binding = resolved[binding: base] {
                var known: [String]?
                switch binding {
                case .local(let v): known = v.fields
                case let .global(g, i): known = g.fields[i]
                default: break
                }
                if let known, !known.contains(e.name) {
                    var message = "'\(base.name)' has no field '\(e.name)'"
                    if let s = Suggest.closest(to: e.name, among: known) { message += "; did you mean '\(s)'?" }
                    error(message, e.nameRange, notes: ["its fields: " + known.joined(separator: ", ")])
                }
            }
            if let base = e.base as? NameExpr, case let .global(g, i)? = resolved[binding: base], let module = g.modules[i] {
                if let j = module.globals.index(of: e.name) {
                    resolved[moduleSlot: e] = (module.globals, j)
                } else {
                    var message = "module '\(module.name)' has no member '\(e.name)'"
                    if let s = Suggest.closest(to: e.name, among: module.memberNames) { message += "; did you mean '\(s)'?" }
                    error(message, e.nameRange)
                }
            }
        case .function(let e):
            function(e.function)
        case .statement(let e):
            current.valueIfDepth += 1
            let savedFloor = current.valueIfLoopFloor
            current.valueIfLoopFloor = current.loops
            statement(e.statement)
            current.valueIfLoopFloor = savedFloor
            current.valueIfDepth -= 1
        }
    }

    package func indexItems(_ items: [IndexItem]) {
        for item in items {
            switch item {
            case .single(let x): expression(x)
            case let .slice(a, b, c): [a, b, c].compactMap { $0 }.forEach(expression)
            }
        }
    }

    // MARK: Calls to functions known at this point

    /// The signature of a callee known before the script runs: a builtin, or a function bound by `fn` or imported.
    package func signature(of callee: Expr) -> Signature? {
        if let member = callee as? MemberExpr, let (g, i) = resolved[moduleSlot: member], let f = g.functions[i] {
            return Signature(function: f)
        }
        guard let name = callee as? NameExpr, let binding = resolved[binding: name] else { return nil }
        switch binding {
        case .builtin(let b): return b.signature
        case .local(let v) where !v.mutable: return v.function.map(Signature.init(function:))
        case let .global(g, i) where !g.mutable[i]: return g.functions[i].map(Signature.init(function:))
        default: return nil
        }
    }

    /// Reports a call whose arguments do not fit its callee's signature, at the argument concerned.
    package func checkCall(_ call: CallExpr) {
        guard let signature = signature(of: call.callee) else { return }
        do {
            _ = try signature.bind(labels: call.arguments.map(\.label))
        } catch let mismatch as Signature.Mismatch {
            let range = mismatch.argument.map { call.arguments[$0].labelRange ?? call.arguments[$0].value.range } ?? call.range
            error(mismatch.message, range)
        } catch {
            self.error("\(error)", call.range)
        }
    }
}
