import Graph
import Tensor

// Calls (with argument plans for builtins named directly) and closures.
extension Compiler {
    // MARK: Calls and closures

    func call(_ e: CallExpr) -> Code {
        let args = e.arguments.map { expression($0.value) }
        let range = e.range
        let interpreter = self.interpreter
        // A call to a builtin named directly: map arguments to parameters now.
        if let name = e.callee as? NameExpr, case .builtin(let b)? = name.binding, let plan = argumentPlan(b, e.arguments) {
            let template = b.parameters.map { $0.defaultValue ?? .nil }
            let variadic = b.variadicIndex
            return { f in
                var values = template
                if let variadic {
                    var rest: [Value] = []
                    for (k, arg) in args.enumerated() {
                        let v = try arg(f)
                        if plan[k] == variadic { rest.append(v) } else { values[plan[k]] = v }
                    }
                    values[variadic] = .tuple(rest)
                } else {
                    for k in 0..<args.count { values[plan[k]] = try args[k](f) }
                }
                do {
                    if Graph.debugNonFinite {
                        return try interpreter.checkingNonFinite(b.name, range, inputs: values) {
                            try b.implementation(Arguments(values: values, builtin: b, interpreter: interpreter, callRange: range))
                        }
                    }
                    return try b.implementation(Arguments(values: values, builtin: b, interpreter: interpreter, callRange: range))
                } catch { throw locate(error, range) }
            }
        }
        let callee = expression(e.callee)
        let labels: [String?]? = e.arguments.contains { $0.label != nil } ? e.arguments.map(\.label) : nil
        return { f in
            let c = try callee(f)
            var values: [Value] = []
            values.reserveCapacity(args.count)
            for arg in args { values.append(try arg(f)) }
            return try interpreter.call(c, values, labels: labels, at: range)
        }
    }

    /// For each call-site argument, its parameter index (nil if the call is malformed;
    /// the resolver has reported it already).
    func argumentPlan(_ b: Builtin, _ arguments: [Argument]) -> [Int]? {
        if b.labelCollectorIndex != nil { return nil }  // bound at the call, by Builtin.bind
        var plan: [Int] = []
        var position = 0
        let variadic = b.variadicIndex
        for arg in arguments {
            if let label = arg.label {
                guard let i = b.parameters.firstIndex(where: { $0.name == label && !$0.variadic }) else { return nil }
                plan.append(i)
            } else if let v = variadic, position >= v {
                plan.append(v)
            } else {
                guard position < b.parameters.count else { return nil }
                plan.append(position)
                position += 1
            }
        }
        let given = Set(plan)
        for (i, p) in b.parameters.enumerated() where p.defaultValue == nil && !p.variadic && !given.contains(i) { return nil }
        return plan
    }

    /// Compiles a function once; the result makes a closure each time the
    /// definition runs, capturing the cells it needs from the running frame.
    func closureMaker(_ decl: FunctionDecl) -> (Frame) -> Closure {
        let compiled = CompiledFunction(
            name: decl.name,
            parameterNames: decl.parameters.map(\.name),
            defaults: decl.parameters.map { $0.defaultValue.map(expression) },
            boxedParameters: decl.boxedParameters,
            slotCount: decl.slotCount,
            captures: decl.captures,
            body: block(decl.body, tail: true),
            declaration: decl)
        let captures = decl.captures
        return { f in
            Closure(compiled, captures.map { c in
                if c.fromLocal {
                    if case .cell(let b) = f.slots[c.index] { return b }
                    let b = Box(f.slots[c.index])
                    f.slots[c.index] = .cell(b)
                    return b
                }
                return f.captures[c.index]
            })
        }
    }
}
