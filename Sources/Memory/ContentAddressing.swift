import Foundation
import Graph
import Tensor

/// Content addressing: cosine similarity of a key with every memory row, focused by beta.
extension Addressing {
    // MARK: Content

    /// K[i] = M_i . k / (|M_i| |k| + eps), for every memory row i.
    public static func cosine(_ memory: Variable, _ key: Variable) throws -> Variable {
        let kernel = try cosineKernel(memory.value, key.value)
        // A dot product of a row's width for every similarity.
        return record(kernel, [memory, key], op: "cosine", flops: 2 * kernel.value.count * (memory.shape.last ?? 1))
    }

    static func cosineKernel(_ m: Tensor, _ k: Tensor) throws -> Kernel {
        let L = try Layout(memory: m)
        let heads = try L.heads(k, last: L.width, "the key")
        let (B, H, N, W) = (L.batch, heads.count, L.slots, L.width)
        // Row norms once per memory; dot products and |k| per head.
        let forward = filling(counts: [B * H * N, B * N + B * H * N + B * H]) { out in
            let (po, norms) = (out[0], out[1])
            let dots = norms + B * N, keyNorms = dots + B * H * N
            reading(m.data, k.data) { pm, pk in
                Parallel.forEach(B, work: 2 * (H + 1) * N * W * B) { batches in for b in batches {
                    let memory = pm + b * N * W
                    AddressingRows.rowNorms(memory, slots: N, width: W, into: norms + b * N)
                    for h in 0..<H {
                        let r = b * H + h
                        keyNorms[r] = AddressingRows.cosine(memory, rowNorms: norms + b * N, key: pk + r * W,
                                                            slots: N, width: W, dots: dots + r * N, into: po + r * N)
                    }
                }}
            }
        }
        // The similarities, and the row norms, dot products and |k| per head kept for the backward pass.
        let (out, saved) = (forward[0], forward[1])
        return (Tensor(shape: L.shape(heads: heads, last: N), data: out), { g in
            let d = filling(counts: [m.count, k.count]) { out in
                reading(list: m.data, k.data, g.data, saved) { p in
                    let (pm, pk, pg, norms) = (p[0], p[1], p[2], p[3])
                    let dots = norms + B * N, keyNorms = dots + B * H * N
                    Parallel.forEach(B, work: 6 * H * N * W * B) { batches in for b in batches {
                        for h in 0..<H {
                            let r = b * H + h
                            AddressingRows.cosineBackward(pg + r * N, memory: pm + b * N * W, rowNorms: norms + b * N, key: pk + r * W,
                                                          keyNorm: keyNorms[r], dots: dots + r * N, slots: N, width: W,
                                                          dm: out[0] + b * N * W, dk: out[1] + r * W)
                        }
                    }}
                }
            }
            return [Tensor(shape: m.shape, data: d[0]), Tensor(shape: k.shape, data: d[1])]
        })
    }

    /// Content addressing: softmax(beta * cosine(M, k)) over the slots.
    public static func content(_ memory: Variable, _ key: Variable, _ beta: Variable) throws -> Variable {
        let (similarity, similarityBackward) = try cosineKernel(memory.value, key.value)
        let (value, focusBackward) = try focusKernel(similarity, beta.value)
        return Graph.record(value, memory, key, beta, op: "content", flops: value.count * (2 * (memory.shape.last ?? 1) + 4)) { back, memory, key, beta in
            let d = focusBackward(back.gradient)
            let dSimilarity = similarityBackward(d[0])
            try back.add(dSimilarity[0], to: memory)
            try back.add(dSimilarity[1], to: key)
            try back.add(d[1], to: beta)
        }
    }

    /// softmax(beta * K) over the slots of each row.
    static func focusKernel(_ similarity: Tensor, _ beta: Tensor) throws -> Kernel {
        let L = try Layout(weighting: similarity)
        let (B, N) = (L.batch, L.slots)
        let betas = try L.scalars(beta, "beta")
        let out = filling(B * N) { o in
            reading(similarity.data) { pSimilarity in
                for b in 0..<B { AddressingRows.focus(pSimilarity + b * N, beta: betas[b], slots: N, into: o + b * N) }
            }
        }
        let y = Tensor(shape: similarity.shape, data: out)
        return (y, { g in
            var dbeta = [Float](repeating: 0, count: B)
            let dk = filling(B * N) { pdk in
                reading(g.data, y.data, similarity.data) { pg, py, pSimilarity in
                    for b in 0..<B {
                        let o = b * N
                        dbeta[b] = AddressingRows.focusBackward(pg + o, y: py + o, similarity: pSimilarity + o, beta: betas[b], slots: N, dk: pdk + o)
                    }
                }
            }
            return [Tensor(shape: similarity.shape, data: dk), scalarGrad(dbeta, like: beta)]
        })
    }
}
