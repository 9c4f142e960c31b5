import CSupport
import Graph
import Tensor

// The memory ops' kernel forms for a compiled plan (see `KernelPlan`): the
// same row kernels as the ops, on the plan's buffers, each with the
// scratch its backward needs allocated once.

private func buffer(_ n: Int) -> MutableFloats { planBuffer(n) }

/// `address_from`: inputs memory, p, previous; output the weighting.
final class AddressFromKernel: PlanKernel, SharesInputWork {
    let chain: AddressChain
    let B: Int, P: Int, head: Addressing.HeadLayout, N: Int, memoryCount: Int

    init(layout L: Layout, batch: Int, length: Int, head: Addressing.HeadLayout, shifts: Int) {
        chain = AddressChain(layout: L, heads: 1, shifts: shifts)
        KernelPlan.kernelFloats += chain.floats
        (B, P, self.head, N, memoryCount) = (batch, length, head, L.slots, L.batch * L.slots * L.width)
    }

    /// The memory's row norms, from a head that addressed the same memory before.
    var sharedInput: Int { 0 }
    func share(from earlier: SharesInputWork) -> Bool {
        guard let earlier = earlier as? AddressFromKernel else { return false }
        return chain.takeNorms(from: earlier.chain)
    }

    override func forward(_ io: PlanIO) {
        let p = io.input(1)
        chain.forward(memory: io.input(0), previous: io.input(2), into: io.output(0)) { x in
            Addressing.activateHead(p, batch: B, length: P, layout: head, into: x)
        }
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        let (m, w) = (io.input(0), io.output(0))
        let dPrevious = io.scratch(0, B * N)
        let added = io.addInPlace(to: 0) { chain.backward(g, memory: m, weighting: w, memory: $0, previous: dPrevious) }
        if !added {
            let dMemory = io.scratch(1, memoryCount)
            dMemory.update(repeating: 0, count: memoryCount)
            chain.backward(g, memory: m, weighting: w, memory: dMemory, previous: dPrevious)
        }
        if io.needs(1) {
            let dp = io.scratch(1, B * P)
            dp.update(repeating: 0, count: B * P)
            Addressing.headBackward(io.input(1), batch: B, length: P, layout: head, chain: chain, into: dp)
            io.add(dp, to: 1)
        }
        io.add(dPrevious, to: 2)
    }
}

/// `write_from`: inputs memory, weighting, p; output the memory after the write.
final class WriteFromKernel: PlanKernel {
    let B: Int, P: Int, N: Int, W: Int, head: Addressing.HeadLayout
    /// The erase and add vectors, kept for the backward pass.
    let erase, add: MutableFloats

    init(batch: Int, length: Int, slots: Int, width: Int, head: Addressing.HeadLayout) {
        (B, P, N, W, self.head) = (batch, length, slots, width, head)
        (erase, add) = (buffer(B * W), buffer(B * W))
    }

    deinit { erase.deallocate(); add.deallocate() }

    override func forward(_ io: PlanIO) {
        Addressing.eraseAndAdd(io.input(2), batch: B, length: P, layout: head, erase: erase, add: add)
        Addressing.writeRows(memory: io.input(0), add: add, erase: erase, weighting: io.input(1), into: io.output(0),
                             batch: B, heads: 1, slots: N, width: W)
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        let dMemory = io.scratch(0, B * N * W), dWeighting = io.scratch(1, B * N), dAdd = io.scratch(2, B * W), dErase = io.scratch(3, B * W)
        dMemory.update(from: g, count: B * N * W)
        dWeighting.update(repeating: 0, count: B * N)
        dAdd.update(repeating: 0, count: B * W)
        dErase.update(repeating: 0, count: B * W)
        Addressing.writeRowsBackward(g, memory: io.input(0), add: add, erase: erase, weighting: io.input(1),
                                     dMemory: dMemory, dWeighting: dWeighting, dAdd: dAdd, dErase: dErase, batch: B, heads: 1, slots: N, width: W)
        io.add(dMemory, to: 0)
        io.add(dWeighting, to: 1)
        if io.needs(2) {
            let dp = io.scratch(0, B * P)
            dp.update(repeating: 0, count: B * P)
            Addressing.eraseAndAddBackward(dErase: dErase, dAdd: dAdd, erase: erase, add: add, batch: B, length: P, layout: head, into: dp)
            io.add(dp, to: 2)
        }
    }
}

/// `read`: inputs memory, weighting; output the read vectors.
final class ReadKernel: PlanKernel {
    let B: Int, H: Int, N: Int, W: Int

    init(batch: Int, heads: Int, slots: Int, width: Int) {
        (B, H, N, W) = (batch, heads, slots, width)
    }

    override func forward(_ io: PlanIO) {
        let r = io.output(0)
        r.update(repeating: 0, count: B * H * W)
        Addressing.readRows(memory: io.input(0), weighting: io.input(1), into: r, batch: B, heads: H, slots: N, width: W)
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        let (m, w) = (io.input(0), io.input(1))
        let dw = io.scratch(0, B * H * N)
        Addressing.readWeightingGradient(g, memory: m, into: dw, batch: B, heads: H, slots: N, width: W)
        if H == 1 {
            io.addInPlace(to: 0) { Addressing.readMemoryGradient(g, weighting: w, into: $0, batch: B, heads: H, slots: N, width: W) }
        } else {
            // The heads summed, then added whole (as the op adds its gradient).
            io.accumulate(to: 0) { d, first in
                Addressing.readMemoryGradientSum(g, weighting: w, into: d, adding: !first, batch: B, heads: H, slots: N, width: W)
            }
        }
        io.add(dw, to: 1)
    }
}

/// `cosine(memory, key)`: each head's key against every row, and the VJP into both.
final class CosineKernel: PlanKernel {
    let B: Int, H: Int, N: Int, W: Int
    /// Row norms [B, N], dot products [B, H, N] and key norms [B, H] kept for the backward pass.
    let norms, dots, keyNorms: MutableFloats

    init(batch: Int, heads: Int, slots: Int, width: Int) {
        (B, H, N, W) = (batch, heads, slots, width)
        (norms, dots, keyNorms) = (buffer(B * N), buffer(B * H * N), buffer(B * H))
    }

    deinit { for b in [norms, dots, keyNorms] { b.deallocate() } }

    override func forward(_ io: PlanIO) {
        Addressing.cosineRows(memory: io.input(0), keys: io.input(1), into: io.output(0), norms: norms, dots: dots, keyNorms: keyNorms,
                              batch: B, heads: H, slots: N, width: W)
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        let dk = io.scratch(1, B * H * W)
        dk.update(repeating: 0, count: B * H * W)
        func backward(into dm: MutableFloats, mode: Int32) {
            Addressing.cosineRowsBackward(g, memory: io.input(0), keys: io.input(1), norms: norms, dots: dots, keyNorms: keyNorms,
                                          dMemory: dm, dKeys: dk, batch: B, heads: H, slots: N, width: W, mode: mode)
        }
        if H <= Int(MNEMO_HEAD_GROUP) {
            // The heads' sum straight into the memory's gradient (written, or added whole).
            if !io.accumulate(to: 0, { d, first in backward(into: d, mode: first ? 1 : 2) }) {
                backward(into: io.scratch(0, B * N * W), mode: 1)
            }
        } else {
            let dm = io.scratch(0, B * N * W)
            dm.update(repeating: 0, count: B * N * W)
            backward(into: dm, mode: 0)
            io.add(dm, to: 0)
        }
        io.add(dk, to: 1)
    }
}

/// `write(memory, w, erase, add)` for any number of heads: inputs memory, weighting, add, erase (or none).
final class WriteKernel: PlanKernel {
    let B: Int, H: Int, N: Int, W: Int

    init(batch: Int, heads: Int, slots: Int, width: Int) {
        (B, H, N, W) = (batch, heads, slots, width)
    }

    override func forward(_ io: PlanIO) {
        Addressing.writeRows(memory: io.input(0), add: io.input(2), erase: io.hasInput(3) ? io.input(3) : nil, weighting: io.input(1),
                             into: io.output(0), batch: B, heads: H, slots: N, width: W)
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        guard io.hasInput(3) else {
            // Without erasing, the memory's gradient is g itself.
            io.add(g, to: 0)
            WriteKernel.addWeightingAndAddGradients(g, io, weighting: 1, add: 2, batch: B, heads: H, slots: N, width: W)
            return
        }
        let dMemory = io.scratch(0, B * N * W), dWeighting = io.scratch(1, B * H * N), dAdd = io.scratch(2, B * H * W), dErase = io.scratch(3, B * H * W)
        dMemory.update(from: g, count: B * N * W)
        dWeighting.update(repeating: 0, count: B * H * N)
        dAdd.update(repeating: 0, count: B * H * W)
        dErase.update(repeating: 0, count: B * H * W)
        Addressing.writeRowsBackward(g, memory: io.input(0), add: io.input(2), erase: io.input(3), weighting: io.input(1),
                                     dMemory: dMemory, dWeighting: dWeighting, dAdd: dAdd, dErase: dErase, batch: B, heads: H, slots: N, width: W)
        io.add(dMemory, to: 0)
        io.add(dWeighting, to: 1)
        io.add(dAdd, to: 2)
        io.add(dErase, to: 3)
    }

    /// A write without erasing: the weighting's and add vectors' gradients,
    /// which do not read the memory, added to inputs `weighting` and `add`.
    static func addWeightingAndAddGradients(_ g: UnsafePointer<Float>, _ io: PlanIO, weighting: Int, add: Int,
                                            batch B: Int, heads H: Int, slots N: Int, width W: Int) {
        let dWeighting = io.scratch(1, B * H * N), dAdd = io.scratch(2, B * H * W)
        dWeighting.update(repeating: 0, count: B * H * N)
        dAdd.update(repeating: 0, count: B * H * W)
        Addressing.writeRowsBackward(g, memory: g, add: io.input(add), erase: nil, weighting: io.input(weighting),
                                     dMemory: io.scratch(0, 1), dWeighting: dWeighting, dAdd: dAdd, dErase: io.scratch(3, 1),
                                     batch: B, heads: H, slots: N, width: W)
        io.add(dWeighting, to: weighting)
        io.add(dAdd, to: add)
    }
}

/// `lrua_weights(alpha, wr_prev, wlu_prev)`: s r + (1 - s) lu per row, s = sigmoid(alpha).
final class LRUAWeightsKernel: PlanKernel {
    let rows: Int, N: Int, perLU: Int, alphas: Int, luCount: Int
    /// sigmoid(alpha) per row, kept for the backward pass.
    let gates: MutableFloats

    init(rows: Int, slots: Int, perLU: Int, alphas: Int, luCount: Int) {
        (self.rows, N, self.perLU, self.alphas, self.luCount) = (rows, slots, perLU, alphas, luCount)
        gates = buffer(rows)
    }

    deinit { gates.deallocate() }

    override func forward(_ io: PlanIO) {
        let a = io.input(0), r = io.input(1), lu = io.input(2), out = io.output(0)
        for row in 0..<rows { gates[row] = VectorMath.sigmoid(alphas == 1 ? a[0] : a[row]) }
        let level = OwnKernels.level
        Parallel.forEach(rows, work: 3 * rows * N) { range in
            mnemo_lrua_weights_forward(level, r, lu, gates, range.lowerBound, range.count, N, max(1, perLU), out)
        }
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        let r = io.input(1), lu = io.input(2)
        let dr = io.scratch(0, rows * N), da = io.scratch(1, alphas), dlu = io.scratch(2, luCount)
        dr.update(repeating: 0, count: rows * N)
        da.update(repeating: 0, count: alphas)
        dlu.update(repeating: 0, count: luCount)
        // The rows sharing a least-used row add into it in order, as one
        // gate adds into one alpha: threads take whole groups of them
        // (memory_kernels.c), then each row's gate adds into its alpha.
        // (No heads: no rows, and perLU 0; nothing to divide by.)
        let perRow = max(1, perLU), group = max(1, alphas == 1 ? rows : perLU), ds = io.scratch(3, rows), level = OwnKernels.level
        Parallel.forEach(rows / group, work: 6 * rows * N) { groups in
            let first = groups.lowerBound * group
            mnemo_lrua_weights_backward(level, g + first * N, r + first * N, lu + (first / perRow) * N, gates + first, groups.count * group, N, perRow,
                                        dr + first * N, dlu + (first / perRow) * N, ds + first)
        }
        for row in 0..<rows { da[alphas == 1 ? 0 : row] += Scalar.sigmoidBackward(ds[row], output: gates[row]) }
        io.add(da, to: 0)
        io.add(dr, to: 1)
        io.add(dlu, to: 2)
    }
}

/// `least_used(usage, n)`: 1 at the n least-used slots of each row (a constant to the backward pass).
final class LeastUsedKernel: PlanKernel {
    let rows: Int, N: Int, n: Int
    let order: UnsafeMutablePointer<Int>

    init(rows: Int, slots: Int, n: Int) {
        (self.rows, N, self.n) = (rows, slots, n)
        order = .allocate(capacity: max(1, slots))
    }

    deinit { order.deallocate() }

    override func forward(_ io: PlanIO) {
        let u = io.input(0), out = io.output(0)
        out.update(repeating: 0, count: rows * N)
        for b in 0..<rows {
            Addressing.leastUsedSlots(u + b * N, slots: N, n: n, order: order)
            for k in 0..<n { out[b * N + order[k]] = 1 }
        }
    }

    override func backward(_ io: PlanIO) {}
}

/// `zero_least_used(memory, usage)`: the memory with each batch row's least-used slot zeroed, and the same for its gradient.
final class ZeroLeastUsedKernel: PlanKernel {
    let B: Int, N: Int, W: Int
    /// Each batch row's zeroed slot, kept for the backward pass.
    let chosen: UnsafeMutablePointer<Int>

    init(batch: Int, slots: Int, width: Int) {
        (B, N, W) = (batch, slots, width)
        chosen = .allocate(capacity: max(1, batch))
    }

    deinit { chosen.deallocate() }

    override func forward(_ io: PlanIO) {
        let u = io.input(1), m = io.input(0), out = io.output(0)
        for b in 0..<B { chosen[b] = Addressing.leastUsedSlot(u + b * N, slots: N) }
        Parallel.forEach(B, work: B * N * W) { batches in
            for b in batches {
                (out + b * N * W).update(from: m + b * N * W, count: N * W)
                (out + (b * N + chosen[b]) * W).update(repeating: 0, count: W)
            }
        }
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        ZeroLeastUsedKernel.addGradient(g, to: io, input: 0, chosen: chosen, batch: B, slots: N, width: W)
    }

    /// g with the zeroed rows' taken out, written or added straight into the
    /// memory's gradient, input `input` (a zeroed row adds 0, as the whole would).
    static func addGradient(_ g: UnsafePointer<Float>, to io: PlanIO, input: Int, chosen: UnsafePointer<Int>, batch B: Int, slots N: Int, width W: Int) {
        io.accumulate(to: input) { d, first in
            Parallel.forEach(B, work: B * N * W) { batches in for b in batches {
                for i in 0..<N {
                    let at = (b * N + i) * W, zeroed = i == chosen[b]
                    switch (first, zeroed) {
                    // In place (`PassesGradientInPlace`), d is g: only the zeroed rows change.
                    case (true, false): if d != g { (d + at).update(from: g + at, count: W) }
                    case (true, true): (d + at).update(repeating: 0, count: W)
                    case (false, false): for j in at..<(at + W) { d[j] += g[j] }
                    case (false, true): for j in at..<(at + W) { d[j] += 0 }
                    }
                }
            }}
        }
    }
}

extension ZeroLeastUsedKernel: MergesIntoUser {
    /// Into a write without erasing (an LRUA write): `ClearedWriteKernel`.
    func merged(into user: PlanKernel, at input: Int, userInputs: [Int]) -> (kernel: RemakesValue, name: StaticString, inputs: [MergedInput])? {
        guard let write = user as? WriteKernel, input == 0, userInputs.count == 4, userInputs[3] < 0,
              write.B == B, write.N == N, write.W == W else { return nil }
        return (ClearedWriteKernel(batch: B, heads: write.H, slots: N, width: W), "cleared_write", [.first(0), .first(1), .user(1), .user(2)])
    }
}

/// `zero_least_used` then a write without erasing, merged (`mergeIntoUsers`):
/// the write reads each batch row's least-used slot as zeros, so the cleared
/// memory is never copied; inputs memory, usage, weighting, add.
final class ClearedWriteKernel: PlanKernel, RemakesValue, PassesGradientInPlace {
    /// The memory's gradient is the output's with the cleared rows zeroed: in place when the plan allows.
    var gradientInPlace: (input: Int, output: Int) { (0, 0) }
    let B: Int, H: Int, N: Int, W: Int
    /// Each batch row's cleared slot, kept for the backward pass; W zeros.
    let chosen: UnsafeMutablePointer<Int>
    let zeros: MutableFloats

    init(batch: Int, heads: Int, slots: Int, width: Int) {
        (B, H, N, W) = (batch, heads, slots, width)
        chosen = .allocate(capacity: max(1, batch))
        zeros = buffer(width)
    }

    deinit { chosen.deallocate(); zeros.deallocate() }

    override func forward(_ io: PlanIO) {
        let u = io.input(1)
        for b in 0..<B { chosen[b] = Addressing.leastUsedSlot(u + b * N, slots: N) }
        Addressing.writeRows(memory: io.input(0), add: io.input(3), erase: nil, weighting: io.input(2), into: io.output(0),
                             batch: B, heads: H, slots: N, width: W, cleared: chosen, zeros: zeros)
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        WriteKernel.addWeightingAndAddGradients(g, io, weighting: 2, add: 3, batch: B, heads: H, slots: N, width: W)
        ZeroLeastUsedKernel.addGradient(g, to: io, input: 0, chosen: chosen, batch: B, slots: N, width: W)
    }

    /// The cleared memory, for a trace that keeps the contents.
    func remake(_ io: PlanIO, into out: UnsafeMutablePointer<Float>) {
        out.update(from: io.input(0), count: B * N * W)
        for b in 0..<B { (out + (b * N + chosen[b]) * W).update(repeating: 0, count: W) }
    }
}

// MARK: The DNC's steps

/// `usage_update(usage, write, read, free_gates)`.
final class UsageUpdateKernel: PlanKernel {
    let B: Int, n: Int, R: Int
    /// The retention and u + w - u w, kept for the backward pass.
    let retention, kept: MutableFloats

    init(batch: Int, slots: Int, heads: Int) {
        (B, n, R) = (batch, slots, heads)
        (retention, kept) = (buffer(B * n), buffer(B * n))
    }

    deinit { retention.deallocate(); kept.deallocate() }

    override func forward(_ io: PlanIO) {
        Addressing.usageRows(usage: io.input(0), write: io.input(1), read: io.input(2), free: io.input(3), retention: retention, kept: kept,
                             into: io.output(0), batch: B, slots: n, heads: R)
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        let (U, W, Wr, F) = (io.input(0), io.input(1), io.input(2), io.input(3))
        let d = io.scratch(0, max(B * n, B * R * n)), dFree = io.scratch(1, B * R)
        if io.needs(0) {
            for k in 0..<B * n { d[k] = g[k] * retention[k] * (1 - W[k]) }
            io.add(d, to: 0)
        }
        if io.needs(1) {
            for k in 0..<B * n { d[k] = g[k] * retention[k] * (1 - U[k]) }
            io.add(d, to: 1)
        }
        guard io.needs(2) || io.needs(3) else { return }
        d.update(repeating: 0, count: B * R * n)
        dFree.update(repeating: 0, count: B * R)
        Addressing.usageReadBackward(g, kept: kept, read: Wr, free: F, dRead: d, dFree: dFree, batch: B, slots: n, heads: R)
        io.add(d, to: 2)
        io.add(dFree, to: 3)
    }
}

/// `allocation(usage)`: the slots by increasing usage (stable, as `argsort`), each's free share.
final class AllocationKernel: PlanKernel {
    let B: Int, n: Int
    /// The sorted order and the products before each position, kept for the backward pass.
    let order: UnsafeMutablePointer<Int>
    let prefix: MutableFloats

    init(batch: Int, slots: Int) {
        (B, n) = (batch, slots)
        order = .allocate(capacity: max(1, B * n))
        prefix = buffer(B * n)
    }

    deinit { order.deallocate(); prefix.deallocate() }

    override func forward(_ io: PlanIO) {
        let u = io.input(0), out = io.output(0)
        for b in 0..<B {
            let o = order + b * n, row = u + b * n
            for j in 0..<n { o[j] = j }
            // NaN after every number, ties by slot: a total order, so the same positions as `argsort`.
            var slots = UnsafeMutableBufferPointer(start: o, count: n)
            slots.sort { i, j in
                let (a, c) = (row[i], row[j])
                if a.isNaN || c.isNaN { return a.isNaN == c.isNaN ? i < j : c.isNaN }
                return a != c ? a < c : i < j
            }
        }
        Addressing.allocationRows(usage: u, order: order, prefix: prefix, into: out, batch: B, slots: n)
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0), io.needs(0) else { return }
        let u = io.input(0), du = io.scratch(0, B * n)
        du.update(repeating: 0, count: B * n)
        Addressing.allocationBackward(g, usage: u, order: order, prefix: prefix, into: du, batch: B, slots: n)
        io.add(du, to: 0)
    }
}

/// `write_weighting(allocation, content, allocation_gate, write_gate)`: each gate one value or one per batch row.
final class WriteWeightingKernel: PlanKernel {
    let B: Int, n: Int, allocationGates: Int, writeGates: Int
    /// The mix before the write gate, kept for the write gate's gradient.
    let mixed: MutableFloats

    init(batch: Int, slots: Int, allocationGates: Int, writeGates: Int) {
        (B, n, self.allocationGates, self.writeGates) = (batch, slots, allocationGates, writeGates)
        mixed = buffer(B * n)
    }

    deinit { mixed.deallocate() }

    override func forward(_ io: PlanIO) {
        Addressing.writeWeightingRows(allocation: io.input(0), content: io.input(1), allocationGates: io.input(2), writeGates: io.input(3),
                                      gateCounts: (allocationGates, writeGates), mixed: mixed, into: io.output(0), batch: B, slots: n)
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        let (A, C, ga, gw) = (io.input(0), io.input(1), io.input(2), io.input(3))
        func a(_ k: Int) -> Float { ga[allocationGates == 1 ? 0 : k / n] }
        func w(_ k: Int) -> Float { gw[writeGates == 1 ? 0 : k / n] }
        let d = io.scratch(0, B * n)
        if io.needs(0) {
            for k in 0..<B * n { d[k] = g[k] * w(k) * a(k) }
            io.add(d, to: 0)
        }
        if io.needs(1) {
            for k in 0..<B * n { d[k] = g[k] * w(k) * (1 - a(k)) }
            io.add(d, to: 1)
        }
        // A gate shared by the batch takes the sum over its rows.
        if io.needs(2) {
            d.update(repeating: 0, count: allocationGates)
            for k in 0..<B * n { d[allocationGates == 1 ? 0 : k / n] += g[k] * w(k) * (A[k] - C[k]) }
            io.add(d, to: 2)
        }
        if io.needs(3) {
            d.update(repeating: 0, count: writeGates)
            for k in 0..<B * n { d[writeGates == 1 ? 0 : k / n] += g[k] * mixed[k] }
            io.add(d, to: 3)
        }
    }
}

/// `link_update(links, precedence, write)`: outputs the new links and precedence.
final class LinkUpdateKernel: PlanKernel {
    let B: Int, n: Int

    init(batch: Int, slots: Int) { (B, n) = (batch, slots) }

    override func forward(_ io: PlanIO) {
        Addressing.linkRows(links: io.input(0), precedence: io.input(1), write: io.input(2), into: io.output(0), precedenceInto: io.output(1),
                            batch: B, slots: n)
    }

    override func backward(_ io: PlanIO) {
        let gL = io.gradient(ofOutput: 0), gp = io.gradient(ofOutput: 1)
        let dL = io.scratch(0, gL == nil ? 1 : B * n * n), dp = io.scratch(1, B * n), dw = io.scratch(2, B * n), g = io.scratch(3, n)
        dp.update(repeating: 0, count: B * n)
        dw.update(repeating: 0, count: B * n)
        Addressing.linkRowsBackward(gL.map { UnsafePointer($0) }, gp.map { UnsafePointer($0) }, links: io.input(0), precedence: io.input(1),
                                    write: io.input(2), dLinks: dL, dPrecedence: dp, dWrite: dw, scratch: g, batch: B, slots: n)
        if gL != nil { io.add(dL, to: 0) }
        io.add(dp, to: 1)
        io.add(dw, to: 2)
    }
}

/// `read_weighting(links, previous, content, modes)`.
final class ReadWeightingKernel: PlanKernel {
    let B: Int, R: Int, n: Int
    /// Each head's forward and backward weightings, kept for the modes' gradient.
    let forwardWeighting, backwardWeighting: MutableFloats

    init(batch: Int, heads: Int, slots: Int) {
        (B, R, n) = (batch, heads, slots)
        (forwardWeighting, backwardWeighting) = (buffer(B * R * n), buffer(B * R * n))
    }

    deinit { forwardWeighting.deallocate(); backwardWeighting.deallocate() }

    override func forward(_ io: PlanIO) {
        backwardWeighting.update(repeating: 0, count: B * R * n)
        Addressing.readWeightingRows(links: io.input(0), previous: io.input(1), content: io.input(2), modes: io.input(3), forward: forwardWeighting,
                                     backward: backwardWeighting, into: io.output(0), batch: B, heads: R, slots: n)
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        let (pL, pw, pc, M) = (io.input(0), io.input(1), io.input(2), io.input(3))
        let count = B * R * n
        let d = io.scratch(0, count)
        if io.needs(2) {
            for k in 0..<count { d[k] = g[k] * M[(k / n) * 3 + 1] }
            io.add(d, to: 2)
        }
        if io.needs(3) {
            for h in 0..<B * R {
                d[3 * h] = dot(g + h * n, backwardWeighting + h * n, n)
                d[3 * h + 1] = dot(g + h * n, pc + h * n, n)
                d[3 * h + 2] = dot(g + h * n, forwardWeighting + h * n, n)
            }
            io.add(d, to: 3)
        }
        guard io.needs(0) || io.needs(1) else { return }
        // The gradients reaching f and b: pi_3 g and pi_1 g.
        let toForward = io.scratch(1, count), toBackward = io.scratch(2, count)
        for k in 0..<count { toForward[k] = g[k] * M[(k / n) * 3 + 2] }
        for k in 0..<count { toBackward[k] = g[k] * M[(k / n) * 3] }
        let level = OwnKernels.level
        // dw = L g_b + L^T g_f.
        if io.needs(1) {
            let parts = io.scratch(3, 2 * count)
            parts.update(repeating: 0, count: 2 * count)
            for h in 0..<B * R {
                mnemo_links_times(level, pL + (h / R) * n * n, toBackward + h * n, toForward + h * n, parts + h * n, parts + count + h * n, n)
            }
            for k in 0..<count { d[k] = parts[k] + parts[count + k] }
            io.add(d, to: 1)
        }
        // dL[i, j] = the sum over heads of g_f[i] w[j] + w[i] g_b[j], added in place.
        io.addInPlace(to: 0) { dL in
            for h in 0..<B * R { mnemo_links_outer_add(level, pw + h * n, toForward + h * n, toBackward + h * n, dL + (h / R) * n * n, n) }
        }
    }
}

/// `address(memory, key, beta)`, content addressing: softmax(beta * cosine) per row.
final class ContentKernel: PlanKernel {
    let B: Int, H: Int, N: Int, W: Int, betas: Int
    let norms, dots, keyNorms, similarity: MutableFloats

    init(batch: Int, heads: Int, slots: Int, width: Int, betas: Int) {
        (B, H, N, W, self.betas) = (batch, heads, slots, width, betas)
        (norms, dots, keyNorms, similarity) = (buffer(B * N), buffer(B * H * N), buffer(B * H), buffer(B * H * N))
    }

    deinit { for b in [norms, dots, keyNorms, similarity] { b.deallocate() } }

    override func forward(_ io: PlanIO) {
        Addressing.cosineRows(memory: io.input(0), keys: io.input(1), into: similarity, norms: norms, dots: dots, keyNorms: keyNorms,
                              batch: B, heads: H, slots: N, width: W)
        let beta = io.input(2), out = io.output(0)
        for r in 0..<B * H { AddressingRows.focus(similarity + r * N, beta: beta[betas == 1 ? 0 : r], slots: N, into: out + r * N) }
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        let beta = io.input(2), y = io.output(0), rows = B * H
        let dSimilarity = io.scratch(0, rows * N), dBeta = io.scratch(1, rows)
        dSimilarity.update(repeating: 0, count: rows * N)
        for r in 0..<rows {
            dBeta[r] = AddressingRows.focusBackward(g + r * N, y: y + r * N, similarity: similarity + r * N, beta: beta[betas == 1 ? 0 : r],
                                                    slots: N, dk: dSimilarity + r * N)
        }
        let dm = io.scratch(2, B * N * W), dk = io.scratch(3, rows * W)
        dm.update(repeating: 0, count: B * N * W)
        dk.update(repeating: 0, count: rows * W)
        Addressing.cosineRowsBackward(dSimilarity, memory: io.input(0), keys: io.input(1), norms: norms, dots: dots, keyNorms: keyNorms,
                                      dMemory: dm, dKeys: dk, batch: B, heads: H, slots: N, width: W)
        io.add(dm, to: 0)
        io.add(dk, to: 1)
        if betas == 1 && rows != 1 {
            var s: Float = 0
            for r in 0..<rows { s += dBeta[r] }
            dBeta[0] = s
        }
        io.add(dBeta, to: 2)
    }
}
