import Foundation
import Graph
import Tensor

/// Least-recently-used access (Santoro et al. 2016): usage, least-used slots, LRUA weights and writes.
extension Addressing {
    // MARK: LRUA (Santoro et al. 2016)

    /// w^u = decay * w^u_prev + w^r + w^w. `reads` and `write` may hold several
    /// heads ([H, N] or [B, H, N]); they are summed.
    public static func usage(_ previous: Variable, reads: Variable, write: Variable, decay: Float) throws -> Variable {
        func summedOverHeads(_ v: Variable) throws -> Variable {
            v.value.rank == previous.value.rank + 1 ? try Op.sum(v, axis: -2) : v
        }
        return try Op.add(try Op.add(Op.scale(previous, decay), try summedOverHeads(reads)), try summedOverHeads(write))
    }

    /// 1 at the n least-used slots (per batch row), else 0: the slots whose usage
    /// is at most the n-th smallest. Exactly n are chosen, ties going to the
    /// lower slot, as top-k does in the reference implementations; otherwise a
    /// fresh memory, where every usage is 0, would mark every slot and stay
    /// symmetric. Not differentiable.
    public static func leastUsed(_ usage: Tensor, n: Int) throws -> Tensor {
        let L = try Layout(weighting: usage)
        guard n >= 1, n <= L.slots else { throw TensorError("least_used: n must be between 1 and \(L.slots), got \(n)") }
        let out = filling(usage.count) { po in
            reading(usage.data) { pu in
                withUnsafeTemporaryAllocation(of: Int.self, capacity: n) { order in
                    for b in 0..<L.batch {
                        leastUsedSlots(pu + b * L.slots, slots: L.slots, n: n, order: order.baseAddress!)
                        for k in 0..<n { po[b * L.slots + order[k]] = 1 }
                    }
                }
            }
        }
        return Tensor(shape: usage.shape, data: out)
    }

    /// The same for a tensor a compiled plan computes anew at each run (a constant to gradients).
    public static func leastUsed(_ usage: Variable, n: Int) throws -> Variable {
        let value = try leastUsed(usage.value, n: n)
        let L = try Layout(weighting: usage.value)
        return Graph.plannedConstant(LeastUsedKernel(rows: L.batch, slots: L.slots, n: n), "least_used", inputs: [usage], Variable(value))
    }

    /// The n slots of smallest usage in order[0..<n], by (usage, slot): the
    /// first n of the slots sorted by increasing usage, ties to the lower
    /// slot, a NaN usage after every number. One pass, each slot inserted
    /// into the sorted list of the n smallest so far when it belongs there.
    static func leastUsedSlots(_ u: Floats, slots N: Int, n: Int, order: UnsafeMutablePointer<Int>) {
        // Whether slot i comes before slot j.
        func before(_ i: Int, _ j: Int) -> Bool {
            let (a, b) = (u[i], u[j])
            if a.isNaN || b.isNaN { return b.isNaN && (!a.isNaN || i < j) }
            return a < b || (a == b && i < j)
        }
        var kept = 0
        for i in 0..<N {
            if kept == n && !before(i, order[n - 1]) { continue }
            // Slots come in increasing order: i goes after every kept slot it ties with.
            var at = kept == n ? n - 1 : kept
            while at > 0 && before(i, order[at - 1]) { order[at] = order[at - 1]; at -= 1 }
            order[at] = i
            if kept < n { kept += 1 }
        }
    }

    /// The first slot of smallest usage.
    static func leastUsedSlot(_ u: Floats, slots N: Int) -> Int {
        var best = 0
        for i in 1..<N where u[i] < u[best] { best = i }
        return best
    }

    /// w^w = sigmoid(alpha) w^r_prev + (1 - sigmoid(alpha)) w^lu_prev. Several
    /// heads at once: w^r_prev [H, N] or [B, H, N] with alpha [H] or [B, H],
    /// sharing the least-used weights [N] or [B, N].
    public static func lruaWeights(_ alpha: Variable, readPrevious: Variable, leastUsedPrevious: Variable) throws -> Variable {
        let r = readPrevious.value, lu = leastUsedPrevious.value
        let U = try Layout(weighting: lu)
        let hasHeads = r.rank == lu.rank + 1
        guard r.shape.last == U.slots, Array(r.shape.dropLast(hasHeads ? 2 : 1)) == Array(lu.shape.dropLast()) else {
            throw TensorError("lrua_weights: the previous read weights of shape \(Tensor.shapeText(r.shape)) do not fit least-used weights of shape \(Tensor.shapeText(lu.shape))")
        }
        let rows = r.count / U.slots
        guard alpha.value.count == 1 || alpha.value.count == rows else {
            throw TensorError("lrua_weights: alpha should have 1 or \(rows) values (one per head and batch row), got shape \(Tensor.shapeText(alpha.shape))")
        }
        // One node: w = s r + (1 - s) lu with s = sigmoid(alpha) per row (head
        // and batch row); lu is a constant shared by the heads of a batch row.
        let N = U.slots, perLU = hasHeads ? r.shape[r.rank - 2] : 1
        let a = alpha.value
        let gates = (0..<rows).map { VectorMath.sigmoid(a.count == 1 ? a.data[0] : a.data[$0]) }
        var out = [Float](repeating: 0, count: r.count)
        for row in 0..<rows {
            let s = gates[row], base = row * N, luBase = (row / perLU) * N
            for i in 0..<N { out[base + i] = s * r.data[base + i] + (1 - s) * lu.data[luBase + i] }
        }
        // lu takes its gradient too (a variant with soft least-used weights
        // learns through it); heads sharing one lu row add their shares.
        let kernel = LRUAWeightsKernel(rows: rows, slots: N, perLU: perLU, alphas: a.count, luCount: lu.count)
        return Graph.planned(kernel, "lrua_weights", flops: 3 * out.count, inputs: [alpha, readPrevious, leastUsedPrevious],
                             Graph.record(Tensor(shape: r.shape, data: out), alpha, readPrevious, leastUsedPrevious, op: "lrua_weights", flops: 3 * out.count) { back, alpha, readPrevious, leastUsedPrevious in
            let g = back.gradient
            var dr = [Float](repeating: 0, count: r.count), da = [Float](repeating: 0, count: a.count)
            var dlu = [Float](repeating: 0, count: lu.count)
            for row in 0..<rows {
                let s = gates[row], base = row * N, luBase = (row / perLU) * N
                var ds: Float = 0
                for i in 0..<N {
                    dr[base + i] = s * g.data[base + i]
                    dlu[luBase + i] += (1 - s) * g.data[base + i]
                    ds += g.data[base + i] * (r.data[base + i] - lu.data[luBase + i])
                }
                da[a.count == 1 ? 0 : row] += Scalar.sigmoidBackward(ds, output: s)
            }
            try back.add(Tensor(shape: a.shape, data: da), to: alpha)
            try back.add(Tensor(shape: r.shape, data: dr), to: readPrevious)
            try back.add(Tensor(shape: lu.shape, data: dlu), to: leastUsedPrevious)
        })
    }

    /// The memory with its single least-used slot (smallest usage, first on ties) set to zero.
    public static func zeroLeastUsed(_ memory: Variable, usage usageVariable: Variable) throws -> Variable {
        let usage = usageVariable.value
        let L = try Layout(memory: memory.value)
        let U = try Layout(weighting: usage)
        guard U.batch == L.batch, U.slots == L.slots else {
            throw TensorError("usage of shape \(Tensor.shapeText(usage.shape)) does not fit a memory of shape \(Tensor.shapeText(memory.shape))")
        }
        var keep = [Float](repeating: 1, count: L.batch * L.slots)
        reading(usage.data) { pu in
            for b in 0..<L.batch { keep[b * L.slots + leastUsedSlot(pu + b * L.slots, slots: L.slots)] = 0 }
        }
        // Rows are zeroed by copying around them; the gradient is zeroed at the same rows.
        let W = L.width
        func zeroRows(_ t: Tensor) -> Tensor {
            let out = changing([.copy(t.data)]) { p in
                for row in 0..<keep.count where keep[row] == 0 { (p[0] + row * W).update(repeating: 0, count: W) }
            }
            return Tensor(shape: t.shape, data: out[0])
        }
        return Graph.planned(ZeroLeastUsedKernel(batch: L.batch, slots: L.slots, width: W), "zero_least_used", inputs: [memory, usageVariable],
                             Graph.record(zeroRows(memory.value), memory, op: "zero_least_used", flops: 0) { back, memory in try back.add(zeroRows(back.gradient), to: memory) })
    }

    /// One LRUA write: zero the least-used slot, then M += w^w k, with
    /// w^w = sigmoid(alpha) w^r_prev + (1 - sigmoid(alpha)) w^lu_prev and
    /// w^lu_prev the n least-used slots of the previous usage. Returns (M', w^w).
    public static func lruaWrite(_ memory: Variable, key: Variable, alpha: Variable, readPrevious: Variable,
                                 usagePrevious: Tensor, reads n: Int) throws -> (memory: Variable, weights: Variable) {
        let leastUsedPrevious = try leastUsed(usagePrevious, n: n)
        let ww = try lruaWeights(alpha, readPrevious: readPrevious, leastUsedPrevious: Variable(leastUsedPrevious))
        let cleared = try zeroLeastUsed(memory, usage: Variable(usagePrevious))
        return (try write(cleared, ww, erase: nil, add: key), ww)
    }
}
