import Graph
import Tensor

// The memory ops' kernel forms for a compiled plan (see `KernelPlan`): the
// same row kernels as the ops, on the plan's buffers, each with the
// scratch its backward needs allocated once.

private func buffer(_ n: Int) -> MutableFloats {
    let p = MutableFloats.allocate(capacity: max(1, n))
    p.initialize(repeating: 0, count: max(1, n))
    return p
}

/// `address_from`: inputs memory, p, previous; output the weighting.
final class AddressFromKernel: PlanKernel {
    let chain: AddressChain
    let B: Int, P: Int, head: Addressing.HeadLayout, N: Int, memoryCount: Int
    let dPrevious, dp, dMemory: MutableFloats

    init(layout L: Layout, batch: Int, length: Int, head: Addressing.HeadLayout, shifts: Int) {
        chain = AddressChain(layout: L, heads: 1, shifts: shifts)
        (B, P, self.head, N, memoryCount) = (batch, length, head, L.slots, L.batch * L.slots * L.width)
        (dPrevious, dp, dMemory) = (buffer(B * N), buffer(B * P), buffer(memoryCount))
    }

    deinit { dPrevious.deallocate(); dp.deallocate(); dMemory.deallocate() }

    func forward(_ io: PlanIO) {
        let p = io.input(1)
        chain.forward(memory: io.input(0), previous: io.input(2), into: io.output(0)) { x in
            Addressing.activateHead(p, batch: B, length: P, layout: head, into: x)
        }
    }

    func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        let (m, w) = (io.input(0), io.output(0))
        let added = io.addInPlace(to: 0) { chain.backward(g, memory: m, weighting: w, memory: $0, previous: dPrevious) }
        if !added {
            dMemory.update(repeating: 0, count: memoryCount)
            chain.backward(g, memory: m, weighting: w, memory: dMemory, previous: dPrevious)
        }
        if io.needs(1) {
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
    let erase, add, dMemory, dWeighting, dAdd, dErase, dp: MutableFloats

    init(batch: Int, length: Int, slots: Int, width: Int, head: Addressing.HeadLayout) {
        (B, P, N, W, self.head) = (batch, length, slots, width, head)
        (erase, add, dMemory, dWeighting) = (buffer(B * W), buffer(B * W), buffer(B * N * W), buffer(B * N))
        (dAdd, dErase, dp) = (buffer(B * W), buffer(B * W), buffer(B * P))
    }

    deinit { for b in [erase, add, dMemory, dWeighting, dAdd, dErase, dp] { b.deallocate() } }

    func forward(_ io: PlanIO) {
        Addressing.eraseAndAdd(io.input(2), batch: B, length: P, layout: head, erase: erase, add: add)
        Addressing.writeRows(memory: io.input(0), add: add, erase: erase, weighting: io.input(1), into: io.output(0),
                             batch: B, heads: 1, slots: N, width: W)
    }

    func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        dMemory.update(from: g, count: B * N * W)
        dWeighting.update(repeating: 0, count: B * N)
        dAdd.update(repeating: 0, count: B * W)
        dErase.update(repeating: 0, count: B * W)
        Addressing.writeRowsBackward(g, memory: io.input(0), add: add, erase: erase, weighting: io.input(1),
                                     dMemory: dMemory, dWeighting: dWeighting, dAdd: dAdd, dErase: dErase, batch: B, heads: 1, slots: N, width: W)
        io.add(dMemory, to: 0)
        io.add(dWeighting, to: 1)
        if io.needs(2) {
            dp.update(repeating: 0, count: B * P)
            Addressing.eraseAndAddBackward(dErase: dErase, dAdd: dAdd, erase: erase, add: add, batch: B, length: P, layout: head, into: dp)
            io.add(dp, to: 2)
        }
    }
}

/// `read`: inputs memory, weighting; output the read vectors.
final class ReadKernel: PlanKernel {
    let B: Int, H: Int, N: Int, W: Int
    let dw, dm: MutableFloats

    init(batch: Int, heads: Int, slots: Int, width: Int) {
        (B, H, N, W) = (batch, heads, slots, width)
        (dw, dm) = (buffer(B * H * N), buffer(B * N * W))
    }

    deinit { dw.deallocate(); dm.deallocate() }

    func forward(_ io: PlanIO) {
        let r = io.output(0)
        r.update(repeating: 0, count: B * H * W)
        Addressing.readRows(memory: io.input(0), weighting: io.input(1), into: r, batch: B, heads: H, slots: N, width: W)
    }

    func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        let (m, w) = (io.input(0), io.input(1))
        Addressing.readWeightingGradient(g, memory: m, into: dw, batch: B, heads: H, slots: N, width: W)
        if H == 1 {
            io.addInPlace(to: 0) { Addressing.readMemoryGradient(g, weighting: w, into: $0, batch: B, heads: H, slots: N, width: W) }
        } else if io.needs(0) {
            dm.update(repeating: 0, count: B * N * W)
            Addressing.readMemoryGradient(g, weighting: w, into: dm, batch: B, heads: H, slots: N, width: W)
            io.add(dm, to: 0)
        }
        io.add(dw, to: 1)
    }
}
