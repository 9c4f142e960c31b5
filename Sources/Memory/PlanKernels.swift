import Graph
import Tensor

// The memory ops' kernel forms for a compiled plan (see `KernelPlan`): the
// same row kernels as the ops, on the plan's buffers, each with the
// scratch its backward needs allocated once.

private func buffer(_ n: Int) -> MutableFloats { planBuffer(n) }

/// `address_from`: inputs memory, p, previous; output the weighting.
final class AddressFromKernel: PlanKernel {
    let chain: AddressChain
    let B: Int, P: Int, head: Addressing.HeadLayout, N: Int, memoryCount: Int

    init(layout L: Layout, batch: Int, length: Int, head: Addressing.HeadLayout, shifts: Int) {
        chain = AddressChain(layout: L, heads: 1, shifts: shifts)
        KernelPlan.kernelFloats += chain.floats
        (B, P, self.head, N, memoryCount) = (batch, length, head, L.slots, L.batch * L.slots * L.width)
    }

    func forward(_ io: PlanIO) {
        let p = io.input(1)
        chain.forward(memory: io.input(0), previous: io.input(2), into: io.output(0)) { x in
            Addressing.activateHead(p, batch: B, length: P, layout: head, into: x)
        }
    }

    func backward(_ io: PlanIO) {
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

    func forward(_ io: PlanIO) {
        Addressing.eraseAndAdd(io.input(2), batch: B, length: P, layout: head, erase: erase, add: add)
        Addressing.writeRows(memory: io.input(0), add: add, erase: erase, weighting: io.input(1), into: io.output(0),
                             batch: B, heads: 1, slots: N, width: W)
    }

    func backward(_ io: PlanIO) {
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

    func forward(_ io: PlanIO) {
        let r = io.output(0)
        r.update(repeating: 0, count: B * H * W)
        Addressing.readRows(memory: io.input(0), weighting: io.input(1), into: r, batch: B, heads: H, slots: N, width: W)
    }

    func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        let (m, w) = (io.input(0), io.input(1))
        let dw = io.scratch(0, B * H * N)
        Addressing.readWeightingGradient(g, memory: m, into: dw, batch: B, heads: H, slots: N, width: W)
        if H == 1 {
            io.addInPlace(to: 0) { Addressing.readMemoryGradient(g, weighting: w, into: $0, batch: B, heads: H, slots: N, width: W) }
        } else if io.needs(0) {
            let dm = io.scratch(1, B * N * W)
            dm.update(repeating: 0, count: B * N * W)
            Addressing.readMemoryGradient(g, weighting: w, into: dm, batch: B, heads: H, slots: N, width: W)
            io.add(dm, to: 0)
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

    func forward(_ io: PlanIO) {
        Addressing.cosineRows(memory: io.input(0), keys: io.input(1), into: io.output(0), norms: norms, dots: dots, keyNorms: keyNorms,
                              batch: B, heads: H, slots: N, width: W)
    }

    func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        let dm = io.scratch(0, B * N * W), dk = io.scratch(1, B * H * W)
        dm.update(repeating: 0, count: B * N * W)
        dk.update(repeating: 0, count: B * H * W)
        Addressing.cosineRowsBackward(g, memory: io.input(0), keys: io.input(1), norms: norms, dots: dots, keyNorms: keyNorms,
                                      dMemory: dm, dKeys: dk, batch: B, heads: H, slots: N, width: W)
        io.add(dm, to: 0)
        io.add(dk, to: 1)
    }
}

/// `write(memory, w, erase, add)` for any number of heads: inputs memory, weighting, add, erase (or none).
final class WriteKernel: PlanKernel {
    let B: Int, H: Int, N: Int, W: Int

    init(batch: Int, heads: Int, slots: Int, width: Int) {
        (B, H, N, W) = (batch, heads, slots, width)
    }

    func forward(_ io: PlanIO) {
        Addressing.writeRows(memory: io.input(0), add: io.input(2), erase: io.hasInput(3) ? io.input(3) : nil, weighting: io.input(1),
                             into: io.output(0), batch: B, heads: H, slots: N, width: W)
    }

    func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        let dMemory = io.scratch(0, B * N * W), dWeighting = io.scratch(1, B * H * N), dAdd = io.scratch(2, B * H * W), dErase = io.scratch(3, B * H * W)
        dMemory.update(from: g, count: B * N * W)
        dWeighting.update(repeating: 0, count: B * H * N)
        dAdd.update(repeating: 0, count: B * H * W)
        dErase.update(repeating: 0, count: B * H * W)
        Addressing.writeRowsBackward(g, memory: io.input(0), add: io.input(2), erase: io.hasInput(3) ? io.input(3) : nil, weighting: io.input(1),
                                     dMemory: dMemory, dWeighting: dWeighting, dAdd: dAdd, dErase: dErase, batch: B, heads: H, slots: N, width: W)
        io.add(dMemory, to: 0)
        io.add(dWeighting, to: 1)
        io.add(dAdd, to: 2)
        if io.hasInput(3) { io.add(dErase, to: 3) }
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

    func forward(_ io: PlanIO) {
        let a = io.input(0), r = io.input(1), lu = io.input(2), out = io.output(0)
        for row in 0..<rows { gates[row] = VectorMath.sigmoid(alphas == 1 ? a[0] : a[row]) }
        for row in 0..<rows {
            let s = gates[row], base = row * N, luBase = (row / perLU) * N
            for i in 0..<N { out[base + i] = s * r[base + i] + (1 - s) * lu[luBase + i] }
        }
    }

    func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        let r = io.input(1), lu = io.input(2)
        let dr = io.scratch(0, rows * N), da = io.scratch(1, alphas), dlu = io.scratch(2, luCount)
        dr.update(repeating: 0, count: rows * N)
        da.update(repeating: 0, count: alphas)
        dlu.update(repeating: 0, count: luCount)
        for row in 0..<rows {
            let s = gates[row], base = row * N, luBase = (row / perLU) * N
            var ds: Float = 0
            for i in 0..<N {
                dr[base + i] = s * g[base + i]
                dlu[luBase + i] += (1 - s) * g[base + i]
                ds += g[base + i] * (r[base + i] - lu[luBase + i])
            }
            da[alphas == 1 ? 0 : row] += Scalar.sigmoidBackward(ds, output: s)
        }
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

    func forward(_ io: PlanIO) {
        let u = io.input(0), out = io.output(0)
        out.update(repeating: 0, count: rows * N)
        for b in 0..<rows {
            Addressing.leastUsedSlots(u + b * N, slots: N, n: n, order: order)
            for k in 0..<n { out[b * N + order[k]] = 1 }
        }
    }

    func backward(_ io: PlanIO) {}
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

    func forward(_ io: PlanIO) {
        let u = io.input(1), m = io.input(0), out = io.output(0)
        for b in 0..<B { chosen[b] = Addressing.leastUsedSlot(u + b * N, slots: N) }
        out.update(from: m, count: B * N * W)
        for b in 0..<B { (out + (b * N + chosen[b]) * W).update(repeating: 0, count: W) }
    }

    func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        let scratch = io.scratch(0, B * N * W)
        scratch.update(from: g, count: B * N * W)
        for b in 0..<B { (scratch + (b * N + chosen[b]) * W).update(repeating: 0, count: W) }
        io.add(scratch, to: 0)
    }
}
