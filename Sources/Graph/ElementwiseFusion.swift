import Tensor

// Elementwise fusion: a run of consecutive elementwise kernels over the same
// elements becomes one kernel that goes through the elements a block at a
// time, every op on a block while it is in the cache, forward and then
// backward, instead of one pass over all the elements per op. Each element
// takes the same operations in the same order as the separate kernels, so a
// fused plan gives the same bits.

/// One op of a fused run, and where its operands are.
struct FusedOp {
    enum Operand {
        /// The fused kernel's input k (a value from before the run).
        case input(Int)
        /// The output of the run's op j (an earlier one).
        case value(Int)
        /// Input k's single element, the same for every element (a constant:
        /// it takes no gradient).
        case scalar(Int)
    }
    enum Kind {
        case unary(UnaryKernel)
        case binary(BinaryKernel.Kind)
    }
    let kind: Kind
    let operands: [Operand]
    /// Whether the eager op recorded a node (its backward runs).
    let records: Bool
}

final class FusedElementwiseKernel: PlanKernel {
    let ops: [FusedOp]
    let count: Int
    /// Elements a block: every op's values and gradients for a block stay in the cache.
    static let block = 1024
    // Per call, made once: each op's output gradient (nil: none), where each
    // op's contributions to its (at most two) operands go, and each input's
    // gradient buffer once it has one.
    private let gradientOf: UnsafeMutablePointer<UnsafeMutablePointer<Float>?>
    private let targets: UnsafeMutablePointer<Target>
    private let inputGradients: UnsafeMutablePointer<UnsafeMutablePointer<Float>?>
    private let inputCount: Int

    init(ops: [FusedOp], count: Int) {
        (self.ops, self.count) = (ops, count)
        inputCount = 1 + ops.flatMap(\.operands).reduce(-1) { top, operand in
            switch operand {
            case .input(let k), .scalar(let k): return max(top, k)
            case .value: return top
            }
        }
        gradientOf = .allocate(capacity: max(1, ops.count))
        targets = .allocate(capacity: max(1, 2 * ops.count))
        inputGradients = .allocate(capacity: max(1, inputCount))
    }

    deinit {
        gradientOf.deallocate()
        targets.deallocate()
        inputGradients.deallocate()
    }

    override func forward(_ io: PlanIO) {
        for start in stride(from: 0, to: count, by: FusedElementwiseKernel.block) {
            let n = min(FusedElementwiseKernel.block, count - start)
            for (k, op) in ops.enumerated() {
                let y = io.output(k) + start
                switch op.kind {
                case .unary(let unary):
                    let x = pointer(op.operands[0], io, start)
                    switch unary.f {
                    case .scalar(let f): for i in 0..<n { y[i] = f(x[i]) }
                    case .activation(let f): f.apply(x, y, n)
                    case .scale(let s): for i in 0..<n { y[i] = x[i] * s }
                    }
                case .binary(let kind):
                    binary(kind, op.operands[0], op.operands[1], io, start, n, into: y)
                }
            }
        }
    }

    /// Where an operand's elements from `start` are (a scalar's one element).
    @inline(__always)
    private func pointer(_ operand: FusedOp.Operand, _ io: PlanIO, _ start: Int) -> UnsafeMutablePointer<Float> {
        switch operand {
        case .input(let k): return io.input(k) + start
        case .value(let j): return io.output(j) + start
        case .scalar(let k): return io.input(k)
        }
    }

    private func binary(_ kind: BinaryKernel.Kind, _ left: FusedOp.Operand, _ right: FusedOp.Operand, _ io: PlanIO, _ start: Int, _ n: Int,
                        into y: UnsafeMutablePointer<Float>) {
        let a = pointer(left, io, start), b = pointer(right, io, start)
        // Loops the compiler can vectorize: a scalar operand is read once.
        @inline(__always) func each(_ f: (Float, Float) -> Float) {
            switch (left.isScalar, right.isScalar) {
            case (false, false): for i in 0..<n { y[i] = f(a[i], b[i]) }
            case (true, false): let u = a[0]; for i in 0..<n { y[i] = f(u, b[i]) }
            case (false, true): let v = b[0]; for i in 0..<n { y[i] = f(a[i], v) }
            case (true, true): let (u, v) = (a[0], b[0]); for i in 0..<n { y[i] = f(u, v) }
            }
        }
        switch kind {
        case .add: each(+)
        case .sub: each(-)
        case .mul: each(*)
        case .div: each(/)
        }
    }

    /// Where one op's contribution to an operand's gradient goes, for this
    /// call: a gradient buffer, written (the first contribution) or added to.
    enum Target {
        case none
        case to(UnsafeMutablePointer<Float>, first: Bool)
    }

    override func backward(_ io: PlanIO) {
        // Where each op's contributions go, in the order the separate kernels'
        // backward passes would add them (the last op first; within an op,
        // its operands in order): every gradient, an op's output's too, is
        // the plan's, as the separate kernels pass them.
        for k in ops.indices { gradientOf[k] = io.gradient(ofOutput: k) }
        inputGradients.update(repeating: nil, count: inputCount)
        for k in ops.indices.reversed() {
            let op = ops[k]
            for position in 0..<2 {
                targets[2 * k + position] = .none
                guard gradientOf[k] != nil, op.records, position < op.operands.count else { continue }
                switch op.operands[position] {
                case .scalar: break
                case .input(let i):
                    if let d = inputGradients[i] {
                        targets[2 * k + position] = .to(d, first: false)
                    } else if let (d, first) = io.gradientTarget(i) {
                        inputGradients[i] = d
                        targets[2 * k + position] = .to(d, first: first)
                    }
                case .value(let j):
                    if let d = gradientOf[j] {
                        targets[2 * k + position] = .to(d, first: false)
                    } else if ops[j].records, let (d, first) = io.gradientTarget(ofOutput: j) {
                        gradientOf[j] = d
                        targets[2 * k + position] = .to(d, first: first)
                    }
                }
            }
        }
        let block = FusedElementwiseKernel.block
        for start in stride(from: 0, to: count, by: block) {
            let n = min(block, count - start)
            for k in ops.indices.reversed() where ops[k].records {
                guard let g = gradientOf[k] else { continue }
                for position in 0..<ops[k].operands.count {
                    if case .to(let d, let first) = targets[2 * k + position] {
                        contribute(k, operand: position, g + start, io, start, n, into: d + start, first: first)
                    }
                }
            }
        }
    }

    /// Op k's contribution to operand `position`'s gradient for a block, as
    /// the separate kernel computes it, written into d (first) or added.
    private func contribute(_ k: Int, operand position: Int, _ g: UnsafeMutablePointer<Float>, _ io: PlanIO, _ start: Int, _ n: Int,
                            into d: UnsafeMutablePointer<Float>, first: Bool) {
        @inline(__always) func each(_ c: (Int) -> Float) {
            if first { for i in 0..<n { d[i] = c(i) } } else { for i in 0..<n { d[i] += c(i) } }
        }
        let op = ops[k]
        switch op.kind {
        case .unary(let unary):
            let x = pointer(op.operands[0], io, start), y = io.output(k) + start
            if case .activation(let f) = unary.f {
                each { g[$0] * f.slope(output: y[$0]) }
            } else if case .scale(let s) = unary.f {
                each { g[$0] * s }
            } else {
                let derivative = unary.derivative
                each { g[$0] * derivative(x[$0], y[$0]) }
            }
        case .binary(let kind):
            let (left, right) = (op.operands[0], op.operands[1])
            let a = pointer(left, io, start), b = pointer(right, io, start)
            // The other operand, read once when it is a scalar.
            let other = position == 0 ? b : a, scalar = position == 0 ? right.isScalar : left.isScalar
            switch (kind, position) {
            case (.add, _), (.sub, 0): each { g[$0] }
            case (.sub, _): each { -g[$0] }
            case (.mul, _):
                if scalar { let v = other[0]; each { g[$0] * v } } else { each { g[$0] * other[$0] } }
            case (.div, 0):
                if scalar { let v = b[0]; each { g[$0] / v } } else { each { g[$0] / b[$0] } }
            case (.div, _):
                let (sa, sb) = (left.isScalar ? 0 : 1, right.isScalar ? 0 : 1)
                each { i in
                    let gx = g[i] * a[i * sa], v = b[i * sb]
                    return -gx / (v * v)
                }
            }
        }
    }
}

extension FusedOp.Operand {
    var isScalar: Bool { if case .scalar = self { return true } else { return false } }
}

extension PlanRecorder {
    /// An elementwise step's element count, op and operand slots (a scalar: one constant number).
    typealias Form = (count: Int, kind: FusedOp.Kind, operands: [(slot: Int, scalar: Bool)])

    /// The steps with each run of two or more consecutive elementwise steps
    /// (unary functions; add, sub, mul, div of same-shaped values or with a
    /// constant single number) over the same number of elements merged into
    /// one, every gradient getting its contributions in the order the
    /// separate kernels add them.
    static func fuseElementwise(_ steps: [RecordedStep], slots: [Slot]) -> [RecordedStep] {
        // Each step's elementwise form, if it has one: its element count and operand slots.
        func form(_ step: RecordedStep) -> Form? {
            if let unary = step.kernel as? UnaryKernel, step.inputs[0] >= 0 { return (unary.count, .unary(unary), [(step.inputs[0], false)]) }
            guard let binary = step.kernel as? BinaryKernel, step.inputs.count == 2, step.inputs.allSatisfy({ $0 >= 0 }) else { return nil }
            var operands: [(Int, Bool)] = []
            for (slot, (map, count)) in zip(step.inputs, [(binary.mapA, binary.countA), (binary.mapB, binary.countB)]) {
                if map == nil { operands.append((slot, false)); continue }
                // Broadcast: only a single number that takes no gradient (a constant).
                guard count == 1, !slots[slot].needsGradient else { return nil }
                operands.append((slot, true))
            }
            return (binary.count, .binary(binary.kind), operands)
        }
        var consumers = [[Int]](repeating: [], count: slots.count)
        for (k, step) in steps.enumerated() { for i in step.inputs where i >= 0 { consumers[i].append(k) } }
        let forms = steps.map(form)

        // Whether steps[start..<end] can run as one. A value used inside the
        // run takes its gradient from later steps first, then from the run's
        // ops (as the separate kernels' backward passes come in turn), except
        // products kept for it (a weight's), summed only after the run's ops'
        // contributions: such a value ends a run.
        func valid(_ start: Int, _ end: Int) -> Bool {
            for k in start..<end {
                let v = steps[k].outputs[0]
                guard consumers[v].contains(where: { $0 >= start && $0 < end }) else { continue }
                for c in consumers[v] where c < start || c >= end {
                    if let keeps = steps[c].kernel as? KeepsProducts, let i = keeps.productInput, steps[c].inputs[i] == v { return false }
                }
            }
            return true
        }

        var fused: [RecordedStep] = []
        var start = 0
        while start < steps.count {
            guard let first = forms[start] else { fused.append(steps[start]); start += 1; continue }
            var end = start + 1
            while end < steps.count, let next = forms[end], next.count == first.count { end += 1 }
            while end - start >= 2 && !valid(start, end) { end -= 1 }
            if end - start < 2 { fused.append(steps[start]); start += 1; continue }
            fused.append(merge(steps[start..<end], forms: forms[start..<end]))
            start = end
        }
        return fused
    }

    /// One step for a run of elementwise steps (see `fuseElementwise`).
    private static func merge(_ run: ArraySlice<RecordedStep>, forms: ArraySlice<Form?>) -> RecordedStep {
        var inputs: [Int] = []
        var made: [Int: Int] = [:]
        var ops: [FusedOp] = []
        for (j, k) in run.indices.enumerated() {
            guard let form = forms[k] else { continue }
            let step = run[k]
            let operands = form.operands.map { operand -> FusedOp.Operand in
                if let producer = made[operand.slot] { return .value(producer) }
                let index = inputs.firstIndex(of: operand.slot) ?? { inputs.append(operand.slot); return inputs.count - 1 }()
                return operand.scalar ? .scalar(index) : .input(index)
            }
            ops.append(FusedOp(kind: form.kind, operands: operands, records: step.records))
            made[step.outputs[0]] = j
        }
        let kernel = FusedElementwiseKernel(ops: ops, count: forms[run.startIndex]?.count ?? 0)
        return RecordedStep(kernel: kernel, name: "elementwise", inputs: inputs, outputs: run.map { $0.outputs[0] },
                            records: run.contains(where: \.records), flops: run.reduce(0) { $0 + $1.flops }, scope: run[run.startIndex].scope)
    }
}
