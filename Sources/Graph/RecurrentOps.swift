import Foundation
import Tensor

extension Op {
    /// One LSTM step as a single node: z = [x, h] @ W + b split into the input,
    /// forget, candidate and output gates (in that order); c' = f c + i g,
    /// h' = o tanh(c'). Returns h' and c' ([H], or [B, H] for a batch), two
    /// outputs of one node. The same step composed from basic ops gives the
    /// same values and gradients; this form is one node instead of fifteen.
    public static func lstmCell(x: Variable, h: Variable, c: Variable, weights: Variable, bias: Variable) throws -> (h: Variable, c: Variable) {
        let batched = x.value.rank == 2
        guard x.value.rank == 1 || batched, h.shape == c.shape, h.value.rank == x.value.rank else {
            throw TensorError("lstm: x, h and c must all be vectors or all [batch, size]; got \(Tensor.shapeText(x.shape)), \(Tensor.shapeText(h.shape)), \(Tensor.shapeText(c.shape))")
        }
        let B = batched ? x.shape[0] : 1
        let I = x.shape[x.value.rank - 1], H = h.shape[h.value.rank - 1]
        guard !batched || h.shape[0] == B else { throw TensorError("lstm: x has batch \(B) but h has \(h.shape[0])") }
        guard weights.shape == [I + H, 4 * H], bias.shape == [4 * H] else {
            throw TensorError("lstm: for inputs of \(I) and a state of \(H), W must be \(Tensor.shapeText([I + H, 4 * H])) and b \(Tensor.shapeText([4 * H])); got \(Tensor.shapeText(weights.shape)) and \(Tensor.shapeText(bias.shape))")
        }
        let xh = try Tensor.concat([Tensor(shape: [B, I], data: x.value.data), Tensor(shape: [B, H], data: h.value.data)], axis: 1)
        let z = try Tensor.matmul(xh, weights.value, transposeA: false, transposeB: false)
        let cv = c.value.data
        // Gate pre-activations plus bias, then each gate's activation over
        // its whole block at once: sigmoid for i, f, o and tanh for g; then
        // c' = f c + i g and h' = o tanh(c').
        let forward = changing([.copy(z.data), .zeros(B * H), .zeros(B * H), .zeros(B * H)]) { out in
            let (pz, hOut, cOut, tanhC) = (out[0], out[1], out[2], out[3])
            reading(bias.value.data, c.value.data) { pb, pc in
                // Rows of a batch are independent: threads take whole rows (the same bits).
                Parallel.forEach(B, work: 100 * B * H) { rows in
                    for r in rows {
                        let row = pz + r * 4 * H
                        axpy(row, 1, pb, 4 * H)
                        VectorMath.apply(VectorMath.sigmoid, row, row, 2 * H)
                        VectorMath.apply(VectorMath.tanh, row + 2 * H, row + 2 * H, H)
                        VectorMath.apply(VectorMath.sigmoid, row + 3 * H, row + 3 * H, H)
                    }
                    for r in rows {
                        let z = pz + r * 4 * H
                        for j in 0..<H { cOut[r * H + j] = z[H + j] * pc[r * H + j] + z[j] * z[2 * H + j] }
                        VectorMath.apply(VectorMath.tanh, cOut + r * H, tanhC + r * H, H)
                        for j in 0..<H { hOut[r * H + j] = z[3 * H + j] * tanhC[r * H + j] }
                    }
                }
            }
        }
        // The gates after their activations, h', c' and tanh(c'), kept for the backward pass.
        let (gates, hOut, cOut, tanhC) = (forward[0], forward[1], forward[2], forward[3])
        let xShape = x.shape, hShape = h.shape
        let wValue = weights.value
        let second: Node.MultipleGraphVJP = Graph.recomposed([x.value, h.value, c.value, wValue, bias.value]) { v in
            // The cell's equation with ops: gates from [x, h] W + b, then c' and h'.
            let z = try linear(try concat([v[0], v[1]], axis: v[0].value.rank - 1), v[3], v[4])
            let last = z.value.rank - 1
            func gate(_ k: Int) throws -> Variable { try slice(z, axis: last, start: k * H, end: (k + 1) * H) }
            let c2 = try add(try mul(sigmoid(try gate(1)), v[2]), try mul(sigmoid(try gate(0)), tanh(try gate(2))))
            let h2 = try mul(sigmoid(try gate(3)), tanh(c2))
            return [h2, c2]
        }
        let stateShape = batched ? [B, H] : [H]
        // The gate product, then about a dozen operations per state element.
        let flops = 2 * B * (I + H) * 4 * H + 12 * B * H
        let outputs = Graph.record(outputs: [Tensor(shape: stateShape, data: hOut), Tensor(shape: stateShape, data: cOut)],
                                   [x, h, c, weights, bias], op: "lstm_cell", flops: flops, { back, inputs in
            let (x, h, c, weights, bias) = (inputs[0], inputs[1], inputs[2], inputs[3], inputs[4])
            // An output nothing used has a zero gradient.
            let none = [Float](repeating: 0, count: B * H)
            let gradH = back.gradient(ofOutput: 0)?.data ?? none, gradC = back.gradient(ofOutput: 1)?.data ?? none
            let d = filling(counts: [B * 4 * H, B * H]) { out in
                reading(list: gates, tanhC, gradH, gradC, cv) { p in
                    Parallel.forEach(B, work: 40 * B * H) { rows in for r in rows {
                        let z = p[0] + r * 4 * H, t = p[1] + r * H, gh = p[2] + r * H, gc = p[3] + r * H, c = p[4] + r * H
                        let dz = out[0] + r * 4 * H, dc = out[1] + r * H
                        for j in 0..<H {
                            let i = z[j], f = z[H + j], g = z[2 * H + j], o = z[3 * H + j]
                            let dc2 = gc[j] + gh[j] * o * Scalar.tanhSlope(output: t[j])
                            dz[j] = Scalar.sigmoidBackward(dc2 * g, output: i)
                            dz[H + j] = Scalar.sigmoidBackward(dc2 * c[j], output: f)
                            dz[2 * H + j] = dc2 * i * Scalar.tanhSlope(output: g)
                            dz[3 * H + j] = Scalar.sigmoidBackward(gh[j] * t[j], output: o)
                            dc[j] = dc2 * f
                        }
                    }}
                }
            }
            let (dz, dc) = (d[0], d[1])
            let dzT = Tensor(shape: [B, 4 * H], data: dz)
            // dz W^T: the own kernels would copy W's transpose at every step of
            // the sequence; it is copied once per backward walk instead.
            let dxh = B >= 4 && Tensor.ownKernelsTransposeB
                ? try Tensor.matmul(dzT, try back.transpose(of: wValue), transposeA: false, transposeB: false)
                : try Tensor.matmul(dzT, wValue, transposeA: false, transposeB: true)
            // [dx, dh] splits back into dx and dh.
            let parts = try dxh.split(sizes: [I, H], axis: 1)
            try back.add(Tensor(shape: xShape, data: parts[0].data), to: x)
            try back.add(Tensor(shape: hShape, data: parts[1].data), to: h)
            try back.add(Tensor(shape: hShape, data: dc), to: c)
            // W is shared by every step: dW = [x, h]^T dz is summed over the steps in one product.
            try back.addProduct(xh, dzT, to: weights)
            // One row is its own sum over the batch.
            try back.add(to: bias) { B == 1 ? Tensor(shape: [4 * H], data: dz) : try dzT.reduce(.sum, axis: 0) }
        }, graph: second)
        return (outputs[0], outputs[1])
    }
}
