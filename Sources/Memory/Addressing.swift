import Foundation
import Graph
import Tensor

/// The addressing primitives of Neural Turing Machines and LRUA memories, as
/// graph ops with analytic vector-Jacobian products.
///
/// Shapes: a memory is [N, W] or, for a batch of episodes, [B, N, W]; a key,
/// erase or add vector is [W] or [B, W]; a weighting is [N] or [B, N]; a
/// per-head scalar (beta, g, gamma, alpha) has one value, or one per batch row.
public enum Addressing {
    /// The epsilon of the cosine similarity's denominator: a zero row or key gives 0, not NaN.
    public static let cosineEpsilon: Float = 1e-8

    /// Batch size and sizes of a memory, checked against the other operands.
    struct Layout {
        let batch: Int, slots: Int, width: Int, batched: Bool
        init(memory m: Tensor) throws {
            switch m.rank {
            case 2: (batch, slots, width, batched) = (1, m.shape[0], m.shape[1], false)
            case 3: (batch, slots, width, batched) = (m.shape[0], m.shape[1], m.shape[2], true)
            default: throw TensorError("a memory is [slots, width] or [batch, slots, width], got shape \(Tensor.shapeText(m.shape))")
            }
            guard batch > 0, slots > 0, width > 0 else {
                throw TensorError("a memory needs at least one slot of width at least 1 (and a batch of at least 1), got shape \(Tensor.shapeText(m.shape))")
            }
        }
        init(weighting w: Tensor) throws {
            switch w.rank {
            case 1: (batch, slots, width, batched) = (1, w.shape[0], 0, false)
            case 2: (batch, slots, width, batched) = (w.shape[0], w.shape[1], 0, true)
            default: throw TensorError("a weighting is [slots] or [batch, slots], got shape \(Tensor.shapeText(w.shape))")
            }
            guard batch > 0, slots > 0 else {
                throw TensorError("a weighting needs at least one slot (and a batch of at least 1), got shape \(Tensor.shapeText(w.shape))")
            }
        }
        /// How many heads an operand ending in `last` carries: [last] (or
        /// [B, last] with a batch) is one head, [H, last] (or [B, H, last])
        /// is H heads, and `axis` says the result keeps that head axis.
        func heads(_ t: Tensor, last: Int, _ what: String) throws -> (count: Int, axis: Bool) {
            let s = t.shape
            if batched {
                if s == [batch, last] { return (1, false) }
                if s.count == 3, s[0] == batch, s[2] == last { return (s[1], true) }
            } else {
                if s == [last] { return (1, false) }
                if s.count == 2, s[1] == last { return (s[0], true) }
            }
            let several = batched ? "[\(batch), heads, \(last)]" : "[heads, \(last)]"
            throw TensorError("\(what) should have shape \(Tensor.shapeText(batched ? [batch, last] : [last])), or \(several) for several heads; got \(Tensor.shapeText(s))")
        }
        /// The shape of a per-head result ending in `last`.
        func shape(heads: (count: Int, axis: Bool), last: Int) -> [Int] {
            switch (batched, heads.axis) {
            case (false, false): return [last]
            case (false, true): return [heads.count, last]
            case (true, false): return [batch, last]
            case (true, true): return [batch, heads.count, last]
            }
        }
        /// A per-row scalar: one value shared, or one per batch row.
        func scalars(_ t: Tensor, _ what: String) throws -> [Float] { try perRow(t, batch, what) }
    }

    /// A scalar per row of R: one value shared, or one per row.
    static func perRow(_ t: Tensor, _ R: Int, _ what: String) throws -> [Float] {
        if t.count == 1 { return [Float](repeating: t.data[0], count: R) }
        if t.count == R { return t.data }
        throw TensorError("\(what) should have 1 or \(R) values, got shape \(Tensor.shapeText(t.shape))")
    }

    /// Sums per-row gradients back into the shape of a per-row scalar.
    static func scalarGrad(_ perRow: [Float], like t: Tensor) -> Tensor {
        if t.count == 1 && perRow.count != 1 { return Tensor(shape: t.shape, data: [perRow.reduce(0, +)]) }
        return Tensor(shape: t.shape, data: perRow)
    }

    // MARK: Content

    /// A primitive's value and its vector-Jacobian product, on plain tensors,
    /// so that the ops below and the fused head addressing share one definition.
    typealias Kernel = (value: Tensor, backward: (Tensor) -> [Tensor])

    /// K[i] = M_i . k / (|M_i| |k| + eps), for every memory row i.
    public static func cosine(_ memory: Variable, _ key: Variable) throws -> Variable {
        let (value, backward) = try cosineKernel(memory.value, key.value)
        return Graph.record(value, [memory, key]) { g in backward(g) }
    }

    static func cosineKernel(_ m: Tensor, _ k: Tensor) throws -> Kernel {
        let L = try Layout(memory: m)
        let heads = try L.heads(k, last: L.width, "the key")
        let (B, H, N, W) = (L.batch, heads.count, L.slots, L.width)
        // Row norms once per memory; dot products and |k| per head, kept for the backward pass.
        var saved: [Float] = []
        let out = filling(B * H * N) { po in
            saved = filling(B * N + B * H * N + B * H) { norms in
                let dots = norms + B * N, keyNorms = dots + B * H * N
                reading(m.data, k.data) { p in
                    let (pm, pk) = (p[0], p[1])
                    for b in 0..<B {
                        let memory = pm + b * N * W
                        AddressingRows.rowNorms(memory, slots: N, width: W, into: norms + b * N)
                        for h in 0..<H {
                            let r = b * H + h
                            keyNorms[r] = AddressingRows.cosine(memory, rowNorms: norms + b * N, key: pk + r * W,
                                                                slots: N, width: W, dots: dots + r * N, into: po + r * N)
                        }
                    }
                }
            }
        }
        return (Tensor(shape: L.shape(heads: heads, last: N), data: out), { g in
            var dk: [Float] = []
            let dm = filling(m.count) { pdm in
                dk = filling(k.count) { pdk in
                    reading(m.data, k.data, g.data, saved) { p in
                        let (pm, pk, pg, norms) = (p[0], p[1], p[2], p[3])
                        let dots = norms + B * N, keyNorms = dots + B * H * N
                        for b in 0..<B {
                            for h in 0..<H {
                                let r = b * H + h
                                AddressingRows.cosineBackward(pg + r * N, memory: pm + b * N * W, rowNorms: norms + b * N, key: pk + r * W,
                                                              keyNorm: keyNorms[r], dots: dots + r * N, slots: N, width: W,
                                                              dm: pdm + b * N * W, dk: pdk + r * W)
                            }
                        }
                    }
                }
            }
            return [Tensor(shape: m.shape, data: dm), Tensor(shape: k.shape, data: dk)]
        })
    }

    /// Content addressing: softmax(beta * cosine(M, k)) over the slots.
    public static func content(_ memory: Variable, _ key: Variable, _ beta: Variable) throws -> Variable {
        let (similarity, similarityBackward) = try cosineKernel(memory.value, key.value)
        let (value, focusBackward) = try focusKernel(similarity, beta.value)
        return Graph.record(value, [memory, key, beta]) { g in
            let d = focusBackward(g)
            return similarityBackward(d[0]) + [d[1]]
        }
    }

    /// softmax(beta * K) over the slots of each row.
    static func focusKernel(_ similarity: Tensor, _ beta: Tensor) throws -> Kernel {
        let L = try Layout(weighting: similarity)
        let (B, N) = (L.batch, L.slots)
        let betas = try L.scalars(beta, "beta")
        let out = filling(B * N) { o in
            reading(similarity.data) { k in
                for b in 0..<B { AddressingRows.focus(k[0] + b * N, beta: betas[b], slots: N, into: o + b * N) }
            }
        }
        let y = Tensor(shape: similarity.shape, data: out)
        return (y, { g in
            var dbeta = [Float](repeating: 0, count: B)
            let dk = filling(B * N) { pdk in
                reading(g.data, y.data, similarity.data) { p in
                    for b in 0..<B {
                        let o = b * N
                        dbeta[b] = AddressingRows.focusBackward(p[0] + o, y: p[1] + o, similarity: p[2] + o, beta: betas[b], slots: N, dk: pdk + o)
                    }
                }
            }
            return [Tensor(shape: similarity.shape, data: dk), scalarGrad(dbeta, like: beta)]
        })
    }

    // MARK: Location

    /// w = g * wc + (1 - g) * wprev.
    public static func interpolate(_ wc: Variable, _ wprev: Variable, _ gate: Variable) throws -> Variable {
        let (value, backward) = try interpolateKernel(wc.value, wprev.value, gate.value)
        return Graph.record(value, [wc, wprev, gate]) { g in backward(g) }
    }

    static func interpolateKernel(_ a: Tensor, _ p: Tensor, _ gateValue: Tensor) throws -> Kernel {
        let L = try Layout(weighting: a)
        guard p.shape == a.shape else {
            throw TensorError("interpolate: weightings of shapes \(Tensor.shapeText(a.shape)) and \(Tensor.shapeText(p.shape)) differ")
        }
        let gs = try L.scalars(gateValue, "the gate g")
        let (B, N) = (L.batch, L.slots)
        let out = filling(B * N) { po in
            reading(a.data, p.data) { x in
                for b in 0..<B { AddressingRows.interpolate(x[0] + b * N, x[1] + b * N, gate: gs[b], slots: N, into: po + b * N) }
            }
        }
        return (Tensor(shape: a.shape, data: out), { g in
            var dp: [Float] = [], dg = [Float](repeating: 0, count: B)
            let da = filling(B * N) { pda in
                dp = filling(B * N) { pdp in
                    reading(g.data, a.data, p.data) { x in
                        for b in 0..<B {
                            let o = b * N
                            dg[b] = AddressingRows.interpolateBackward(x[0] + o, x[1] + o, x[2] + o, gate: gs[b], slots: N, da: pda + o, dp: pdp + o)
                        }
                    }
                }
            }
            return [Tensor(shape: a.shape, data: da), Tensor(shape: a.shape, data: dp), scalarGrad(dg, like: gateValue)]
        })
    }

    /// The offset that entry k of a shift kernel of length K applies, for N slots:
    /// a kernel shorter than N is centred (K = 3 means offsets -1, 0, +1);
    /// a kernel of length N holds offsets 0, 1, ..., N-1.
    public static func offset(_ k: Int, kernel K: Int, slots N: Int) -> Int { K == N ? k : k - K / 2 }

    /// Circular convolution: w~(i) = sum_k s(k) w((i - offset_k) mod N).
    /// The entry for offset +1 moves the focus forward, from slot i to slot i + 1.
    public static func shift(_ weighting: Variable, _ kernel: Variable) throws -> Variable {
        let (value, backward) = try shiftKernel(weighting.value, kernel.value)
        return Graph.record(value, [weighting, kernel]) { g in backward(g) }
    }

    /// The length K of a shift kernel for R weighting rows of N slots,
    /// checked: [K] for one weighting, one row per weighting row otherwise.
    static func shiftLength(_ s: Tensor, rows R: Int, perRow: Bool, slots N: Int) throws -> Int {
        let K = s.shape.last ?? 0
        guard s.count == (perRow ? R * K : K), K >= 1, K <= N, K == N || K % 2 == 1 else {
            throw TensorError("shift: the kernel should be [K] (or [batch, K]) with K odd and at most \(N), or K = \(N); got shape \(Tensor.shapeText(s.shape))")
        }
        return K
    }

    static func shiftKernel(_ w: Tensor, _ s: Tensor) throws -> Kernel {
        let L = try Layout(weighting: w)
        let (B, N) = (L.batch, L.slots)
        let K = try shiftLength(s, rows: B, perRow: L.batched, slots: N)
        let out = filling(B * N) { po in
            reading(w.data, s.data) { x in
                for b in 0..<B { AddressingRows.shift(x[0] + b * N, kernel: x[1] + b * K, length: K, slots: N, into: po + b * N) }
            }
        }
        return (Tensor(shape: w.shape, data: out), { g in
            var ds: [Float] = []
            let dw = filling(B * N) { pdw in
                ds = filling(s.count) { pds in
                    reading(g.data, w.data, s.data) { x in
                        for b in 0..<B {
                            AddressingRows.shiftBackward(x[0] + b * N, x[1] + b * N, kernel: x[2] + b * K, length: K, slots: N,
                                                         dw: pdw + b * N, ds: pds + b * K)
                        }
                    }
                }
            }
            return [Tensor(shape: w.shape, data: dw), Tensor(shape: s.shape, data: ds)]
        })
    }

    /// w(i)^gamma / sum_j w(j)^gamma, computed in log space so that large gamma
    /// cannot overflow. Zeros in w stay exactly zero, and the gradient there is
    /// finite: w^(gamma-1)/Z, which is 0 for gamma > 1 and 1/Z at gamma = 1 (for
    /// gamma < 1, where it is unbounded, 0 is used). An all-zero row gives the
    /// uniform weighting.
    public static func sharpen(_ weighting: Variable, _ gamma: Variable) throws -> Variable {
        let (value, backward) = try sharpenKernel(weighting.value, gamma.value)
        return Graph.record(value, [weighting, gamma]) { g in backward(g) }
    }

    static func sharpenKernel(_ w: Tensor, _ gammaValue: Tensor) throws -> Kernel {
        let L = try Layout(weighting: w)
        let (B, N) = (L.batch, L.slots)
        let gs = try L.scalars(gammaValue, "gamma")
        var logs: [Float] = [], logZ = [Float](repeating: 0, count: B)
        let out = filling(B * N) { po in
            logs = filling(B * N) { pl in
                reading(w.data) { x in
                    for b in 0..<B {
                        logZ[b] = AddressingRows.sharpen(x[0] + b * N, gamma: gs[b], slots: N, logs: pl + b * N, into: po + b * N)
                    }
                }
            }
        }
        let y = Tensor(shape: w.shape, data: out)
        return (y, { g in
            var dgamma = [Float](repeating: 0, count: B)
            let dw = filling(B * N) { pdw in
                reading(g.data, w.data, y.data, logs) { x in
                    for b in 0..<B {
                        let o = b * N
                        dgamma[b] = AddressingRows.sharpenBackward(x[0] + o, x[1] + o, y: x[2] + o, logs: x[3] + o, gamma: gs[b],
                                                                   logZ: logZ[b], slots: N, dw: pdw + o)
                    }
                }
            }
            return [Tensor(shape: w.shape, data: dw), scalarGrad(dgamma, like: gammaValue)]
        })
    }

    // MARK: The whole addressing chain

    /// The four steps of NTM addressing as one graph node: content (cosine,
    /// then softmax of beta times it), interpolation with the previous
    /// weighting, shift, sharpening. The same row kernels as the separate
    /// ops, chained forward and their VJPs chained back.
    public static func address(memory: Variable, key: Variable, beta: Variable, gate: Variable, shift: Variable,
                               gamma: Variable, previous: Variable) throws -> Variable {
        let m = memory.value, k = key.value, s = shift.value, p = previous.value
        let L = try Layout(memory: m)
        let heads = try L.heads(k, last: L.width, "the key")
        let shape = L.shape(heads: heads, last: L.slots)
        let R = L.batch * heads.count
        guard p.shape == shape else {
            throw TensorError("the previous weighting should have shape \(Tensor.shapeText(shape)), got \(Tensor.shapeText(p.shape))")
        }
        let K = try shiftLength(s, rows: R, perRow: shape.count > 1, slots: L.slots)
        let (betas, gates, gammas) = (try perRow(beta.value, R, "beta"), try perRow(gate.value, R, "the gate g"), try perRow(gamma.value, R, "gamma"))
        let chain = AddressChain(memory: m, layout: L, heads: heads.count, shifts: K, previous: p) { x in
            copy(k.data, into: x.key)
            copy(betas, into: x.beta)
            copy(gates, into: x.gate)
            copy(s.data, into: x.shift)
            copy(gammas, into: x.gamma)
        }
        return Graph.record(Tensor(shape: shape, data: chain.weighting), [memory, key, beta, gate, shift, gamma, previous]) { g in
            var dm = [Float](repeating: 0, count: m.count), dp = [Float](repeating: 0, count: p.count)
            dm.withUnsafeMutableBufferPointer { pdm in
                dp.withUnsafeMutableBufferPointer { pdp in chain.backward(g, memory: pdm.baseAddress!, previous: pdp.baseAddress!) }
            }
            let d = chain.gradients
            func values(_ p: MutableFloats, _ n: Int) -> [Float] { Array(UnsafeBufferPointer(start: p, count: n)) }
            return [Tensor(shape: m.shape, data: dm), Tensor(shape: k.shape, data: values(d.key, k.count)),
                    scalarGrad(values(d.beta, R), like: beta.value), scalarGrad(values(d.gate, R), like: gate.value),
                    Tensor(shape: s.shape, data: values(d.shift, s.count)), scalarGrad(values(d.gamma, R), like: gamma.value),
                    Tensor(shape: p.shape, data: dp)]
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
        guard pv.rank == 1 || pv.rank == 2, P >= W + 3 + S else {
            throw TensorError("a head's parameters should be [\(W + 3 + S)] or [batch, \(W + 3 + S)] or longer (key \(W), beta, g, \(S) shifts, gamma), got \(Tensor.shapeText(pv.shape))")
        }
        let B = pv.rank == 2 ? pv.shape[0] : 1
        let L = try Layout(memory: memory.value)
        let expected = L.batched ? [B, L.slots] : [L.slots]
        guard L.width == W, L.batch == B, previous.value.shape == expected, S >= 1, S <= L.slots, S == L.slots || S % 2 == 1 else {
            throw TensorError("a head's parameters of shape \(Tensor.shapeText(pv.shape)) and previous weighting of shape \(Tensor.shapeText(previous.value.shape)) do not fit a memory of shape \(Tensor.shapeText(memory.value.shape)) with \(S) shifts")
        }
        // The activations, straight into the chain's inputs.
        let chain = AddressChain(memory: memory.value, layout: L, heads: 1, shifts: S, previous: previous.value) { x in
            pv.data.withUnsafeBufferPointer { pp in
                for b in 0..<B {
                    let row = pp.baseAddress! + b * P
                    (x.key + b * W).update(from: row, count: W)
                    x.beta[b] = Scalar.softplus(row[W])
                    x.gate[b] = Scalar.sigmoid(row[W + 1])
                    let s = x.shift + b * S, logits = row + W + 2
                    var top = -Float.infinity
                    for j in 0..<S { top = Swift.max(top, logits[j]) }
                    var total: Float = 0
                    for j in 0..<S { let e = VectorMath.exp(logits[j] - top); s[j] = e; total += e }
                    for j in 0..<S { s[j] /= total }
                    x.gamma[b] = 1 + Scalar.softplus(row[W + 2 + S])
                }
            }
        }
        return Graph.record(Tensor(shape: expected, data: chain.weighting), [memory, p, previous]) { g in
            // The chain's gradients (the memory's added in place), then
            // through the activations into dp.
            var dPrevious = [Float](repeating: 0, count: B * L.slots), dp = [Float](repeating: 0, count: pv.count)
            dPrevious.withUnsafeMutableBufferPointer { pdw in
                let added = Graph.addIntoGradient(input: 0) { chain.backward(g, memory: $0, previous: pdw.baseAddress!) }
                if !added {
                    var unused = [Float](repeating: 0, count: memory.value.count)
                    unused.withUnsafeMutableBufferPointer { chain.backward(g, memory: $0.baseAddress!, previous: pdw.baseAddress!) }
                }
            }
            let (x, d) = (chain.inputs, chain.gradients)
            pv.data.withUnsafeBufferPointer { pp in
                dp.withUnsafeMutableBufferPointer { pd in
                    for b in 0..<B {
                        let row = pp.baseAddress! + b * P, out = pd.baseAddress! + b * P
                        let s = x.shift + b * S, ds = d.shift + b * S
                        out.update(from: d.key + b * W, count: W)
                        out[W] = d.beta[b] * Scalar.sigmoid(row[W])
                        out[W + 1] = d.gate[b] * x.gate[b] * (1 - x.gate[b])
                        var inner: Float = 0
                        for j in 0..<S { inner += ds[j] * s[j] }
                        for j in 0..<S { out[W + 2 + j] = s[j] * (ds[j] - inner) }
                        out[W + 2 + S] = d.gamma[b] * Scalar.sigmoid(row[W + 2 + S])
                    }
                }
            }
            return [nil, Tensor(shape: pv.shape, data: dp), Tensor(shape: previous.value.shape, data: dPrevious)]
        }
    }

    // MARK: Reading and writing

    /// r = sum_i w(i) M(i): [W], or [B, W] for a batch; several heads' weightings
    /// ([H, N] or [B, H, N]) read at once give [H, W] or [B, H, W].
    public static func read(_ memory: Variable, _ weighting: Variable) throws -> Variable {
        let m = memory.value, w = weighting.value
        let L = try Layout(memory: m)
        let heads = try L.heads(w, last: L.slots, "the read weighting")
        let (B, H, N, W) = (L.batch, heads.count, L.slots, L.width)
        var r = [Float](repeating: 0, count: B * H * W)
        r.withUnsafeMutableBufferPointer { pr in
            m.data.withUnsafeBufferPointer { pm in
                w.data.withUnsafeBufferPointer { pw in
                    for b in 0..<B {
                        for h in 0..<H {
                            let weights = pw.baseAddress! + (b * H + h) * N
                            for i in 0..<N where weights[i] != 0 {
                                axpy(pr.baseAddress! + (b * H + h) * W, weights[i], pm.baseAddress! + (b * N + i) * W, W)
                            }
                        }
                    }
                }
            }
        }
        return Graph.record(Tensor(shape: L.shape(heads: heads, last: W), data: r), [memory, weighting]) { g in
            // dw(i) = M(i) . g; dM(i) = sum over heads of w(i) g.
            var dw = [Float](repeating: 0, count: w.count)
            m.data.withUnsafeBufferPointer { pm in
                g.data.withUnsafeBufferPointer { pg in
                    dw.withUnsafeMutableBufferPointer { pdw in
                        for b in 0..<B {
                            for h in 0..<H {
                                for i in 0..<N {
                                    pdw[(b * H + h) * N + i] = dot(pm.baseAddress! + (b * N + i) * W, pg.baseAddress! + (b * H + h) * W, W)
                                }
                            }
                        }
                    }
                }
            }
            func addRows(_ dm: MutableFloats) {
                g.data.withUnsafeBufferPointer { pg in
                    w.data.withUnsafeBufferPointer { pw in
                        for b in 0..<B {
                            for h in 0..<H {
                                for i in 0..<N where pw[(b * H + h) * N + i] != 0 {
                                    axpy(dm + (b * N + i) * W, pw[(b * H + h) * N + i], pg.baseAddress! + (b * H + h) * W, W)
                                }
                            }
                        }
                    }
                }
            }
            // One head adds straight into the memory's gradient; several are
            // summed first, as the memory's other gradients are added whole.
            if H == 1 {
                Graph.addIntoGradient(input: 0, addRows)
                return [nil, Tensor(shape: w.shape, data: dw)]
            }
            var dm = [Float](repeating: 0, count: m.count)
            dm.withUnsafeMutableBufferPointer { addRows($0.baseAddress!) }
            return [Tensor(shape: m.shape, data: dm), Tensor(shape: w.shape, data: dw)]
        }
    }

    /// Erase then add: M~(i) = M(i) * (1 - w(i) e), M'(i) = M~(i) + w(i) a.
    /// Several heads at once (w [H, N] or [B, H, N], e and a [H, W] or
    /// [B, H, W]) write as the NTM paper combines them: every erase first,
    /// M~(i) = M(i) * prod_h (1 - w_h(i) e_h), then every add, + sum_h w_h(i) a_h.
    public static func write(_ memory: Variable, _ weighting: Variable, erase: Variable?, add: Variable) throws -> Variable {
        let (value, backward) = try writeKernel(memory.value, weighting.value, erase?.value, add.value)
        let inputs = erase.map { [memory, weighting, add, $0] } ?? [memory, weighting, add]
        return Graph.record(value, inputs) { g in backward(g) }
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
        let none = [Float]()  // stands in for a missing erase vector
        // Row by row: copy M(i), apply every erase, then every add. A single
        // erasing head does it in one pass, (M(i) * (1 - w(i) e)) + w(i) a,
        // the same operations in the same order.
        let out = [Float](unsafeUninitializedCapacity: m.count) { po, initialized in
            m.data.withUnsafeBufferPointer { pm in
                a.data.withUnsafeBufferPointer { pa in
                    (e?.data ?? none).withUnsafeBufferPointer { pe in
                        w.data.withUnsafeBufferPointer { pw in
                            for b in 0..<B {
                                for i in 0..<N {
                                    let o = po.baseAddress! + (b * N + i) * W, source = pm.baseAddress! + (b * N + i) * W
                                    if H == 1, e != nil, pw[b * N + i] != 0 {
                                        let wi = pw[b * N + i], erase = pe.baseAddress! + b * W, add = pa.baseAddress! + b * W
                                        for j in 0..<W { o[j] = source[j] * (1 - wi * erase[j]) + wi * add[j] }
                                        continue
                                    }
                                    o.initialize(from: source, count: W)
                                    if e != nil {
                                        for h in 0..<H {
                                            let wi = pw[(b * H + h) * N + i], erase = pe.baseAddress! + (b * H + h) * W
                                            if wi != 0 { for j in 0..<W { o[j] *= 1 - wi * erase[j] } }
                                        }
                                    }
                                    for h in 0..<H {
                                        let wi = pw[(b * H + h) * N + i]
                                        if wi != 0 { axpy(o, wi, pa.baseAddress! + (b * H + h) * W, W) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            initialized = m.count
        }
        return (Tensor(shape: m.shape, data: out), { g in
            // dM_i = g_i * keep_i with keep_i = prod_h (1 - w_h(i) e_h); da_h += w_h(i) g_i;
            // dw_h(i) = g_i . (a_h - M_i * e_h * others); de_h -= w_h(i) g_i * M_i * others,
            // where others = prod over the other heads h' of (1 - w_h'(i) e_h'), 1 for one head.
            var dm = g.data, dw = [Float](repeating: 0, count: w.count)
            var da = [Float](repeating: 0, count: a.count), de = [Float](repeating: 0, count: a.count)
            var scratch = [Float](repeating: 0, count: W)
            g.data.withUnsafeBufferPointer { pg in
                m.data.withUnsafeBufferPointer { pm in
                    a.data.withUnsafeBufferPointer { pa in
                        (e?.data ?? none).withUnsafeBufferPointer { pe in
                            w.data.withUnsafeBufferPointer { pw in
                                dm.withUnsafeMutableBufferPointer { pdm in
                                    da.withUnsafeMutableBufferPointer { pda in
                                        de.withUnsafeMutableBufferPointer { pde in
                                            scratch.withUnsafeMutableBufferPointer { po in
                                                for b in 0..<B {
                                                    for i in 0..<N {
                                                        let row = (b * N + i) * W
                                                        let grow = pg.baseAddress! + row, mrow = pm.baseAddress! + row
                                                        if H == 1, e != nil {
                                                            dw[b * N + i] = singleHeadEraseRow(g: grow, m: mrow, e: pe.baseAddress! + b * W, a: pa.baseAddress! + b * W,
                                                                                               w: pw[b * N + i], da: pda.baseAddress! + b * W, de: pde.baseAddress! + b * W,
                                                                                               dm: pdm.baseAddress! + row, width: W)
                                                            continue
                                                        }
                                                        for h in 0..<H {
                                                            let at = (b * H + h) * N + i, wi = pw[at]
                                                            var acc = dot(grow, pa.baseAddress! + (b * H + h) * W, W)
                                                            if wi != 0 { axpy(pda.baseAddress! + (b * H + h) * W, wi, grow, W) }
                                                            if e != nil {
                                                                // gm = g_i * M_i * others, in scratch space.
                                                                let gm = po.baseAddress!
                                                                for j in 0..<W { gm[j] = grow[j] * mrow[j] }
                                                                for h2 in 0..<H where h2 != h {
                                                                    let w2 = pw[(b * H + h2) * N + i], e2 = pe.baseAddress! + (b * H + h2) * W
                                                                    if w2 != 0 { for j in 0..<W { gm[j] *= 1 - w2 * e2[j] } }
                                                                }
                                                                acc -= dot(gm, pe.baseAddress! + (b * H + h) * W, W)
                                                                if wi != 0 { axpy(pde.baseAddress! + (b * H + h) * W, -wi, gm, W) }
                                                            }
                                                            dw[at] = acc
                                                        }
                                                        if e != nil {
                                                            let drow = pdm.baseAddress! + row
                                                            for h in 0..<H {
                                                                let wi = pw[(b * H + h) * N + i], erase = pe.baseAddress! + (b * H + h) * W
                                                                if wi != 0 { for j in 0..<W { drow[j] *= 1 - wi * erase[j] } }
                                                            }
                                                        }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            var grads = [Tensor(shape: m.shape, data: dm), Tensor(shape: w.shape, data: dw), Tensor(shape: a.shape, data: da)]
            if let e { grads.append(Tensor(shape: e.shape, data: de)) }
            return grads
        })
    }

    /// One memory row of a single head's erase-then-add gradient in one pass
    /// (an NTM's write, the hot case): returns dw(i) and updates da, de and
    /// the row of dM. The same operations in the same order as the general
    /// loop's dot and axpy calls, so the same values.
    @inline(__always)
    private static func singleHeadEraseRow(g: UnsafePointer<Float>, m: UnsafePointer<Float>, e: UnsafePointer<Float>, a: UnsafePointer<Float>,
                                           w: Float, da: UnsafeMutablePointer<Float>, de: UnsafeMutablePointer<Float>,
                                           dm: UnsafeMutablePointer<Float>, width W: Int) -> Float {
        typealias Lanes = VectorMath.Lanes
        var toAdd = Lanes(), toErase = Lanes()
        var j = 0
        while j + 8 <= W {
            let gv = VectorMath.load(g + j, 8), ev = VectorMath.load(e + j, 8)
            toAdd += gv * VectorMath.load(a + j, 8)
            let gm = gv * VectorMath.load(m + j, 8)
            toErase += gm * ev
            if w != 0 {
                VectorMath.store(VectorMath.load(da + j, 8) + w * gv, da + j, 8)
                VectorMath.store(VectorMath.load(de + j, 8) + (-w) * gm, de + j, 8)
                VectorMath.store(gv * (1 - w * ev), dm + j, 8)
            }
            j += 8
        }
        var sumAdd = toAdd.sum(), sumErase = toErase.sum()
        while j < W {
            sumAdd += g[j] * a[j]
            let gm = g[j] * m[j]
            sumErase += gm * e[j]
            if w != 0 {
                da[j] += w * g[j]
                de[j] += -w * gm
                dm[j] = g[j] * (1 - w * e[j])
            }
            j += 1
        }
        return sumAdd - sumErase
    }

    /// An NTM write head's write from its raw parameters p ([P] or [B, P]),
    /// as one graph node: erase = sigmoid of the W values after the
    /// addressing parameters (key W, beta, g, `shifts`, gamma), add = tanh of
    /// the W after those, then `write` with the weighting w. Equal to slicing
    /// and activating p with basic ops and calling `write`.
    public static func writeFromParameters(memory: Variable, weighting: Variable, parameters p: Variable, shifts S: Int) throws -> Variable {
        let m = memory.value, pv = p.value
        let L = try Layout(memory: m)
        let W = L.width, base = W + 3 + S
        let P = pv.shape.last ?? 0
        let B = pv.rank == 2 ? pv.shape[0] : 1
        guard pv.rank == 1 || pv.rank == 2, P >= base + 2 * W else {
            throw TensorError("a write head's parameters should be [\(base + 2 * W)] or [batch, \(base + 2 * W)] (addressing \(base), erase \(W), add \(W)), got \(Tensor.shapeText(pv.shape))")
        }
        let rows = pv.rank == 2 ? [B] : []
        var erase = [Float](repeating: 0, count: B * W), add = erase
        pv.data.withUnsafeBufferPointer { pp in
            erase.withUnsafeMutableBufferPointer { pe in
                add.withUnsafeMutableBufferPointer { pa in
                    for b in 0..<B {
                        VectorMath.apply(VectorMath.sigmoid, pp.baseAddress! + b * P + base, pe.baseAddress! + b * W, W)
                        VectorMath.apply(VectorMath.tanh, pp.baseAddress! + b * P + base + W, pa.baseAddress! + b * W, W)
                    }
                }
            }
        }
        let (value, backward) = try writeKernel(m, weighting.value, Tensor(shape: rows + [W], data: erase), Tensor(shape: rows + [W], data: add))
        return Graph.record(value, [memory, weighting, p]) { g in
            let d = backward(g)  // [dM, dw, dadd, derase]
            var dp = [Float](repeating: 0, count: pv.count)
            for b in 0..<B {
                for j in 0..<W {
                    let e = erase[b * W + j], a = add[b * W + j]
                    dp[b * P + base + j] = d[3].data[b * W + j] * (e * (1 - e))
                    dp[b * P + base + W + j] = d[2].data[b * W + j] * (1 - a * a)
                }
            }
            return [d[0], d[1], Tensor(shape: pv.shape, data: dp)]
        }
    }

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
        guard n >= 1, n <= L.slots else { throw TensorError("leastused: n must be between 1 and \(L.slots), got \(n)") }
        var out = [Float](repeating: 0, count: usage.count)
        for b in 0..<L.batch {
            let base = b * L.slots
            let order = (0..<L.slots).sorted { (usage.data[base + $0], $0) < (usage.data[base + $1], $1) }
            for i in order.prefix(n) { out[base + i] = 1 }
        }
        return Tensor(shape: usage.shape, data: out)
    }

    /// w^w = sigmoid(alpha) w^r_prev + (1 - sigmoid(alpha)) w^lu_prev. Several
    /// heads at once: w^r_prev [H, N] or [B, H, N] with alpha [H] or [B, H],
    /// sharing the least-used weights [N] or [B, N].
    public static func lruaWeights(_ alpha: Variable, readPrevious: Variable, leastUsedPrevious: Variable) throws -> Variable {
        let r = readPrevious.value, lu = leastUsedPrevious.value
        let U = try Layout(weighting: lu)
        let hasHeads = r.rank == lu.rank + 1
        guard r.shape.last == U.slots, Array(r.shape.dropLast(hasHeads ? 2 : 1)) == Array(lu.shape.dropLast()) else {
            throw TensorError("lruaweights: the previous read weights of shape \(Tensor.shapeText(r.shape)) do not fit least-used weights of shape \(Tensor.shapeText(lu.shape))")
        }
        let rows = r.count / U.slots
        guard alpha.value.count == 1 || alpha.value.count == rows else {
            throw TensorError("lruaweights: alpha should have 1 or \(rows) values (one per head and batch row), got shape \(Tensor.shapeText(alpha.shape))")
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
        return Graph.record(Tensor(shape: r.shape, data: out), [alpha, readPrevious, leastUsedPrevious]) { g in
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
                da[a.count == 1 ? 0 : row] += ds * s * (1 - s)
            }
            return [Tensor(shape: a.shape, data: da), Tensor(shape: r.shape, data: dr), Tensor(shape: lu.shape, data: dlu)]
        }
    }

    /// The memory with its single least-used slot (smallest usage, first on ties) set to zero.
    public static func zeroLeastUsed(_ memory: Variable, usage: Tensor) throws -> Variable {
        let L = try Layout(memory: memory.value)
        let U = try Layout(weighting: usage)
        guard U.batch == L.batch, U.slots == L.slots else {
            throw TensorError("usage of shape \(Tensor.shapeText(usage.shape)) does not fit a memory of shape \(Tensor.shapeText(memory.shape))")
        }
        var keep = [Float](repeating: 1, count: L.batch * L.slots)
        for b in 0..<L.batch {
            var best = 0
            for i in 1..<L.slots where usage.data[b * L.slots + i] < usage.data[b * L.slots + best] { best = i }
            keep[b * L.slots + best] = 0
        }
        // Rows are zeroed by copying around them; the gradient is zeroed at the same rows.
        let W = L.width
        func zeroRows(_ t: Tensor) -> Tensor {
            var out = t
            out.data.withUnsafeMutableBufferPointer { p in
                for row in 0..<keep.count where keep[row] == 0 { (p.baseAddress! + row * W).update(repeating: 0, count: W) }
            }
            return out
        }
        return Graph.record(zeroRows(memory.value), [memory]) { g in [zeroRows(g)] }
    }

    /// One LRUA write: zero the least-used slot, then M += w^w k, with
    /// w^w = sigmoid(alpha) w^r_prev + (1 - sigmoid(alpha)) w^lu_prev and
    /// w^lu_prev the n least-used slots of the previous usage. Returns (M', w^w).
    public static func lruaWrite(_ memory: Variable, key: Variable, alpha: Variable, readPrevious: Variable,
                                 usagePrevious: Tensor, reads n: Int) throws -> (memory: Variable, weights: Variable) {
        let leastUsedPrevious = try leastUsed(usagePrevious, n: n)
        let ww = try lruaWeights(alpha, readPrevious: readPrevious, leastUsedPrevious: Variable(leastUsedPrevious))
        let cleared = try zeroLeastUsed(memory, usage: usagePrevious)
        return (try write(cleared, ww, erase: nil, add: key), ww)
    }
}
