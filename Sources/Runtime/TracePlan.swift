import Graph
import Syntax
import Tensor

/// A traced call's steps, replayed without the interpreter: each step's
/// arguments are taken from the call's arguments, earlier steps' results or
/// the constants fixed when traced; the same builtins and ops then run, so a
/// replay gives the same values, bit for bit, as running the function.
package final class TracePlan {
    package let entries: [TraceEntry]
    /// What the traced call read from outside; a replay needs each unchanged.
    let guards: [TraceGuard]
    let slotCount: Int
    let result: Template
    /// The most the graph held at an optimizer step when traced (0: none stepped).
    var heldAtBackward = 0
    /// What the arguments looked like (shapes, numbers, strings).
    package let signature: String
    /// The same steps as one kernel plan, when every one has kernels; else why not.
    var kernels: KernelPlan?
    var unplanned: String?

    init(entries: [TraceEntry], guards: [TraceGuard], slotCount: Int, result: Template, signature: String) {
        self.entries = entries
        self.guards = guards
        self.slotCount = slotCount
        self.result = result
        self.signature = signature
    }

    /// The first value read from outside that has changed since the trace, if any.
    var changedRead: TraceGuard? { guards.first { !$0.holds } }

    package func run(_ arguments: Value, _ interpreter: Interpreter) throws -> Value {
        var slots = [Value](repeating: .nil, count: slotCount)
        slots[0] = arguments
        var openNograd = 0
        defer { for _ in 0..<openNograd { Graph.exitDetached() } }
        for (n, entry) in entries.enumerated() {
            if n & 63 == 0, Interrupt.requested { throw RuntimeError("interrupted") }
            let value: Value
            do {
                switch entry.step {
                case let .call(callee, args):
                    value = try call(try resolve(callee, slots), try args.map { try resolve($0, slots) }, entry, interpreter)
                case let .binary(op, a, b):
                    value = try Operators.binary(op, try resolve(a, slots), try resolve(b, slots))
                case .negate(let a):
                    value = try Operators.negate(try resolve(a, slots))
                case let .index(base, items):
                    let positions: [Operators.IndexValue] = try items.map {
                        switch $0 {
                        case .single(let t): return .single(try resolve(t, slots))
                        case let .slice(a, b, c): return .slice(a, b, c)
                        }
                    }
                    value = try Operators.index(try resolve(base, slots), positions)
                case let .member(base, name):
                    value = try Operators.member(try resolve(base, slots), name, interpreter)
                case .enterNograd:
                    Graph.enterDetached()
                    openNograd += 1
                    continue
                case .exitNograd:
                    Graph.exitDetached()
                    openNograd -= 1
                    continue
                }
            } catch {
                guard let range = entry.range else { throw error }
                throw locate(error, range)
            }
            if let expected = entry.expected, !TracePlan.plainLeavesMatch(expected, value) {
                let message = "'\(entry.name)' gave \(Formatter.describe(expected)) when the compiled function was traced and \(Formatter.describe(value)) now; the function's code depends on it, so call it outside the compiled function or pass its value as an argument"
                guard let range = entry.range else { throw RuntimeError(message) }
                throw Diagnostic(.runtime, message, at: range)
            }
            slots[entry.slot] = value
        }
        return try resolve(result, slots)
    }

    private func call(_ callee: Value, _ values: [Value], _ entry: TraceEntry, _ interpreter: Interpreter) throws -> Value {
        guard case .builtin(let b) = callee else { throw RuntimeError("internal: a compiled plan calls a \(callee.kindName)") }
        let arguments = Arguments(values: values, builtin: b, interpreter: interpreter, callRange: entry.range)
        if Graph.debugNonFinite, let range = entry.range {
            return try interpreter.checkingNonFinite(b.name, range, inputs: values) { try b.implementation(arguments) }
        }
        return try b.implementation(arguments)
    }

    private func resolve(_ t: Template, _ slots: [Value]) throws -> Value {
        switch t {
        case .constant(let v): return v
        case .ref(let r):
            var v = slots[r.slot]
            for i in r.path {
                switch v {
                case .tuple(let items) where i < items.count: v = items[i]
                case .list(let l) where i < l.items.count: v = l.items[i]
                case .record(let rec) where i < rec.values.count: v = rec.values[i]
                default: throw RuntimeError("internal: a compiled plan's value is no longer where it was traced")
                }
            }
            return v
        case .list(let items): return .list(ListBox(try items.map { try resolve($0, slots) }))
        case .tuple(let items): return .tuple(try items.map { try resolve($0, slots) })
        case let .record(names, items): return .record(Record(names: names, values: try items.map { try resolve($0, slots) }))
        }
    }

    /// Whether two results agree in their plain values (numbers, strings,
    /// bools, ranges) and their shape, tensors and objects aside.
    static func plainLeavesMatch(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case let (.number(x), .number(y)): return x.bitPattern == y.bitPattern || x == y
        case let (.string(x), .string(y)): return x == y
        case let (.bool(x), .bool(y)): return x == y
        case let (.range(a1, b1), .range(a2, b2)): return a1 == a2 && b1 == b2
        case (.nil, .nil): return true
        case let (.tuple(x), .tuple(y)): return x.count == y.count && zip(x, y).allSatisfy { plainLeavesMatch($0, $1) }
        case let (.list(x), .list(y)): return x.items.count == y.items.count && zip(x.items, y.items).allSatisfy { plainLeavesMatch($0, $1) }
        case let (.record(x), .record(y)): return x.names == y.names && zip(x.values, y.values).allSatisfy { plainLeavesMatch($0, $1) }
        case (.tensor, .tensor), (.object, .object), (.function, .function), (.builtin, .builtin), (.module, .module): return true
        default: return false
        }
    }

    /// What the plan does, for `graph(f)`: its steps by name, with the
    /// forward FLOPs of the graph nodes each recorded and the bytes of the
    /// tensors it returned when traced (the one profile table of `graph`).
    package var summary: String {
        var rows: [String: GraphProfile.Row] = [:]
        var steps = 0
        for e in entries {
            if case .enterNograd = e.step { continue }
            if case .exitNograd = e.step { continue }
            steps += 1
            let old = rows[e.name]
            rows[e.name] = GraphProfile.Row(op: e.name, count: (old?.count ?? 0) + 1, flops: (old?.flops ?? 0) + e.flops,
                                            bytes: (old?.bytes ?? 0) + e.bytes, shape: old?.shape ?? e.shape)
        }
        let profile = GraphProfile(rows: Array(rows.values), nodes: steps)
        var head = "plan for \(signature): \(steps) steps replayed without the interpreter, \(GraphProfile.amount(profile.flops, "FLOP")) forward (the backward pass about twice that), \(GraphProfile.amount(profile.bytes, "B")) of tensors made per call"
        if heldAtBackward > 0 { head += ", \(GraphProfile.amount(heldAtBackward, "B")) held by the graph at its optimizer step" }
        // A kernel plan is what runs: its table says where a call's time and memory go.
        if let kernels { return head + "; runs as " + kernels.table }
        if let unplanned { head += "\nruns step by step (not as one kernel plan: \(unplanned))" }
        return profile.table(head: head, kind: "step", held: "made")
    }
}
