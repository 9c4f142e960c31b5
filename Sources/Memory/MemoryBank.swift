import Foundation
import Graph
import Tensor

/// An external memory: its contents, how it starts again for each sequence or
/// episode, and a trace of the weightings used to read and write it, kept so
/// that a user can look at what the heads did after a run.
public final class MemoryBank {
    public enum Initialisation {
        /// Every cell set to the value (1e-6 by default, which Collier & Beel 2018 found converges fastest).
        case constant(Float)
        /// Drawn anew from N(0, std) at each reset.
        case random(Float)
        /// A trainable starting memory.
        case learned(Variable)
    }

    /// One recorded access: which head, read or write, its weighting, and
    /// the vector it moved (the add vector of a write, the vector a read
    /// returned), which the NTM paper's figures show beside the weightings;
    /// an LRUA write also keeps the usage it chose its slot by. Several
    /// heads' access made at once is kept whole, each head's access naming
    /// its part, and cut out only when looked at: recording costs a step
    /// nothing but a few references.
    public struct Access {
        public let isWrite: Bool
        public let head: Int
        /// The part of a several-head access this is: (head axis position, heads), or nil.
        let part: (index: Int, count: Int)?
        let wholeWeighting: Kept
        let wholeVector: Kept?
        let keptUsage: Kept?

        /// [N] or [B, N].
        public var weighting: Tensor { cut(wholeWeighting.tensor) }
        /// [W] or [B, W], when the access moved one.
        public var vector: Tensor? {
            wholeVector.flatMap { kept in
                let v = kept.tensor
                return v.rank == wholeWeighting.rank ? cut(v) : nil
            }
        }
        public var usage: Tensor? { keptUsage?.tensor }
        /// False once the compiled plan that made it has run again.
        var isCurrent: Bool { [wholeWeighting, wholeVector, keptUsage].allSatisfy { $0?.isCurrent ?? true } }

        /// This head's rows of a [..., H, n] tensor.
        private func cut(_ t: Tensor) -> Tensor {
            guard let part, t.rank >= 2, t.shape[t.rank - 2] == part.count else { return t }
            let n = t.shape[t.rank - 1], rows = t.count / max(1, part.count * n)
            var data = [Float](repeating: 0, count: rows * n)
            for r in 0..<rows { for i in 0..<n { data[r * n + i] = t.data[(r * part.count + part.index) * n + i] } }
            return Tensor(shape: Array(t.shape.dropLast(2)) + [n], data: data)
        }
    }

    /// A tensor the trace keeps: made by the access, or a compiled plan's
    /// value left in the plan, copied (and `moved` applied) only when looked at.
    enum Kept {
        case made(Tensor)
        case planned(PlanValue, moved: ((Tensor) -> Tensor)?)

        var tensor: Tensor {
            switch self {
            case .made(let t): return t
            case .planned(let v, let moved): return moved.map { $0(v.tensor) } ?? v.tensor
            }
        }
        var shape: [Int] {
            switch self {
            case .made(let t): return t.shape
            case .planned(let v, _): return v.shape
            }
        }
        var rank: Int { shape.count }
        var isCurrent: Bool { if case .planned(let v, _) = self { return v.isCurrent } else { return true } }
    }

    public let slots: Int, width: Int
    /// nil: one memory; else a batch of memories, one per sequence.
    public let batch: Int?
    public let initialisation: Initialisation
    public private(set) var contents: Variable

    /// The contents for an op to read. A compiled plan that reads contents
    /// from before its call (a memory carried from one call to the next)
    /// takes them anew at each run, not as they were when traced.
    public var readContents: Variable {
        if let recorder = Graph.planRecorder { recorder.stateSource(of: self, "contents", contents) { [self] in contents } }
        return contents
    }
    public var tracing: Bool
    /// Also keep a copy of the contents after each write (costly for big memories).
    public var tracingContents = false
    /// The accesses of the last run (a compiled plan's, while it has not run again).
    public var accesses: [Access] {
        var out: [Access] = []
        for entry in recorded {
            switch entry {
            case .access(let a): if a.isCurrent { out.append(a) }
            case .planned(let stretch, let run): if run.isCurrent { out += stretch.accesses[0..<stretch.count] }
            }
        }
        return out
    }
    private var recorded: [TraceEntry] = []
    /// The stretch of a compiled plan being traced now, and its recorder's serial.
    private var tracedStretch: (recorder: Int, stretch: PlannedStretch)?

    /// The trace: accesses made op by op (or by a plan whose values cannot
    /// all be left in place), and stretches of a plan's run.
    private enum TraceEntry {
        case access(Access)
        /// The first `count` accesses of the stretch, made by this run.
        case planned(PlannedStretch, PlanRun)
    }

    /// The accesses a compiled plan makes between two resets of the
    /// memory: made from the plan's values (left in place) at its first run
    /// and the same for every later run, which only stamps them. So a run
    /// records its trace without making anything.
    final class PlannedStretch {
        var accesses: [Access] = []
        /// For access k of the stretch, where its entries in `accesses` end (a several-head access has several).
        var ends: [Int] = []
        /// How many accesses the stretch has had: the index of the next one.
        var registered = 0
        /// The run that last added to the trace, and its entries so far.
        var runNumber = -1, count = 0
        /// False once an access reads a value the plan does not keep in
        /// place (a parameter read where it is, a value merged away): every
        /// run then makes its accesses anew.
        var reusable = true
    }
    public private(set) var snapshots: [Tensor] = []
    private let random: RandomGenerator

    public init(slots: Int, width: Int, batch: Int?, initialisation: Initialisation, tracing: Bool = true, random: RandomGenerator) throws {
        guard slots >= 1, width >= 1 else { throw TensorError("a memory needs at least one slot and width 1, got \(slots) x \(width)") }
        if let b = batch, b < 1 { throw TensorError("batch must be at least 1, got \(b)") }
        _ = try Tensor.allocationCount([batch ?? 1, slots, width])
        if case .learned(let v) = initialisation, v.shape != [slots, width] {
            throw TensorError("a learned initial memory must have shape \(Tensor.shapeText([slots, width])), got \(Tensor.shapeText(v.shape))")
        }
        (self.slots, self.width, self.batch, self.initialisation, self.tracing, self.random) =
            (slots, width, batch, initialisation, tracing, random)
        self.contents = Variable(try Tensor.zeros([slots, width]))
        try reset()
    }

    public var shape: [Int] { batch.map { [$0, slots, width] } ?? [slots, width] }

    /// Back to the initial contents, with an empty trace: call it before each sequence.
    public func reset() throws {
        switch initialisation {
        case .constant(let v): contents = Variable(try Tensor.filled(shape, v))
        case .random(let std): contents = Variable(try Tensor.randn(shape, random, std: Double(std)))
        case .learned(let v): contents = batch == nil ? v : try Op.add(Variable(try Tensor.zeros(shape)), v)
        }
        recorded.removeAll(keepingCapacity: true)
        snapshots = []
        tracedStretch = nil
        if let recorder = Graph.planRecorder {
            switch initialisation {
            case .constant: break
            case .random: recorder.fail("a memory drawn at random at each reset")
            case .learned: recorder.fail("a memory with a learned start")
            }
            recorder.effect(reading: []) { [self] _ in
                recorded.removeAll(keepingCapacity: true)
                if !snapshots.isEmpty { snapshots = [] }
            }
            recorder.state(of: self, "contents", contents) { [self] in contents = Variable($0) }
        }
    }

    /// Replaces the contents (for writes composed by hand from basic ops).
    public func set(_ value: Variable) throws {
        guard value.shape == shape else {
            throw TensorError("memory contents must keep shape \(Tensor.shapeText(shape)), got \(Tensor.shapeText(value.shape))")
        }
        contents = value
        if tracing && tracingContents { snapshots.append(value.value) }
        if let recorder = Graph.planRecorder {
            // A compiled plan leaves the same state after each run, from its values.
            // Whether to keep a copy is read at each run: `trace_contents` may be set after compiling.
            if tracing { recorder.effect(reading: [value]) { [self] in if tracingContents { snapshots.append($0[0]) } } }
            recorder.state(of: self, "contents", value) { [self] in contents = Variable($0) }
        }
    }

    /// Reads with one head's weighting, or several heads' at once ([H, N] or
    /// [B, H, N], traced as heads head, head + 1, ...).
    public func read(_ weighting: Variable, head: Int = 0) throws -> Variable {
        let r = try Addressing.read(readContents, weighting)
        record(weighting, isWrite: false, head: head, vector: r)
        return r
    }

    /// `usage`, when given, is kept in the trace (the usage an LRUA write chose its slots by).
    public func write(_ weighting: Variable, erase: Variable?, add: Variable, head: Int = 0, usage: Variable? = nil) throws {
        let updated = try Addressing.write(readContents, weighting, erase: erase, add: add)
        record(weighting, isWrite: true, head: head, vector: add, usage: usage)
        try set(updated)
    }

    /// A write head's erase and add from its raw parameters (see `Addressing.writeFromParameters`).
    public func writeFromParameters(_ weighting: Variable, _ p: Variable, shifts: Int, head: Int = 0) throws {
        let updated = try Addressing.writeFromParameters(memory: readContents, weighting: weighting, parameters: p, shifts: shifts)
        if tracing {
            // The add vector, tanh of its place in the head's parameters.
            let start = Addressing.HeadLayout(width: width, shifts: shifts).add.lowerBound, width = width
            record(weighting, isWrite: true, head: head, vector: p) { p in
                let P = max(1, p.shape.last ?? 1), rows = p.count / P
                var add = [Float](repeating: 0, count: rows * width)
                for r in 0..<rows { for j in 0..<width { add[r * width + j] = Foundation.tanh(p.data[r * P + start + j]) } }
                return Tensor(shape: Array(p.shape.dropLast()) + [width], data: add)
            }
        }
        try set(updated)
    }

    /// Keeps one access per head; a weighting with a head axis is kept whole
    /// and each head's access names its part.
    /// `vector`, or what `moved` makes of it, is the vector the access moved.
    private func record(_ weighting: Variable, isWrite: Bool, head: Int, vector: Variable? = nil, usage: Variable? = nil,
                        moved: ((Tensor) -> Tensor)? = nil) {
        guard tracing else { return }
        if let recorder = Graph.planRecorder {
            // A compiled plan records the same access after each run: its values, left in the plan until looked at.
            if tracedStretch?.recorder != recorder.serial { tracedStretch = (recorder.serial, PlannedStretch()) }
            guard let stretch = tracedStretch?.stretch else { return }
            let k = stretch.registered
            stretch.registered += 1
            let (hasVector, hasUsage) = (vector != nil, usage != nil)
            recorder.effect(reading: [weighting] + (vector.map { [$0] } ?? []) + (usage.map { [$0] } ?? [])) { [self] values in
                if stretch.reusable && k == stretch.ends.count {
                    // The first run: access k made from values left in place, if they all are.
                    let (w, v, u) = (values.kept(0), hasVector ? values.kept(1) : nil, hasUsage ? values.kept(values.count - 1) : nil)
                    if let w, v != nil || !hasVector, u != nil || !hasUsage {
                        stretch.accesses += accesses(.planned(w, moved: nil), isWrite: isWrite, head: head,
                                                     vector: v.map { .planned($0, moved: moved) }, usage: u.map { .planned($0, moved: nil) })
                        stretch.ends.append(stretch.accesses.count)
                    } else {
                        stretch.reusable = false
                    }
                }
                if stretch.reusable {
                    if stretch.runNumber != values.runNumber {
                        stretch.runNumber = values.runNumber
                        recorded.append(.planned(stretch, values.run))
                    }
                    stretch.count = stretch.ends[k]
                    return
                }
                func kept(_ i: Int, moved: ((Tensor) -> Tensor)? = nil) -> Kept {
                    values.kept(i).map { .planned($0, moved: moved) } ?? .made(moved?(values[i]) ?? values[i])
                }
                keep(kept(0), isWrite: isWrite, head: head, vector: hasVector ? kept(1, moved: moved) : nil,
                     usage: hasUsage ? kept(values.count - 1) : nil)
            }
        }
        keep(.made(weighting.value), isWrite: isWrite, head: head, vector: vector.map { .made(moved?($0.value) ?? $0.value) },
             usage: usage.map { .made($0.value) })
    }

    private func keep(_ w: Kept, isWrite: Bool, head: Int, vector: Kept?, usage: Kept?) {
        for a in accesses(w, isWrite: isWrite, head: head, vector: vector, usage: usage) { recorded.append(.access(a)) }
    }

    /// One access per head: a weighting with a head axis is kept whole and each head's access names its part.
    private func accesses(_ w: Kept, isWrite: Bool, head: Int, vector: Kept?, usage: Kept?) -> [Access] {
        let rowRank = batch == nil ? 1 : 2
        guard w.rank == rowRank + 1 else {
            return [Access(isWrite: isWrite, head: head, part: nil, wholeWeighting: w, wholeVector: vector, keptUsage: usage)]
        }
        let heads = w.shape[w.rank - 2]
        return (0..<heads).map { h in
            Access(isWrite: isWrite, head: head + h, part: (h, heads), wholeWeighting: w, wholeVector: vector, keptUsage: usage)
        }
    }

    /// An LRUA write (see `Addressing.lruaWrite`); returns the write weights.
    public func lruaWrite(key: Variable, alpha: Variable, readPrevious: Variable, usagePrevious: Tensor, reads: Int, head: Int = 0) throws -> Variable {
        let (updated, weights) = try Addressing.lruaWrite(readContents, key: key, alpha: alpha, readPrevious: readPrevious,
                                                          usagePrevious: usagePrevious, reads: reads)
        record(weights, isWrite: true, head: head, vector: key, usage: Variable(usagePrevious))
        try set(updated)
        return weights
    }

    /// The recorded weightings of one kind, stacked in time order: [T, N] or [T, B, N].
    public func traced(writes: Bool) throws -> (weightings: Tensor, heads: [Int]) {
        let chosen = accesses.filter { $0.isWrite == writes }
        let rowShape = batch.map { [$0, slots] } ?? [slots]
        if chosen.isEmpty { return (try Tensor.zeros([0] + rowShape), []) }
        return (try Tensor.stack(chosen.map { Tensor(shape: rowShape, data: $0.weighting.data) }, axis: 0), chosen.map(\.head))
    }

    /// The trace as CSV rows: kind, step, head, batch row, then one column per slot.
    public func traceTable() -> String {
        var lines = ["kind,step,head,row," + (0..<slots).map { "slot\($0)" }.joined(separator: ",")]
        var step = [false: 0, true: 0]
        for a in accesses {
            let rows = a.weighting.count / slots
            for r in 0..<rows {
                let values = a.weighting.data[(r * slots)..<((r + 1) * slots)].map { "\($0)" }.joined(separator: ",")
                lines.append("\(a.isWrite ? "write" : "read"),\(step[a.isWrite]!),\(a.head),\(r),\(values)")
            }
            step[a.isWrite]! += 1
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// An NTM head: it owns its shift range and keeps its previous weighting,
/// which location addressing interpolates with.
public final class Head {
    public let memory: MemoryBank
    /// The length of the shift kernel (3 for offsets -1, 0, +1).
    public let shiftKernel: Int
    public let index: Int
    public private(set) var previous: Variable

    /// The previous weighting for an op to read (see `MemoryBank.readContents`).
    public var readPrevious: Variable {
        if let recorder = Graph.planRecorder { recorder.stateSource(of: self, "previous", previous) { [self] in previous } }
        return previous
    }

    public init(memory: MemoryBank, shiftKernel: Int, index: Int) throws {
        guard shiftKernel >= 1, shiftKernel <= memory.slots, shiftKernel == memory.slots || shiftKernel % 2 == 1 else {
            throw TensorError("a head's shift kernel must be odd and at most \(memory.slots) long, or exactly \(memory.slots); got \(shiftKernel)")
        }
        self.memory = memory
        self.shiftKernel = shiftKernel
        self.index = index
        self.previous = Variable(try Tensor.zeros(memory.batch.map { [$0, memory.slots] } ?? [memory.slots]))
        reset()
    }

    /// Each sequence starts with the focus on slot 0. A uniform or zero start
    /// would leave a constant-initialised memory symmetric: every slot written
    /// alike, so reads could never tell slots apart.
    public func reset() {
        var start = Tensor.zeros(like: previous.value)
        for row in 0..<(start.count / memory.slots) { start.data[row * memory.slots] = 1 }
        previous = Variable(start)
        notePrevious()
    }

    /// Hands the new previous weighting to a compiled plan being recorded, which sets it again after each run.
    private func notePrevious() {
        Graph.planRecorder?.state(of: self, "previous", previous) { [self] in previous = Variable($0) }
    }

    /// The four steps of NTM addressing: content, interpolation, shift, sharpening.
    public func address(key: Variable, beta: Variable, gate: Variable, shift: Variable, gamma: Variable) throws -> Variable {
        guard shift.shape.last == shiftKernel else {
            throw TensorError("this head shifts by a kernel of \(shiftKernel), got a shift of shape \(Tensor.shapeText(shift.shape))")
        }
        let w = try Addressing.address(memory: memory.readContents, key: key, beta: beta, gate: gate, shift: shift,
                                       gamma: gamma, previous: readPrevious)
        previous = w
        notePrevious()
        return w
    }

    /// A write head's whole step from its raw parameters: the addressing
    /// above, then erase and add from the values after those, written to the
    /// memory. Returns the weighting.
    public func writeFromParameters(_ p: Variable) throws -> Variable {
        let w = try addressFromParameters(p)
        try memory.writeFromParameters(w, p, shifts: shiftKernel, head: index)
        return w
    }

    /// The same from the head's raw parameters (see `Addressing.addressFromParameters`).
    public func addressFromParameters(_ p: Variable) throws -> Variable {
        let w = try Addressing.addressFromParameters(memory: memory.readContents, parameters: p, width: memory.width,
                                                     shifts: shiftKernel, previous: readPrevious)
        previous = w
        notePrevious()
        return w
    }
}
