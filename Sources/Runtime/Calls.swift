import Dispatch
import Foundation
import Graph
import Syntax
import Tensor

/// Calling a Mnemo function or a builtin: arguments bound by the callee's
/// signature, a frame per call, the depth and the stack guarded.
extension Interpreter {
    /// Calls a function value with positional and (optionally) labelled arguments.
    /// `site` keeps a call site's binding between calls (see `CallSite`).
    public func call(_ callee: Value, _ args: [Value], labels: [String?]? = nil, at range: SourceRange? = nil) throws -> Value {
        try call(callee, args, labels: labels, at: range, site: nil)
    }

    package func call(_ callee: Value, _ args: [Value], labels: [String?]?, at range: SourceRange?, site: CallSite?) throws -> Value {
        switch callee {
        case .function(let c):
            return try invoke(c, args, labels: labels, at: range, site: site)
        case .builtin(let b):
            do {
                let values = try b.bind(args, labels: labels)
                if Tracer.isTracing, let tracer = Tracer.current {
                    return try tracer.call(b, callee: callee, values, at: range) { try run(b, values, range) }
                }
                if Graph.debugNonFinite, let range {
                    return try checkingNonFinite(b.name, range, inputs: values) {
                        try b.implementation(Arguments(values: values, builtin: b, interpreter: self, callRange: range))
                    }
                }
                return try b.implementation(Arguments(values: values, builtin: b, interpreter: self, callRange: range))
            } catch {
                guard let range else { throw error }
                throw locate(error, range)
            }
        case .object(let o as CallableObject):
            return try o.call(args, labels: labels, at: range, self)
        default:
            let error = RuntimeError("cannot call a \(callee.kindName)")
            guard let range else { throw error }
            throw locate(error, range)
        }
    }

    /// Runs a builtin on arguments in parameter order.
    package func run(_ b: Builtin, _ values: [Value], _ range: SourceRange?) throws -> Value {
        if Graph.debugNonFinite, let range {
            return try checkingNonFinite(b.name, range, inputs: values) {
                try b.implementation(Arguments(values: values, builtin: b, interpreter: self, callRange: range))
            }
        }
        return try b.implementation(Arguments(values: values, builtin: b, interpreter: self, callRange: range))
    }

    private func invoke(_ c: Closure, _ args: [Value], labels: [String?]?, at range: SourceRange?, site: CallSite?) throws -> Value {
        let fn = c.function
        callDepth += 1
        defer { callDepth -= 1 }
        func fail(_ message: String) -> Error {
            guard let range else { return RuntimeError(message) }
            return Diagnostic(.runtime, message, at: range)
        }
        if callDepth > Interpreter.maxCallDepth {
            throw fail("recursion too deep: more than \(Interpreter.maxCallDepth) nested calls (in '\(fn.name)')")
        }
        // The call count is not the stack: deep bodies use more per call.
        if !StackGuard.hasMargin {
            throw fail("recursion too deep: the stack is nearly exhausted (in '\(fn.name)')")
        }
        if let range { try loopCheck(at: range) }
        let frame = Frame(slotCount: fn.slotCount, captures: c.captures)
        let n = fn.parameterNames.count
        if labels == nil && args.count == n {
            for i in 0..<n { frame.slots[i] = args[i] }
        } else {
            // A call site binds once for the function it calls (its labels
            // and count do not change), and again only if the function does.
            let binding: CallSite.Binding
            if let site, let known = site.binding, known.function === fn {
                binding = known
            } else {
                do { binding = CallSite.Binding(fn, try fn.signature.bind(labels: labels ?? [String?](repeating: nil, count: args.count))) }
                catch let mismatch as Signature.Mismatch { throw fail(mismatch.message) }
                site?.binding = binding
            }
            for (arg, i) in zip(args, binding.positions) { frame.slots[i] = arg }
            // Left out: optional (bind checked that every required one is given), so it has a default.
            for i in binding.defaulted {
                guard let d = fn.defaults[i] else { throw fail("missing argument '\(fn.parameterNames[i])' in call to \(fn.signature)") }
                frame.slots[i] = try d(frame)
            }
        }
        for i in fn.boxedParameters { frame.slots[i] = .cell(Box(frame.slots[i])) }
        do {
            _ = try fn.body(frame)
        } catch var d as Diagnostic {
            if let range { d.addFrame("in '\(fn.name)' called at \(range.position)") }
            throw d
        }
        return frame.result
    }
}

/// One call expression's binding of its arguments, kept between calls:
/// its labels and count are fixed, so the binding depends only on the
/// function called, which a call site in a loop nearly always repeats.
package final class CallSite {
    package struct Binding {
        package let function: CompiledFunction
        /// The parameter each argument goes to, in order.
        package let positions: [Int]
        /// The parameters left to their defaults.
        package let defaulted: [Int]

        package init(_ function: CompiledFunction, _ slots: [Signature.Slot]) {
            self.function = function
            // A Mnemo function's parameters are all plain (no `*` or `**`).
            positions = slots.map { if case .parameter(let i) = $0 { return i } else { return 0 } }
            let given = Set(positions)
            defaulted = (0..<function.parameterNames.count).filter { !given.contains($0) }
        }
    }
    package var binding: Binding?
    package init() {}
}

