import Foundation
import Graph
import Memory
import Tensor
import XCTest

/// Each primitive is gradient-checked (including edge values) and shown to
/// equal the same equation composed from basic ops, forward and gradient.
final class AddressingTests: XCTestCase {
    let rng = RandomGenerator(seed: 21)
    func randn(_ shape: Int...) -> Tensor { try! Tensor.randn(shape, rng) }
    func weighting(_ shape: Int...) -> Tensor { try! Tensor.randn(shape, rng).softmax(axis: -1) }
    func uniform(_ shape: Int..., low: Double, high: Double) -> Tensor { try! Tensor.uniform(shape, rng, low: low, high: high) }

    /// `step`: sharpen's curvature near small weights needs a finer step than the default.
    func gradcheck(_ inputs: [Tensor], step: Double = 1e-2, file: StaticString = #filePath, line: UInt = #line, _ f: @escaping ([Variable]) throws -> Variable) {
        do {
            for r in try Gradcheck.check(inputs: inputs, step: step, f) {
                XCTAssertTrue(r.ok, "input \(r.input): analytic \(r.worstAnalytic) vs numeric \(r.worstNumeric)", file: file, line: line)
            }
        } catch { XCTFail("gradcheck threw \(error)", file: file, line: line) }
    }

    /// The native op and the composed one agree in value and in the gradient of
    /// a random projection of their outputs, for every input.
    func agree(_ inputs: [Tensor], tolerance: Float = 1e-4, file: StaticString = #filePath, line: UInt = #line,
               native: ([Variable]) throws -> Variable, composed: ([Variable]) throws -> Variable) throws {
        let a = inputs.map(Variable.parameter), b = inputs.map(Variable.parameter)
        let x = try native(a), y = try composed(b)
        XCTAssertEqual(x.shape, y.shape, file: file, line: line)
        for (u, v) in zip(x.value.data, y.value.data) { XCTAssertEqual(u, v, accuracy: tolerance, file: file, line: line) }
        let projection = Variable(try Tensor.randn(x.shape, rng))
        let gx = try Graph.gradients(of: try Op.sum(try Op.mul(x, projection), axis: nil), wrt: a)
        let gy = try Graph.gradients(of: try Op.sum(try Op.mul(y, projection), axis: nil), wrt: b)
        for (p, q) in zip(gx, gy) {
            for (u, v) in zip(p.data, q.data) { XCTAssertEqual(u, v, accuracy: tolerance * 10, file: file, line: line) }
        }
    }

    // Composed references, written from the equations with basic ops.

    func composedCosine(_ m: Variable, _ k: Variable) throws -> Variable {
        let dots = try Op.sum(try Op.mul(m, try Op.reshape(k, k.value.rank == 1 ? [1, k.shape[0]] : [k.shape[0], 1, k.shape[1]])), axis: -1)
        let rowNorms = Op.sqrt(try Op.sum(Op.square(m), axis: -1))
        let keyNorm = Op.sqrt(try Op.sum(Op.square(k), axis: -1, keepdims: true))
        let denominator = try Op.add(try Op.mul(rowNorms, keyNorm), Variable(Tensor(Addressing.cosineEpsilon)))
        return try Op.div(dots, denominator)
    }

    /// w rolled forward by `by` slots: result[i] = w[(i - by) mod N].
    func roll(_ w: Variable, by: Int) throws -> Variable {
        let n = w.shape[w.value.rank - 1], o = ((by % n) + n) % n
        if o == 0 { return w }
        let lead = [Tensor.IndexSpec](repeating: .all, count: w.value.rank - 1)
        return try Op.concat([try Op.index(w, lead + [.range(n - o, n, 1)]), try Op.index(w, lead + [.range(0, n - o, 1)])], axis: -1)
    }

    func testCosine() throws {
        gradcheck([randn(5, 4), randn(4)]) { try Addressing.cosine($0[0], $0[1]) }
        gradcheck([randn(2, 5, 4), randn(2, 4)]) { try Addressing.cosine($0[0], $0[1]) }
        try agree([randn(5, 4), randn(4)], native: { try Addressing.cosine($0[0], $0[1]) }, composed: { try composedCosine($0[0], $0[1]) })
        try agree([randn(3, 5, 4), randn(3, 4)], native: { try Addressing.cosine($0[0], $0[1]) }, composed: { try composedCosine($0[0], $0[1]) })
        // Width 20: two full lanes of eight and a tail of four.
        gradcheck([randn(6, 20), randn(20)]) { try Addressing.cosine($0[0], $0[1]) }
        try agree([randn(2, 6, 20), randn(2, 20)], native: { try Addressing.cosine($0[0], $0[1]) }, composed: { try composedCosine($0[0], $0[1]) })
    }

    func testCosineWithZeroRowAndZeroKeyGivesNoNaN() throws {
        var m = randn(4, 3)
        for j in 0..<3 { m.data[3 + j] = 0 }  // row 1 is zero
        let zeroKey = Variable.parameter(try Tensor.zeros([3]))
        let mem = Variable.parameter(m)
        let k = try Addressing.cosine(mem, zeroKey)
        XCTAssertTrue(k.value.data.allSatisfy { $0 == 0 })
        let g = try Graph.gradients(of: try Op.sum(k, axis: nil), wrt: [mem, zeroKey])
        XCTAssertTrue(g.allSatisfy { $0.data.allSatisfy(\.isFinite) })
        let k2 = try Addressing.cosine(mem, Variable.parameter(randn(3)))
        XCTAssertEqual(k2.value.data[1], 0)
        // At exactly zero the cosine has no derivative a finite difference can
        // see (it is a direction-dependent limit); the other rows' gradients
        // must be unaffected by the zero row.
        let zeroRow = Variable(Tensor(shape: [1, 3], data: [0, 0, 0]))
        gradcheck([randn(3, 3), randn(3)]) { v in
            let full = try Op.concat([try Op.index(v[0], [.range(0, 1, 1)]), zeroRow, try Op.index(v[0], [.range(1, 3, 1)])], axis: 0)
            return try Addressing.cosine(full, v[1])
        }
    }

    func testContentAddressing() throws {
        let m = randn(6, 4), k = randn(4)
        gradcheck([m, k, Tensor(vector: [3])]) { try Addressing.content($0[0], $0[1], $0[2]) }
        try agree([m, k, Tensor(vector: [3])], native: { try Addressing.content($0[0], $0[1], $0[2]) },
                  composed: { try Op.softmax(try Op.mul($0[2], try composedCosine($0[0], $0[1])), axis: -1) })
        gradcheck([randn(2, 6, 4), randn(2, 4), Tensor(vector: [1, 5])]) { try Addressing.content($0[0], $0[1], $0[2]) }
    }

    func testInterpolate() throws {
        gradcheck([weighting(5), weighting(5), Tensor(vector: [0.3])]) { try Addressing.interpolate($0[0], $0[1], $0[2]) }
        gradcheck([weighting(2, 5), weighting(2, 5), Tensor(vector: [0.3, 0.9])]) { try Addressing.interpolate($0[0], $0[1], $0[2]) }
        try agree([weighting(5), weighting(5), Tensor(vector: [0.3])], native: { try Addressing.interpolate($0[0], $0[1], $0[2]) },
                  composed: { v in try Op.add(try Op.mul(v[2], v[0]), try Op.mul(try Op.sub(Variable(Tensor(1)), v[2]), v[1])) })
    }

    func testShiftDirectionAndEquation() throws {
        // A focus on slot 2 with all shift mass on offset +1 moves to slot 3.
        let w = Variable(Tensor(vector: [0, 0, 1, 0, 0]))
        XCTAssertEqual(try Addressing.shift(w, Variable(Tensor(vector: [0, 0, 1]))).value.data, [0, 0, 0, 1, 0])
        XCTAssertEqual(try Addressing.shift(w, Variable(Tensor(vector: [1, 0, 0]))).value.data, [0, 1, 0, 0, 0])
        // Circular: the last slot wraps to the first.
        XCTAssertEqual(try Addressing.shift(Variable(Tensor(vector: [0, 0, 0, 0, 1])), Variable(Tensor(vector: [0, 0, 1]))).value.data, [1, 0, 0, 0, 0])
        // A full length-N kernel holds offsets 0..N-1.
        XCTAssertEqual(try Addressing.shift(w, Variable(Tensor(vector: [0, 0, 0, 1, 0]))).value.data, [1, 0, 0, 0, 0])
        gradcheck([weighting(5), weighting(3)]) { try Addressing.shift($0[0], $0[1]) }
        gradcheck([weighting(2, 6), weighting(2, 6)]) { try Addressing.shift($0[0], $0[1]) }
        try agree([weighting(7), weighting(3)], native: { try Addressing.shift($0[0], $0[1]) }, composed: { v in
            var total: Variable? = nil
            for k in 0..<3 {
                let term = try Op.mul(try Op.index(v[1], [.at(k)]), try roll(v[0], by: k - 1))
                total = try total.map { try Op.add($0, term) } ?? term
            }
            return total!
        })
        XCTAssertThrowsError(try Addressing.shift(w, Variable(Tensor(vector: [0.5, 0.5]))))
    }

    /// interpolate, shift, sharpen and content addressing take weightings of
    /// every layout ([N], [B, N], [H, N], [B, H, N], per-row scalars shaped
    /// like the rows), each equal to its equation written with basic ops.
    func testLocationOpsTakeEveryLayout() throws {
        for lead in [[], [2], [3], [2, 3]] {
            let scalarShape = lead.isEmpty ? [1] : lead
            func scalars(_ low: Double, _ high: Double) -> Tensor { try! Tensor.uniform(scalarShape, rng, low: low, high: high) }
            // A per-row scalar against rows of N: one more axis to broadcast along.
            func column(_ v: Variable) throws -> Variable { try Op.reshape(v, lead.isEmpty ? [1] : lead + [1]) }
            let w = try Tensor.randn(lead + [6], rng).softmax(axis: -1), prev = try Tensor.randn(lead + [6], rng).softmax(axis: -1)
            try agree([w, prev, scalars(0.1, 0.9)], native: { try Addressing.interpolate($0[0], $0[1], $0[2]) }, composed: { v in
                let g = try column(v[2])
                return try Op.add(try Op.mul(g, v[0]), try Op.mul(try Op.sub(Variable(Tensor(1)), g), v[1]))
            })
            let kernel = try Tensor.randn(lead + [3], rng).softmax(axis: -1)
            try agree([w, kernel], native: { try Addressing.shift($0[0], $0[1]) }, composed: { v in
                var total: Variable? = nil
                let all = [Tensor.IndexSpec](repeating: .all, count: lead.count)
                for k in 0..<3 {
                    let term = try Op.mul(try column(try Op.index(v[1], all + [.at(k)])), try roll(v[0], by: k - 1))
                    total = try total.map { try Op.add($0, term) } ?? term
                }
                return total!
            })
            try agree([w, scalars(1.2, 4)], native: { try Addressing.sharpen($0[0], $0[1]) }, composed: { v in
                let powered = try Op.pow(v[0], try column(v[1]))
                return try Op.div(powered, try Op.sum(powered, axis: -1, keepdims: true))
            })
            gradcheck([w, prev, scalars(0.1, 0.9)]) { try Addressing.interpolate($0[0], $0[1], $0[2]) }
            gradcheck([w, scalars(1.2, 4)], step: 1e-3) { try Addressing.sharpen($0[0], $0[1]) }
        }
        // Content addressing of several heads at once, with a beta per head.
        let memory = randn(2, 6, 4), keys = randn(2, 3, 4), betas = uniform(2, 3, low: 0.5, high: 3)
        try agree([memory, keys, betas], native: { try Addressing.content($0[0], $0[1], $0[2]) }, composed: { v in
            try Op.softmax(try Op.mul(try Op.reshape(v[2], [2, 3, 1]), try Addressing.cosine(v[0], v[1])), axis: -1)
        })
    }

    func testSharpen() throws {
        let w = weighting(6)
        gradcheck([w, Tensor(vector: [2.5])], step: 1e-3) { try Addressing.sharpen($0[0], $0[1]) }
        gradcheck([weighting(2, 6), Tensor(vector: [1.5, 3])], step: 1e-3) { try Addressing.sharpen($0[0], $0[1]) }
        try agree([w, Tensor(vector: [2.5])], native: { try Addressing.sharpen($0[0], $0[1]) }, composed: { v in
            let powered = try Op.pow(v[0], v[1])
            return try Op.div(powered, try Op.sum(powered, axis: -1, keepdims: true))
        })
    }

    func testSharpenAtTheEdges() throws {
        // gamma near 1 leaves the weighting unchanged; a one-hot weighting with
        // zeros and a large gamma gives finite values and gradients.
        let w = weighting(5)
        let same = try Addressing.sharpen(Variable(w), Variable(Tensor(1)))
        for (a, b) in zip(same.value.data, w.data) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        gradcheck([w, Tensor(vector: [1.0001])], step: 1e-3) { try Addressing.sharpen($0[0], $0[1]) }
        let oneHot = Variable.parameter(Tensor(vector: [0, 0, 1, 0, 0]))
        for gamma: Float in [1, 1.5, 20, 80] {
            let g = Variable.parameter(Tensor(vector: [gamma]))
            let y = try Addressing.sharpen(oneHot, g)
            XCTAssertEqual(y.value.data, [0, 0, 1, 0, 0])
            let grads = try Graph.gradients(of: try Op.sum(try Op.mul(y, Variable(Tensor(vector: [1, 2, 3, 4, 5]))), axis: nil), wrt: [oneHot, g])
            XCTAssertTrue(grads.allSatisfy { $0.data.allSatisfy(\.isFinite) }, "gamma \(gamma)")
        }
        // Large gamma on a spread weighting does not overflow.
        let peaked = try Addressing.sharpen(Variable(w), Variable(Tensor(60)))
        XCTAssertEqual(peaked.value.data.reduce(0, +), 1, accuracy: 1e-5)
        gradcheck([weighting(5), Tensor(vector: [30])], step: 1e-3) { try Addressing.sharpen($0[0], $0[1]) }
        // An all-zero weighting gives the uniform one, with zero gradients.
        let zero = try Addressing.sharpen(Variable.parameter(try Tensor.zeros([4])), Variable(Tensor(2)))
        XCTAssertEqual(zero.value.data, [0.25, 0.25, 0.25, 0.25])
    }

    func testReadAndWrite() throws {
        gradcheck([randn(5, 3), weighting(5)]) { try Addressing.read($0[0], $0[1]) }
        gradcheck([randn(2, 5, 3), weighting(2, 5)]) { try Addressing.read($0[0], $0[1]) }
        try agree([randn(5, 3), weighting(5)], native: { try Addressing.read($0[0], $0[1]) },
                  composed: { try Op.sum(try Op.mul($0[0], try Op.reshape($0[1], [5, 1])), axis: 0) })
        let e = uniform(3, low: 0, high: 1)
        gradcheck([randn(5, 3), weighting(5), randn(3), e]) { try Addressing.write($0[0], $0[1], erase: $0[3], add: $0[2]) }
        gradcheck([randn(2, 5, 3), weighting(2, 5), randn(2, 3), uniform(2, 3, low: 0, high: 1)]) {
            try Addressing.write($0[0], $0[1], erase: $0[3], add: $0[2])
        }
        try agree([randn(5, 3), weighting(5), randn(3), e], native: { try Addressing.write($0[0], $0[1], erase: $0[3], add: $0[2]) },
                  composed: { v in
                      let erased = try Op.mul(v[0], try Op.sub(Variable(Tensor(1)), try Op.outer(v[1], v[3])))
                      return try Op.add(erased, try Op.outer(v[1], v[2]))
                  })
        // Width 20 (lanes of eight and a tail), with and without erase.
        gradcheck([randn(4, 20), weighting(4), randn(20), uniform(20, low: 0, high: 1)]) { try Addressing.write($0[0], $0[1], erase: $0[3], add: $0[2]) }
        gradcheck([randn(2, 4, 20), weighting(2, 4), randn(2, 20)]) { try Addressing.write($0[0], $0[1], erase: nil, add: $0[2]) }
        gradcheck([randn(2, 4, 20), weighting(2, 4)]) { try Addressing.read($0[0], $0[1]) }
        // A one-hot write with erase 1 replaces the row exactly.
        let m = Variable(Tensor(shape: [2, 2], data: [1, 2, 3, 4]))
        let out = try Addressing.write(m, Variable(Tensor(vector: [0, 1])), erase: Variable(Tensor(vector: [1, 1])), add: Variable(Tensor(vector: [9, 8])))
        XCTAssertEqual(out.value.data, [1, 2, 9, 8])
    }

    /// The one-node head addressing equals the four steps applied one by one.
    func testFusedAddressingEqualsTheSteps() throws {
        for batched in [false, true] {
            let inputs = batched
                ? [randn(2, 6, 4), randn(2, 4), Tensor(vector: [2, 4]), Tensor(vector: [0.3, 0.8]), weighting(2, 3), Tensor(vector: [1.5, 2.5]), weighting(2, 6)]
                : [randn(6, 4), randn(4), Tensor(vector: [3]), Tensor(vector: [0.6]), weighting(3), Tensor(vector: [2]), weighting(6)]
            try agree(inputs, native: { v in
                try Addressing.address(memory: v[0], key: v[1], beta: v[2], gate: v[3], shift: v[4], gamma: v[5], previous: v[6])
            }, composed: { v in
                let wc = try Addressing.content(v[0], v[1], v[2])
                return try Addressing.sharpen(try Addressing.shift(try Addressing.interpolate(wc, v[6], v[3]), v[4]), v[5])
            })
            gradcheck(inputs, step: 1e-3) { v in
                try Addressing.address(memory: v[0], key: v[1], beta: v[2], gate: v[3], shift: v[4], gamma: v[5], previous: v[6])
            }
        }
    }

    /// The head's addressing from raw parameters equals slicing p, applying
    /// the paper's activations with basic ops, and addressing; the values
    /// after gamma (a write head's erase and add) get no gradient.
    /// A write head's erase and add taken from its raw parameters, then the
    /// write, as one node: equal to slicing, sigmoid and tanh, and `write`.
    func testWriteFromRawParametersEqualsTheActivatedSteps() throws {
        let (W, S) = (4, 3)
        let base = W + 3 + S
        for batched in [false, true] {
            let P = base + 2 * W + 1  // one more value than a write head uses
            let inputs = batched ? [randn(2, 6, W), weighting(2, 6), randn(2, P)] : [randn(6, W), weighting(6), randn(P)]
            try agree(inputs, native: { v in
                try Addressing.writeFromParameters(memory: v[0], weighting: v[1], parameters: v[2], shifts: S)
            }, composed: { v in
                let p = v[2], axis = p.value.rank - 1
                let erase = Op.sigmoid(try Op.slice(p, axis: axis, start: base, end: base + W))
                let add = Op.tanh(try Op.slice(p, axis: axis, start: base + W, end: base + 2 * W))
                return try Addressing.write(v[0], v[1], erase: erase, add: add)
            })
            gradcheck(inputs) { v in try Addressing.writeFromParameters(memory: v[0], weighting: v[1], parameters: v[2], shifts: S) }
        }
        XCTAssertThrowsError(try Addressing.writeFromParameters(memory: Variable(randn(6, W)), weighting: Variable(weighting(6)),
                                                                parameters: Variable(randn(base + W)), shifts: S))
    }

    func testAddressingFromRawParametersEqualsTheActivatedSteps() throws {
        let (W, S) = (4, 3)
        for batched in [false, true] {
            let P = W + 3 + S + 2  // two extra values, as a write head's would be
            let inputs = batched ? [randn(2, 6, W), randn(2, P), weighting(2, 6)] : [randn(6, W), randn(P), weighting(6)]
            try agree(inputs, native: { v in
                try Addressing.addressFromParameters(memory: v[0], parameters: v[1], width: W, shifts: S, previous: v[2])
            }, composed: { v in
                let p = v[1], axis = p.value.rank - 1
                let key = try Op.slice(p, axis: axis, start: 0, end: W)
                let beta = Op.softplus(try Op.slice(p, axis: axis, start: W, end: W + 1))
                let gate = Op.sigmoid(try Op.slice(p, axis: axis, start: W + 1, end: W + 2))
                let shift = try Op.softmax(try Op.slice(p, axis: axis, start: W + 2, end: W + 2 + S), axis: -1)
                let gamma = try Op.add(Variable(Tensor(vector: [1])), Op.softplus(try Op.slice(p, axis: axis, start: W + 2 + S, end: W + 3 + S)))
                return try Addressing.address(memory: v[0], key: key, beta: beta, gate: gate, shift: shift, gamma: gamma, previous: v[2])
            })
            gradcheck(inputs, step: 1e-3) { v in
                try Addressing.addressFromParameters(memory: v[0], parameters: v[1], width: W, shifts: S, previous: v[2])
            }
        }
        XCTAssertThrowsError(try Addressing.addressFromParameters(memory: Variable(randn(6, W)), parameters: Variable(randn(W + 2)),
                                                                  width: W, shifts: S, previous: Variable(weighting(6))))
    }

    /// A memory that feeds several ops (a write head's addressing and write, a
    /// read head's addressing and read, a plain read), some of which add their
    /// gradient into the memory's in place, gets every contribution; and a
    /// constant memory, which takes none, leaves the other gradients right.
    func testMemoryGradientFromEveryUser() throws {
        let (W, S) = (5, 3)
        let P = W + 3 + S + 2 * W
        let previous = Variable(weighting(6)), other = Variable(weighting(6))
        func step(_ m0: Variable, _ pw: Variable, _ pr: Variable) throws -> Variable {
            let ww = try Addressing.addressFromParameters(memory: m0, parameters: pw, width: W, shifts: S, previous: previous)
            let m1 = try Addressing.writeFromParameters(memory: m0, weighting: ww, parameters: pw, shifts: S)
            let wr = try Addressing.addressFromParameters(memory: m1, parameters: pr, width: W, shifts: S, previous: previous)
            let reads = try Op.add(try Addressing.read(m1, wr), try Addressing.read(m0, ww))
            return try Op.add(reads, try Addressing.read(m1, other))
        }
        gradcheck([randn(6, W), randn(P), randn(W + 3 + S)], step: 1e-3) { v in try step(v[0], v[1], v[2]) }
        let constant = Variable(randn(6, W))
        gradcheck([randn(P), randn(W + 3 + S)], step: 1e-3) { v in try step(constant, v[0], v[1]) }
    }

    /// Head h of a [B, H, ...] (or [H, ...]) operand, as the single-head op takes it.
    func head(_ v: Variable, _ h: Int, batched: Bool) throws -> Variable {
        let lead = [Tensor.IndexSpec](repeating: .all, count: batched ? 1 : 0)
        return try Op.index(v, lead + [.at(h)])
    }

    /// Several heads in one op equal one op per head: cosine and read stack
    /// the heads' results; writes add every head's vector after every erase.
    func testSeveralHeadsAtOnce() throws {
        for batched in [false, true] {
            let lead = batched ? [2] : []
            let memory = try Tensor.randn(lead + [6, 20], rng), keys = try Tensor.randn(lead + [3, 20], rng)
            let w = try Tensor.randn(lead + [3, 6], rng).softmax(axis: -1)
            let adds = try Tensor.randn(lead + [3, 20], rng), erases = try Tensor.uniform(lead + [3, 20], rng, low: 0, high: 1)
            let axis = batched ? 1 : 0
            try agree([memory, keys], native: { try Addressing.cosine($0[0], $0[1]) }, composed: { v in
                try Op.stack(try (0..<3).map { try Addressing.cosine(v[0], try head(v[1], $0, batched: batched)) }, axis: axis)
            })
            try agree([memory, w], native: { try Addressing.read($0[0], $0[1]) }, composed: { v in
                try Op.stack(try (0..<3).map { try Addressing.read(v[0], try head(v[1], $0, batched: batched)) }, axis: axis)
            })
            // Without erase, several heads equal the heads written one after another.
            try agree([memory, w, adds], native: { try Addressing.write($0[0], $0[1], erase: nil, add: $0[2]) }, composed: { v in
                var m = v[0]
                for h in 0..<3 { m = try Addressing.write(m, try head(v[1], h, batched: batched), erase: nil, add: try head(v[2], h, batched: batched)) }
                return m
            })
            // With erase: M * prod_h (1 - w_h e_h^T) + sum_h w_h a_h^T, from basic ops.
            try agree([memory, w, adds, erases], native: { try Addressing.write($0[0], $0[1], erase: $0[3], add: $0[2]) }, composed: { v in
                let n = batched ? 2 : 1
                var keep: Variable = Variable(Tensor(1)), added: Variable = Variable(Tensor(0))
                for h in 0..<3 {
                    let wh = try Op.reshape(try head(v[1], h, batched: batched), batched ? [n, 6, 1] : [6, 1])
                    let eh = try Op.reshape(try head(v[3], h, batched: batched), batched ? [n, 1, 20] : [1, 20])
                    let ah = try Op.reshape(try head(v[2], h, batched: batched), batched ? [n, 1, 20] : [1, 20])
                    keep = try Op.mul(keep, try Op.sub(Variable(Tensor(1)), try Op.mul(wh, eh)))
                    added = try Op.add(added, try Op.mul(wh, ah))
                }
                return try Op.add(try Op.mul(v[0], keep), added)
            })
        }
        gradcheck([randn(2, 5, 4), weighting(2, 3, 5), randn(2, 3, 4), uniform(2, 3, 4, low: 0, high: 1)]) {
            try Addressing.write($0[0], $0[1], erase: $0[3], add: $0[2])
        }
        gradcheck([randn(5, 4), weighting(2, 5), randn(2, 4), uniform(2, 4, low: 0, high: 1)]) {
            try Addressing.write($0[0], $0[1], erase: $0[3], add: $0[2])
        }
        gradcheck([randn(2, 5, 4), randn(2, 3, 4)]) { try Addressing.cosine($0[0], $0[1]) }
        gradcheck([randn(2, 5, 4), weighting(2, 3, 5)]) { try Addressing.read($0[0], $0[1]) }
        // The heads of a write must match those of its weighting.
        XCTAssertThrowsError(try Addressing.write(Variable(randn(5, 4)), Variable(weighting(2, 5)), erase: nil, add: Variable(randn(3, 4))))
        XCTAssertThrowsError(try Addressing.write(Variable(randn(5, 4)), Variable(weighting(2, 5)), erase: nil, add: Variable(randn(4))))
        // LRUA weights for every head at once, sharing the least-used slots.
        let least = Variable(try Addressing.leastUsed(Tensor(shape: [2, 5], data: [0.5, 0.1, 0.9, 0.1, 0.3, 0, 1, 2, 3, 4]), n: 3))
        try agree([randn(2, 3), weighting(2, 3, 5)], native: { v in
            try Addressing.lruaWeights(v[0], readPrevious: v[1], leastUsedPrevious: least)
        }, composed: { v in
            try Op.stack(try (0..<3).map { h in
                try Addressing.lruaWeights(try head(v[0], h, batched: true), readPrevious: try head(v[1], h, batched: true), leastUsedPrevious: least)
            }, axis: 1)
        })
        gradcheck([randn(2, 3), weighting(2, 3, 5)]) { v in try Addressing.lruaWeights(v[0], readPrevious: v[1], leastUsedPrevious: least) }
        gradcheck([randn(1), weighting(3, 5)]) { v in
            try Addressing.lruaWeights(v[0], readPrevious: v[1], leastUsedPrevious: Variable(try Addressing.leastUsed(Tensor(vector: [3, 1, 2, 0, 5]), n: 2)))
        }
        // Soft least-used weights (a research variant) learn through wlu, shared by several heads.
        gradcheck([randn(2, 3), weighting(2, 3, 5), weighting(2, 5)]) { v in
            try Addressing.lruaWeights(v[0], readPrevious: v[1], leastUsedPrevious: v[2])
        }
        gradcheck([randn(1), weighting(5), weighting(5)]) { v in try Addressing.lruaWeights(v[0], readPrevious: v[1], leastUsedPrevious: v[2]) }
    }

    /// With threads, the batched kernels split the batch, never a sum: read,
    /// write (one head and several, with and without erase), cosine, the
    /// LSTM step and softmax give the same bits, values and gradients, for 1,
    /// 2 and 3 threads.
    func testBatchedKernelsGiveTheSameBitsWithThreads() throws {
        let (B, H, N, W) = (5, 3, 16, 12)
        let inputs = [randn(B, N, W), weighting(B, H, N), randn(B, H, W), uniform(B, H, W, low: 0, high: 1), randn(B, H, W),
                      weighting(B, N), randn(B, W), uniform(B, W, low: 0, high: 1),
                      randn(B, 7), randn(B, 9), randn(B, 9), randn(16, 36), randn(36)]
        func run() throws -> [[Float]] {
            let v = inputs.map(Variable.parameter)
            var outputs = [try Addressing.read(v[0], v[1]), try Addressing.write(v[0], v[1], erase: v[3], add: v[2]),
                           try Addressing.write(v[0], v[1], erase: nil, add: v[2]), try Addressing.cosine(v[0], v[4]),
                           try Addressing.write(v[0], v[5], erase: v[7], add: v[6]), try Addressing.read(v[0], v[5]),
                           try Op.softmax(v[4], axis: -1)]
            let (h, c) = try Op.lstmCell(x: v[8], h: v[9], c: v[10], weights: v[11], bias: v[12])
            outputs += [h, c]
            var loss = try Op.sum(try Op.mul(outputs[0], Variable(randnFixed(outputs[0].shape))), axis: nil)
            for o in outputs.dropFirst() { loss = try Op.add(loss, try Op.sum(try Op.mul(o, Variable(randnFixed(o.shape))), axis: nil)) }
            return outputs.map(\.value.data) + (try Graph.gradients(of: loss, wrt: v)).map(\.data)
        }
        func randnFixed(_ shape: [Int]) -> Tensor { try! Tensor.randn(shape, RandomGenerator(seed: UInt64(shape.reduce(7, *)))) }
        let (savedThreads, savedWork) = (Parallel.threads, Parallel.minimumWork)
        defer { (Parallel.threads, Parallel.minimumWork) = (savedThreads, savedWork) }
        Parallel.minimumWork = 1
        Parallel.threads = 1
        let one = try run()
        for threads in [2, 3] {
            Parallel.threads = threads
            let many = try run()
            for (a, b) in zip(one, many) { XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "\(threads) threads") }
        }
    }

    /// The DNC's link kernels (compiled for the baseline, AVX and AVX-512)
    /// give the same bits on each, values and gradients, at sizes that are
    /// and are not multiples of their eight lanes.
    func testDNCLinkKernelsGiveTheSameBitsAtEveryWidth() throws {
        for (B, R, N) in [(2, 3, 13), (1, 1, 32), (3, 2, 7)] {
            let inputs = [uniform(B, N, N, low: 0, high: 0.5), weighting(B, N), weighting(B, N),
                          weighting(B, R, N), weighting(B, R, N), weighting(B, R, 3)]
            func run() throws -> [[UInt32]] {
                let v = inputs.map(Variable.parameter)
                let (links, precedence) = try Addressing.linkUpdate(links: v[0], precedence: v[1], write: v[2])
                let read = try Addressing.readWeighting(links: links, previous: v[3], content: v[4], modes: v[5])
                var loss = try Op.sum(try Op.mul(read, Variable(randnFixed(read.shape))), axis: nil)
                loss = try Op.add(loss, try Op.sum(try Op.mul(links, Variable(randnFixed(links.shape))), axis: nil))
                loss = try Op.add(loss, try Op.sum(try Op.mul(precedence, precedence), axis: nil))
                return ([links, precedence, read].map(\.value.data) + (try Graph.gradients(of: loss, wrt: v)).map(\.data)).map { $0.map(\.bitPattern) }
            }
            func randnFixed(_ shape: [Int]) -> Tensor { try! Tensor.randn(shape, RandomGenerator(seed: UInt64(shape.reduce(7, *)))) }
            let runs = try OwnKernels.atEveryLevel(run)
            for (level, result) in runs.dropFirst() { XCTAssertEqual(result, runs[0].result, "B \(B), R \(R), N \(N), level \(level)") }
        }
    }

    /// The memory kernels in C (cosine, read, write with and without erasing,
    /// a head's whole addressing), compiled for the baseline, AVX and AVX-512,
    /// give the same bits on each, values and gradients: rows in and out of
    /// blocks of eight, widths in and out of the eight-lane and 64-column blocks.
    func testMemoryKernelsGiveTheSameBitsAtEveryWidth() throws {
        for (B, H, N, W) in [(2, 3, 13, 7), (1, 1, 32, 40), (3, 2, 9, 20), (1, 4, 17, 67), (2, 1, 11, 20), (2, 4, 70, 44)] {
            let S = 3, P = Addressing.HeadLayout(width: W, shifts: S).readSize
            var memory = randn(B, N, W)
            // Zero rows and zero weights take the kernels' skipping paths.
            memory.data.withUnsafeMutableBufferPointer { m in for j in 0..<W { m[W + j] = 0 } }
            var writes = weighting(B, H, N)
            writes.data[1] = 0
            let inputs = [memory, randn(B, H, W), writes, uniform(B, H, W, low: 0, high: 1), randn(B, H, W), weighting(B, H, N),
                          randn(B, P), weighting(B, N)]
            func randnFixed(_ shape: [Int]) -> Tensor { try! Tensor.randn(shape, RandomGenerator(seed: UInt64(shape.reduce(11, *)))) }
            func run() throws -> [[UInt32]] {
                let v = inputs.map(Variable.parameter)
                let similarity = try Addressing.cosine(v[0], v[1])
                let erased = try Addressing.write(v[0], v[2], erase: v[3], add: v[4])
                let added = try Addressing.write(v[0], v[2], erase: nil, add: v[4])
                let read = try Addressing.read(erased, v[5])
                let addressed = try Addressing.addressFromParameters(memory: added, parameters: v[6], width: W, shifts: S, previous: v[7])
                let outputs = [similarity, erased, added, read, addressed]
                var loss = try Op.sum(try Op.mul(outputs[0], Variable(randnFixed(outputs[0].shape))), axis: nil)
                for out in outputs.dropFirst() { loss = try Op.add(loss, try Op.sum(try Op.mul(out, Variable(randnFixed(out.shape))), axis: nil)) }
                return (outputs.map(\.value.data) + (try Graph.gradients(of: loss, wrt: v)).map(\.data)).map { $0.map(\.bitPattern) }
            }
            let runs = try OwnKernels.atEveryLevel(run)
            for (level, result) in runs.dropFirst() { XCTAssertEqual(result, runs[0].result, "B \(B), H \(H), N \(N), W \(W), level \(level)") }
        }
    }

    /// The location addressing kernels (address_kernels.c) on their own, at
    /// every width: a kernel as long as the weighting, sharpening with zero
    /// weights at gamma 1 and above, an all-zero row, content focus.
    func testLocationKernelsGiveTheSameBitsAtEveryWidth() throws {
        for (B, N, K) in [(2, 13, 3), (3, 33, 33), (1, 128, 5), (2, 7, 1)] {
            var w = weighting(B, N)
            w.data[2] = 0
            if B > 1 { w.data[N + 1] = 0 }
            for i in 0..<N where B > 2 { w.data[2 * N + i] = 0 }
            let inputs = [w, weighting(B, N), Tensor(shape: [B], data: (0..<B).map { [0.3, 1, 0.8][$0 % 3] }), weighting(B, K),
                          Tensor(shape: [B], data: (0..<B).map { [1, 2.5, 1][$0 % 3] }), randn(B, N, 6), randn(B, 6),
                          Tensor(shape: [B], data: (0..<B).map { [3, 0.5, 12][$0 % 3] })]
            let lossWeights = (0..<4).map { _ in Variable(randn(B, N)) }
            func run() throws -> [[UInt32]] {
                let v = inputs.map(Variable.parameter)
                let content = try Addressing.content(v[5], v[6], v[7])
                let gated = try Addressing.interpolate(content, v[1], v[2])
                let outputs = [gated, try Addressing.shift(v[0], v[3]), try Addressing.sharpen(v[0], v[4]),
                               try Addressing.sharpen(try Addressing.shift(gated, v[3]), v[4])]
                var loss = try Op.sum(try Op.mul(outputs[0], lossWeights[0]), axis: nil)
                for i in 1..<4 { loss = try Op.add(loss, try Op.sum(try Op.mul(outputs[i], lossWeights[i]), axis: nil)) }
                return (outputs.map(\.value.data) + (try Graph.gradients(of: loss, wrt: v)).map(\.data)).map { $0.map(\.bitPattern) }
            }
            let runs = try OwnKernels.atEveryLevel(run)
            XCTAssertGreaterThan(runs.count, 1)
            for (level, result) in runs.dropFirst() { XCTAssertEqual(result, runs[0].result, "B \(B), N \(N), K \(K), level \(level)") }
        }
    }

    /// A memory traces each head of a several-head access on its own.
    func testTraceSplitsHeads() throws {
        let bank = try MemoryBank(slots: 4, width: 3, batch: 2, initialisation: .constant(0), random: rng)
        let w = try Tensor.randn([2, 3, 4], rng).softmax(axis: -1)
        _ = try bank.read(Variable(w), head: 1)
        let (traced, heads) = try bank.traced(writes: false)
        XCTAssertEqual(heads, [1, 2, 3])
        XCTAssertEqual(traced.shape, [3, 2, 4])
        for h in 0..<3 { for b in 0..<2 { for i in 0..<4 { XCTAssertEqual(traced.data[(h * 2 + b) * 4 + i], w.data[(b * 3 + h) * 4 + i]) } } }
    }

    func testLRUA() throws {
        let usage = Tensor(vector: [0.5, 0.1, 0.9, 0.1, 0.3])
        XCTAssertEqual(try Addressing.leastUsed(usage, n: 1).data, [0, 1, 0, 0, 0], "exactly n, ties to the lower slot")
        XCTAssertEqual(try Addressing.leastUsed(usage, n: 3).data, [0, 1, 0, 1, 1])
        XCTAssertEqual(try Addressing.leastUsed(try Tensor.zeros([2, 4]), n: 2).data, [1, 1, 0, 0, 1, 1, 0, 0])
        // A NaN usage comes after every number, and NaNs in slot order.
        XCTAssertEqual(try Addressing.leastUsed(Tensor(vector: [.nan, 0.2, 0.1, 0.3]), n: 3).data, [0, 1, 1, 1])
        XCTAssertEqual(try Addressing.leastUsed(Tensor(vector: [.nan, 0.2, .nan, .nan]), n: 3).data, [1, 1, 1, 0])
        // The n smallest of many, ties to the lower slot.
        let many = Tensor(vector: (0..<40).map { Float(($0 * 17) % 7) })
        XCTAssertEqual(try Addressing.leastUsed(many, n: 8).data.enumerated().filter { $0.element == 1 }.map(\.offset),
                       [0, 5, 7, 12, 14, 21, 28, 35])
        let m = Variable(try Tensor.filled([5, 2], 1))
        XCTAssertEqual(try Addressing.zeroLeastUsed(m, usage: Variable(usage)).value.data, [1, 1, 0, 0, 1, 1, 1, 1, 1, 1])
        let u = try Addressing.usage(Variable(usage), reads: Variable(Tensor(shape: [2, 5], data: [1, 0, 0, 0, 0, 0, 1, 0, 0, 0])),
                                     write: Variable(Tensor(vector: [0, 0, 0, 0, 1])), decay: 0.5)
        XCTAssertEqual(u.value.data, [1.25, 1.05, 0.45, 0.05, 1.15])
        let readPrevious = weighting(5)
        gradcheck([randn(5, 3), randn(3), Tensor(vector: [0.4]), readPrevious]) { v in
            try Addressing.lruaWrite(v[0], key: v[1], alpha: v[2], readPrevious: v[3], usagePrevious: usage, reads: 1).memory
        }
        try agree([Tensor(vector: [0.4]), readPrevious], native: { v in
            try Addressing.lruaWeights(v[0], readPrevious: v[1], leastUsedPrevious: Variable(try Addressing.leastUsed(usage, n: 2)))
        }, composed: { v in
            let s = Op.sigmoid(v[0])
            return try Op.add(try Op.mul(s, v[1]), try Op.mul(try Op.sub(Variable(Tensor(1)), s), Variable(try Addressing.leastUsed(usage, n: 2))))
        })
        gradcheck([randn(2, 5, 3), randn(2, 3), Tensor(vector: [0.4, -1]), weighting(2, 5)]) { v in
            try Addressing.lruaWrite(v[0], key: v[1], alpha: v[2], readPrevious: v[3],
                                     usagePrevious: Tensor(shape: [2, 5], data: usage.data + usage.data.reversed()), reads: 2).memory
        }
    }
}
