import CSupport
import Dispatch
import Tensor

/// A kernel's own buffer of n floats, zeros, counted in the plan's table.
/// Made while tracing: past the memory budget it is a token one float long
/// and the recorder refuses the plan (which therefore never runs).
public func planBuffer(_ n: Int) -> UnsafeMutablePointer<Float> {
    var count = max(1, n)
    if Graph.planRecorder != nil && (try? MemoryBudget.reserve(4 * count, for: "")) == nil {
        Graph.planRecorder?.fail("its buffers do not fit in the memory budget")
        count = 1
    }
    let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
    p.initialize(repeating: 0, count: count)
    KernelPlan.kernelFloats += count
    return p
}

/// An op's forward and backward over a compiled plan's buffers: the same
/// arithmetic, in the same order, as the op's eager form and its VJP, so a
/// plan gives the same bits. Made by the op while a compiled function is
/// traced, with the sizes it saw; it owns the scratch its backward needs
/// (allocated once, reused by every run).
///
/// A class, not a protocol: a plan calls each kernel through an unmanaged
/// reference, which a class method allows without reference counting.
open class PlanKernel {
    public init() {}
    open func forward(_ io: PlanIO) throws { throw TensorError("internal: a plan kernel without a forward pass") }
    open func backward(_ io: PlanIO) throws { throw TensorError("internal: a plan kernel without a backward pass") }
}

/// A kernel that keeps a^T b products for one input's gradient, to be
/// summed with that input's other products as one (`PlanIO.addProduct`),
/// after the rest of its gradient: which input (nil: none in this use).
protocol KeepsProducts {
    var productInput: Int? { get }
}

/// A kernel's view of the plan during one step: its inputs' and outputs'
/// values, and the one way to pass gradients on (as `Backward` does for a
/// node: whole, in place, or as a product still to be summed).
public struct PlanIO {
    unowned(unsafe) let plan: KernelPlan
    let inputs: UnsafePointer<Int>
    let outputs: UnsafePointer<Int>

    /// Input i's values (nil for an input the op was not given, as an absent bias).
    @inline(__always) public func input(_ i: Int) -> UnsafeMutablePointer<Float> { plan.address[inputs[i]] }
    @inline(__always) public func hasInput(_ i: Int) -> Bool { inputs[i] >= 0 }
    @inline(__always) public func output(_ k: Int) -> UnsafeMutablePointer<Float> { plan.address[outputs[k]] }

    /// Output k's gradient, nil when nothing after the op used that output.
    @inline(__always) public func gradient(ofOutput k: Int) -> UnsafeMutablePointer<Float>? {
        let slot = outputs[k]
        return plan.written[slot] ? plan.values + plan.gradOffsets[slot] : nil
    }

    /// Scratch buffer k (0 to 7) of at least n floats, shared by every
    /// kernel: valid only until the kernel returns.
    @inline(__always) public func scratch(_ k: Int, _ n: Int) -> UnsafeMutablePointer<Float> { KernelPlan.scratch(plan.scratchBuffers, k, n) }

    /// Whether input i needs a gradient (it was computed from a parameter).
    @inline(__always) public func needs(_ i: Int) -> Bool { inputs[i] >= 0 && plan.gradOffsets[inputs[i]] >= 0 }

    /// Adds g (the input's size) to input i's gradient: copied when it is
    /// the first, as a node's gradient is.
    public func add(_ g: UnsafePointer<Float>, to i: Int) {
        guard needs(i) else { return }
        let slot = inputs[i]
        let d = plan.values + plan.gradOffsets[slot], n = plan.counts[slot]
        if plan.written[slot] {
            for j in 0..<n { d[j] += g[j] }
        } else {
            d.update(from: g, count: n)
            plan.written[slot] = true
        }
    }

    /// Input i's gradient for a kernel that sums its whole contribution and
    /// adds it, as `add` does, without a buffer between: body(d, first)
    /// writes the sum into d when `first` (nothing there yet), else adds it
    /// to d's values. False when the input needs no gradient.
    @discardableResult
    public func accumulate(to i: Int, _ body: (UnsafeMutablePointer<Float>, _ first: Bool) -> Void) -> Bool {
        guard needs(i) else { return false }
        let slot = inputs[i]
        let first = !plan.written[slot]
        body(plan.values + plan.gradOffsets[slot], first)
        plan.written[slot] = true
        return true
    }

    /// Input i's gradient for a kernel that writes or adds its contributions
    /// itself: the buffer, and whether it had nothing yet (the first
    /// contribution is then written, as `add` copies it); nil when the
    /// input needs no gradient. The gradient counts as written from now.
    public func gradientTarget(_ i: Int) -> (UnsafeMutablePointer<Float>, first: Bool)? {
        guard needs(i) else { return nil }
        return target(inputs[i])
    }

    /// The same for output k's gradient (a kernel that fuses several ops
    /// passes gradients between them there).
    public func gradientTarget(ofOutput k: Int) -> (UnsafeMutablePointer<Float>, first: Bool)? {
        guard plan.gradOffsets[outputs[k]] >= 0 else { return nil }
        return target(outputs[k])
    }

    /// A slot's gradient buffer, and whether it had nothing yet; written from now.
    /// (Read through the plan's buffers: a method of the plan would retain it at each call.)
    @inline(__always) private func target(_ slot: Int) -> (UnsafeMutablePointer<Float>, first: Bool) {
        let first = !plan.written[slot]
        plan.written[slot] = true
        return (plan.values + plan.gradOffsets[slot], first)
    }

    /// Input i's gradient for `body` to add into in place (zeros if it has none yet); false when it needs none.
    @discardableResult
    public func addInPlace(to i: Int, _ body: (UnsafeMutablePointer<Float>) -> Void) -> Bool {
        guard needs(i) else { return false }
        let slot = inputs[i]
        let d = plan.values + plan.gradOffsets[slot]
        if !plan.written[slot] {
            d.update(repeating: 0, count: plan.counts[slot])
            plan.written[slot] = true
        }
        body(d)
        return true
    }

    /// Input i's gradient gains a^T b, for a [rows, m] and b [rows, n]: kept,
    /// as `Backward.addProduct` keeps it, until every user of the input has
    /// run, then added as one product with all the rows stacked. a and b
    /// must stay unchanged until then (a kernel's own saved buffers).
    public func addProduct(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: Int, m: Int, n: Int, to i: Int) {
        guard needs(i) else { return }
        let slot = inputs[i]
        if plan.outputIndex[slot] != 0 {
            // As for a node: only a value's first output keeps its products.
            addInPlace(to: i) { Tensor.addProduct(into: $0, a, b, m: m, n: n, k: rows, transposeA: true, transposeB: false) }
            return
        }
        plan.pendingProducts.pointee.append(KernelPlan.Product(slot: slot, a: a, b: b, rows: rows, m: m, n: n))
        plan.pendingCounts[slot] += 1
    }
}

/// A kernel whose backward pass can write an input's gradient over its
/// output's gradient (the input's gradient being, element by element, the
/// output's or made from it alone): the plan gives both the same space when
/// the step is the input's last user, so the gradient is not copied. The
/// kernel must read everything else it needs from the output's gradient
/// first, and then find the input's gradient at the same address.
public protocol PassesGradientInPlace: PlanKernel {
    var gradientInPlace: (input: Int, output: Int) { get }
}

/// The values an effect reads after a run, each made into a tensor only
/// when asked for (a memory's snapshot is copied only while it keeps them).
public struct PlanValues {
    unowned(unsafe) let plan: KernelPlan
    let slots: UnsafeBufferPointer<Int>
    public var count: Int { slots.count }
    public subscript(_ i: Int) -> Tensor { plan.tensor(slots[i]) }
    /// Which run of which plan these are (to tell a run from the next).
    public var run: PlanRun { PlanRun(storage: plan.storage, number: plan.storage.runs) }
    /// The run's number alone, for an object that knows the plan already.
    public var runNumber: Int { plan.storage.runs }
    /// Value i left where it is, to be read later (a trace that is seldom
    /// looked at); nil for a value the plan does not store (`remade`).
    public func kept(_ i: Int) -> PlanValue? {
        let slot = slots[i]
        guard !plan.bound[slot], plan.remade.isEmpty || plan.remade[slot] == nil else { return nil }
        return PlanValue(run: run, offset: plan.offsets[slot], shape: plan.shapes[slot])
    }
}

/// A plan's values, apart from the plan: a value kept from a run
/// (`PlanValue`) holds them, not the plan, and outlives the plan.
final class PlanStorage {
    let values: UnsafeMutablePointer<Float>
    /// Runs begun, and whether the last one got to its effects: a kept
    /// value is valid while both are as they were when it was kept.
    var runs = 0
    var finished = false

    init(floats: Int) {
        values = .allocate(capacity: floats)
        values.initialize(repeating: 0, count: floats)
    }
    deinit { values.deallocate() }
}

/// One run of a plan, current until the plan runs again.
public struct PlanRun {
    let storage: PlanStorage
    public let number: Int
    public var isCurrent: Bool { storage.runs == number && storage.finished }
}

/// What a run leaves in an object, reading values of the plan: an object,
/// so that the plan calls it without reference counting.
final class PlanEffect {
    let slots: UnsafeMutableBufferPointer<Int>
    let apply: (PlanValues) -> Void

    init(slots: [Int], apply: @escaping (PlanValues) -> Void) {
        self.slots = .allocate(capacity: slots.count)
        _ = self.slots.initialize(from: slots)
        self.apply = apply
    }
    deinit { slots.deallocate() }
}

/// A value of a plan's run, read only when asked for: a plan keeps each
/// value in place until it runs again, so a memory's trace need not copy
/// its weightings at every call.
public struct PlanValue {
    /// The run that left it.
    let run: PlanRun
    let offset: Int
    public let shape: [Int]

    /// Whether the plan has not run since (nor begun to): the value is still there.
    public var isCurrent: Bool { run.isCurrent }
    /// The value in the plan now: the holder checks first that it is the
    /// run it wants (`isCurrent`, or a `PlanRun` of its own).
    public var tensor: Tensor {
        Tensor(shape: shape, data: Array(UnsafeBufferPointer(start: run.storage.values + offset, count: shape.reduce(1, *))))
    }
}

/// A compiled function's tensor work as a static plan: every value in one
/// buffer allocated when the plan is built, each op a kernel writing into
/// it, the backward pass the kernels in reverse, then the optimizer's
/// update; no graph nodes, closures or tensors are made at a run.
public final class KernelPlan {
    /// Where a value the plan does not compute comes from at each run.
    public enum Source {
        /// A parameter, or a tensor made before the function ran: its value now.
        case variable(Variable)
        /// Made while tracing from plain values (zeros, a memory's reset): the same at each run.
        case frozen(Tensor)
        /// The run's argument tensor of this position.
        case argument(Int)
        /// An object's state as it is at the run (a memory's contents carried from the last call).
        case current(() -> Variable)
    }

    /// The floats kernels have allocated for themselves (`planBuffer`): a
    /// recorder takes the difference over its trace.
    nonisolated(unsafe) public static var kernelFloats = 0

    /// A plain value (copied without reference counting as the loops go
    /// through the steps): `kernels` holds each kernel alive.
    struct Step {
        let unmanaged: Unmanaged<PlanKernel>
        var kernel: PlanKernel { unmanaged.takeUnretainedValue() }
        let name: StaticString
        let inputs: Int, outputs: Int, outputCount: Int
        /// Whether the eager op recorded a node (some input needs a gradient).
        let records: Bool
        let flops: Int
    }

    struct Product {
        let slot: Int
        let a: UnsafePointer<Float>, b: UnsafePointer<Float>
        let rows: Int, m: Int, n: Int
    }

    /// Values then gradients, one buffer, owned by `storage` (kept values hold it).
    let values: UnsafeMutablePointer<Float>
    let storage: PlanStorage
    let offsets: UnsafeMutablePointer<Int>
    /// Where each value is read and written: `values + offsets`, except for a
    /// parameter or a constant the plan reads in place (`bound`), whose own
    /// array it points into for the run: such values are not copied in.
    let address: UnsafeMutablePointer<UnsafeMutablePointer<Float>>
    let bound: UnsafeMutablePointer<Bool>
    let counts: UnsafeMutablePointer<Int>
    /// -1 for a value that needs no gradient.
    let gradOffsets: UnsafeMutablePointer<Int>
    let written: UnsafeMutablePointer<Bool>
    /// Which output of its op each value is (a product is kept only for output 0).
    let outputIndex: UnsafeMutablePointer<Int>
    let slotTable: UnsafeMutablePointer<Int>
    let shapes: [[Int]]
    let plannedSteps: [Step]
    private let kernels: [PlanKernel]
    let sources: [(slot: Int, source: Source)]
    let slotCount: Int
    let totalFloats: Int
    /// The products kept for gradients until their values' users have all
    /// run; behind a pointer, so that a kernel adds to it without retaining the plan.
    let pendingProducts: UnsafeMutablePointer<[Product]> = {
        let p = UnsafeMutablePointer<[Product]>.allocate(capacity: 1)
        p.initialize(to: [])
        return p
    }()
    var pending: [Product] { pendingProducts.pointee }
    /// How many of them each slot has (most have none: no need to look).
    let pendingCounts: UnsafeMutablePointer<Int>
    /// What the run leaves in objects: states set from a value, and effects read from several, in order.
    var states: [(slot: Int, apply: (Tensor) -> Void)] = []
    var effects: [PlanEffect] = [] {
        didSet { unmanagedEffects = effects.map { .passUnretained($0) } }
    }
    private var unmanagedEffects: [Unmanaged<PlanEffect>] = []
    /// Buffers that steps sharing a weight keep their product rows in (`layOutProductRows`).
    private let sharedRows: [UnsafeMutablePointer<Float>]
    private var stackA: UnsafeMutablePointer<Float>? = nil
    private var stackB: UnsafeMutablePointer<Float>? = nil
    private var stackCapacity = (0, 0)

    /// The loss an optimizer steps from, and the optimizer with each parameter's slot (-1: unused).
    let loss: Int?
    let optimizer: Optimizer?
    let parameterSlots: [Int]
    /// One zero buffer as long as the longest parameter, for a parameter the loss does not use.
    private let zeros: UnsafeMutablePointer<Float>

    /// Values no step stores (`mergeIntoUsers`), each with the step that makes them again when asked.
    let remade: [Int: Int]

    init(slots: [PlanRecorder.Slot], steps: [PlanRecorder.RecordedStep], sources: [(slot: Int, source: Source)],
         loss: Int?, optimizer: Optimizer?, parameterSlots: [Int], remade: [Int: Int] = [:]) throws {
        // A step copying one contiguous part of a value (a reshape, a row)
        // makes a view: its value is that part, read in place.
        var viewOf: [Int: (slot: Int, start: Int)] = [:]
        for step in steps {
            if let copy = step.kernel as? CopyKernel, let start = copy.contiguousStart, step.inputs.count == 1, step.inputs[0] >= 0 {
                viewOf[step.outputs[0]] = (step.inputs[0], start)
            }
        }
        // Values and gradients within the memory budget, or no plan.
        func floats(_ i: Int) -> Int { remade[i] == nil && viewOf[i] == nil ? (slots[i].count + 7) / 8 * 8 : 0 }
        let valueFloats = slots.indices.reduce(0) { $0 + floats($1) }
        let probe = UnsafeMutablePointer<Int>.allocate(capacity: max(1, slots.count))
        defer { probe.deallocate() }
        let gradientFloats = KernelPlan.placeGradients(slots: slots, steps: steps, loss: loss, at: 0, into: probe)
        try MemoryBudget.check(adding: 4 * (valueFloats + gradientFloats), for: "a compiled plan's buffers")
        slotCount = slots.count
        offsets = .allocate(capacity: max(1, slotCount))
        address = .allocate(capacity: max(1, slotCount))
        pendingCounts = .allocate(capacity: max(1, slotCount))
        pendingCounts.initialize(repeating: 0, count: max(1, slotCount))
        bound = .allocate(capacity: max(1, slotCount))
        counts = .allocate(capacity: max(1, slotCount))
        gradOffsets = .allocate(capacity: max(1, slotCount))
        written = .allocate(capacity: max(1, slotCount))
        outputIndex = .allocate(capacity: max(1, slotCount))
        written.initialize(repeating: false, count: max(1, slotCount))
        // Values first, then gradients, each padded to eight floats.
        var next = 0
        for (i, s) in slots.enumerated() {
            // A value's slot comes after those of the values it was made from.
            if let view = viewOf[i] { offsets[i] = offsets[view.slot] + view.start } else { offsets[i] = next }
            counts[i] = s.count
            outputIndex[i] = s.output
            next += floats(i)
        }
        self.remade = remade
        next += KernelPlan.placeGradients(slots: slots, steps: steps, loss: loss, at: next, into: gradOffsets)
        totalFloats = max(next, 1)
        storage = PlanStorage(floats: totalFloats)
        values = storage.values
        for i in 0..<slotCount { address[i] = values + offsets[i] }
        // A parameter or a constant is read where it is, unless a view reads
        // it in place too (its address is fixed when the plan is made).
        let viewed = Set(viewOf.values.map(\.slot))
        bound.initialize(repeating: false, count: max(1, slotCount))
        for (slot, source) in sources where !viewed.contains(slot) && slots[slot].count > 0 {
            switch source {
            case .variable, .frozen: bound[slot] = true
            case .argument, .current: break
            }
        }
        shapes = slots.map(\.shape)
        let tableCount = steps.reduce(0) { $0 + $1.inputs.count + $1.outputs.count }
        slotTable = .allocate(capacity: max(1, tableCount))
        var at = 0
        var planned: [Step] = []
        for s in steps {
            let inputsAt = at
            for i in s.inputs { slotTable[at] = i; at += 1 }
            let outputsAt = at
            for o in s.outputs { slotTable[at] = o; at += 1 }
            planned.append(Step(unmanaged: .passUnretained(s.kernel), name: s.name, inputs: inputsAt, outputs: outputsAt,
                                outputCount: s.outputs.count, records: s.records, flops: s.flops))
        }
        self.plannedSteps = planned
        self.kernels = steps.map(\.kernel)
        sharedRows = KernelPlan.layOutProductRows(steps)
        self.sources = sources
        self.loss = loss
        self.optimizer = optimizer
        self.parameterSlots = parameterSlots
        let longest = optimizer?.parameters.map { $0.value.count }.max() ?? 0
        zeros = .allocate(capacity: max(1, longest))
        zeros.initialize(repeating: 0, count: max(1, longest))
        pendingProducts.pointee.reserveCapacity(steps.count)
    }

    /// The LSTM steps sharing a weight save their rows for its product in
    /// one buffer each for [x, h] and dz, the last step's first (the order
    /// the backward pass keeps them in), so that `flushProducts` finds them
    /// stacked already. Returns the buffers, which the plan owns.
    static func layOutProductRows(_ steps: [PlanRecorder.RecordedStep]) -> [UnsafeMutablePointer<Float>] {
        var byWeight: [Int: [LSTMKernel]] = [:], order: [Int] = []
        for step in steps {
            guard let cell = step.kernel as? LSTMKernel, step.inputs[3] >= 0 else { continue }
            if byWeight[step.inputs[3]] == nil { order.append(step.inputs[3]) }
            byWeight[step.inputs[3], default: []].append(cell)
        }
        var buffers: [UnsafeMutablePointer<Float>] = []
        for weight in order {
            guard let cells = byWeight[weight], cells.count > 1,
                  cells.allSatisfy({ $0.rowFloats == cells[0].rowFloats }) else { continue }
            let (a, b) = cells[0].rowFloats
            let xh = UnsafeMutablePointer<Float>.allocate(capacity: cells.count * a)
            let dz = UnsafeMutablePointer<Float>.allocate(capacity: cells.count * b)
            xh.initialize(repeating: 0, count: cells.count * a)
            dz.initialize(repeating: 0, count: cells.count * b)
            for (t, cell) in cells.reversed().enumerated() { cell.useRows(xh: xh + t * a, dz: dz + t * b) }
            buffers += [xh, dz]
        }
        return buffers
    }

    /// Places the gradients after the values, sharing space by liveness: a
    /// value's gradient is written first by the backward of its last user
    /// (the loss's: before any) and read last by the backward of the step
    /// that made it (a parameter's: by the optimizer, after them all), so
    /// two whose spans of steps do not meet can take the same floats.
    /// Returns the floats they take; -1 for a value that needs none.
    static func placeGradients(slots: [PlanRecorder.Slot], steps: [PlanRecorder.RecordedStep], loss: Int?, at start: Int,
                               into gradOffsets: UnsafeMutablePointer<Int>) -> Int {
        var producer = [Int](repeating: -1, count: slots.count), lastUse = [Int](repeating: -1, count: slots.count)
        for (k, step) in steps.enumerated() {
            for o in step.outputs { producer[o] = k }
            for i in step.inputs where i >= 0 { lastUse[i] = k }
        }
        if let loss { lastUse[loss] = steps.count }
        // Spans in the backward pass's order, which runs from the last step (steps.count: the seed) to the first (-1: the update).
        var starting: [Int: [Int]] = [:], ending: [Int: [Int]] = [:]
        for i in slots.indices {
            gradOffsets[i] = -1
            guard slots[i].needsGradient else { continue }
            starting[max(lastUse[i], producer[i]), default: []].append(i)
            ending[producer[i], default: []].append(i)
        }
        var free: [Int: [Int]] = [:]
        var used = 0
        for t in stride(from: steps.count, through: -1, by: -1) {
            // A kernel that passes its output's gradient on in place gives
            // that space to the input, if this step is the input's last user.
            var handedOver = -1
            if t >= 0, t < steps.count, let inPlace = (steps[t].kernel as? PassesGradientInPlace)?.gradientInPlace {
                let (i, o) = (steps[t].inputs[inPlace.input], steps[t].outputs[inPlace.output])
                if i >= 0, gradOffsets[o] >= 0, slots[i].needsGradient, lastUse[i] == t, producer[i] != t,
                   slots[i].count == slots[o].count, steps[t].inputs.filter({ $0 == i }).count == 1 {
                    gradOffsets[i] = gradOffsets[o]
                    handedOver = o
                }
            }
            for i in starting[t] ?? [] where gradOffsets[i] < 0 {
                let size = (slots[i].count + 7) / 8 * 8
                if let offset = free[size]?.popLast() {
                    gradOffsets[i] = offset
                } else {
                    gradOffsets[i] = start + used
                    used += size
                }
            }
            for i in ending[t] ?? [] where i != handedOver { free[(slots[i].count + 7) / 8 * 8, default: []].append(gradOffsets[i]) }
        }
        return used
    }

    deinit {
        offsets.deallocate(); address.deallocate(); bound.deallocate()
        pendingProducts.deinitialize(count: 1); pendingProducts.deallocate(); pendingCounts.deallocate(); counts.deallocate(); gradOffsets.deallocate()
        written.deallocate(); outputIndex.deallocate(); slotTable.deallocate(); zeros.deallocate()
        stackA?.deallocate(); stackB?.deallocate()
        for b in sharedRows { b.deallocate() }
        for b in transposes.values { b.deallocate() }
        for k in 0..<KernelPlan.scratchCount { scratchBuffers[k].pointer.deallocate() }
        scratchBuffers.deallocate()
    }

    /// The kernels' shared scratch (`PlanIO.scratch`, buffers 0 to 7), grown
    /// at the first run; plain pointers, so that asking costs no reference counting.
    static let scratchCount = 8
    let scratchBuffers: UnsafeMutablePointer<(pointer: UnsafeMutablePointer<Float>, count: Int)> = {
        let buffers = UnsafeMutablePointer<(pointer: UnsafeMutablePointer<Float>, count: Int)>.allocate(capacity: KernelPlan.scratchCount)
        for k in 0..<KernelPlan.scratchCount { (buffers + k).initialize(to: (.allocate(capacity: 1), 1)) }
        return buffers
    }()

    @inline(__always)
    static func scratch(_ scratchBuffers: UnsafeMutablePointer<(pointer: UnsafeMutablePointer<Float>, count: Int)>, _ k: Int, _ n: Int)
        -> UnsafeMutablePointer<Float> {
        // No larger than the temporaries the eager ops made (and freed) for the same values.
        if scratchBuffers[k].count < n {
            scratchBuffers[k].pointer.deallocate()
            scratchBuffers[k] = (.allocate(capacity: max(1, n)), n)
        }
        return scratchBuffers[k].pointer
    }

    /// Transposed copies of matrices, made once per backward pass (as `Backward.transpose(of:)`).
    private var transposes: [Int: UnsafeMutablePointer<Float>] = [:]
    private var transposedNow: Set<Int> = []

    /// The transpose of value `slot`, a [rows, columns] matrix.
    func transposed(_ slot: Int, rows: Int, columns: Int) -> UnsafePointer<Float> {
        let buffer: UnsafeMutablePointer<Float>
        if let b = transposes[slot] { buffer = b } else {
            buffer = .allocate(capacity: max(1, rows * columns))
            transposes[slot] = buffer
        }
        if transposedNow.insert(slot).inserted {
            OwnKernels.transpose(address[slot], rows: rows, columns: columns, into: buffer)
        }
        return UnsafePointer(buffer)
    }

    /// The bytes kernels keep for themselves (saved values, scratch).
    var kernelBytes = 0

    /// `compile(f, profile: true)`: every kernel's time is measured (two
    /// clock reads each), for the table. Per step: forward and backward
    /// nanoseconds summed over the runs measured, and the update's.
    public var timing = false
    private lazy var forwardNanos = [UInt64](repeating: 0, count: plannedSteps.count)
    private lazy var backwardNanos = [UInt64](repeating: 0, count: plannedSteps.count)
    private var updateNanos: UInt64 = 0, productNanos: UInt64 = 0, timedRuns = 0

    @inline(__always) private static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Runs body, adding its time to `nanos` when timing.
    @inline(__always) private func timed(_ nanos: inout UInt64, _ body: () -> Void) {
        guard timing else { return body() }
        let start = KernelPlan.now()
        body()
        nanos &+= KernelPlan.now() &- start
    }

    /// Where a run's time went, by kernel op (nil before a measured run).
    var timeTable: String? {
        guard timedRuns > 0 else { return nil }
        var byOp: [String: (forward: UInt64, backward: UInt64)] = [:]
        for (n, step) in plannedSteps.enumerated() {
            let old = byOp["\(step.name)"] ?? (0, 0)
            byOp["\(step.name)"] = (old.forward + forwardNanos[n], old.backward + backwardNanos[n])
        }
        let runs = Double(timedRuns)
        func ms(_ ns: UInt64) -> String { String(format: "%.3f", Double(ns) / runs / 1e6) }
        let forward = byOp.values.reduce(0) { $0 + $1.forward }, backward = byOp.values.reduce(0) { $0 + $1.backward }
        let total = max(1, forward + backward + productNanos + updateNanos)
        var lines = ["measured over \(timedRuns) run\(timedRuns == 1 ? "" : "s"): \(ms(total)) ms a run in kernels (forward \(ms(forward)), backward \(ms(backward)), "
                     + "shared weights' products \(ms(productNanos)), update \(ms(updateNanos)))",
                     "kernel".padding(toLength: 18, withPad: " ", startingAt: 0) + "forward ms".leftPadded(12) + "backward ms".leftPadded(13) + "share".leftPadded(8)]
        for (op, t) in byOp.sorted(by: { $0.value.forward + $0.value.backward > $1.value.forward + $1.value.backward }) {
            let share = String(format: "%.1f%%", 100 * Double(t.forward + t.backward) / Double(total))
            lines.append(op.padding(toLength: 18, withPad: " ", startingAt: 0) + ms(t.forward).leftPadded(12) + ms(t.backward).leftPadded(13) + share.leftPadded(8))
        }
        return lines.joined(separator: "\n")
    }

    /// The plan as `graph(f)` shows it: its kernels by op, their count,
    /// forward FLOPs and the bytes of the values and gradients they write,
    /// under a head with the plan's whole memory.
    public var table: String {
        var rows: [String: GraphProfile.Row] = [:]
        for step in plannedSteps {
            let name = "\(step.name)"
            var bytes = 0
            for k in 0..<step.outputCount {
                let slot = slotTable[step.outputs + k]
                bytes += 4 * counts[slot] * (gradOffsets[slot] >= 0 ? 2 : 1)
            }
            let old = rows[name]
            rows[name] = GraphProfile.Row(op: name, count: (old?.count ?? 0) + 1, flops: (old?.flops ?? 0) + step.flops,
                                          bytes: (old?.bytes ?? 0) + bytes, shape: old?.shape ?? shapes[slotTable[step.outputs]])
        }
        let profile = GraphProfile(rows: Array(rows.values), nodes: plannedSteps.count)
        // Kernels' scratch is shared and grows at the first run.
        let kept = kernelBytes + 4 * (0..<KernelPlan.scratchCount).reduce(0) { $0 + (scratchBuffers[$1].count > 1 ? scratchBuffers[$1].count : 0) }
        let head = "one kernel plan: \(plannedSteps.count) kernels, \(GraphProfile.amount(profile.flops, "FLOP")) forward, "
            + "\(GraphProfile.amount(bytes + kept, "B")) allocated once (values and gradients \(GraphProfile.amount(bytes, "B")), kept by kernels \(GraphProfile.amount(kept, "B")))"
        let table = profile.table(head: head, kind: "kernel", held: "writes")
        return timeTable.map { table + "\n" + $0 } ?? table
    }

    /// The bytes the plan holds (values, gradients and the kernels' own saved buffers aside).
    public var bytes: Int { totalFloats * MemoryLayout<Float>.stride }

    /// One value's contents as a new tensor.
    public func tensor(_ slot: Int) -> Tensor {
        if let k = remade[slot], counts[slot] > 0, let kernel = plannedSteps[k].kernel as? RemakesValue {
            let io = PlanIO(plan: self, inputs: slotTable + plannedSteps[k].inputs, outputs: slotTable + plannedSteps[k].outputs)
            return Tensor(shape: shapes[slot], data: Array(unsafeUninitializedCapacity: counts[slot]) { buffer, n in
                buffer.baseAddress!.initialize(repeating: 0, count: counts[slot])
                kernel.remake(io, into: buffer.baseAddress!)
                n = counts[slot]
            })
        }
        // A parameter read in place: its value now (the optimizer may have moved it since the run).
        if bound[slot], let source = sources.first(where: { $0.slot == slot })?.source {
            switch source {
            case .variable(let v): return v.value
            case .frozen(let t): return t
            case .argument, .current: break
            }
        }
        return Tensor(shape: shapes[slot], data: Array(UnsafeBufferPointer(start: address[slot], count: counts[slot])))
    }

    /// Whether an object's state the plan reads now carries a graph (made
    /// op by op since): the call must then run step by step, to follow it.
    public var readsStateWithGraph: Bool {
        sources.contains { if case .current(let state) = $0.source { return state().node.map(KernelPlan.carriesGraph) ?? false } else { return false } }
    }

    /// Whether a gradient taken later would follow this node back: not one
    /// recorded in a nograd block (a constant once the block has ended).
    static func carriesGraph(_ node: Node) -> Bool { node.scope == 0 }

    /// The loss an optimizer steps from, after `forward`.
    public var lossValue: Float? { loss.map { values[offsets[$0]] } }
    public var stepsOptimizer: Bool { optimizer != nil }

    /// Binds the sources (`arguments`: the tensors they name by position),
    /// runs every kernel forward and leaves the objects' new state.
    public func forward(arguments: [Tensor]) throws {
        storage.runs &+= 1
        storage.finished = false
        for (slot, source) in sources {
            let d = values + offsets[slot], n = counts[slot]
            // An empty tensor's array may have no storage at all: nothing to copy.
            if n == 0 { continue }
            switch source {
            case .variable(let v):
                guard v.value.count == n else { throw TensorError("a tensor the compiled function reads changed size since it was traced") }
                // Its array stays where it is until the optimizer's update, after the backward pass.
                if bound[slot] { address[slot] = v.value.data.withUnsafeBufferPointer { UnsafeMutablePointer(mutating: $0.baseAddress!) } }
                else { v.value.data.withUnsafeBufferPointer { d.update(from: $0.baseAddress!, count: n) } }
            case .frozen(let t):
                if bound[slot] { address[slot] = t.data.withUnsafeBufferPointer { UnsafeMutablePointer(mutating: $0.baseAddress!) } }
                else { t.data.withUnsafeBufferPointer { d.update(from: $0.baseAddress!, count: n) } }
            case .argument(let i): arguments[i].data.withUnsafeBufferPointer { d.update(from: $0.baseAddress!, count: n) }
            case .current(let state):
                let v = state()
                guard v.value.count == n else { throw TensorError("an object's state the compiled function reads changed size since it was traced") }
                guard v.node.map(KernelPlan.carriesGraph) != true else { throw TensorError("internal: a kernel plan's object state carries a graph") }
                v.value.data.withUnsafeBufferPointer { d.update(from: $0.baseAddress!, count: n) }
            }
        }
        // Through the steps' storage: no reference counting per step.
        try plannedSteps.withUnsafeBufferPointer { steps in
            for n in steps.indices {
                if n & 63 == 0, Interrupt.requested { throw TensorError("interrupted") }
                let start = timing ? KernelPlan.now() : 0
                let io = PlanIO(plan: self, inputs: slotTable + steps[n].inputs, outputs: slotTable + steps[n].outputs)
                // The next kernel object is out of cache after this step's work: ask for it now.
                if n + 1 < steps.count { mnemo_prefetch(steps[n + 1].unmanaged.toOpaque()) }
                try steps[n].unmanaged._withUnsafeGuaranteedRef { try $0.forward(io) }
                if timing { forwardNanos[n] &+= KernelPlan.now() &- start }
            }
        }
        if timing { timedRuns += 1 }
        storage.finished = true
        unmanagedEffects.withUnsafeBufferPointer { effects in
            for e in effects {
                e._withUnsafeGuaranteedRef { e in e.apply(PlanValues(plan: self, slots: UnsafeBufferPointer(e.slots))) }
            }
        }
        for s in states { s.apply(tensor(s.slot)) }
    }

    /// The optimizer's step after `forward`: the backward pass, then the
    /// update; returns what the optimizer's `apply` does.
    @discardableResult
    public func step() throws -> Float {
        guard let loss, let optimizer else { return 0 }
        try backward(from: loss)
        let start = timing ? KernelPlan.now() : 0
        defer { if timing { updateNanos &+= KernelPlan.now() &- start } }
        return try optimizer.apply { i, body in
            let slot = parameterSlots[i], n = optimizer.parameters[i].value.count
            if slot >= 0 && written[slot] { try body(UnsafeBufferPointer(start: values + gradOffsets[slot], count: n)) }
            else { try body(UnsafeBufferPointer(start: zeros, count: n)) }
        }
    }

    /// The kernels' backward in reverse order, as the eager walk visits nodes (newest first).
    private func backward(from loss: Int) throws {
        written.update(repeating: false, count: slotCount)
        pendingProducts.pointee.removeAll(keepingCapacity: true)
        pendingCounts.update(repeating: 0, count: max(1, slotCount))
        transposedNow.removeAll(keepingCapacity: true)
        values[gradOffsets[loss]] = 1
        written[loss] = true
        for n in stride(from: plannedSteps.count - 1, through: 0, by: -1) {
            let step = plannedSteps[n]
            if n & 63 == 0, Interrupt.requested { throw TensorError("interrupted") }
            guard step.records else { continue }
            // Every user of these values has run: their products are summed now.
            if !pending.isEmpty {
                for k in 0..<step.outputCount { timed(&productNanos) { flushProducts(slotTable[step.outputs + k]) } }
            }
            var used = false
            for k in 0..<step.outputCount where written[slotTable[step.outputs + k]] { used = true }
            guard used else { continue }
            let start = timing ? KernelPlan.now() : 0
            let io = PlanIO(plan: self, inputs: slotTable + step.inputs, outputs: slotTable + step.outputs)
            if n > 0 { mnemo_prefetch(plannedSteps[n - 1].unmanaged.toOpaque()) }
            try step.unmanaged._withUnsafeGuaranteedRef { try $0.backward(io) }
            if timing { backwardNanos[n] &+= KernelPlan.now() &- start }
        }
        // What is left goes to values from outside (parameters), in the order a walk reaches them.
        while let slot = pending.last?.slot { timed(&productNanos) { flushProducts(slot) } }
    }

    /// Adds the products kept for `slot`, rows stacked in the order they came, as one product.
    private func flushProducts(_ slot: Int) {
        guard pendingCounts[slot] > 0 else { return }
        defer { pendingCounts[slot] = 0 }
        var rows = 0, parts = 0, m = 0, n = 0
        var single: Product? = nil
        for p in pending where p.slot == slot {
            rows += p.rows; parts += 1; m = p.m; n = p.n
            single = p
        }
        guard parts > 0, let single else { return }
        let d = values + gradOffsets[slot]
        if !written[slot] {
            // A weight's gradient (a megabyte for the MANN's LSTM) zeroed by the threads, each its part.
            let n = counts[slot]
            Parallel.forEach((n + 4095) / 4096, work: n) { range in
                let start = 4096 * range.lowerBound
                (d + start).update(repeating: 0, count: min(n, 4096 * range.upperBound) - start)
            }
            written[slot] = true
        }
        // An empty product (no rows, or a weight with no rows or columns) adds nothing.
        guard rows > 0, m > 0, n > 0 else {
            pendingProducts.pointee.removeAll { $0.slot == slot }
            return
        }
        // Parts laid out one after another already (`layOutProductRows`) need no stacking.
        var first: Product? = nil, nextA: UnsafePointer<Float>? = nil, nextB: UnsafePointer<Float>? = nil, contiguous = true
        for p in pending where p.slot == slot {
            if first == nil { first = p } else if p.a != nextA || p.b != nextB { contiguous = false; break }
            (nextA, nextB) = (p.a + p.rows * m, p.b + p.rows * n)
        }
        if parts > 1 && n >= 1 && n <= 8 && m >= 4 && Tensor.ownKernelsTransposeB {
            // A narrow product (a gate's or a few outputs' weight): summed part by part, A not stacked.
            withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: 2 * parts) { pointers in
                withUnsafeTemporaryAllocation(of: Int.self, capacity: parts) { counts in
                    var k = 0
                    for p in pending where p.slot == slot {
                        (pointers[k], pointers[parts + k], counts[k]) = (p.a, p.b, p.rows)
                        k += 1
                    }
                    let base = pointers.baseAddress!
                    OwnKernels.addNarrowProduct(parts: parts, a: base, b: base + parts, rows: counts.baseAddress!, m: m, n: n, into: d)
                }
            }
        } else if parts == 1 {
            Tensor.addProduct(into: d, single.a, single.b, m: m, n: n, k: rows, transposeA: true, transposeB: false)
        } else if contiguous, let first {
            Tensor.addProduct(into: d, first.a, first.b, m: m, n: n, k: rows, transposeA: true, transposeB: false)
        } else {
            if stackCapacity.0 < rows * m {
                stackA?.deallocate()
                stackA = .allocate(capacity: rows * m)
                stackCapacity.0 = rows * m
            }
            if stackCapacity.1 < rows * n {
                stackB?.deallocate()
                stackB = .allocate(capacity: rows * n)
                stackCapacity.1 = rows * n
            }
            var at = 0
            for p in pending where p.slot == slot {
                (stackA! + at * m).update(from: p.a, count: p.rows * m)
                (stackB! + at * n).update(from: p.b, count: p.rows * n)
                at += p.rows
            }
            Tensor.addProduct(into: d, stackA!, stackB!, m: m, n: n, k: rows, transposeA: true, transposeB: false)
        }
        pendingProducts.pointee.removeAll { $0.slot == slot }
    }
}

extension String {
    /// The string right-aligned in `width` characters.
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
