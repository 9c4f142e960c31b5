// Names, expressions and the calls the resolver can check before running.
extension Resolver {
    // MARK: Names

    func lookup(_ name: String, _ range: SourceRange) -> Binding? {
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
    func capture(_ name: String, in scope: FunctionScope) -> Int? {
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

    func visibleNames() -> [String] {
        var names: [String] = []
        var scope: FunctionScope? = current
        while let s = scope {
            for table in s.scopes { names += table.keys }
            scope = s.enclosing
        }
        return names + globals.visibleNames + builtins.names
    }

    // MARK: Expressions

    func expression(_ e: Expr) {
        switch e.kind {
        case .number, .literal:
            break
        case .string(let e):
            for case .expr(let x) in e.parts { expression(x) }
        case .name(let e):
            e.binding = lookup(e.name, e.range)
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
            if let base = e.base as? NameExpr, let binding = base.binding {
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
            if let base = e.base as? NameExpr, case let .global(g, i)? = base.binding, let module = g.modules[i] {
                if let j = module.globals.index(of: e.name) {
                    e.moduleSlot = (module.globals, j)
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

    func indexItems(_ items: [IndexItem]) {
        for item in items {
            switch item {
            case .single(let x): expression(x)
            case let .slice(a, b, c): [a, b, c].compactMap { $0 }.forEach(expression)
            }
        }
    }

    // MARK: Calls to functions known at this point

    struct Signature {
        let name: String
        let parameters: [(name: String, required: Bool, variadic: Bool)]
    }

    func signature(of callee: Expr) -> Signature? {
        if let member = callee as? MemberExpr, let (g, i) = member.moduleSlot, let f = g.functions[i] {
            return Signature(name: "\(f.name)", parameters: f.parameters.map { ($0.name, $0.defaultValue == nil, false) })
        }
        guard let name = callee as? NameExpr, let binding = name.binding else { return nil }
        switch binding {
        case .builtin(let b):
            if b.labelCollectorIndex != nil { return nil }  // any label is taken
            return Signature(name: b.name, parameters: b.parameters.map { ($0.name, $0.defaultValue == nil && !$0.variadic, $0.variadic) })
        case .local(let v) where !v.mutable:
            return v.function.map { f in Signature(name: f.name, parameters: f.parameters.map { ($0.name, $0.defaultValue == nil, false) }) }
        case let .global(g, i) where !g.mutable[i]:
            return g.functions[i].map { f in Signature(name: f.name, parameters: f.parameters.map { ($0.name, $0.defaultValue == nil, false) }) }
        default:
            return nil
        }
    }

    func checkCall(_ call: CallExpr) {
        guard let sig = signature(of: call.callee) else { return }
        let names = sig.parameters.map(\.name)
        var filled = Set<String>()
        var position = 0
        let variadic = sig.parameters.firstIndex { $0.variadic }
        for arg in call.arguments {
            if let label = arg.label {
                guard names.contains(label), sig.parameters.first(where: { $0.name == label })?.variadic == false else {
                    var message = "'\(sig.name)' has no parameter named '\(label)'"
                    if let s = Suggest.closest(to: label, among: names) { message += "; did you mean '\(s)'?" }
                    error(message, arg.labelRange ?? arg.value.range)
                    return
                }
                if filled.contains(label) { error("argument '\(label)' is given twice", arg.labelRange ?? arg.value.range); return }
                filled.insert(label)
            } else {
                if let v = variadic, position >= v { continue }
                guard position < sig.parameters.count else {
                    error("too many arguments to '\(sig.name)': it takes \(sig.parameters.count), got \(call.arguments.count)", arg.value.range)
                    return
                }
                filled.insert(names[position])
                position += 1
            }
        }
        let missing = sig.parameters.filter { $0.required && !filled.contains($0.name) }.map(\.name)
        if !missing.isEmpty {
            let list = missing.map { "'\($0)'" }.joined(separator: ", ")
            error("missing argument\(missing.count > 1 ? "s" : "") \(list) in call to '\(sig.name)'", call.range)
        }
    }
}
