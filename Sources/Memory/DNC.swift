import Foundation
import Graph
import Tensor

// The Differentiable Neural Computer's native steps (the rest of the model is
// stdlib/dnc.mn in basic ops): the temporal links and the allocation weighting.

/// The DNC's temporal link matrix (Graves et al. 2016, Methods): after a
/// write w, L'[i, j] = (1 - w_i - w_j) L[i, j] + w_i p_j off the diagonal
/// (0 on it), and the precedence p' = (1 - sum w) p + w. One node of two
/// outputs whose O(N^2) work runs in one pass each way; equal to the same
/// equations written with basic ops (`dnc.link_update_equation`, Tests/lang/dnc_parts.mn).
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
        let forward = filling(counts: [L.count, p.count]) { out in
            reading(L.data, p.data, wv.data) { pL, pp, pw in
                for b in 0..<B {
                    let (o, oo) = (b * n, b * n * n)
                    var total: Float = 0
                    for i in 0..<n { total += pw[o + i] }
                    for i in 0..<n {
                        let wi = pw[o + i], row = oo + i * n
                        for j in 0..<n where j != i { out[0][row + j] = (1 - wi - pw[o + j]) * pL[row + j] + wi * pp[o + j] }
                        out[1][o + i] = (1 - total) * pp[o + i] + wi
                    }
                }
            }
        }
        let outputs = Graph.record(outputs: [Tensor(shape: L.shape, data: forward[0]), Tensor(shape: p.shape, data: forward[1])],
                                   [links, precedence, w], op: "link_update", flops: 5 * L.count, { back, inputs in
            let gL = back.gradient(ofOutput: 0)?.data, gp = back.gradient(ofOutput: 1)?.data
            let d = filling(counts: [L.count, p.count, wv.count]) { out in
                let (dL, dp, dw) = (out[0], out[1], out[2])
                reading(L.data, p.data, wv.data) { pL, pp, pw in
                    for b in 0..<B {
                        let (o, oo) = (b * n, b * n * n)
                        if let gL {
                            gL.withUnsafeBufferPointer { pg in
                                for i in 0..<n {
                                    let wi = pw[o + i], row = oo + i * n
                                    var dwi: Float = 0
                                    for j in 0..<n where j != i {
                                        let g = pg[row + j], l = pL[row + j]
                                        dL[row + j] = (1 - wi - pw[o + j]) * g
                                        dp[o + j] += wi * g
                                        // w_i appears as -w_i L[i, j] + w_i p_j; w_j as -w_j L[i, j].
                                        dwi += g * (pp[o + j] - l)
                                        dw[o + j] -= g * l
                                    }
                                    dw[o + i] += dwi
                                }
                            }
                        }
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
            try back.add(Tensor(shape: L.shape, data: d[0]), to: inputs[0])
            try back.add(Tensor(shape: p.shape, data: d[1]), to: inputs[1])
            try back.add(Tensor(shape: wv.shape, data: d[2]), to: inputs[2])
        })
        return (outputs[0], outputs[1])
    }
}

/// The DNC's allocation weighting (Methods): with phi the slots by increasing
/// usage (stable: ties by slot), a[phi_j] = (1 - u[phi_j]) prod_(i<j) u[phi_i].
/// One node: the positions phi are constants (as DeepMind's implementation
/// stops the gradient through the sort); the gradient through the sorted
/// usage is computed without division, so a zero usage is no trouble:
/// du[phi_k] = P_k (T_k - g_k), P_k = prod_(i<k) s_i, T_k = g_(k+1) (1 - s_(k+1)) + s_(k+1) T_(k+1).
extension Addressing {
    public static func allocation(usage: Variable) throws -> Variable {
        let u = usage.value
        guard u.rank == 1 || u.rank == 2, let n = u.shape.last, n > 0 else {
            throw TensorError("allocation: usage should be [N] or [B, N], got \(Tensor.shapeText(u.shape))")
        }
        let B = u.rank == 2 ? u.shape[0] : 1
        let order = try Op.argsort(u, axis: -1).data.map { Int($0) }
        var out = [Float](repeating: 0, count: u.count), prefix = [Float](repeating: 1, count: u.count)
        for b in 0..<B {
            var p: Float = 1
            for j in 0..<n {
                let slot = b * n + order[b * n + j], s = u.data[slot]
                prefix[b * n + j] = p
                out[slot] = (1 - s) * p
                p *= s
            }
        }
        let products = prefix
        return Graph.record(Tensor(shape: u.shape, data: out), usage, op: "allocation", flops: 3 * u.count, { back, usage in
            let g = back.gradient.data
            var du = [Float](repeating: 0, count: u.count)
            for b in 0..<B {
                var t: Float = 0
                for k in stride(from: n - 1, through: 0, by: -1) {
                    let slot = b * n + order[b * n + k]
                    if k + 1 < n {
                        let next = b * n + order[b * n + k + 1], s = u.data[next]
                        t = g[next] * (1 - s) + s * t
                    }
                    du[slot] = products[b * n + k] * (t - g[slot])
                }
            }
            try back.add(Tensor(shape: u.shape, data: du), to: usage)
        })
    }
}
