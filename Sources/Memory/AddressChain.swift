import Foundation
import Graph
import Tensor

/// A head's whole addressing as one node, from its parameters or from its raw parameter vector.
extension Addressing {
    // MARK: The whole addressing chain

    /// The four steps of NTM addressing as one graph node: content (cosine,
    /// then softmax of beta times it), interpolation with the previous
    /// weighting, shift, sharpening. The same row kernels as the separate
    /// ops, chained forward and their VJPs chained back.
    public static func address(memory: Variable, key: Variable, beta: Variable, gate: Variable, shift: Variable,
                               gamma: Variable, previous: Variable) throws -> Variable {
        let m = memory.value, k = key.value, s = shift.value, p = previous.value
        let (betaValue, gateValue, gammaValue) = (beta.value, gate.value, gamma.value)
        let L = try Layout(memory: m)
        let heads = try L.heads(k, last: L.width, "the key")
        let shape = L.shape(heads: heads, last: L.slots)
        let R = L.batch * heads.count
        guard p.shape == shape else {
            throw TensorError("the previous weighting should have shape \(Tensor.shapeText(shape)), got \(Tensor.shapeText(p.shape))")
        }
        let K = try shiftLength(s, rows: R, perRow: shape.count > 1, slots: L.slots)
        let (betas, gates, gammas) = (try perRow(beta.value, R, "beta"), try perRow(gate.value, R, "the gate g"), try perRow(gamma.value, R, "gamma"))
        let chain = AddressChain(layout: L, heads: heads.count, shifts: K)
        let weighting = chain.forward(memory: m, previous: p) { x in
            copy(k.data, into: x.key)
            copy(betas, into: x.beta)
            copy(gates, into: x.gate)
            copy(s.data, into: x.shift)
            copy(gammas, into: x.gamma)
        }
        // Cosine similarities, then a few dozen operations per slot for the other steps.
        let flops = 2 * R * L.slots * L.width + R * L.slots * (20 + 2 * K)
        return Graph.record(Tensor(shape: shape, data: weighting), [memory, key, beta, gate, shift, gamma, previous], op: "address", flops: flops) { back, inputs in
            let g = back.gradient
            let dmp = filling(counts: [m.count, p.count]) { out in chain.backward(g, memory: m, weighting: weighting, memory: out[0], previous: out[1]) }
            let (dm, dp) = (dmp[0], dmp[1])
            let d = chain.gradients
            func values(_ p: MutableFloats, _ n: Int) -> [Float] { Array(UnsafeBufferPointer(start: p, count: n)) }
            let gradients = [Tensor(shape: m.shape, data: dm), Tensor(shape: k.shape, data: values(d.key, k.count)),
                             scalarGrad(values(d.beta, R), like: betaValue), scalarGrad(values(d.gate, R), like: gateValue),
                             Tensor(shape: s.shape, data: values(d.shift, s.count)), scalarGrad(values(d.gamma, R), like: gammaValue),
                             Tensor(shape: p.shape, data: dp)]
            // In the order of the inputs: memory, key, beta, gate, shift, gamma, previous.
            for (gradient, input) in zip(gradients, inputs) { try back.add(gradient, to: input) }
        }
    }

    /// Copies an array's values to p.
    private static func copy(_ values: [Float], into p: MutableFloats) {
        values.withUnsafeBufferPointer { if let base = $0.baseAddress { p.update(from: base, count: $0.count) } }
    }

    /// A head's addressing from its raw parameters p [P] or [B, P] (the
    /// controller's output for the head), as one graph node: the key is
    /// p[0..<W], beta = softplus(p[W]), g = sigmoid(p[W + 1]), s = softmax of
    /// the next `shifts` values, gamma = 1 + softplus of the one after (the
    /// NTM paper's activations); values after those (a write head's erase and
    /// add) are not used here and get no gradient. Equal to slicing and
    /// activating p with basic ops and calling `address`.
    public static func addressFromParameters(memory: Variable, parameters p: Variable, width W: Int, shifts S: Int,
                                             previous: Variable) throws -> Variable {
        let pv = p.value
        let P = pv.shape.last ?? 0
        let H = HeadLayout(width: W, shifts: S)
        guard pv.rank == 1 || pv.rank == 2, P >= H.readSize else {
            throw TensorError("a head's parameters should be [\(H.readSize)] or [batch, \(H.readSize)] or longer (key \(W), beta, g, \(S) shifts, gamma), got \(Tensor.shapeText(pv.shape))")
        }
        let B = pv.rank == 2 ? pv.shape[0] : 1
        let L = try Layout(memory: memory.value)
        let expected = L.batched ? [B, L.slots] : [L.slots]
        guard L.width == W, L.batch == B, previous.value.shape == expected, S >= 1, S <= L.slots, S == L.slots || S % 2 == 1 else {
            throw TensorError("a head's parameters of shape \(Tensor.shapeText(pv.shape)) and previous weighting of shape \(Tensor.shapeText(previous.value.shape)) do not fit a memory of shape \(Tensor.shapeText(memory.value.shape)) with \(S) shifts")
        }
        // The activations, straight into the chain's inputs.
        let chain = AddressChain(layout: L, heads: 1, shifts: S)
        let weighting = chain.forward(memory: memory.value, previous: previous.value) { x in
            reading(pv.data) { activateHead($0, batch: B, length: P, layout: H, into: x) }
        }
        let m = memory.value, memoryCount = m.count, previousShape = previous.value.shape
        let flops = 2 * B * L.slots * L.width + B * L.slots * (20 + 2 * S)
        let w = Graph.record(Tensor(shape: expected, data: weighting), memory, p, previous, op: "address_from", flops: flops) { back, memory, p, previous in
            let g = back.gradient
            // The chain's gradients (the memory's added in place), then
            // through the activations into dp.
            let dPrevious = filling(B * L.slots) { pdw in
                let added = back.addInPlace(to: memory) { chain.backward(g, memory: m, weighting: weighting, memory: $0, previous: pdw) }
                // The memory needs no gradient: the chain still runs back for the others.
                if !added { _ = filling(memoryCount) { chain.backward(g, memory: m, weighting: weighting, memory: $0, previous: pdw) } }
            }
            let dp = filling(pv.count) { pd in
                reading(pv.data) { headBackward($0, batch: B, length: P, layout: H, chain: chain, into: pd) }
            }
            try back.add(Tensor(shape: pv.shape, data: dp), to: p)
            try back.add(Tensor(shape: previousShape, data: dPrevious), to: previous)
        }
        Graph.capture(AddressFromKernel(layout: L, batch: B, length: P, head: H, shifts: S), "address_from", flops: flops, inputs: [memory, p, previous], outputs: [w])
        return w
    }

    /// A head's activations from its raw parameters pp [B, P] into the chain's inputs.
    static func activateHead(_ pp: Floats, batch B: Int, length P: Int, layout H: HeadLayout, into x: AddressChain.Rows) {
        let (W, S) = (H.key.count, H.shift.count)
        for b in 0..<B {
            let row = pp + b * P
            (x.key + b * W).update(from: row + H.key.lowerBound, count: W)
            x.beta[b] = Scalar.softplus(row[H.beta])
            x.gate[b] = Scalar.sigmoid(row[H.gate])
            let s = x.shift + b * S, logits = row + H.shift.lowerBound
            var top = -Float.infinity
            for j in 0..<S { top = Swift.max(top, logits[j]) }
            var total: Float = 0
            for j in 0..<S { let e = VectorMath.exp(logits[j] - top); s[j] = e; total += e }
            for j in 0..<S { s[j] /= total }
            x.gamma[b] = 1 + Scalar.softplus(row[H.gamma])
        }
    }

    /// The chain's input gradients back through the activations into pd [B, P] (zeros beyond the addressing values).
    static func headBackward(_ pp: Floats, batch B: Int, length P: Int, layout H: HeadLayout, chain: AddressChain, into pd: MutableFloats) {
        let (W, S) = (H.key.count, H.shift.count)
        let (x, d) = (chain.inputs, chain.gradients)
        for b in 0..<B {
            let row = pp + b * P, out = pd + b * P
            let s = x.shift + b * S, ds = d.shift + b * S
            (out + H.key.lowerBound).update(from: d.key + b * W, count: W)
            out[H.beta] = d.beta[b] * Scalar.softplusSlope(row[H.beta])
            out[H.gate] = Scalar.sigmoidBackward(d.gate[b], output: x.gate[b])
            var inner: Float = 0
            for j in 0..<S { inner += ds[j] * s[j] }
            for j in 0..<S { out[H.shift.lowerBound + j] = Scalar.softmaxBackward(ds[j], output: s[j], inner: inner) }
            out[H.gamma] = d.gamma[b] * Scalar.softplusSlope(row[H.gamma])
        }
    }
}
