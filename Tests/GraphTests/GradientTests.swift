import Graph
import Tensor
import XCTest

/// Every differentiable op against central finite differences. Inputs are
/// kept away from kinks (abs, relu, max, clip) where the derivative jumps.
final class GradientTests: XCTestCase {
    let rng = RandomGenerator(seed: 11)

    func randn(_ shape: Int...) -> Tensor { try! Tensor.randn(shape, rng) }
    /// Values with |x| >= 0.2, safely away from 0.
    func awayFromZero(_ shape: Int...) -> Tensor { try! Tensor.randn(shape, rng).map { $0 >= 0 ? $0 + 0.2 : $0 - 0.2 } }
    func positive(_ shape: Int...) -> Tensor { try! Tensor.uniform(shape, rng, low: 0.5, high: 2) }

    func check(_ inputs: [Tensor], file: StaticString = #filePath, line: UInt = #line, _ f: @escaping ([Variable]) throws -> Variable) {
        do {
            for r in try Gradcheck.check(inputs: inputs, f) {
                XCTAssertTrue(r.ok, "input \(r.input): analytic \(r.worstAnalytic) vs numeric \(r.worstNumeric)", file: file, line: line)
            }
        } catch {
            XCTFail("gradcheck threw \(error)", file: file, line: line)
        }
    }

    func testArithmeticWithBroadcasting() {
        check([randn(3, 4), randn(4)]) { try Op.add($0[0], $0[1]) }
        check([randn(3, 1), randn(1, 4)]) { try Op.sub($0[0], $0[1]) }
        check([randn(2, 3, 4), randn(3, 1)]) { try Op.mul($0[0], $0[1]) }
        check([randn(3, 4), awayFromZero(3, 4)]) { try Op.div($0[0], $0[1]) }
        check([positive(3), randn(3)]) { try Op.pow($0[0], $0[1]) }
        check([randn(5), randn(5)]) { try Op.maximum($0[0], $0[1]) }
        check([randn(5), randn(5)]) { try Op.minimum($0[0], $0[1]) }
        check([randn(4)]) { Op.scale($0[0], -2.5) }
    }

    func testUnaryFunctions() {
        check([randn(6)]) { Op.neg($0[0]) }
        check([randn(6)]) { Op.exp($0[0]) }
        check([positive(6)]) { Op.log($0[0]) }
        check([positive(6)]) { Op.sqrt($0[0]) }
        check([awayFromZero(6)]) { Op.abs($0[0]) }
        check([randn(6)]) { Op.tanh($0[0]) }
        check([randn(6)]) { Op.sigmoid($0[0]) }
        check([awayFromZero(6)]) { Op.relu($0[0]) }
        check([randn(6)]) { Op.softplus($0[0]) }
        check([randn(6)]) { Op.square($0[0]) }
        check([Tensor(vector: [-2, -0.5, 0.3, 0.9, 2])]) { Op.clip($0[0], -1, 1) }
    }

    func testReductions() {
        check([randn(3, 4)]) { try Op.sum($0[0], axis: nil) }
        check([randn(3, 4)]) { try Op.sum($0[0], axis: 0) }
        check([randn(2, 3, 4)]) { try Op.sum($0[0], axis: 1, keepdims: true) }
        check([randn(3, 4)]) { try Op.mean($0[0], axis: -1) }
        // Distinct values, far apart compared with the finite-difference step.
        let spread = Tensor(shape: [3, 4], data: rng.permutation(12).map { Float($0) * 0.3 - 1.5 })
        check([spread]) { try Op.extreme($0[0], max: true, axis: 1) }
        check([spread]) { try Op.extreme($0[0], max: false, axis: nil) }
        check([randn(3, 4)]) { try Op.softmax($0[0], axis: -1) }
        check([randn(3, 4)]) { try Op.softmax($0[0], axis: 0) }
        check([randn(2, 3, 4)]) { try Op.logsumexp($0[0], axis: 1) }
    }

    func testLinearAlgebraAndShapes() {
        check([randn(3, 4), randn(4, 2)]) { try Op.matmul($0[0], $0[1]) }
        check([randn(4), randn(4, 2)]) { try Op.matmul($0[0], $0[1]) }
        check([randn(3, 4), randn(4)]) { try Op.matmul($0[0], $0[1]) }
        check([randn(4), randn(4)]) { try Op.matmul($0[0], $0[1]) }
        check([randn(2, 3, 4), randn(4, 5)]) { try Op.matmul($0[0], $0[1]) }
        check([randn(3, 4), randn(2, 4, 5)]) { try Op.matmul($0[0], $0[1]) }
        check([randn(2, 3, 4), randn(2, 4, 2)]) { try Op.matmul($0[0], $0[1]) }
        check([randn(2, 3, 4)]) { try Op.permute($0[0], [2, 0, 1]) }
        check([randn(2, 3, 4)]) { try Op.reshape($0[0], [4, -1]) }
        check([randn(2, 3), randn(2, 2)]) { try Op.concat([$0[0], $0[1]], axis: 1) }
        check([randn(2, 3), randn(2, 3)]) { try Op.stack([$0[0], $0[1]], axis: 1) }
        check([randn(5, 2)]) { try Op.split($0[0], sizes: [2, 3], axis: 0)[1] }
        check([randn(3), randn(4)]) { try Op.outer($0[0], $0[1]) }
    }

    func testIndexingGatherAndSetIndex() {
        check([randn(3, 4)]) { try Op.index($0[0], [.at(1)]) }
        check([randn(2, 3, 2)]) { try Op.index($0[0], [.at(-1)]) }
        XCTAssertEqual(try Op.index(Variable(Tensor(shape: [3, 2], data: [0, 1, 2, 3, 4, 5])), [.at(-2)]).value.data, [2, 3])
        XCTAssertThrowsError(try Op.index(Variable(randn(3, 4)), [.at(3)]))
        check([randn(3, 4)]) { try Op.index($0[0], [.all, .range(nil, nil, 2)]) }
        check([randn(3, 4)]) { try Op.index($0[0], [.range(-2, nil, nil), .at(-1)]) }
        // One contiguous range on one axis takes the run-copying path.
        check([randn(2, 5, 3)]) { try Op.index($0[0], [.all, .range(1, -1, nil)]) }
        check([randn(4, 3)]) { try Op.index($0[0], [.range(-3, 100, 1)]) }
        XCTAssertEqual(try Op.index(Variable(Tensor(vector: [1, 2, 3])), [.range(5, 9, nil)]).shape, [0])
        check([randn(4, 3)]) { try Op.gather($0[0], Tensor(shape: [2, 2], data: [3, 0, 1, 1]), axis: 0) }
        check([randn(2, 5)]) { try Op.gather($0[0], Tensor(vector: [4, 4, 0]), axis: 1) }
        check([randn(3, 4), randn(4)]) { try Op.setIndex($0[0], [.at(1)], $0[1]) }
        check([randn(3, 4), randn(1)]) { try Op.setIndex($0[0], [.all, .range(0, 2, 1)], $0[1]) }
    }

    func testLosses() {
        let target = try! Tensor.uniform([3, 4], rng)
        check([randn(3, 4)]) { try Op.mse($0[0], Variable(target)) }
        check([randn(3, 4)]) { try Op.bceWithLogits($0[0], Variable(target)) }
        check([randn(3, 4), target]) { try Op.bceWithLogits($0[0], $0[1], sum: true) }
        check([try! Tensor.uniform([3, 4], rng, low: 0.1, high: 0.9)]) { try Op.bceWithProbabilities($0[0], Variable(target)) }
        check([randn(3, 4)]) { try Op.crossEntropy($0[0], Variable(Tensor(vector: [0, 3, 1]))) }
        check([randn(3, 4), try! Tensor.randn([3, 4], rng).softmax(axis: -1)]) { try Op.crossEntropy($0[0], $0[1]) }
    }

    /// The check must be able to fail: a rule that is off by a factor is caught.
    func testLinearEqualsMatmulPlusBias() throws {
        for x in [randn(4), randn(3, 4), randn(2, 3, 4)] {
            check([x, randn(4, 5), randn(5)]) { v in try Op.linear(v[0], v[1], v[2]) }
            check([x, randn(4, 5)]) { v in try Op.linear(v[0], v[1], nil) }
            let (w, b) = (randn(4, 5), randn(5))
            let fused = try Op.linear(Variable(x), Variable(w), Variable(b)).value
            let composed = try Op.add(try Op.matmul(Variable(x), Variable(w)), Variable(b)).value
            XCTAssertEqual(fused.shape, composed.shape)
            for (p, q) in zip(fused.data, composed.data) { XCTAssertEqual(p, q, accuracy: 1e-5) }
        }
        XCTAssertThrowsError(try Op.linear(Variable(randn(3)), Variable(randn(4, 5)), nil))
        XCTAssertThrowsError(try Op.linear(Variable(randn(4)), Variable(randn(4, 5)), Variable(randn(4))))
    }

    func testGradcheckCatchesAWrongRule() throws {
        let results = try Gradcheck.check(inputs: [randn(4)]) { v in
            let x = v[0].value
            return Graph.record(x.map { $0 * $0 }, v[0], op: "square") { back, input in try back.add(try back.gradient * x, to: input) }  // should be 2x
        }
        XCTAssertFalse(results[0].ok)
    }

    /// The LSTM cell's gates (C, compiled for the baseline, AVX and AVX-512)
    /// give the same bits on each, values and gradients, for hidden sizes in
    /// and out of the eight lanes, with large pre-activations (tanh's and
    /// exp's far branches) among them.
    func testLSTMGatesGiveTheSameBitsAtEveryWidth() throws {
        for (B, I, H) in [(1, 3, 5), (3, 7, 16), (2, 4, 21)] {
            let inputs = [randn(B, I).map { 9 * $0 }, randn(B, H), randn(B, H), randn(I + H, 4 * H), randn(4 * H)]
            func run() throws -> [[UInt32]] {
                let v = inputs.map(Variable.parameter)
                let first = try Op.lstmCell(x: v[0], h: v[1], c: v[2], weights: v[3], bias: v[4])
                let second = try Op.lstmCell(x: v[0], h: first.h, c: first.c, weights: v[3], bias: v[4])
                let loss = try Op.sum(try Op.mul(try Op.add(second.h, second.c), second.c), axis: nil)
                return ([second.h.value.data, second.c.value.data] + (try Graph.gradients(of: loss, wrt: v)).map(\.data)).map { $0.map(\.bitPattern) }
            }
            let runs = try OwnKernels.atEveryLevel(run)
            for (level, result) in runs.dropFirst() { XCTAssertEqual(result, runs[0].result, "B \(B), I \(I), H \(H), level \(level)") }
        }
    }

    /// A batch of four or more takes dz W^T from W's transpose, copied once per
    /// backward walk and shared by the steps: the gradients still match finite
    /// differences, and a walk after W has changed in place copies it again.
    func testSharedTransposeInAWalk() throws {
        // The shared transpose is the own kernels' path: take it even where a BLAS is loaded.
        MatrixBackend.useOwnKernels = true
        defer { MatrixBackend.useOwnKernels = false }
        XCTAssertTrue(Tensor.ownKernelsTransposeB)
        let (x, h, c) = (randn(4, 3), randn(4, 5), randn(4, 5))
        let (w, b) = (randn(8, 20), randn(20))
        let results = try Gradcheck.check(inputs: [x, h, c, w, b]) { v in
            let first = try Op.lstmCell(x: v[0], h: v[1], c: v[2], weights: v[3], bias: v[4])
            let second = try Op.lstmCell(x: v[0], h: first.h, c: first.c, weights: v[3], bias: v[4])
            return try Op.add(second.h, second.c)
        }
        XCTAssertTrue(results.allSatisfy(\.ok), "\(results)")
        let weights = Variable.parameter(w)
        func gradientOfH() throws -> Tensor {
            let out = try Op.lstmCell(x: Variable(x), h: Variable.parameter(h), c: Variable(c), weights: weights, bias: Variable(b))
            let twice = try Op.lstmCell(x: Variable(x), h: out.h, c: out.c, weights: weights, bias: Variable(b))
            return try Graph.gradients(of: try Op.sum(twice.h, axis: nil), wrt: [weights])[0]
        }
        _ = try gradientOfH()
        weights.value = weights.value.map { $0 * 0.5 }
        let after = try gradientOfH()
        let fresh = Variable.parameter(weights.value)
        let out = try Op.lstmCell(x: Variable(x), h: Variable.parameter(h), c: Variable(c), weights: fresh, bias: Variable(b))
        let twice = try Op.lstmCell(x: Variable(x), h: out.h, c: out.c, weights: fresh, bias: Variable(b))
        XCTAssertEqual(after.data, try Graph.gradients(of: try Op.sum(twice.h, axis: nil), wrt: [fresh])[0].data)
        // One walk through steps recorded before and after W changed in place
        // (an update in the middle of a sequence): each step's own W, never
        // the first one's transpose; finite differences are the reference.
        let (original, halved) = (weights.value, weights.value.map { $0 * 0.5 })
        let mixed = try Gradcheck.check(inputs: [h]) { v in
            weights.value = original
            let first = try Op.lstmCell(x: Variable(x), h: v[0], c: Variable(c), weights: weights, bias: Variable(b))
            weights.value = halved
            return try Op.lstmCell(x: Variable(x), h: first.h, c: first.c, weights: weights, bias: Variable(b)).h
        }
        XCTAssertTrue(mixed.allSatisfy(\.ok), "\(mixed)")
    }

    /// The profile of a graph counts each node once (a value used twice is
    /// one node) and sums the ops' own estimates.
    func testGraphProfile() throws {
        let w = Variable.parameter(randn(4, 3))
        let x = Variable(randn(2, 4))
        let h = try Op.linear(x, w, nil)
        let y = try Op.mul(h, h)
        let profile = GraphProfile(of: try Op.sum(y, axis: nil))
        XCTAssertEqual(profile.nodes, 4)  // param, linear, mul, sum
        XCTAssertEqual(profile.rows.map(\.op), ["linear", "mul", "sum", "param"])  // ties by name
        XCTAssertEqual(profile.flops, (2 * 2 * 4 * 3 + 2 * 3) + 6 + 6)
        XCTAssertEqual(GraphProfile(of: Variable(randn(3))).nodes, 0)
    }

    /// An op with two outputs: each output's gradient reaches the inputs, an
    /// unused output counts as zero, and outputs feed later ops (the next
    /// step's c) like any value.
    func testOpWithTwoOutputs() throws {
        let (x, h, c) = (randn(2, 3), randn(2, 4), randn(2, 4))
        let (w, b) = (randn(7, 16), randn(16))
        // h' alone, c' alone, and both, each against finite differences.
        for pick in [[0], [1], [0, 1]] {
            let results = try Gradcheck.check(inputs: [x, h, c, w, b]) { v in
                let out = try Op.lstmCell(x: v[0], h: v[1], c: v[2], weights: v[3], bias: v[4])
                let parts = pick.map { [out.h, out.c][$0] }
                return parts.count == 1 ? parts[0] : try Op.concat(parts, axis: 1)
            }
            XCTAssertTrue(results.allSatisfy(\.ok), "outputs \(pick): \(results)")
        }
        // Two steps: the second reads the first's second output.
        let results = try Gradcheck.check(inputs: [x, h, c, w, b]) { v in
            let first = try Op.lstmCell(x: v[0], h: v[1], c: v[2], weights: v[3], bias: v[4])
            let second = try Op.lstmCell(x: v[0], h: first.h, c: first.c, weights: v[3], bias: v[4])
            return try Op.add(second.h, second.c)
        }
        XCTAssertTrue(results.allSatisfy(\.ok), "\(results)")
        // Second order through both outputs matches the equation's.
        let p = [x, h, c, w, b].map(Variable.parameter)
        let out = try Op.lstmCell(x: p[0], h: p[1], c: p[2], weights: p[3], bias: p[4])
        let loss = try Op.sum(try Op.add(try Op.mul(out.h, out.h), out.c), axis: nil)
        let recorded = try Graph.recordedGradients(of: loss, wrt: p)
        let plain = try Graph.gradients(of: loss, wrt: p)
        for (r, q) in zip(recorded, plain) {
            for (u, v) in zip(r.value.data, q.data) { XCTAssertEqual(u, v, accuracy: 1e-4) }
        }
    }

    func testReusedInputAccumulates() throws {
        let x = Variable.parameter(Tensor(vector: [3]))
        let y = try Op.mul(x, x)
        XCTAssertEqual(try Graph.gradients(of: y, wrt: [x])[0].data, [6])
    }

    func testGradientInsideARecordedComputationIsAConstant() throws {
        let v = Variable.parameter(Tensor(vector: [2]))
        let inner = try Graph.gradients(of: try Op.mul(try Op.mul(v, v), v), wrt: [v])[0]  // 3 v^2 = 12
        XCTAssertEqual(inner.data, [12])
        let outer = try Op.mul(Variable(inner), v)
        XCTAssertEqual(try Graph.gradients(of: outer, wrt: [v])[0].data, [12])
    }

    /// Meta Networks' pattern: mid-way through a recorded forward pass, the
    /// gradient of a loss that shares the pass's nodes is taken and fed on as
    /// data. The outer gradients must be those of the same computation with
    /// that gradient computed separately and inserted as a constant.
    func testGradientTakenMidForwardAndFedOnward() throws {
        let x = randn(3, 4), t = randn(3, 5), w0 = randn(4, 5), z0 = randn(4, 5)
        func outer(_ W: Variable, _ Z: Variable, inner g: (Variable) throws -> Tensor) throws -> Variable {
            let h = Op.tanh(try Op.matmul(Variable(x), W))
            let fast = try Op.mul(Variable(try g(h)), Z)                        // the gradient, as data
            let y = Op.tanh(try Op.matmul(Variable(x), try Op.add(W, fast)))
            return try Op.add(try Op.sum(y, axis: nil), try Op.sum(try Op.mul(h, h), axis: nil))     // h is used again after the inner gradient
        }
        let W1 = Variable.parameter(w0), Z1 = Variable.parameter(z0)
        let midway = try outer(W1, Z1) { h in try Graph.gradients(of: try Op.sum(try Op.mul(h, Variable(t)), axis: nil), wrt: [W1])[0] }
        let g1 = try Graph.gradients(of: midway, wrt: [W1, Z1])

        let Wp = Variable.parameter(w0)
        let innerValue = try Graph.gradients(of: try Op.sum(try Op.mul(Op.tanh(try Op.matmul(Variable(x), Wp)), Variable(t)), axis: nil), wrt: [Wp])[0]
        let W2 = Variable.parameter(w0), Z2 = Variable.parameter(z0)
        let g2 = try Graph.gradients(of: try outer(W2, Z2) { _ in innerValue }, wrt: [W2, Z2])
        for (a, b) in zip(g1, g2) {
            XCTAssertEqual(a.shape, b.shape)
            for (u, v) in zip(a.data, b.data) { XCTAssertEqual(u, v, accuracy: 1e-5) }
        }
        // And the generator's weights Z against finite differences, the gradient held as data.
        check([z0]) { v in try outer(Variable(w0), v[0]) { _ in innerValue } }
    }

    func testNoRecordingLeavesNoNode() throws {
        let p = Variable.parameter(Tensor(vector: [1]))
        let y = try Graph.withoutRecording { try Op.add(p, p) }
        XCTAssertFalse(y.requiresGrad)
    }

    func testLongChainsAreReleasedWithoutOverflowingTheStack() throws {
        let p = Variable.parameter(Tensor(vector: [1]))
        var h = p
        for _ in 0..<300_000 { h = Op.scale(h, 1) }
        XCTAssertEqual(try Graph.gradients(of: h, wrt: [p])[0].data, [1])
        h = p  // drops the chain; must not recurse 300,000 deep
    }

    func testNonScalarLossIsAnError() {
        let p = Variable.parameter(Tensor(vector: [1, 2]))
        XCTAssertThrowsError(try Graph.gradients(of: p, wrt: [p]))
    }
}

final class OptimizerTests: XCTestCase {
    func param(_ v: Float) -> Variable { Variable.parameter(Tensor(vector: [v])) }

    func testSGDMomentum() throws {
        let p = param(1)
        let o = Optimizer(parameters: [p], rule: .sgd(momentum: 0.9), learningRate: 0.1)
        try o.apply([Tensor(vector: [2])])
        XCTAssertEqual(p.value.data[0], 0.8, accuracy: 1e-6)
        try o.apply([Tensor(vector: [2])])  // buffer 0.9 * 2 + 2 = 3.8
        XCTAssertEqual(p.value.data[0], 0.8 - 0.38, accuracy: 1e-6)
    }

    func testAdamFirstStepIsLearningRateSized() throws {
        let p = param(1)
        try Optimizer(parameters: [p], rule: .adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8), learningRate: 0.01).apply([Tensor(vector: [5])])
        XCTAssertEqual(p.value.data[0], 0.99, accuracy: 1e-6)
    }

    func testRMSPropPyTorchForm() throws {
        let p = param(1)
        try Optimizer(parameters: [p], rule: .rmsprop(decay: 0.99, epsilon: 1e-8, momentum: 0, centered: false), learningRate: 0.01)
            .apply([Tensor(vector: [2])])
        // v = 0.01 * 4 = 0.04; step = 0.01 * 2 / 0.2 = 0.1
        XCTAssertEqual(p.value.data[0], 0.9, accuracy: 1e-5)
    }

    func testRMSPropGravesForm() throws {
        let p = param(1)
        let o = Optimizer(parameters: [p], rule: .rmspropGraves(decay: 0.95, epsilon: 1e-4, momentum: 0.9), learningRate: 1e-4)
        try o.apply([Tensor(vector: [2])])
        // n = 0.05 * 4 = 0.2, gbar = 0.1, delta = -1e-4 * 2 / sqrt(0.2 - 0.01 + 1e-4)
        let delta1 = -1e-4 * 2 / (0.19 + 1e-4).squareRoot()
        XCTAssertEqual(Double(p.value.data[0]), 1 + delta1, accuracy: 1e-6)
        try o.apply([Tensor(vector: [2])])
        // n = 0.95 * 0.2 + 0.2 = 0.39, gbar = 0.95 * 0.1 + 0.1 = 0.195
        let delta2 = 0.9 * delta1 - 1e-4 * 2 / (0.39 - 0.195 * 0.195 + 1e-4).squareRoot()
        XCTAssertEqual(Double(p.value.data[0]), 1 + delta1 + delta2, accuracy: 1e-6)
    }

    /// Every rule's update (C, compiled for the baseline, AVX and AVX-512)
    /// gives the same bits on each, over several steps of a parameter whose
    /// size is not a multiple of the eight lanes, clipped by value and by norm.
    func testOptimizerUpdatesGiveTheSameBitsAtEveryWidth() throws {
        let rules: [Optimizer.Rule] = [.sgd(momentum: 0.9), .adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-8),
                                       .rmsprop(decay: 0.9, epsilon: 1e-6, momentum: 0.5, centered: true),
                                       .rmsprop(decay: 0.9, epsilon: 1e-6, momentum: 0, centered: false),
                                       .rmspropGraves(decay: 0.95, epsilon: 1e-4, momentum: 0.9)]
        let rng = RandomGenerator(seed: 5)
        let start = try Tensor.randn([37], rng)
        let gradients = try (0..<4).map { _ in try Tensor.randn([37], rng).map { 3 * $0 } }
        for rule in rules {
            func run() throws -> [UInt32] {
                let p = Variable.parameter(start)
                let o = Optimizer(parameters: [p], rule: rule, learningRate: 0.01, clipValue: 2, clipNorm: 5)
                var norms: [Float] = []
                for g in gradients { norms.append(try o.apply([g])) }
                return (p.value.data + norms).map(\.bitPattern)
            }
            let runs = try OwnKernels.atEveryLevel(run)
            for (level, result) in runs.dropFirst() { XCTAssertEqual(result, runs[0].result, "\(rule), level \(level)") }
        }
    }

    /// Plain SGD with rate 1 moves each parameter by minus its clipped gradient.
    func testClipping() throws {
        let (p, q) = (Variable.parameter(Tensor(vector: [0, 0])), Variable.parameter(Tensor(vector: [0])))
        let byValue = Optimizer(parameters: [p, q], rule: .sgd(momentum: 0), learningRate: 1, clipValue: 10)
        XCTAssertEqual(try byValue.apply([Tensor(vector: [30, -4]), Tensor(vector: [3])]), Float(125).squareRoot(), accuracy: 1e-5)  // |[10, -4, 3]|
        XCTAssertEqual(p.value.data, [-10, 4])
        XCTAssertEqual(q.value.data, [-3])
        let r = Variable.parameter(Tensor(vector: [0, 0]))
        let byNorm = Optimizer(parameters: [r], rule: .sgd(momentum: 0), learningRate: 1, clipNorm: 1)
        XCTAssertEqual(try byNorm.apply([Tensor(vector: [3, 4])]), 5)
        XCTAssertEqual(r.value.data[0], -0.6, accuracy: 1e-6)
        XCTAssertEqual(r.value.data[1], -0.8, accuracy: 1e-6)
        // Both: values clipped first, then the norm of what is left.
        let s = Variable.parameter(Tensor(vector: [0, 0]))
        let both = Optimizer(parameters: [s], rule: .sgd(momentum: 0), learningRate: 1, clipValue: 3, clipNorm: 1)
        XCTAssertEqual(try both.apply([Tensor(vector: [4, -30])]), Float(18).squareRoot(), accuracy: 1e-5)
        XCTAssertEqual(s.value.data[0], -Float(0.5).squareRoot(), accuracy: 1e-6)
        XCTAssertEqual(s.value.data[1], Float(0.5).squareRoot(), accuracy: 1e-6)
    }

    /// A gradient with NaN or infinity is refused, and nothing changes.
    func testNonFiniteGradientChangesNothing() throws {
        let p = param(1), q = param(2)
        let o = Optimizer(parameters: [p, q], names: ["a", "b"], rule: .sgd(momentum: 0), learningRate: 0.1)
        XCTAssertThrowsError(try o.apply([Tensor(vector: [1]), Tensor(vector: [.nan])])) { error in
            XCTAssertTrue("\(error)".contains("the gradient of b"), "\(error)")
        }
        XCTAssertEqual(p.value.data, [1])
        XCTAssertEqual(q.value.data, [2])
        XCTAssertEqual(o.steps, 0)
        XCTAssertFalse(VectorMath.allFinite([Float](repeating: 1, count: 17) + [.infinity]))
        XCTAssertTrue(VectorMath.allFinite([Float](repeating: 1, count: 17)))
    }

    /// A parameter whose size is not a multiple of eight takes the same update on its tail.
    func testUpdatesCoverEveryElement() throws {
        let values = (0..<19).map { Float($0) }
        let p = Variable.parameter(Tensor(vector: values))
        try Optimizer(parameters: [p], rule: .rmspropGraves(decay: 0.95, epsilon: 1e-4, momentum: 0.9), learningRate: 1e-4)
            .apply([Tensor(vector: [Float](repeating: 2, count: 19))])
        let delta = Float(-1e-4 * 2 / (0.19 + 1e-4).squareRoot())
        for i in 0..<19 { XCTAssertEqual(p.value.data[i], values[i] + delta, accuracy: 1e-6) }
    }

    func testStepDescends() throws {
        let p = param(3)
        let o = Optimizer(parameters: [p], rule: .sgd(momentum: 0), learningRate: 0.1)
        for _ in 0..<50 { try o.step(loss: try Op.mul(p, p)) }
        XCTAssertLessThan(abs(p.value.data[0]), 0.01)
    }
}
