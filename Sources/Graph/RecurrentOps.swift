import CSupport
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
            reading(bias.value.data, c.value.data) { pb, pc in
                lstmGates(out[0], bias: pb, cell: pc, h: out[1], c: out[2], tanhC: out[3], batch: B, hidden: H)
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
                    lstmGatesBackward(gates: p[0], tanhC: p[1], gradH: p[2], gradC: p[3], cell: p[4], dz: out[0], dc: out[1], batch: B, hidden: H)
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
        Graph.capture(LSTMKernel(batch: B, inputs: I, hidden: H), "lstm_cell", flops: flops, inputs: [x, h, c, weights, bias], outputs: outputs)
        return (outputs[0], outputs[1])
    }
    /// The cell's gates from pre-activations z [B, 4H] (activated in place),
    /// then c' = f c + i g, tanh(c') and h' = o tanh(c'): shared by the op and its kernel.
    static func lstmGates(_ pz: MutableFloats, bias pb: Floats, cell pc: Floats, h hOut: MutableFloats, c cOut: MutableFloats,
                          tanhC: MutableFloats, batch B: Int, hidden H: Int) {
        // Rows of a batch are independent: threads take whole rows (the same bits).
        let level = OwnKernels.level
        Parallel.forEach(B, work: 100 * B * H) { rows in
            for r in rows {
                mnemo_lstm_gates(level, pz + r * 4 * H, pb, pc + r * H, hOut + r * H, cOut + r * H, tanhC + r * H, H)
            }
        }
    }

    /// The gates' gradients dz [B, 4H] and dc [B, H] from those of h' and c'.
    static func lstmGatesBackward(gates: Floats, tanhC: Floats, gradH: Floats, gradC: Floats, cell: Floats,
                                  dz dzOut: MutableFloats, dc dcOut: MutableFloats, batch B: Int, hidden H: Int) {
        let level = OwnKernels.level
        Parallel.forEach(B, work: 40 * B * H) { rows in for r in rows {
            mnemo_lstm_gates_backward(level, gates + r * 4 * H, tanhC + r * H, gradH + r * H, gradC + r * H, cell + r * H,
                                      dzOut + r * 4 * H, dcOut + r * H, H)
        }}
    }
}

/// `lstm_cell` in a compiled plan: inputs x, h, c, W, b; outputs h', c'.
final class LSTMKernel: PlanKernel, KeepsProducts {
    var productInput: Int? { 3 }
    let B: Int, I: Int, H: Int
    /// [x, h], the activated gates and tanh(c') kept from the forward pass,
    /// the gates' gradients (kept until W's product is summed), zeros for an
    /// output nothing used.
    let gates, tanhC, zeros: MutableFloats
    /// [x, h] and dz: the rows of W's product, laid out by the plan for all
    /// the steps sharing W (`useRows`) so that their stack needs no copying.
    private(set) var xh, dz: MutableFloats
    private var ownsRows = true

    init(batch: Int, inputs: Int, hidden: Int) {
        (B, I, H) = (batch, inputs, hidden)
        func make(_ n: Int) -> MutableFloats { planBuffer(n) }
        (xh, gates, tanhC, dz, zeros) = (make(B * (I + H)), make(B * 4 * H), make(B * H), make(B * 4 * H), make(B * H))
    }

    deinit {
        for p in [gates, tanhC, zeros] { p.deallocate() }
        if ownsRows { xh.deallocate(); dz.deallocate() }
    }

    /// The rows this step saves for W's product, in buffers the plan owns.
    func useRows(xh: MutableFloats, dz: MutableFloats) {
        if ownsRows { self.xh.deallocate(); self.dz.deallocate() }
        (self.xh, self.dz, ownsRows) = (xh, dz, false)
    }

    /// The floats of each: B (I + H) and B 4H.
    var rowFloats: (xh: Int, dz: Int) { (B * (I + H), B * 4 * H) }

    override func forward(_ io: PlanIO) {
        let x = io.input(0), h = io.input(1)
        for r in 0..<B {
            (xh + r * (I + H)).update(from: x + r * I, count: I)
            (xh + r * (I + H) + I).update(from: h + r * H, count: H)
        }
        gates.update(repeating: 0, count: B * 4 * H)
        Tensor.addProduct(into: gates, xh, io.input(3), m: B, n: 4 * H, k: I + H, transposeA: false, transposeB: false)
        Op.lstmGates(gates, bias: io.input(4), cell: io.input(2), h: io.output(0), c: io.output(1), tanhC: tanhC, batch: B, hidden: H)
    }

    override func backward(_ io: PlanIO) {
        let gradH = io.gradient(ofOutput: 0) ?? zeros, gradC = io.gradient(ofOutput: 1) ?? zeros
        let dc = io.scratch(0, B * H), dxh = io.scratch(1, B * (I + H))
        Op.lstmGatesBackward(gates: gates, tanhC: tanhC, gradH: gradH, gradC: gradC, cell: io.input(2), dz: dz, dc: dc, batch: B, hidden: H)
        dxh.update(repeating: 0, count: B * (I + H))
        io.productWithTransposedWeight(into: dxh, dz, weight: 3, rows: B, n: I + H, k: 4 * H)
        // x's and h's parts of each row of dxh, written (the first) or added straight into their gradients.
        func addColumns(_ start: Int, _ n: Int, to input: Int) {
            io.accumulate(to: input) { d, first in
                for r in 0..<B {
                    let source = dxh + r * (I + H) + start, target = d + r * n
                    if first { target.update(from: source, count: n) } else { for j in 0..<n { target[j] += source[j] } }
                }
            }
        }
        addColumns(0, I, to: 0)
        addColumns(I, H, to: 1)
        io.add(dc, to: 2)
        io.addProduct(xh, dz, rows: B, m: I + H, n: 4 * H, to: 3)
        if io.needs(4) {
            if B == 1 {
                io.add(dz, to: 4)
            } else {
                // Row by row, each sum in the order of the rows from 0 (the loop over j in vectors).
                let db = io.scratch(0, 4 * H)
                db.update(repeating: 0, count: 4 * H)
                for r in 0..<B {
                    let row = dz + r * 4 * H
                    for j in 0..<(4 * H) { db[j] += row[j] }
                }
                io.add(db, to: 4)
            }
        }
    }
}
