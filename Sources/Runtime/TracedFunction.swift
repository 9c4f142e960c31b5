import Graph
import Syntax
import Tensor

/// An object a script calls like a function.
package protocol CallableObject: NativeObject {
    func call(_ args: [Value], labels: [String?]?, at range: SourceRange?, _ interpreter: Interpreter) throws -> Value
}

/// `compile(f)`: a function traced once per kind of arguments (tensor shapes,
/// and the numbers, strings and structure of the rest, like `jax.jit`) and
/// replayed after. A kind whose trace was refused runs uncompiled, with one
/// note saying why; at most `maxPlans` kinds are kept, the least recently
/// used dropped first.
package final class TracedFunction: CallableObject {
    package let function: Closure
    let maxPlans: Int
    /// Plans by argument kind, most recently used last; nil: runs uncompiled.
    /// Each keeps the objects and functions its key names by identity alive,
    /// so that another one made later cannot take the same address (and key).
    private var plans: [(key: String, plan: TracePlan?, named: [AnyObject], kernels: KernelRun?)] = []
    package private(set) var traces = 0, replays = 0, uncompiledCalls = 0
    /// Why the last refused kind could not be compiled, and where.
    package private(set) var lastRefusal: String?
    private var notedChange = false

    /// Whether kernel plans time their kernels (`compile(f, profile: true)`).
    let profile: Bool
    /// The threads its calls use (`compile(f, threads: n)`); nil: the global setting.
    let threads: Int?

    package init(_ function: Closure, maxPlans: Int, profile: Bool = false, threads: Int? = nil) {
        self.function = function
        self.maxPlans = maxPlans
        self.profile = profile
        self.threads = threads
    }

    package var kindName: String { "compiled function" }
    package var memberNames: [String] { ["traces", "replays", "uncompiled", "plans", "kernel_plans"] }
    package var summary: String { "<compiled function \(function.name): \(plans.count) plan\(plans.count == 1 ? "" : "s"), \(traces) traced, \(replays) replayed>" }

    package func member(_ name: String, _ interpreter: Interpreter) throws -> Value? {
        switch name {
        case "traces": return .number(Double(traces))
        case "replays": return .number(Double(replays))
        case "uncompiled": return .number(Double(uncompiledCalls))
        case "plans": return .number(Double(plans.filter { $0.plan != nil }.count))
        case "kernel_plans": return .number(Double(plans.filter { $0.kernels != nil }.count))
        default: return nil
        }
    }

    /// The kept plans, for `graph(f)` and the REPL's `:graph f`.
    package var plansText: String {
        if plans.isEmpty { return "no plan yet: a compiled function is traced at its first call" }
        return plans.map { entry in entry.plan?.summary ?? "arguments \(entry.key): runs uncompiled (\(lastRefusal ?? "refused"))" }.joined(separator: "\n")
    }

    package func call(_ args: [Value], labels: [String?]?, at range: SourceRange?, _ interpreter: Interpreter) throws -> Value {
        guard let threads else { return try callWithThreads(args, labels: labels, at: range, interpreter) }
        let saved = Parallel.threads
        Parallel.threads = threads
        defer { Parallel.threads = saved }
        return try callWithThreads(args, labels: labels, at: range, interpreter)
    }

    private func callWithThreads(_ args: [Value], labels: [String?]?, at range: SourceRange?, _ interpreter: Interpreter) throws -> Value {
        // Inside another trace, or with arguments too large to key, it is plain code.
        guard !Tracer.isTracing, let (key, named) = TracedFunction.key(args, labels) else {
            return try interpreter.call(.function(function), args, labels: labels, at: range)
        }
        if let i = plans.firstIndex(where: { $0.key == key }) {
            let entry = plans.remove(at: i)
            plans.append(entry)
            guard let plan = entry.plan else {
                uncompiledCalls += 1
                return try interpreter.call(.function(function), args, labels: labels, at: range)
            }
            // Something it read from outside changed: this plan no longer describes it.
            if let changed = plan.changedRead {
                plans.removeLast()
                if !notedChange {
                    notedChange = true
                    interpreter.warn("note: '\(function.name)' is traced again: \(changed.what), read from outside it, has changed since it was traced (pass what changes as an argument)")
                }
                return try trace(args, labels: labels, key: key, named: named, at: range, interpreter)
            }
            replays += 1
            if let kernels = entry.kernels, !Graph.debugNonFinite, !kernels.plan.readsStateWithGraph {
                // A kernel's error (a class index out of range) names the call; debug_nans names the op.
                do { return try kernels.run(args) } catch let error where !(error is Diagnostic) {
                    guard let range else { throw error }
                    throw locate(error, range)
                }
            }
            return try plan.run(.tuple(args), interpreter)
        }
        return try trace(args, labels: labels, key: key, named: named, at: range, interpreter)
    }

    private func trace(_ args: [Value], labels: [String?]?, key: String, named: [AnyObject], at range: SourceRange?, _ interpreter: Interpreter) throws -> Value {
        let tracer = Tracer(arguments: .tuple(args))
        // The tensor work is recorded too, as a kernel plan when every step has kernels.
        let recorder = PlanRecorder(arguments: KernelRun.tensors(in: args), startSerial: Serial.last + 1)
        Graph.planRecorder = recorder
        let value: Value
        do {
            defer { Graph.planRecorder = nil }
            value = try tracer.recording { try interpreter.call(.function(function), args, labels: labels, at: range) }
        }
        traces += 1
        var plan: TracePlan?
        var kernels: KernelRun?
        if tracer.refusal == nil, let result = tracer.result(value, at: range) {
            plan = TracePlan(entries: tracer.entries, guards: tracer.guards, slotCount: tracer.slotCount, result: result, signature: key)
            plan?.heldAtBackward = tracer.heldAtBackward
            kernels = KernelRun(tracer, recorder, result: result, value: value)
            kernels?.plan.timing = profile
            plan?.kernels = kernels?.plan
            plan?.unplanned = kernels == nil ? (tracer.unplanned ?? recorder.failure ?? "its result holds a value the plan does not compute") : nil
        }
        if let refusal = tracer.refusal {
            let place = refusal.range.map { " at \($0.place)" } ?? ""
            lastRefusal = refusal.message + place
            interpreter.warn("note: '\(function.name)' runs uncompiled for these arguments: \(refusal.message)\(place)")
        }
        if plans.count >= maxPlans { plans.removeFirst() }
        plans.append((key, plan, named, kernels))
        if let plan, interpreter.printFirstPlan {
            interpreter.printFirstPlan = false
            interpreter.warn("the compiled plan of '\(function.name)':\n" + plan.summary)
        }
        return value
    }

    /// The kind of a call's arguments: shapes of tensors, values of numbers
    /// and strings, structure of containers, identity of objects and
    /// functions. Nil when the arguments are too large to key.
    static func key(_ args: [Value], _ labels: [String?]?) -> (String, [AnyObject])? {
        var out = ""
        var named: [AnyObject] = []
        var budget = 10_000
        func walk(_ v: Value, _ level: Int) -> Bool {
            budget -= 1
            guard budget > 0, level < 32 else { return false }
            switch v {
            case .nil: out += "nil"
            case .number(let d): out += Formatter.number(d)
            case .bool(let b): out += b ? "true" : "false"
            case .string(let s): out += "\"\(s.count > 200 ? String(s.prefix(200)) + "#\(s.hashValue)" : s)\""
            case .tensor(let t): out += Tensor.shapeText(t.shape) + (t.requiresGrad ? "g" : "")
            case .range(let a, let b): out += "\(a)..<\(b)"
            case .tuple(let items):
                out += "("
                for item in items { guard walk(item, level + 1) else { return false }; out += "," }
                out += ")"
            case .list(let l):
                out += "["
                for item in l.items { guard walk(item, level + 1) else { return false }; out += "," }
                out += "]"
            case .record(let r):
                out += "{"
                for (name, item) in zip(r.names, r.values) { out += name + ":"; guard walk(item, level + 1) else { return false }; out += "," }
                out += "}"
            case .function(let c): out += "fn#\(ObjectIdentifier(c).hashValue)"; named.append(c)
            case .builtin(let b): out += "builtin#\(ObjectIdentifier(b).hashValue)"; named.append(b)
            case .object(let o): out += "\(o.kindName)#\(ObjectIdentifier(o).hashValue)"; named.append(o)
            case .module(let m): out += "module " + m.name
            case .cell(let b): return walk(b.value, level + 1)
            case .uninitialized: out += "?"
            }
            return true
        }
        out += "("
        for (i, arg) in args.enumerated() {
            if let label = labels?[i] { out += label + ": " }
            guard walk(arg, 0) else { return nil }
            if i < args.count - 1 { out += ", " }
        }
        out += ")"
        return (out, named)
    }
}

/// A traced kind's kernel plan and how a run gives the function's result:
/// its plain values as traced, the loss its optimizer stepped from (what
/// `step` returns) and tensors the plan computed, as new values without a
/// graph (the step has consumed it).
struct KernelRun {
    indirect enum Result {
        case constant(Value)
        case loss
        case tensor(Int)
        case tuple([Result]), list([Result]), record([String], [Result])
    }

    let plan: KernelPlan
    let result: Result
    /// Where the optimizer's step was called, for its errors.
    let stepRange: SourceRange?

    /// Nil when the trace is not one kernel plan.
    init?(_ tracer: Tracer, _ recorder: PlanRecorder, result template: Template, value: Value) {
        guard tracer.unplanned == nil, let plan = recorder.finish() else { return nil }
        let stepEntry = tracer.entries.last { if case .call = $0.step { return $0.name == "step" } else { return false } }
        func form(_ t: Template, _ v: Value) -> Result? {
            switch (t, v) {
            case (.constant(let c), _): return .constant(c)
            case (.ref(let r), _) where plan.stepsOptimizer && r.path.isEmpty && r.slot == stepEntry?.slot: return .loss
            case (.ref, .tensor(let t)): return recorder.slot(of: t).map { .tensor($0) }
            case (.tuple(let ts), .tuple(let vs)) where ts.count == vs.count: return all(ts, vs).map { .tuple($0) }
            case (.list(let ts), .list(let l)) where ts.count == l.items.count: return all(ts, l.items).map { .list($0) }
            case (.record(let names, let ts), .record(let r)) where ts.count == r.values.count: return all(ts, r.values).map { .record(names, $0) }
            default: return nil
            }
        }
        func all(_ ts: [Template], _ vs: [Value]) -> [Result]? {
            var out: [Result] = []
            for (t, v) in zip(ts, vs) { guard let r = form(t, v) else { return nil }; out.append(r) }
            return out
        }
        guard let result = form(template, value) else { return nil }
        self.plan = plan
        self.result = result
        stepRange = stepEntry?.range
    }

    func run(_ args: [Value]) throws -> Value {
        try plan.forward(arguments: KernelRun.tensors(in: args).map(\.value))
        let loss = plan.lossValue ?? 0
        if plan.stepsOptimizer {
            do {
                if !loss.isFinite { throw RuntimeError("the loss is \(Tensor.formatScalar(loss)); parameters left unchanged") }
                try plan.step()
            } catch {
                guard let stepRange else { throw error }
                throw locate(error, stepRange)
            }
        }
        func make(_ r: Result) -> Value {
            switch r {
            case .constant(let v): return v
            case .loss: return .number(Double(loss))
            case .tensor(let slot): return .tensor(Variable(plan.tensor(slot)))
            case .tuple(let items): return .tuple(items.map(make))
            case .list(let items): return .list(ListBox(items.map(make)))
            case .record(let names, let items): return .record(Record(names: names, values: items.map(make)))
            }
        }
        return make(result)
    }

    /// The tensors in a call's arguments, in order (the same kind of arguments gives the same order).
    static func tensors(in args: [Value]) -> [Variable] {
        var out: [Variable] = []
        func walk(_ v: Value) {
            switch v {
            case .tensor(let t): out.append(t)
            case .tuple(let items): items.forEach(walk)
            case .list(let l): l.items.forEach(walk)
            case .record(let r): r.values.forEach(walk)
            case .cell(let c): walk(c.value)
            default: break
            }
        }
        args.forEach(walk)
        return out
    }
}
