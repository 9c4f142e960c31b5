import Graph
import Syntax
import Tensor

// Tracing a compiled function (`compile(f)`): its first call runs as usual
// while the interpreter notes every step that computes (each builtin and
// method call, each operator and index on a tensor) with where its arguments
// came from. Later calls with the same kind of arguments replay those steps
// without the interpreter (`TracePlan`). What a replay could not repeat
// faithfully (a tensor's value steering the script, a change to a name
// outside the function) stops the trace: the function then runs uncompiled.

/// Where a value is found during a replay: a slot (the call's arguments are
/// slot 0, each step's result has its own) and a path into it (items of a
/// tuple or list, fields of a record, in order).
package struct TraceRef {
    let slot: Int
    let path: [Int]
}

/// An argument of a step: a constant fixed when traced, or a value found in
/// a slot, or a list, tuple or record built afresh from such parts (one the
/// function made itself).
package indirect enum Template {
    case constant(Value)
    case ref(TraceRef)
    case list([Template])
    case tuple([Template])
    case record([String], [Template])
}

/// What a step does.
package enum TraceStep {
    case call(Template, [Template])
    case binary(BinaryOp, Template, Template)
    case negate(Template)
    case index(Template, [IndexTemplate])
    case member(Template, String)
    case enterNograd, exitNograd
}

package enum IndexTemplate {
    case single(Template)
    case slice(Int?, Int?, Int?)
}

/// One recorded step: what it does, where it is in the source, its result's
/// slot, and, for a result the script may have steered by (a number or a
/// string from a call that reads no tensor), the value it must give again.
package struct TraceEntry {
    let step: TraceStep
    let name: String
    let range: SourceRange?
    let slot: Int
    let expected: Value?
    /// What the step recorded when traced, for the plan's table: forward
    /// FLOPs of the graph nodes it made, bytes of the tensors it returned,
    /// the first one's shape.
    var flops = 0, bytes = 0
    var shape: [Int] = []
}

/// A value the function read from outside itself while traced (a global, a
/// captured variable, a field of an older record, the items of an older
/// list): a replay first checks that each is still the same value, and the
/// function is traced again if one is not.
package enum TraceGuard {
    case global(Globals, Int, Value, String)
    case box(Box, Value, String)
    case field(Record, Int, Value, String)
    case items(ListBox, [Value])

    /// Whether the place still holds what was read.
    var holds: Bool {
        switch self {
        case let .global(g, i, v, _): return i < g.values.count && TraceGuard.same(g.values[i], v)
        case let .box(b, v, _): return TraceGuard.same(b.value, v)
        case let .field(r, i, v, _): return i < r.values.count && TraceGuard.same(r.values[i], v)
        case let .items(l, items): return l.items.count == items.count && zip(l.items, items).allSatisfy { TraceGuard.same($0, $1) }
        }
    }

    /// What was read, for the note.
    var what: String {
        switch self {
        case .global(_, _, _, let name), .box(_, _, let name): return "'\(name)'"
        case .field(_, _, _, let name): return "the field '\(name)'"
        case .items: return "a list's items"
        }
    }

    /// The same value: the same object for references, the same bits or text for plain values.
    static func same(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case let (.number(x), .number(y)): return x.bitPattern == y.bitPattern
        case let (.string(x), .string(y)): return x == y
        case let (.bool(x), .bool(y)): return x == y
        case (.nil, .nil), (.uninitialized, .uninitialized): return true
        case let (.range(a1, b1), .range(a2, b2)): return a1 == a2 && b1 == b2
        case let (.tensor(x), .tensor(y)): return x === y
        case let (.list(x), .list(y)): return x === y
        case let (.record(x), .record(y)): return x === y
        case let (.tuple(x), .tuple(y)): return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        case let (.function(x), .function(y)): return x === y
        case let (.builtin(x), .builtin(y)): return x === y
        case let (.module(x), .module(y)): return x === y
        case let (.object(x), .object(y)): return x === y
        case let (.cell(x), .cell(y)): return x === y
        default: return false
        }
    }
}

/// The recorder, active on the interpreter while a compiled function's first
/// call of a kind runs.
package final class Tracer {
    /// The trace being recorded, if any (one at a time: a compiled function
    /// called while another traces is part of that trace).
    package static var current: Tracer? { state.current }
    package static var isTracing: Bool { state.isTracing }
    package static var numbersRead: Bool { state.numbersRead }

    /// Whether a trace is being recorded, kept in one object that the
    /// interpreter's compiled closures capture: their hot paths (the scalar
    /// loop's arithmetic, a global's store) test a field, not a global.
    package final class State {
        package fileprivate(set) var current: Tracer?
        package fileprivate(set) var isTracing = false
        /// True while the trace holds numbers read from tensors: the only
        /// time the interpreter's own arithmetic must be checked.
        package fileprivate(set) var numbersRead = false
    }
    nonisolated(unsafe) package static let state = State()

    /// Records `body`'s run as this trace.
    package func recording<T>(_ body: () throws -> T) rethrows -> T {
        let state = Tracer.state
        state.current = self
        state.isTracing = true
        state.numbersRead = false
        defer { state.current = nil; state.isTracing = false; state.numbersRead = false }
        return try body()
    }

    /// Objects made after this (`Serial`) were made while tracing.
    let start: Int
    private(set) var entries: [TraceEntry] = []
    /// Where each tensor, container, object or method that a step made (or
    /// the arguments held) will be found at replay.
    private var refs: [ObjectIdentifier: TraceRef] = [:]
    /// Numbers read from tensors (an optimizer step's loss), by their bits.
    private var reads: [UInt64: TraceRef] = [:]
    private var ambiguousReads: Set<UInt64> = []
    /// Set when an argument just encoded is such a number.
    private var encodedRead = false
    /// True while the function's result is encoded (a number read out may be returned from a kernel plan).
    private var encodingResult = false
    /// The FLOPs recorded before the step being recorded began.
    private var flopsBefore = 0
    /// The most bytes a graph held when an optimizer stepped on it (the
    /// values kept for its backward pass), for the plan's table.
    private(set) var heldAtBackward = 0
    package func noteHeld(_ bytes: Int) { heldAtBackward = max(heldAtBackward, bytes) }

    /// What the function read from outside itself, each place once.
    private(set) var guards: [TraceGuard] = []
    private var guarded: Set<GuardKey> = []
    private struct GuardKey: Hashable { let place: ObjectIdentifier, index: Int }
    /// The trace's values, kept alive so that their identities stay unique.
    private var kept: [Value] = []
    private(set) var slotCount = 1
    /// Above 0 while a recorded step runs: what it does inside (a function
    /// it calls back) is part of that step.
    private var depth = 0
    /// Why the function cannot be compiled, and where; the trace stops recording.
    package private(set) var refusal: (message: String, range: SourceRange?)?
    /// The first step a kernel plan cannot run (a builtin without kernels), if any.
    package private(set) var unplanned: String?

    /// A trace longer than this is refused (an unrolled loop of a million steps).
    static let maxEntries = 200_000

    package init(arguments: Value) {
        start = Serial.last
        register(arguments, slot: 0, readsValues: false)
    }

    /// True when steps at this level are being recorded.
    @inline(__always)
    package var recording: Bool { depth == 0 && refusal == nil }

    package func refuse(_ message: String, at range: SourceRange?) {
        if refusal == nil { refusal = (message, range) }
    }

    // MARK: Recording

    /// Records a builtin call (arguments already in parameter order) and runs it.
    package func call(_ builtin: Builtin, callee: Value, _ values: [Value], at range: SourceRange?, _ run: () throws -> Value) throws -> Value {
        guard recording else { return try nested(run) }
        if !builtin.runsInPlans && unplanned == nil { unplanned = "'\(builtin.name)' has no compiled kernels yet" }
        encodedRead = false
        guard let calleeTemplate = encode(callee, range, for: builtin.name), let args = encodeAll(values, range, for: builtin.name, level: 0) else { return try run() }
        flopsBefore = GraphProfile.recordedFlops
        let result = try nested(run)
        // Numbers made from numbers read from tensors change from call to call too.
        finish(.call(calleeTemplate, args), builtin.name, range, result, readsValues: builtin.readsValues || encodedRead)
        return result
    }

    /// Records an operator, an index or a member read on a value the plan tracks, and runs it.
    package func operation(_ name: String, _ step: TraceStep, at range: SourceRange?, readsValues: Bool, _ run: () throws -> Value) throws -> Value {
        flopsBefore = GraphProfile.recordedFlops
        let result = try nested(run)
        finish(step, name, range, result, readsValues: readsValues)
        return result
    }

    /// A nograd block's start and end, replayed around the steps between them.
    package func mark(_ step: TraceStep, at range: SourceRange?) {
        guard recording else { return }
        append(TraceEntry(step: step, name: "nograd", range: range, slot: 0, expected: nil))
    }

    private func nested(_ run: () throws -> Value) throws -> Value {
        depth += 1
        defer { depth -= 1 }
        return try run()
    }

    private func append(_ entry: TraceEntry) {
        guard entries.count < Tracer.maxEntries else {
            refuse("the function runs more than \(Tracer.maxEntries) operations, too many to keep as a plan", at: entry.range)
            return
        }
        entries.append(entry)
    }

    private func finish(_ step: TraceStep, _ name: String, _ range: SourceRange?, _ result: Value, readsValues: Bool) {
        guard refusal == nil else { return }
        let slot = slotCount
        slotCount += 1
        kept.append(result)
        var expected: Value?
        if !readsValues, hasPlainLeaf(result) { expected = result }
        if readsValues, let kind = plainNonNumber(result) {
            refuse("'\(name)' reads a tensor's value as a \(kind), which a compiled plan cannot replay", at: range)
            return
        }
        var entry = TraceEntry(step: step, name: name, range: range, slot: slot, expected: expected)
        entry.flops = GraphProfile.recordedFlops &- flopsBefore
        for case .tensor(let t) in Tracer.leaves(result) {
            if entry.bytes == 0 { entry.shape = t.shape }
            entry.bytes += 4 * t.value.count
        }
        append(entry)
        register(result, slot: slot, readsValues: readsValues)
    }

    // MARK: What the function reads from outside

    /// A lists's items longer than this, read from outside, stop the trace
    /// (checking them before every replay would cost as much as the work).
    static let maxGuardedItems = 100_000

    private func guardOnce(_ place: AnyObject, _ index: Int, _ make: () -> TraceGuard) {
        guard recording, guarded.insert(GuardKey(place: ObjectIdentifier(place), index: index)).inserted else { return }
        guards.append(make())
    }

    package func readGlobal(_ g: Globals, _ i: Int, _ v: Value, _ name: String) {
        guardOnce(g, i) { .global(g, i, v, name) }
    }

    package func readBox(_ b: Box, _ name: String) {
        guard b.serial <= start else { return }
        guardOnce(b, 0) { .box(b, b.value, name) }
    }

    package func readField(_ r: Record, _ i: Int) {
        guard r.serial <= start, refs[ObjectIdentifier(r)] == nil else { return }
        guardOnce(r, i) { .field(r, i, r.values[i], r.names[i]) }
    }

    package func readItems(_ l: ListBox, at range: SourceRange?) {
        guard l.serial <= start, refs[ObjectIdentifier(l)] == nil else { return }
        guard l.items.count <= Tracer.maxGuardedItems else {
            refuse("the function reads a list of \(l.items.count) items made outside it; pass what it needs as an argument", at: range)
            return
        }
        guardOnce(l, -1) { .items(l, l.items) }
    }

    // MARK: Where values come from

    /// Notes where the parts of a value made by a step will be at replay.
    private func register(_ value: Value, slot: Int, readsValues: Bool) {
        var budget = 100_000
        func walk(_ v: Value, _ path: [Int], _ level: Int) {
            budget -= 1
            guard budget > 0, level < 64 else { return }
            let here = TraceRef(slot: slot, path: path)
            switch v {
            case .tensor(let x): note(ObjectIdentifier(x), here)
            case .object(let o): note(ObjectIdentifier(o), here)
            case .builtin(let b): note(ObjectIdentifier(b), here)
            case .function(let c): note(ObjectIdentifier(c), here)
            case .list(let l):
                note(ObjectIdentifier(l), here)
                for (i, item) in l.items.enumerated() { walk(item, path + [i], level + 1) }
            case .record(let r):
                note(ObjectIdentifier(r), here)
                for (i, item) in r.values.enumerated() { walk(item, path + [i], level + 1) }
            case .tuple(let items):
                for (i, item) in items.enumerated() { walk(item, path + [i], level + 1) }
            case .number(let d) where readsValues:
                let bits = d.bitPattern
                if reads[bits] != nil { ambiguousReads.insert(bits) } else { reads[bits] = here }
                Tracer.state.numbersRead = true
            default: break
            }
        }
        walk(value, [], 0)
    }

    private func note(_ id: ObjectIdentifier, _ ref: TraceRef) {
        if refs[id] == nil { refs[id] = ref }
    }

    /// The template of a value passed to a step; nil (and the trace refused)
    /// when it cannot be replayed.
    package func encode(_ value: Value, _ range: SourceRange?, for name: String, level: Int = 0) -> Template? {
        guard level < 64 else { refuse("an argument of '\(name)' is nested too deeply to compile", at: range); return nil }
        switch value {
        case .tensor(let x):
            if let t = known(x, serial: x.serial, value) { return t }
            refuse("'\(name)' is given a tensor made in a way a compiled plan cannot replay", at: range)
            return nil
        case .number(let d):
            let bits = d.bitPattern
            guard let r = reads[bits] else { return .constant(value) }
            if ambiguousReads.contains(bits) || looksLikeScriptNumber(d) {
                refuse("a number read from a tensor (\(Formatter.number(d))) cannot be told from the script's own numbers", at: range)
                return nil
            }
            encodedRead = true
            // A kernel plan would keep the traced number in its kernels or constants.
            if !encodingResult && unplanned == nil { unplanned = "a number read from a tensor is given to '\(name)'" }
            return .ref(r)
        case .list(let l):
            if let t = known(l, serial: l.serial, value) { return t }
            return encodeAll(l.items, range, for: name, level: level + 1).map { .list($0) }
        case .record(let r):
            if let t = known(r, serial: r.serial, value) { return t }
            return encodeAll(r.values, range, for: name, level: level + 1).map { .record(r.names, $0) }
        case .tuple(let parts):
            return encodeAll(parts, range, for: name, level: level + 1).map { .tuple($0) }
        case .function(let c):
            if let t = known(c, serial: c.serial, value) { return t }
            refuse("'\(name)' is given a function made inside the compiled function (it holds values of this call)", at: range)
            return nil
        case .object(let o):
            return refs[ObjectIdentifier(o)].map { .ref($0) } ?? .constant(value)
        case .builtin(let b):
            return refs[ObjectIdentifier(b)].map { .ref($0) } ?? .constant(value)
        default:
            return .constant(value)
        }
    }

    /// A value with an identity: where a step left it, or itself when it is
    /// older than the trace; nil when the function made it some other way.
    private func known(_ object: AnyObject, serial: Int, _ value: Value) -> Template? {
        if let r = refs[ObjectIdentifier(object)] { return .ref(r) }
        return serial <= start ? .constant(value) : nil
    }

    /// Several values at `level` (a step's arguments, or the parts of a container the function built).
    private func encodeAll(_ items: [Value], _ range: SourceRange?, for name: String, level: Int) -> [Template]? {
        var out: [Template] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard let t = encode(item, range, for: name, level: level) else { return nil }
            out.append(t)
        }
        return out
    }

    /// The template of the function's result.
    package func result(_ value: Value, at range: SourceRange?) -> Template? {
        encodingResult = true
        defer { encodingResult = false }
        return encode(value, range, for: "the result")
    }

    /// Whether a step or operation is on values the plan tracks (a tensor, an
    /// object, or a number read from a tensor), so that it must be recorded.
    package func tracks(_ v: Value) -> Bool {
        switch v {
        case .tensor, .object: return true
        case .number(let d): return reads[d.bitPattern] != nil
        default: return false
        }
    }

    /// The interpreter is about to use numbers itself (arithmetic, a bound,
    /// text): a number read from a tensor would steer it, so the trace stops.
    @inline(__always)
    package func use(_ a: Value, _ b: Value, at range: SourceRange?) {
        guard !reads.isEmpty, recording else { return }
        for v in [a, b] {
            if case .number(let d) = v, reads[d.bitPattern] != nil {
                refuse("a number read from a tensor (\(Formatter.number(d))) steers the script here; a compiled plan replays only tensor work", at: range)
            }
        }
    }

    /// The same for two numbers the interpreter adds or compares (kept apart
    /// from the Value form so that the scalar loop's path copies nothing).
    @inline(never)
    package func use(_ x: Double, _ y: Double, at range: SourceRange?) {
        use(.number(x), .number(y), at: range)
    }

    /// Text made from a tensor or object (interpolation, or `str` called as a
    /// step: `inStep`) would be fixed at its traced value.
    package func describes(_ v: Value, at range: SourceRange?, inStep: Bool = false) {
        guard refusal == nil, depth == (inStep ? 1 : 0) else { return }
        if touchesTensors(v) { refuse("text is made from a tensor's value here; a compiled plan would repeat the traced text (print the value itself)", at: range) }
        use(v, .nil, at: range)
    }

    /// A change the interpreter makes to a place a replay would not change again.
    package func changes(_ what: String, at range: SourceRange?) {
        guard recording else { return }
        refuse("the function changes \(what), which a compiled plan would not repeat", at: range)
    }

    /// Whether a container the function is about to change was made before the
    /// trace or by a step (a replay would not make the change again).
    package func isReplayed(_ v: Value) -> Bool {
        switch v {
        case .list(let l): return l.serial <= start || refs[ObjectIdentifier(l)] != nil
        case .record(let r): return r.serial <= start || refs[ObjectIdentifier(r)] != nil
        default: return true
        }
    }

    package func isOlder(_ box: Box) -> Bool { box.serial <= start }

    // MARK: Value kinds

    /// A result's parts: itself, or the items of a tuple, list or record (one level).
    static func leaves(_ v: Value) -> [Value] {
        switch v {
        case .tuple(let items): return items
        case .list(let l): return Array(l.items.prefix(10_000))
        case .record(let r): return r.values
        default: return [v]
        }
    }

    /// Whether a value holds a tensor or an object anywhere (bounded walk).
    private func touchesTensors(_ v: Value) -> Bool {
        var budget = 10_000
        func walk(_ v: Value, _ level: Int) -> Bool {
            budget -= 1
            if budget < 0 || level > 32 { return true }
            switch v {
            case .tensor, .object: return true
            case .list(let l): return l.items.contains { walk($0, level + 1) }
            case .record(let r): return r.values.contains { walk($0, level + 1) }
            case .tuple(let t): return t.contains { walk($0, level + 1) }
            default: return false
            }
        }
        return walk(v, 0)
    }

    private func hasPlainLeaf(_ v: Value) -> Bool {
        switch v {
        case .number, .bool, .string, .range: return true
        case .tuple(let t): return t.contains(where: hasPlainLeaf)
        case .list(let l): return l.items.count <= 10_000 && l.items.contains(where: hasPlainLeaf)
        case .record(let r): return r.values.contains(where: hasPlainLeaf)
        default: return false
        }
    }

    /// The kind of a plain value other than a number in a result, if any.
    private func plainNonNumber(_ v: Value) -> String? {
        switch v {
        case .bool: return "true or false"
        case .string: return "string"
        case .range: return "range"
        case .tuple(let t): return t.lazy.compactMap(plainNonNumber).first
        case .list(let l): return l.items.prefix(10_000).lazy.compactMap(plainNonNumber).first
        case .record(let r): return r.values.lazy.compactMap(plainNonNumber).first
        default: return nil
        }
    }

    /// A whole number or a simple binary fraction (0.5, 0.25) read from a
    /// tensor could equal one of the script's own numbers; a loss in float32
    /// practically never does, so only these are refused.
    private func looksLikeScriptNumber(_ d: Double) -> Bool {
        !d.isFinite || (d * 1024).rounded() == d * 1024
    }
}
