import Foundation
import Graph
import Tensor

/// Content addressing: cosine similarity of a key with every memory row, focused by beta.
extension Addressing {
    // MARK: Content

    /// K[i] = M_i . k / (|M_i| |k| + eps), for every memory row i.
    public static func cosine(_ memory: Variable, _ key: Variable) throws -> Variable {
        let kernel = try cosineKernel(memory.value, key.value)
        let L = try Layout(memory: memory.value)
        let heads = kernel.value.count / (L.batch * L.slots)
        // A dot product of a row's width for every similarity.
        let flops = 2 * kernel.value.count * (memory.shape.last ?? 1)
        return Graph.planned(CosineKernel(batch: L.batch, heads: heads, slots: L.slots, width: L.width), "cosine", flops: flops, inputs: [memory, key],
                             record(kernel, [memory, key], op: "cosine", flops: flops))
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
                cosineRows(memory: pm, keys: pk, into: po, norms: norms, dots: dots, keyNorms: keyNorms, batch: B, heads: H, slots: N, width: W)
            }
        }
        // The similarities, and the row norms, dot products and |k| per head kept for the backward pass.
        let (out, saved) = (forward[0], forward[1])
        return (Tensor(shape: L.shape(heads: heads, last: N), data: out), { g in
            let d = filling(counts: [m.count, k.count]) { out in
                reading(list: m.data, k.data, g.data, saved) { p in
                    let norms = p[3], dots = p[3] + B * N, keyNorms = p[3] + B * N + B * H * N
                    cosineRowsBackward(p[2], memory: p[0], keys: p[1], norms: norms, dots: dots, keyNorms: keyNorms,
                                       dMemory: out[0], dKeys: out[1], batch: B, heads: H, slots: N, width: W)
                }
            }
            return [Tensor(shape: m.shape, data: d[0]), Tensor(shape: k.shape, data: d[1])]
        })
    }

    /// Each head's key against every row of its batch row's memory, into po
    /// [B, H, N], keeping the row norms, dot products and key norms.
    static func cosineRows(memory pm: Floats, keys pk: Floats, into po: MutableFloats, norms: MutableFloats, dots: MutableFloats,
                           keyNorms: MutableFloats, batch B: Int, heads H: Int, slots N: Int, width W: Int) {
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

    /// Their VJP: adds into dMemory [B, N, W] and dKeys [B, H, W] (zeroed by
    /// the caller), or with `mode` (AddressingRows.cosineBackward) writes or
    /// adds the heads' sum into dMemory.
    static func cosineRowsBackward(_ pg: Floats, memory pm: Floats, keys pk: Floats, norms: Floats, dots: Floats, keyNorms: Floats,
                                   dMemory: MutableFloats, dKeys: MutableFloats, batch B: Int, heads H: Int, slots N: Int, width W: Int,
                                   mode: Int32 = 0) {
        Parallel.forEach(B, work: 6 * H * N * W * B) { batches in for b in batches {
            AddressingRows.cosineBackward(pg + b * H * N, memory: pm + b * N * W, rowNorms: norms + b * N, keys: pk + b * H * W,
                                          keyNorms: keyNorms + b * H, dots: dots + b * H * N, heads: H, slots: N, width: W,
                                          dm: dMemory + b * N * W, dk: dKeys + b * H * W, mode: mode)
        }}
    }

    /// Content addressing: softmax(beta * cosine(M, k)) over the slots.
    public static func content(_ memory: Variable, _ key: Variable, _ beta: Variable) throws -> Variable {
        let (similarity, similarityBackward) = try cosineKernel(memory.value, key.value)
        let (value, focusBackward) = try focusKernel(similarity, beta.value)
        let L = try Layout(memory: memory.value), flops = value.count * (2 * (memory.shape.last ?? 1) + 4)
        let kernel = ContentKernel(batch: L.batch, heads: value.count / (L.batch * L.slots), slots: L.slots, width: L.width, betas: beta.value.count)
        return Graph.planned(kernel, "content", flops: flops, inputs: [memory, key, beta],
                             Graph.record(value, memory, key, beta, op: "content", flops: flops) { back, memory, key, beta in
            let d = focusBackward(back.gradient)
            let dSimilarity = similarityBackward(d[0])
            try back.add(dSimilarity[0], to: memory)
            try back.add(dSimilarity[1], to: key)
            try back.add(d[1], to: beta)
        })
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
