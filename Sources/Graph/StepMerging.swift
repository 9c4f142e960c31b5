// Merging a step into its one user: a kernel whose value a single later step
// reads may offer to do its work inside that step (an LRUA write clearing
// the least-used slot as it reads the memory, instead of a cleared copy of
// the whole memory made first and read once). The value is then never
// stored; an effect that reads it (a memory's trace of its contents) has it
// made again after the run. Each element takes the same operations in the
// same order, and every gradient its contributions in the same order, so a
// merged plan gives the same bits.

/// Where a merged step's input comes from: the first step's input k or its user's.
public enum MergedInput {
    case first(Int)
    case user(Int)
}

/// A kernel that can run inside the step that uses its value.
public protocol MergesIntoUser: PlanKernel {
    /// One kernel doing this step's work and `user`'s, which reads this
    /// step's value as its input `input` (`userInputs`: the user's input
    /// slots, -1 for one not given): the kernel, its name in a plan's table
    /// and its inputs; nil when the pair does not merge.
    func merged(into user: PlanKernel, at input: Int, userInputs: [Int]) -> (kernel: RemakesValue, name: StaticString, inputs: [MergedInput])?
}

/// A merged kernel, which can make the value it no longer stores from its inputs at the end of a run.
public protocol RemakesValue: PlanKernel {
    func remake(_ io: PlanIO, into out: UnsafeMutablePointer<Float>)
}

extension PlanRecorder {
    /// The steps with each mergeable step folded into its user, and the
    /// values no longer stored (each with the merged step that remakes it).
    /// A step merges when its value has one user, which reads it once, and
    /// no step between the two reads an input of the first that takes a
    /// gradient (which then gets its contributions in the same order); not when the
    /// value is the loss or an object's state.
    static func mergeIntoUsers(_ steps: [RecordedStep], slots: inout [Slot], keep: Set<Int>) -> (steps: [RecordedStep], remade: [Int: Int]) {
        var users = [[Int]](repeating: [], count: slots.count)
        for (k, step) in steps.enumerated() { for i in step.inputs where i >= 0 { users[i].append(k) } }
        var merged: [Int: RecordedStep] = [:]
        var dropped = Set<Int>(), skippedValue: [Int: Int] = [:]
        for (k, step) in steps.enumerated() {
            guard let first = step.kernel as? MergesIntoUser, step.outputs.count == 1 else { continue }
            let v = step.outputs[0]
            guard !keep.contains(v), users[v].count == 1, let u = users[v].first, merged[u] == nil, !dropped.contains(u) else { continue }
            let user = steps[u]
            guard user.inputs.filter({ $0 == v }).count == 1, let at = user.inputs.firstIndex(of: v) else { continue }
            let read = Set(step.inputs.filter { $0 >= 0 && slots[$0].needsGradient })
            guard !steps[(k + 1)..<u].contains(where: { !read.isDisjoint(with: $0.inputs) }) else { continue }
            guard let (kernel, name, inputs) = first.merged(into: user.kernel, at: at, userInputs: user.inputs) else { continue }
            let slotsIn = inputs.map { input -> Int in
                switch input {
                case .first(let i): return step.inputs[i]
                case .user(let i): return user.inputs[i]
                }
            }
            merged[u] = RecordedStep(kernel: kernel, name: name, inputs: slotsIn, outputs: user.outputs,
                                     records: step.records || user.records, flops: step.flops + user.flops, scope: user.scope)
            dropped.insert(k)
            skippedValue[v] = u
        }
        guard !dropped.isEmpty else { return (steps, [:]) }
        var result: [RecordedStep] = [], newIndex: [Int: Int] = [:]
        for (k, step) in steps.enumerated() where !dropped.contains(k) {
            newIndex[k] = result.count
            result.append(merged[k] ?? step)
        }
        var remade: [Int: Int] = [:]
        for (v, u) in skippedValue {
            remade[v] = newIndex[u]!
            let s = slots[v]
            slots[v] = Slot(shape: s.shape, count: s.count, output: s.output, needsGradient: false)
        }
        return (result, remade)
    }
}

/// A kernel that can take work an earlier step did on the same input value
/// instead of doing it again (a memory's row norms, for the next head that
/// addresses the same memory): the same numbers, computed once.
public protocol SharesInputWork: PlanKernel {
    /// The input the shared work depends on alone.
    var sharedInput: Int { get }
    /// Takes the work from `earlier`, a step before this one that read the
    /// same value at its `sharedInput`; false when it cannot.
    func share(from earlier: SharesInputWork) -> Bool
}

extension PlanRecorder {
    /// Lets each kernel that shares input work take it from the first step
    /// before it that read the same value (values are written once, so it is
    /// the same at both).
    static func shareInputWork(_ steps: [RecordedStep]) {
        var first: [Int: SharesInputWork] = [:]
        for step in steps {
            guard let kernel = step.kernel as? SharesInputWork, kernel.sharedInput < step.inputs.count else { continue }
            let slot = step.inputs[kernel.sharedInput]
            guard slot >= 0 else { continue }
            if let earlier = first[slot] { _ = kernel.share(from: earlier) } else { first[slot] = kernel }
        }
    }
}
