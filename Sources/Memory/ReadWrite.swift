import CSupport
import Foundation
import Graph
import Tensor

/// Reading and the erase-then-add write, for one head or several at once.
extension Addressing {
    // MARK: Reading and writing

    /// r = sum_i w(i) M(i): [W], or [B, W] for a batch; several heads' weightings
    /// ([H, N] or [B, H, N]) read at once give [H, W] or [B, H, W].
    public static func read(_ memory: Variable, _ weighting: Variable) throws -> Variable {
        let m = memory.value, w = weighting.value
        let L = try Layout(memory: m)
        let heads = try L.heads(w, last: L.slots, "the read weighting")
        let (B, H, N, W) = (L.batch, heads.count, L.slots, L.width)
        let r = filling(B * H * W) { pr in
            reading(m.data, w.data) { readRows(memory: $0, weighting: $1, into: pr, batch: B, heads: H, slots: N, width: W) }
        }
        let read = Graph.record(Tensor(shape: L.shape(heads: heads, last: W), data: r), memory, weighting, op: "read", flops: 2 * B * H * N * W) { back, memory, weighting in
            let g = back.gradient
            // dw(i) = M(i) . g; dM(i) = sum over heads of w(i) g.
            let dw = filling(w.count) { pdw in
                reading(m.data, g.data) { readWeightingGradient($1, memory: $0, into: pdw, batch: B, heads: H, slots: N, width: W) }
            }
            func addRows(_ dm: MutableFloats) {
                reading(g.data, w.data) { readMemoryGradient($0, weighting: $1, into: dm, batch: B, heads: H, slots: N, width: W) }
            }
            // One head adds straight into the memory's gradient; several are
            // summed first, as the memory's other gradients are added whole.
            if H == 1 {
                back.addInPlace(to: memory, addRows)
            } else {
                try back.add(to: memory) { Tensor(shape: m.shape, data: filling(m.count, addRows)) }
            }
            try back.add(Tensor(shape: w.shape, data: dw), to: weighting)
        }
        Graph.capture(ReadKernel(batch: B, heads: H, slots: N, width: W), "read", flops: 2 * B * H * N * W, inputs: [memory, weighting], outputs: [read])
        return read
    }

    // The row loops run in C (memory_kernels.c) at the widest vectors the
    // CPU has; a batch's rows are independent, and threads take whole rows
    // (the same bits for any number of threads).

    /// r += sum_i w(i) M(i) for each head's weighting, into pr [B, H, W] (zeroed by the caller).
    static func readRows(memory pm: Floats, weighting pw: Floats, into pr: MutableFloats, batch B: Int, heads H: Int, slots N: Int, width W: Int) {
        let level = OwnKernels.level
        Parallel.forEach(B, work: 2 * B * H * N * W) { batches in
            for b in batches {
                mnemo_heads_weighted_sums(level, pw + b * H * N, pm + b * N * W, N, W, H, pr + b * H * W)
            }
        }
    }

    /// dw(i) = M(i) . g for each head, into pdw [B, H, N].
    static func readWeightingGradient(_ pg: Floats, memory pm: Floats, into pdw: MutableFloats, batch B: Int, heads H: Int, slots N: Int, width W: Int) {
        let level = OwnKernels.level
        Parallel.forEach(B, work: 2 * B * H * N * W) { batches in
            for b in batches {
                for h in 0..<H { mnemo_dots_with_rows(level, pg + (b * H + h) * W, pm + b * N * W, N, W, pdw + (b * H + h) * N) }
            }
        }
    }

    /// dM(i) += sum over heads of w(i) g, into dm [B, N, W].
    static func readMemoryGradient(_ pg: Floats, weighting pw: Floats, into dm: MutableFloats, batch B: Int, heads H: Int, slots N: Int, width W: Int) {
        let level = OwnKernels.level
        Parallel.forEach(B, work: 2 * B * H * N * W) { batches in
            for b in batches {
                mnemo_write_rows(level, dm + b * N * W, dm + b * N * W, N, W, H, pw + b * H * N, nil, pg + b * H * W, -1, nil)
            }
        }
    }

    /// The same summed from zero, written into dm or, `adding`, added to its values.
    static func readMemoryGradientSum(_ pg: Floats, weighting pw: Floats, into dm: MutableFloats, adding: Bool,
                                      batch B: Int, heads H: Int, slots N: Int, width W: Int) {
        let level = OwnKernels.level
        Parallel.forEach(B, work: 2 * B * H * N * W) { batches in
            for b in batches { mnemo_heads_sum_rows(level, dm + b * N * W, N, W, H, pw + b * H * N, pg + b * H * W, adding ? 1 : 0) }
        }
    }

    /// Erase then add: M~(i) = M(i) * (1 - w(i) e), M'(i) = M~(i) + w(i) a.
    /// Several heads at once (w [H, N] or [B, H, N], e and a [H, W] or
    /// [B, H, W]) write as the NTM paper combines them: every erase first,
    /// M~(i) = M(i) * prod_h (1 - w_h(i) e_h), then every add, + sum_h w_h(i) a_h.
    public static func write(_ memory: Variable, _ weighting: Variable, erase: Variable?, add: Variable) throws -> Variable {
        // Erase and add: a few operations per element of the memory, for each head's weighting.
        let kernel = try writeKernel(memory.value, weighting.value, erase?.value, add.value)
        let L = try Layout(memory: memory.value)
        let heads = weighting.value.count / (L.batch * L.slots), flops = 4 * weighting.value.count * L.width
        return Graph.planned(WriteKernel(batch: L.batch, heads: heads, slots: L.slots, width: L.width), "write", flops: flops,
                             inputs: [memory, weighting, add, erase], record(kernel, [memory, weighting, add, erase], op: "write", flops: flops))
    }

    /// The write's value and VJP: [dM, dw, da] and, with an erase vector, de.
    static func writeKernel(_ m: Tensor, _ w: Tensor, _ e: Tensor?, _ a: Tensor) throws -> Kernel {
        let L = try Layout(memory: m)
        let heads = try L.heads(w, last: L.slots, "the write weighting")
        guard try L.heads(a, last: L.width, "the add vector") == heads else {
            throw TensorError("the add vector should have shape \(Tensor.shapeText(L.shape(heads: heads, last: L.width))), one per head of the weighting; got \(Tensor.shapeText(a.shape))")
        }
        if let e, try L.heads(e, last: L.width, "the erase vector") != heads {
            throw TensorError("the erase vector should have shape \(Tensor.shapeText(L.shape(heads: heads, last: L.width))), one per head of the weighting; got \(Tensor.shapeText(e.shape))")
        }
        let (B, H, N, W) = (L.batch, heads.count, L.slots, L.width)
        let erasing = e != nil
        // Row by row: copy M(i), apply every erase, then every add. A single
        // erasing head does it in one pass, (M(i) * (1 - w(i) e)) + w(i) a,
        // the same operations in the same order.
        let out = writing(m.count) { po in
            reading(list: m.data, a.data, e?.data ?? [], w.data) { p in
                writeRows(memory: p[0], add: p[1], erase: erasing ? p[2] : nil, weighting: p[3], into: po, batch: B, heads: H, slots: N, width: W)
            }
        }
        return (Tensor(shape: m.shape, data: out), { g in
            // dM_i = g_i * keep_i with keep_i = prod_h (1 - w_h(i) e_h); da_h += w_h(i) g_i;
            // dw_h(i) = g_i . (a_h - M_i * e_h * others); de_h -= w_h(i) g_i * M_i * others,
            // where others = prod over the other heads h' of (1 - w_h'(i) e_h'), 1 for one head.
            let d = changing([.copy(g.data), .zeros(w.count), .zeros(a.count), .zeros(a.count)]) { out in
                reading(list: g.data, m.data, a.data, e?.data ?? [], w.data) { p in
                    writeRowsBackward(p[0], memory: p[1], add: p[2], erase: erasing ? p[3] : nil, weighting: p[4],
                                      dMemory: out[0], dWeighting: out[1], dAdd: out[2], dErase: out[3], batch: B, heads: H, slots: N, width: W)
                }
            }
            var grads = [Tensor(shape: m.shape, data: d[0]), Tensor(shape: w.shape, data: d[1]), Tensor(shape: a.shape, data: d[2])]
            if let e { grads.append(Tensor(shape: e.shape, data: d[3])) }
            return grads
        })
    }

    /// Erase then add, row by row, into po: every erase, then every add.
    /// With `cleared` (a slot per batch row) and `zeros` (W of them), each
    /// batch row's memory is read with that slot as zeros.
    static func writeRows(memory pm: Floats, add pa: Floats, erase pe: Floats?, weighting pw: Floats, into po: MutableFloats,
                          batch B: Int, heads H: Int, slots N: Int, width W: Int,
                          cleared: UnsafePointer<Int>? = nil, zeros: Floats? = nil) {
        let level = OwnKernels.level
        Parallel.forEach(B, work: 2 * B * N * W * H) { batches in for b in batches {
            mnemo_write_rows(level, pm + b * N * W, po + b * N * W, N, W, H, pw + b * H * N, pe.map { $0 + b * H * W }, pa + b * H * W,
                             cleared.map { $0[b] } ?? -1, zeros)
        }}
    }

    /// The write's VJP: pdm starts as a copy of g, dw, da and de as zeros.
    /// dM_i = g_i * keep_i with keep_i = prod_h (1 - w_h(i) e_h); da_h += w_h(i) g_i;
    /// dw_h(i) = g_i . (a_h - M_i * e_h * others); de_h -= w_h(i) g_i * M_i * others,
    /// where others = prod over the other heads h' of (1 - w_h'(i) e_h'), 1 for one head.
    static func writeRowsBackward(_ pg: Floats, memory pm: Floats, add pa: Floats, erase pe: Floats?, weighting pw: Floats,
                                  dMemory pdm: MutableFloats, dWeighting dw: MutableFloats, dAdd pda: MutableFloats, dErase pde: MutableFloats,
                                  batch B: Int, heads H: Int, slots N: Int, width W: Int) {
        // Threads take whole batch rows, each with its own scratch row (the same bits).
        let level = OwnKernels.level
        Parallel.forEach(B, work: 4 * B * N * W * H) { batches in
          withUnsafeTemporaryAllocation(of: Float.self, capacity: W) { scratch in
            let gm = scratch.baseAddress!
            for b in batches {
            if H == 1, let pe {
                mnemo_write_backward_one_head(level, pg + b * N * W, pm + b * N * W, pe + b * W, pa + b * W, pw + b * N, N, W,
                                              pda + b * W, pde + b * W, pdm + b * N * W, dw + b * N)
                continue
            }
            if pe == nil {
                // Without erasing, dw_h(i) = g_i . a_h and da_h = sum_i w_h(i) g_i.
                for h in 0..<H { mnemo_dots_with_rows(level, pa + (b * H + h) * W, pg + b * N * W, N, W, dw + (b * H + h) * N) }
                mnemo_heads_weighted_sums(level, pw + b * H * N, pg + b * N * W, N, W, H, pda + b * H * W)
                continue
            }
            for i in 0..<N {
                let row = (b * N + i) * W
                let grow = pg + row, mrow = pm + row
                for h in 0..<H {
                    let at = (b * H + h) * N + i, wi = pw[at]
                    var acc = dot(grow, pa + (b * H + h) * W, W)
                    if wi != 0 { axpy(pda + (b * H + h) * W, wi, grow, W) }
                    if let pe {
                        // gm = g_i * M_i * others, in scratch space.
                        for j in 0..<W { gm[j] = grow[j] * mrow[j] }
                        for h2 in 0..<H where h2 != h {
                            let w2 = pw[(b * H + h2) * N + i], e2 = pe + (b * H + h2) * W
                            if w2 != 0 { for j in 0..<W { gm[j] *= 1 - w2 * e2[j] } }
                        }
                        acc -= dot(gm, pe + (b * H + h) * W, W)
                        if wi != 0 { axpy(pde + (b * H + h) * W, -wi, gm, W) }
                    }
                    dw[at] = acc
                }
                if let pe {
                    let drow = pdm + row
                    for h in 0..<H {
                        let wi = pw[(b * H + h) * N + i], erase = pe + (b * H + h) * W
                        if wi != 0 { for j in 0..<W { drow[j] *= 1 - wi * erase[j] } }
                    }
                }
            }
            }
          }
        }
    }

    /// An NTM write head's write from its raw parameters p ([P] or [B, P]),
    /// as one graph node: erase = sigmoid of the W values after the
    /// addressing parameters (key W, beta, g, `shifts`, gamma), add = tanh of
    /// the W after those, then `write` with the weighting w. Equal to slicing
    /// and activating p with basic ops and calling `write`.
    public static func writeFromParameters(memory: Variable, weighting: Variable, parameters p: Variable, shifts S: Int) throws -> Variable {
        let m = memory.value, pv = p.value
        let L = try Layout(memory: m)
        let W = L.width, H = HeadLayout(width: W, shifts: S)
        let P = pv.shape.last ?? 0
        let B = pv.rank == 2 ? pv.shape[0] : 1
        guard pv.rank == 1 || pv.rank == 2, P >= H.writeSize else {
            throw TensorError("a write head's parameters should be [\(H.writeSize)] or [batch, \(H.writeSize)] (addressing \(H.readSize), erase \(W), add \(W)), got \(Tensor.shapeText(pv.shape))")
        }
        let rows = pv.rank == 2 ? [B] : []
        let activated = filling(counts: [B * W, B * W]) { out in
            reading(pv.data) { eraseAndAdd($0, batch: B, length: P, layout: H, erase: out[0], add: out[1]) }
        }
        let (erase, add) = (activated[0], activated[1])
        let (value, backward) = try writeKernel(m, weighting.value, Tensor(shape: rows + [W], data: erase), Tensor(shape: rows + [W], data: add))
        let written = Graph.record(value, memory, weighting, p, op: "write_from", flops: 4 * m.count + 8 * B * W) { back, memory, weighting, p in
            let d = backward(back.gradient)  // [dM, dw, dadd, derase]
            let dp = filling(pv.count) { pd in
                reading(d[3].data, d[2].data) { eraseAndAddBackward(dErase: $0, dAdd: $1, erase: erase, add: add, batch: B, length: P, layout: H, into: pd) }
            }
            try back.add(d[0], to: memory)
            try back.add(d[1], to: weighting)
            try back.add(Tensor(shape: pv.shape, data: dp), to: p)
        }
        Graph.capture(WriteFromKernel(batch: B, length: P, slots: L.slots, width: W, head: H), "write_from", flops: 4 * m.count + 8 * B * W,
                      inputs: [memory, weighting, p], outputs: [written])
        return written
    }

    /// A write head's erase (sigmoid) and add (tanh) vectors from its raw parameters pp [B, P].
    static func eraseAndAdd(_ pp: Floats, batch B: Int, length P: Int, layout H: HeadLayout, erase: MutableFloats, add: MutableFloats) {
        let W = H.width
        for b in 0..<B {
            VectorMath.Activation.sigmoid.apply(pp + b * P + H.erase.lowerBound, erase + b * W, W)
            VectorMath.Activation.tanh.apply(pp + b * P + H.add.lowerBound, add + b * W, W)
        }
    }

    /// Their gradients back through the activations into pd [B, P] (zeroed by the caller).
    static func eraseAndAddBackward(dErase: Floats, dAdd: Floats, erase: Floats, add: Floats, batch B: Int, length P: Int,
                                    layout H: HeadLayout, into pd: MutableFloats) {
        let W = H.width
        for b in 0..<B {
            for j in 0..<W {
                let e = erase[b * W + j], a = add[b * W + j]
                pd[b * P + H.erase.lowerBound + j] = dErase[b * W + j] * Scalar.sigmoidSlope(output: e)
                pd[b * P + H.add.lowerBound + j] = dAdd[b * W + j] * Scalar.tanhSlope(output: a)
            }
        }
    }
}
