import CSupport
import Foundation
import Graph
import Tensor

// The Differentiable Neural Computer's native steps (Graves et al. 2016,
// Methods; the rest of the model is stdlib/dnc.mn in basic ops): usage,
// allocation, the write weighting, the temporal links and the read
// weightings. Each is one node with an analytic VJP, equal to its equation
// written with basic ops (stdlib/dnc.mn's `*_equation`, Tests/lang/dnc_parts.mn),
// which also gives its second-order product (`Graph.recomposed`).

/// A constant 1, for the equations the second-order products are built from.
private let one = Variable(Tensor(1))

/// The DNC's usage after a step: the retention psi_j = prod_r (1 - f_r w^r_j)
/// (free gates f release what the last reads read), then
/// u' = (u + w - u w) psi with w the last write weighting.
extension Addressing {
    public static func usageUpdate(usage: Variable, write: Variable, read: Variable, freeGates: Variable) throws -> Variable {
        let (u, ww, wr, fg) = (usage.value, write.value, read.value, freeGates.value)
        guard u.rank <= 2 else { throw TensorError("usage_update: usage should be [N] or [B, N], got \(Tensor.shapeText(u.shape))") }
        let layout = try Layout(weighting: u)
        let (B, n) = (layout.batch, layout.slots)
        guard ww.shape == u.shape else {
            throw TensorError("usage_update: the write weighting should have the usage's shape \(Tensor.shapeText(u.shape)), got \(Tensor.shapeText(ww.shape))")
        }
        let R = try layout.heads(wr, last: n, "usage_update: the read weightings").count
        guard R > 0 else { throw TensorError("usage_update: the read weightings should have at least one head, got shape \(Tensor.shapeText(wr.shape))") }
        guard fg.count == B * R else {
            throw TensorError("usage_update: the free gates should have one value per read head\(layout.batched ? " and batch row" : "") (\(Tensor.shapeText(layout.batched ? [B, R] : [R]))), got \(Tensor.shapeText(fg.shape))")
        }
        let (U, W) = (u.data, ww.data)
        let forward = filling(counts: [B * n, B * n, B * n]) { out in
            reading(U, W, wr.data) { pu, pw, pr in
                reading(fg.data) { usageRows(usage: pu, write: pw, read: pr, free: $0, retention: out[0], kept: out[1], into: out[2], batch: B, slots: n, heads: R) }
            }
        }
        let (retention, kept, out) = (forward[0], forward[1], forward[2])
        let shapes = (u.shape, wr.shape, fg.shape)
        return Graph.planned(UsageUpdateKernel(batch: B, slots: n, heads: R), "usage_update", flops: 2 * wr.count + 4 * u.count, inputs: [usage, write, read, freeGates],
                             Graph.record(Tensor(shape: u.shape, data: out), [usage, write, read, freeGates], op: "usage_update", flops: 2 * wr.count + 4 * u.count, { back, inputs in
            let g = back.gradient.data
            try back.add(to: inputs[0]) { Tensor(shape: shapes.0, data: (0..<B * n).map { g[$0] * retention[$0] * (1 - W[$0]) }) }
            try back.add(to: inputs[1]) { Tensor(shape: shapes.0, data: (0..<B * n).map { g[$0] * retention[$0] * (1 - U[$0]) }) }
            guard back.needs(inputs[2]) || back.needs(inputs[3]) else { return }
            let d = filling(counts: [B * R * n, B * R]) { out in
                reading(g, kept, wr.data) { pg, pk, pr in
                    reading(fg.data) { usageReadBackward(pg, kept: pk, read: pr, free: $0, dRead: out[0], dFree: out[1], batch: B, slots: n, heads: R) }
                }
            }
            let (dRead, dFree) = (d[0], d[1])
            try back.add(Tensor(shape: shapes.1, data: dRead), to: inputs[2])
            try back.add(Tensor(shape: shapes.2, data: dFree), to: inputs[3])
        }, graph: Graph.recomposed([u, ww, wr, fg]) { v in
            let factors = try Op.sub(one, try Op.mul(try Op.reshape(v[3], [B, R, 1]), try Op.reshape(v[2], [B, R, n])))
            var retention = try Op.slice(factors, axis: 1, start: 0, end: 1)
            for r in 1..<R { retention = try Op.mul(retention, try Op.slice(factors, axis: 1, start: r, end: r + 1)) }
            let kept = try Op.sub(try Op.add(v[0], v[1]), try Op.mul(v[0], v[1]))
            return try Op.mul(kept, try Op.reshape(retention, shapes.0))
        }))
    }

    /// The retention psi = prod_r (1 - f_r w^r), u + w - u w, and the new usage, row by row.
    static func usageRows(usage U: Floats, write W: Floats, read Wr: Floats, free F: Floats, retention: MutableFloats, kept: MutableFloats,
                          into out: MutableFloats, batch B: Int, slots n: Int, heads R: Int) {
        retention.update(repeating: 1, count: B * n)
        for b in 0..<B {
            for r in 0..<R {
                let f = F[b * R + r], row = (b * R + r) * n
                for j in 0..<n { retention[b * n + j] *= 1 - f * Wr[row + j] }
            }
        }
        for k in 0..<B * n { kept[k] = U[k] + W[k] - U[k] * W[k] }
        for k in 0..<B * n { out[k] = kept[k] * retention[k] }
    }

    /// The gradients of the read weightings and free gates (dFree zeroed by the caller):
    /// d psi_j / d w^r_j = -f_r times the other heads' factors (a product, not a division: a factor may be 0).
    static func usageReadBackward(_ g: Floats, kept: Floats, read Wr: Floats, free F: Floats, dRead: MutableFloats, dFree: MutableFloats,
                                  batch B: Int, slots n: Int, heads R: Int) {
        for b in 0..<B {
            for r in 0..<R {
                let f = F[b * R + r], row = (b * R + r) * n
                for j in 0..<n {
                    var others: Float = 1
                    for s in 0..<R where s != r { others *= 1 - F[b * R + s] * Wr[(b * R + s) * n + j] }
                    let dRetention = g[b * n + j] * kept[b * n + j] * others
                    dRead[row + j] = -dRetention * f
                    dFree[b * R + r] -= dRetention * Wr[row + j]
                }
            }
        }
    }
}

/// The DNC's allocation weighting: with phi the slots by increasing usage
/// (stable: ties by slot), a[phi_j] = (1 - u[phi_j]) prod_(i<j) u[phi_i].
/// The positions phi are constants (as DeepMind's implementation stops the
/// gradient through the sort); the gradient through the sorted usage is
/// computed without division, so a zero usage is no trouble:
/// du[phi_k] = P_k (T_k - g_k), P_k = prod_(i<k) s_i, T_k = g_(k+1) (1 - s_(k+1)) + s_(k+1) T_(k+1).
/// No second-order product (the sort).
extension Addressing {
    public static func allocation(usage: Variable) throws -> Variable {
        let u = usage.value
        guard u.rank == 1 || u.rank == 2, let n = u.shape.last, n > 0 else {
            throw TensorError("allocation: usage should be [N] or [B, N], got \(Tensor.shapeText(u.shape))")
        }
        let B = u.rank == 2 ? u.shape[0] : 1
        let order = try Op.argsort(u, axis: -1).data.map { Int($0) }
        let forward = filling(counts: [u.count, u.count]) { out in
            reading(u.data) { pu in order.withUnsafeBufferPointer { allocationRows(usage: pu, order: $0.baseAddress!, prefix: out[1], into: out[0], batch: B, slots: n) } }
        }
        let (out, products) = (forward[0], forward[1])
        return Graph.planned(AllocationKernel(batch: B, slots: n), "allocation", flops: 3 * u.count, inputs: [usage],
                             Graph.record(Tensor(shape: u.shape, data: out), usage, op: "allocation", flops: 3 * u.count, { back, usage in
            let du = filling(u.count) { pdu in
                reading(back.gradient.data, u.data, products) { pg, pu, pp in
                    order.withUnsafeBufferPointer { allocationBackward(pg, usage: pu, order: $0.baseAddress!, prefix: pp, into: pdu, batch: B, slots: n) }
                }
            }
            try back.add(Tensor(shape: u.shape, data: du), to: usage)
        }))
    }

    /// a[phi_j] = (1 - u[phi_j]) times the product of the usages before it,
    /// keeping those products, for slots in `order` (by increasing usage).
    static func allocationRows(usage u: Floats, order: UnsafePointer<Int>, prefix: MutableFloats, into out: MutableFloats, batch B: Int, slots n: Int) {
        for b in 0..<B {
            var p: Float = 1
            for j in 0..<n {
                let slot = b * n + order[b * n + j], s = u[slot]
                prefix[b * n + j] = p
                out[slot] = (1 - s) * p
                p *= s
            }
        }
    }

    /// du (zeroed by the caller) from g, without division: du[phi_k] = P_k (T_k - g_k).
    static func allocationBackward(_ g: Floats, usage u: Floats, order: UnsafePointer<Int>, prefix: Floats, into du: MutableFloats, batch B: Int, slots n: Int) {
        for b in 0..<B {
            var t: Float = 0
            for k in stride(from: n - 1, through: 0, by: -1) {
                let slot = b * n + order[b * n + k]
                if k + 1 < n {
                    let next = b * n + order[b * n + k + 1], s = u[next]
                    t = g[next] * (1 - s) + s * t
                }
                du[slot] = prefix[b * n + k] * (t - g[slot])
            }
        }
    }
}

/// The DNC's write weighting: w = g_w (g_a a + (1 - g_a) c), the write gate
/// g_w and allocation gate g_a choosing between the allocation weighting a
/// and the content weighting c (one gate value shared, or one per batch row).
extension Addressing {
    public static func writeWeighting(allocation: Variable, content: Variable, allocationGate: Variable, writeGate: Variable) throws -> Variable {
        let (a, c) = (allocation.value, content.value)
        guard a.rank <= 2 else { throw TensorError("write_weighting: the allocation weighting should be [N] or [B, N], got \(Tensor.shapeText(a.shape))") }
        let layout = try Layout(weighting: a)
        let (B, n) = (layout.batch, layout.slots)
        guard c.count == a.count, c.shape.last == n else {
            throw TensorError("write_weighting: the content weighting should have the allocation's shape \(Tensor.shapeText(a.shape)), got \(Tensor.shapeText(c.shape))")
        }
        let ga = try layout.scalars(allocationGate.value, "write_weighting: the allocation gate")
        let gw = try layout.scalars(writeGate.value, "write_weighting: the write gate")
        let (A, C) = (a.data, c.data)
        // The mix before the write gate, kept for the write gate's gradient.
        let forward = filling(counts: [B * n, B * n]) { out in
            reading(A, C) { pa, pc in
                reading(ga, gw) { writeWeightingRows(allocation: pa, content: pc, allocationGates: $0, writeGates: $1, gateCounts: (B, B),
                                                     mixed: out[0], into: out[1], batch: B, slots: n) }
            }
        }
        let (mixed, out) = (forward[0], forward[1])
        let shapes = (a.shape, c.shape, allocationGate.value.shape, writeGate.value.shape)
        let kernel = WriteWeightingKernel(batch: B, slots: n, allocationGates: allocationGate.value.count, writeGates: writeGate.value.count)
        return Graph.planned(kernel, "write_weighting", flops: 5 * a.count, inputs: [allocation, content, allocationGate, writeGate],
                             Graph.record(Tensor(shape: a.shape, data: out), [allocation, content, allocationGate, writeGate], op: "write_weighting", flops: 5 * a.count, { back, inputs in
            let g = back.gradient.data
            try back.add(to: inputs[0]) { Tensor(shape: shapes.0, data: (0..<B * n).map { g[$0] * gw[$0 / n] * ga[$0 / n] }) }
            try back.add(to: inputs[1]) { Tensor(shape: shapes.1, data: (0..<B * n).map { g[$0] * gw[$0 / n] * (1 - ga[$0 / n]) }) }
            // A gate shared by the batch takes the sum over its rows.
            func perGate(_ shape: [Int], _ term: (Int) -> Float) -> Tensor {
                var d = [Float](repeating: 0, count: shape.reduce(1, *))
                for k in 0..<B * n { d[d.count == 1 ? 0 : k / n] += term(k) }
                return Tensor(shape: shape, data: d)
            }
            try back.add(to: inputs[2]) { perGate(shapes.2) { g[$0] * gw[$0 / n] * (A[$0] - C[$0]) } }
            try back.add(to: inputs[3]) { perGate(shapes.3) { g[$0] * mixed[$0] } }
        }, graph: Graph.recomposed([a, c, allocationGate.value, writeGate.value]) { v in
            let rows = layout.batched ? [B, 1] : [1]
            let (ga, gw) = (try Op.reshape(v[2], v[2].value.count == 1 ? [1] : rows), try Op.reshape(v[3], v[3].value.count == 1 ? [1] : rows))
            let mix = try Op.add(try Op.mul(ga, v[0]), try Op.mul(try Op.sub(one, ga), try Op.reshape(v[1], shapes.0)))
            return try Op.mul(gw, mix)
        }))
    }

    /// The mix g_a a + (1 - g_a) c (kept) and w = g_w times it; a gate holds
    /// one value (count 1) or one per batch row.
    static func writeWeightingRows(allocation A: Floats, content C: Floats, allocationGates ga: Floats, writeGates gw: Floats,
                                   gateCounts: (Int, Int), mixed: MutableFloats, into out: MutableFloats, batch B: Int, slots n: Int) {
        for k in 0..<B * n {
            let a = ga[gateCounts.0 == 1 ? 0 : k / n], w = gw[gateCounts.1 == 1 ? 0 : k / n]
            mixed[k] = a * A[k] + (1 - a) * C[k]
            out[k] = w * mixed[k]
        }
    }
}

/// The DNC's temporal link matrix: after a write w,
/// L'[i, j] = (1 - w_i - w_j) L[i, j] + w_i p_j off the diagonal (0 on it),
/// and the precedence p' = (1 - sum w) p + w. One node of two outputs whose
/// O(N^2) work runs in one pass each way.
extension Addressing {
    public static func linkUpdate(links: Variable, precedence: Variable, write w: Variable) throws -> (links: Variable, precedence: Variable) {
        let (L, p, wv) = (links.value, precedence.value, w.value)
        let batched = wv.rank == 2
        guard wv.rank == 1 || batched, let n = wv.shape.last, n > 0 else {
            throw TensorError("link_update: the write weighting should be [N] or [B, N], got \(Tensor.shapeText(wv.shape))")
        }
        let B = batched ? wv.shape[0] : 1
        guard p.shape == wv.shape, L.shape == (batched ? [B, n, n] : [n, n]) else {
            throw TensorError("link_update: for a write weighting of shape \(Tensor.shapeText(wv.shape)), the precedence should have that shape and the links \(Tensor.shapeText(batched ? [B, n, n] : [n, n])); got \(Tensor.shapeText(p.shape)) and \(Tensor.shapeText(L.shape))")
        }
        // Every element is written (the kernel sets the diagonal's too).
        let forward = changing([.written(L.count), .written(p.count)]) { out in
            reading(L.data, p.data, wv.data) { linkRows(links: $0, precedence: $1, write: $2, into: out[0], precedenceInto: out[1], batch: B, slots: n) }
        }
        let outputs = Graph.record(outputs: [Tensor(shape: L.shape, data: forward[0]), Tensor(shape: p.shape, data: forward[1])],
                                   [links, precedence, w], op: "link_update", flops: 5 * L.count, { back, inputs in
            let gL = back.gradient(ofOutput: 0)?.data, gp = back.gradient(ofOutput: 1)?.data
            // The links' gradient (when the new links had one) is written in full; the others are summed into.
            let d = changing([.written(gL == nil ? 0 : L.count), .zeros(p.count), .zeros(wv.count), .written(n)]) { out in
                reading(L.data, p.data, wv.data) { pL, pp, pw in
                    optionalReading(gL) { pgL in
                        optionalReading(gp) { pgp in
                            linkRowsBackward(pgL, pgp, links: pL, precedence: pp, write: pw, dLinks: out[0], dPrecedence: out[1], dWrite: out[2],
                                             scratch: out[3], batch: B, slots: n)
                        }
                    }
                }
            }
            if gL != nil { try back.add(Tensor(shape: L.shape, data: d[0]), to: inputs[0]) }
            try back.add(Tensor(shape: p.shape, data: d[1]), to: inputs[1])
            try back.add(Tensor(shape: wv.shape, data: d[2]), to: inputs[2])
        }, graph: Graph.recomposed([L, p, wv]) { v in
            let off = Variable(Tensor(shape: [n, n], data: (0..<n * n).map { $0 / n == $0 % n ? 0 : 1 }))
            let (wi, wj) = (try Op.reshape(v[2], [B, n, 1]), try Op.reshape(v[2], [B, 1, n]))
            let kept = try Op.mul(try Op.sub(try Op.sub(one, wi), wj), try Op.reshape(v[0], [B, n, n]))
            let links = try Op.mul(try Op.add(kept, try Op.mul(wi, try Op.reshape(v[1], [B, 1, n]))), off)
            let precedence = try Op.add(try Op.mul(try Op.sub(one, try Op.sum(v[2], axis: -1, keepdims: true)), v[1]), v[2])
            return [try Op.reshape(links, L.shape), precedence]
        })
        Graph.capture(LinkUpdateKernel(batch: B, slots: n), "link_update", flops: 5 * L.count, inputs: [links, precedence, w], outputs: outputs)
        return (outputs[0], outputs[1])
    }

    /// The new links and precedence, row by row of the batch.
    static func linkRows(links pL: Floats, precedence pp: Floats, write pw: Floats, into next: MutableFloats, precedenceInto precedence: MutableFloats,
                         batch B: Int, slots n: Int) {
        let level = OwnKernels.level
        for b in 0..<B {
            let (o, oo) = (b * n, b * n * n)
            mnemo_link_update_forward(level, pL + oo, pw + o, pp + o, next + oo, n)
            var total: Float = 0
            for i in 0..<n { total += pw[o + i] }
            for i in 0..<n { precedence[o + i] = (1 - total) * pp[o + i] + pw[o + i] }
        }
    }

    /// Their VJP from the gradients of the new links and precedence (either
    /// may be absent): dLinks written in full when gL is given, dPrecedence
    /// and dWrite summed into (zeroed by the caller), scratch of n.
    static func linkRowsBackward(_ gL: Floats?, _ gp: Floats?, links pL: Floats, precedence pp: Floats, write pw: Floats,
                                 dLinks: MutableFloats, dPrecedence dp: MutableFloats, dWrite dw: MutableFloats, scratch g: MutableFloats,
                                 batch B: Int, slots n: Int) {
        let level = OwnKernels.level
        for b in 0..<B {
            let (o, oo) = (b * n, b * n * n)
            if let gL { mnemo_link_update_backward(level, gL + oo, pL + oo, pw + o, pp + o, dLinks + oo, dp + o, dw + o, g, n) }
            if let gp {
                var total: Float = 0, weighted: Float = 0
                for i in 0..<n { total += pw[o + i]; weighted += gp[o + i] * pp[o + i] }
                for i in 0..<n {
                    dp[o + i] += (1 - total) * gp[o + i]
                    dw[o + i] += gp[o + i] - weighted
                }
            }
        }
    }
}

/// An optional array's pointer for `body` (nil for none).
private func optionalReading(_ a: [Float]?, _ body: (Floats?) -> Void) {
    guard let a else { return body(nil) }
    a.withUnsafeBufferPointer { body($0.baseAddress ?? Floats(emptyFloats)) }
}

/// The DNC's read weightings: each head's forward weighting f = L w and
/// backward weighting b = L^T w from its previous weighting w, mixed with its
/// content weighting c by the read modes pi (backward, content, forward, as
/// the paper orders them): w' = pi_1 b + pi_2 c + pi_3 f. One pass over the
/// links per head each way; the links' gradient is added in place.
extension Addressing {
    public static func readWeighting(links: Variable, previous: Variable, content: Variable, modes: Variable) throws -> Variable {
        let (L, w, c, m) = (links.value, previous.value, content.value, modes.value)
        let layout = try Layout(memory: L)
        let (B, n) = (layout.batch, layout.slots)
        guard layout.width == n else {
            throw TensorError("read_weighting: the links should be square, [N, N] or [B, N, N], got \(Tensor.shapeText(L.shape))")
        }
        let R = try layout.heads(w, last: n, "read_weighting: the previous read weightings").count
        guard c.shape == w.shape else {
            throw TensorError("read_weighting: the content weightings should have the previous weightings' shape \(Tensor.shapeText(w.shape)), got \(Tensor.shapeText(c.shape))")
        }
        guard m.shape == Array(w.shape.dropLast()) + [3] else {
            throw TensorError("read_weighting: the read modes should have shape \(Tensor.shapeText(Array(w.shape.dropLast()) + [3])) (backward, content, forward for each head), got \(Tensor.shapeText(m.shape))")
        }
        // f and b for every head, kept for the modes' gradient.
        let level = OwnKernels.level
        // f and the mix are written in full; b is summed into from zeros.
        let directions = changing([.written(B * R * n), .zeros(B * R * n), .written(B * R * n)]) { out in
            reading(L.data, w.data, c.data) { pL, pw, pc in
                reading(m.data) { readWeightingRows(links: pL, previous: pw, content: pc, modes: $0, forward: out[0], backward: out[1], into: out[2],
                                                    batch: B, heads: R, slots: n) }
            }
        }
        let (forwardWeighting, backwardWeighting) = (directions[0], directions[1])
        let shapes = (w.shape, m.shape)
        return Graph.planned(ReadWeightingKernel(batch: B, heads: R, slots: n), "read_weighting", flops: 4 * B * R * n * n + 5 * B * R * n,
                             inputs: [links, previous, content, modes],
                             Graph.record(Tensor(shape: w.shape, data: directions[2]), [links, previous, content, modes], op: "read_weighting",
                            flops: 4 * B * R * n * n + 5 * B * R * n, { back, inputs in
            let g = back.gradient.data
            let M = m.data
            try back.add(to: inputs[2]) { Tensor(shape: shapes.0, data: (0..<B * R * n).map { g[$0] * M[($0 / n) * 3 + 1] }) }
            try back.add(to: inputs[3]) {
                Tensor(shape: shapes.1, data: filling(B * R * 3) { d in
                    reading(list: g, backwardWeighting, c.data, forwardWeighting) { p in
                        for h in 0..<B * R {
                            for k in 0..<3 { d[3 * h + k] = dot(p[0] + h * n, p[k + 1] + h * n, n) }
                        }
                    }
                })
            }
            guard back.needs(inputs[0]) || back.needs(inputs[1]) else { return }
            // The gradients reaching f and b: pi_3 g and pi_1 g.
            let toForward = (0..<B * R * n).map { g[$0] * M[($0 / n) * 3 + 2] }
            let toBackward = (0..<B * R * n).map { g[$0] * M[($0 / n) * 3] }
            // dw = L g_b + L^T g_f.
            try back.add(to: inputs[1]) {
                let parts = filling(counts: [B * R * n, B * R * n]) { out in
                    reading(L.data, toForward, toBackward) { pL, gf, gb in
                        for h in 0..<B * R { mnemo_links_times(level, pL + (h / R) * n * n, gb + h * n, gf + h * n, out[0] + h * n, out[1] + h * n, n) }
                    }
                }
                return Tensor(shape: shapes.0, data: zip(parts[0], parts[1]).map { $0 + $1 })
            }
            // dL[i, j] = the sum over heads of g_f[i] w[j] + w[i] g_b[j], added in place (an N x N gradient).
            back.addInPlace(to: inputs[0]) { dL in
                reading(w.data, toForward, toBackward) { pw, gf, gb in
                    for h in 0..<B * R { mnemo_links_outer_add(level, pw + h * n, gf + h * n, gb + h * n, dL + (h / R) * n * n, n) }
                }
            }
        }, graph: Graph.recomposed([L, w, c, m]) { v in
            // As broadcast products and sums (whose second order exists), not batched matrix products.
            let links = try Op.reshape(v[0], [B, 1, n, n])
            let backward = try Op.sum(try Op.mul(try Op.reshape(v[1], [B, R, n, 1]), links), axis: 2)
            let forward = try Op.sum(try Op.mul(links, try Op.reshape(v[1], [B, R, 1, n])), axis: 3)
            let modes = try Op.reshape(v[3], [B, R, 3])
            func mode(_ k: Int) throws -> Variable { try Op.slice(modes, axis: 2, start: k, end: k + 1) }
            let mixed = try Op.add(try Op.add(try Op.mul(try mode(0), backward), try Op.mul(try mode(1), try Op.reshape(v[2], [B, R, n]))),
                                   try Op.mul(try mode(2), forward))
            return try Op.reshape(mixed, shapes.0)
        }))
    }

    /// Each head's forward weighting f = L w (written) and backward weighting
    /// b = L^T w (summed into zeros), and their mix with the content weighting by the modes.
    static func readWeightingRows(links pL: Floats, previous pw: Floats, content pc: Floats, modes m: Floats, forward f: MutableFloats,
                                  backward bk: MutableFloats, into y: MutableFloats, batch B: Int, heads R: Int, slots n: Int) {
        let level = OwnKernels.level
        for h in 0..<B * R {
            let (row, modes) = (h * n, h * 3)
            mnemo_links_times(level, pL + (h / R) * n * n, pw + row, pw + row, f + row, bk + row, n)
            let (m0, m1, m2) = (m[modes], m[modes + 1], m[modes + 2])
            for j in 0..<n { y[row + j] = m0 * bk[row + j] + m1 * pc[row + j] + m2 * f[row + j] }
        }
    }
}
