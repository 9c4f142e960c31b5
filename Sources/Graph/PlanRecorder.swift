import Tensor

/// Watches a compiled function's trace run and writes down its tensor work
/// as a `KernelPlan`: each op that has a kernel form hands it over with the
/// Variables it read and made (`Graph.capture`). Anything the plan could
/// not repeat (an op without a kernel, a gradient taken other than by an
/// optimizer's step, an op after that step) is a `failure`, and the
/// function is replayed op by op instead.
public final class PlanRecorder {
    /// Which recorder this is, different for every one made (an object
    /// keeping something per trace tells traces apart by it).
    public let serial: Int
    nonisolated(unsafe) private static var made = 0
    struct Slot {
        let shape: [Int]
        let count: Int
        let output: Int
        let needsGradient: Bool
    }

    struct RecordedStep {
        let kernel: PlanKernel
        let name: StaticString
        let inputs: [Int], outputs: [Int]
        var records: Bool
        let flops: Int
        /// The nograd block it ran in (0: none).
        let scope: Int
    }

    /// Why the trace cannot become a kernel plan (the first reason found).
    public private(set) var failure: String?
    private let startSerial: Int
    /// What kernels had allocated when recording began.
    private let kernelFloatsBefore = KernelPlan.kernelFloats
    private let arguments: [ObjectIdentifier: Int]
    private var slotOf: [ObjectIdentifier: Int] = [:]
    /// Every Variable seen, kept alive while recording so that identities stay unique.
    private var kept: [Variable] = []
    private var slots: [Slot] = []
    /// The step that made each slot (-1: from outside).
    private var producer: [Int] = []
    /// The nograd blocks open when the optimizer stepped: what ran in them still counts.
    private var openAtStep: [Int] = [0]
    private var steps: [RecordedStep] = []
    private var sources: [(slot: Int, source: KernelPlan.Source)] = []
    private var recordedOps = 0, capturedOps = 0
    private var lastOp: StaticString = "op"
    private var loss: Int?
    private var optimizer: Optimizer?
    /// True while an optimizer's step takes its gradients.
    var stepping = false
    /// What the function leaves behind besides its values: an object's state
    /// (the last one set counts) and things it appends (in order).
    private var states: [(key: ObjectIdentifier, name: String, slot: Int, apply: (Tensor) -> Void)] = []
    /// The object states read from before the call, and whether each state left carries a graph.
    private var carried: [(key: ObjectIdentifier, name: String)] = []
    private var leavesGraph: [String: Bool] = [:]
    private var effects: [(slots: [Int], apply: (PlanValues) -> Void)] = []

    /// `arguments`: the tensors of the traced call's arguments, in the order a run will give them.
    public init(arguments: [Variable], startSerial: Int) {
        var positions: [ObjectIdentifier: Int] = [:]
        for (i, v) in arguments.enumerated() where positions[ObjectIdentifier(v)] == nil { positions[ObjectIdentifier(v)] = i }
        self.arguments = positions
        self.startSerial = startSerial
        PlanRecorder.made += 1
        serial = PlanRecorder.made
        kept = arguments
    }

    public func fail(_ reason: String) {
        if failure == nil { failure = reason }
    }

    /// Called for every op that records (or would record) a node.
    func opRecorded(_ op: StaticString) {
        if recordedOps != capturedOps { fail("'\(lastOp)' has no compiled kernel yet") }
        recordedOps += 1
        lastOp = op
    }

    /// The slot of a Variable an op reads, bound to where it comes from if the plan does not compute it.
    private func slot(reading v: Variable) -> Int {
        if let s = slotOf[ObjectIdentifier(v)] { return s }
        let source: KernelPlan.Source
        if let i = arguments[ObjectIdentifier(v)] {
            source = .argument(i)
        } else if v.serial < startSerial {
            if let node = v.node, KernelPlan.carriesGraph(node), !v.isParameter { fail("a tensor computed before the function ran, with a graph of its own, is used in it") }
            source = .variable(v)
        } else if let node = v.node {
            fail("'\(node.op)' has no compiled kernel yet")
            source = .frozen(v.value)
        } else {
            source = .frozen(v.value)
        }
        let s = newSlot(v, needsGradient: v.isParameter)
        sources.append((s, source))
        return s
    }

    private func newSlot(_ v: Variable, needsGradient: Bool) -> Int {
        let s = slots.count
        slots.append(Slot(shape: v.shape, count: v.value.count, output: v.output, needsGradient: needsGradient))
        producer.append(-1)
        slotOf[ObjectIdentifier(v)] = s
        kept.append(v)
        return s
    }

    /// An object hands out its state `v` for an op to read: if it is from
    /// before the call (not made or reset by it), a run takes the object's
    /// state then (`current`), which the previous run or the script may have changed.
    public func stateSource(of owner: AnyObject, _ name: String, _ v: Variable, current: @escaping () -> Variable) {
        guard failure == nil, slotOf[ObjectIdentifier(v)] == nil, v.serial < startSerial, arguments[ObjectIdentifier(v)] == nil else { return }
        if let node = v.node, KernelPlan.carriesGraph(node), !v.isParameter { fail("an object's state carries a graph from before the function ran") }
        let s = newSlot(v, needsGradient: v.isParameter)
        sources.append((s, .current(current)))
        carried.append((ObjectIdentifier(owner), name))
    }

    /// The slot holding a Variable the plan read or made, if any.
    public func slot(of v: Variable) -> Int? { slotOf[ObjectIdentifier(v)] }

    /// An op's kernel with the Variables it read (nil: not given) and made.
    func capture(_ kernel: PlanKernel, name: StaticString, flops: Int, inputs: [Variable?], outputs: [Variable], constant: Bool = false) {
        if constant { opRecorded(name) }
        capturedOps += 1
        if capturedOps != recordedOps { fail("'\(name)' has no compiled kernel yet") }
        guard failure == nil else { return }
        // A plan runs every kernel before the update: one after the step may
        // use what was computed, but not a parameter the step has changed.
        if loss != nil, inputs.contains(where: { $0?.isParameter == true }) {
            fail("'\(name)' reads a parameter after the optimizer's step")
            return
        }
        let ins = inputs.map { $0.map { slot(reading: $0) } ?? -1 }
        let records = !constant && Graph.isRecording && inputs.contains { $0?.node != nil }
        let outs = outputs.map { newSlot($0, needsGradient: records && $0.node != nil) }
        for o in outs { producer[o] = steps.count }
        steps.append(RecordedStep(kernel: kernel, name: name, inputs: ins, outputs: outs, records: records, flops: flops, scope: Graph.currentScope))
    }

    /// An optimizer stepped from `loss`: the plan's backward pass and update.
    func stepped(_ optimizer: Optimizer, loss: Variable) {
        if self.optimizer != nil { fail("the function steps an optimizer more than once") }
        if recordedOps != capturedOps { fail("'\(lastOp)' has no compiled kernel yet") }
        guard failure == nil else { return }
        guard let s = slotOf[ObjectIdentifier(loss)], loss.node != nil, loss.value.count == 1 else {
            fail("the optimizer's loss was not computed in the function")
            return
        }
        self.optimizer = optimizer
        self.loss = s
        openAtStep = Graph.openScopes
    }

    /// An object's state now holds `v` (a memory's contents, a head's last weighting).
    public func state(of owner: AnyObject, _ name: String, _ v: Variable, apply: @escaping (Tensor) -> Void) {
        guard failure == nil else { return }
        let s = slot(reading: v)
        let key = ObjectIdentifier(owner)
        states.removeAll { $0.key == key && $0.name == name }
        states.append((key, name, s, apply))
        leavesGraph["\(key.hashValue).\(name)"] = v.node.map(KernelPlan.carriesGraph) ?? false
        kept.append(v)
    }

    /// Something the function keeps from these values (a memory's trace of its accesses), applied again after each run.
    public func effect(reading values: [Variable], _ apply: @escaping (PlanValues) -> Void) {
        guard failure == nil else { return }
        effects.append((values.map { slot(reading: $0) }, apply))
    }

    /// The plan, or nil with `failure` saying why.
    public func finish() -> KernelPlan? {
        if recordedOps != capturedOps { fail("'\(lastOp)' has no compiled kernel yet") }
        // What a nograd block that had ended by the step recorded is a
        // constant to the backward pass, as to the eager walk.
        for i in steps.indices where !openAtStep.contains(steps[i].scope) { steps[i].records = false }
        for i in slots.indices where producer[i] >= 0 && !steps[producer[i]].records {
            let s = slots[i]
            slots[i] = Slot(shape: s.shape, count: s.count, output: s.output, needsGradient: false)
        }
        // State carried from call to call keeps its graph op by op (the next
        // call's gradient follows it back); a plan leaves values without one.
        for (key, name) in carried where leavesGraph["\(key.hashValue).\(name)"] == true {
            fail("it carries an object's state from one call to the next, whose graph a step op by op would follow back")
        }
        // A plan's values have no graph: without a step, what it returns or
        // leaves in objects might be differentiated later.
        if optimizer == nil && steps.contains(where: \.records) { fail("it records a graph without stepping an optimizer") }
        guard failure == nil else { return nil }
        let parameterSlots = optimizer?.parameters.map { slotOf[ObjectIdentifier($0)] ?? -1 } ?? []
        steps = PlanRecorder.fuseElementwise(steps, slots: slots)
        let merging = PlanRecorder.mergeIntoUsers(steps, slots: &slots, keep: Set(states.map(\.slot) + (loss.map { [$0] } ?? [])))
        steps = merging.steps
        PlanRecorder.shareInputWork(steps)
        let plan: KernelPlan
        do {
            plan = try KernelPlan(slots: slots, steps: steps, sources: sources, loss: loss, optimizer: optimizer, parameterSlots: parameterSlots,
                                  remade: merging.remade)
        } catch {
            fail("\(error)")
            return nil
        }
        plan.kernelBytes = 4 * (KernelPlan.kernelFloats - kernelFloatsBefore)
        plan.states = states.map { ($0.slot, $0.apply) }
        plan.effects = effects.map { PlanEffect(slots: $0.slots, apply: $0.apply) }
        return plan
    }
}

extension Graph {
    /// The recorder of a compiled function's trace run, if one is running.
    nonisolated(unsafe) public static var planRecorder: PlanRecorder?

    /// An op hands its kernel to the recorder (only while a trace records one).
    /// Its arguments are made only then: an op pays one check otherwise.
    @inline(__always)
    public static func capture(_ kernel: @autoclosure () -> PlanKernel, _ op: StaticString, flops: Int = 0,
                               inputs: @autoclosure () -> [Variable?], outputs: @autoclosure () -> [Variable]) {
        guard let recorder = planRecorder else { return }
        recorder.capture(kernel(), name: op, flops: flops, inputs: inputs(), outputs: outputs())
    }

    /// `result`, an op's value, after handing the op's kernel to a recording trace.
    @inline(__always)
    public static func planned(_ kernel: @autoclosure () -> PlanKernel, _ op: StaticString, flops: Int = 0,
                               inputs: @autoclosure () -> [Variable?], _ result: Variable) -> Variable {
        capture(kernel(), op, flops: flops, inputs: inputs(), outputs: [result])
        return result
    }

    /// The same for an op that records no node (its value is a constant: a
    /// detached copy, least-used slots), so that the plan computes it anew.
    @inline(__always)
    public static func plannedConstant(_ kernel: @autoclosure () -> PlanKernel, _ op: StaticString, flops: Int = 0,
                                       inputs: @autoclosure () -> [Variable?], _ result: Variable) -> Variable {
        planRecorder?.capture(kernel(), name: op, flops: flops, inputs: inputs(), outputs: [result], constant: true)
        return result
    }
}
