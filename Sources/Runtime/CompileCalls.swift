import Graph
import Syntax
import Tensor

// Calls (with argument plans for builtins named directly) and closures.
extension Compiler {
    // MARK: Calls and closures

    package func call(_ e: CallExpr) -> Code {
        let args = e.arguments.map { expression($0.value) }
        let range = e.range
        unowned(unsafe) let interpreter = self.interpreter
        // A call to a builtin named directly: bind arguments to parameters now
        // (a call that does not bind was reported by the resolver).
        if let name = e.callee as? NameExpr, case .builtin(let b)? = resolved[binding: name],
           let slots = try? b.signature.bind(labels: e.arguments.map(\.label)) {
            let defaults = b.defaults, signature = b.signature
            // The usual case, every argument to a parameter: placed straight into the defaults.
            let positions: [Int]? = signature.variadicIndex == nil && signature.collectorIndex == nil
                ? slots.compactMap { if case .parameter(let i) = $0 { return i } else { return nil } } : nil
            return { f in
                var values: [Value]
                if let positions {
                    values = defaults
                    for k in 0..<args.count { values[positions[k]] = try args[k](f) }
                } else {
                    var given: [Value] = []
                    given.reserveCapacity(args.count)
                    for arg in args { given.append(try arg(f)) }
                    values = signature.arrange(given, slots, over: defaults)
                }
                do {
                    if Tracer.isTracing, let tracer = Tracer.current {
                        return try tracer.call(b, callee: .builtin(b), values, at: range) { try interpreter.run(b, values, range) }
                    }
                    if Graph.debugNonFinite {
                        return try interpreter.checkingNonFinite(b.name, range, inputs: values) {
                            try b.implementation(Arguments(values: values, builtin: b, interpreter: interpreter, callRange: range))
                        }
                    }
                    return try b.implementation(Arguments(values: values, builtin: b, interpreter: interpreter, callRange: range))
                } catch { throw locate(error, range) }
            }
        }
        let site = CallSite()
        let callee = expression(e.callee)
        let labels: [String?]? = e.arguments.contains { $0.label != nil } ? e.arguments.map(\.label) : nil
        return { f in
            let c = try callee(f)
            var values: [Value] = []
            values.reserveCapacity(args.count)
            for arg in args { values.append(try arg(f)) }
            return try interpreter.call(c, values, labels: labels, at: range, site: site)
        }
    }

    /// Compiles a function once; the result makes a closure each time the
    /// definition runs, capturing the cells it needs from the running frame.
    package func closureMaker(_ decl: FunctionDecl) -> (Frame) -> Closure {
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
