import Tensor

/// What a node's VJP is given during a backward walk: the gradients of the
/// node's outputs, and the one way to pass gradients on to its inputs
/// (whole, as a product still to be summed, or added in place).
public struct Backward {
    let node: Node
    let epoch: Int
    /// The gradient of the op's output (output 0's, zeros if unused, for an op with several).
    public let gradient: Tensor

    init(node: Node, epoch: Int) {
        self.node = node
        self.epoch = epoch
        self.gradient = node.grad ?? Tensor(shape: node.shape, data: [Float](repeating: 0, count: node.shape.reduce(1, *)))
    }

    /// The gradient of output `k`, nil when nothing after the op used that output.
    public func gradient(ofOutput k: Int) -> Tensor? { node.gradient(ofOutput: k) }

    /// The node of `input` when this walk wants its gradient.
    @inline(__always)
    private func target(_ input: Input) -> Node? {
        guard let target = node.inputs[input.index], target.visit == epoch else { return nil }
        return target
    }

    /// The transpose of a matrix an op captured (a weight), copied once per
    /// backward walk and shared by every node that captured the same value,
    /// rather than at each step of a sequence. Keyed by the value's storage,
    /// not by the parameter: a weight changed between steps (an update in
    /// the middle of a sequence) is another value, with its own transpose.
    public func transpose(of matrix: Tensor) throws -> Tensor {
        let address = matrix.data.withUnsafeBufferPointer { $0.baseAddress.map { Int(bitPattern: $0) } }
        guard let address, matrix.rank == 2 else { return try matrix.permuted([1, 0]) }
        let key = Graph.WalkKey(storage: address, shape: matrix.shape)
        if let value = Graph.walkCache[key] { return value }
        let value = try matrix.permuted([1, 0])
        Graph.walkCache[key] = value
        return value
    }

    /// Whether `input` needs a gradient in this walk (a VJP may skip computing one it does not).
    public func needs(_ input: Input) -> Bool { target(input) != nil }

    /// Adds `g` to the gradient of `input` (nothing when it needs none).
    public func add(_ g: Tensor?, to input: Input) throws {
        guard let g, let target = target(input) else { return }
        let output = node.outputRead(fromInput: input.index)
        let shape = target.shape(ofOutput: output)
        guard g.count == shape.reduce(1, *) else {
            throw TensorError("internal: gradient of shape \(Tensor.shapeText(g.shape)) for a value of shape \(Tensor.shapeText(shape))")
        }
        if Graph.debugNonFinite && !VectorMath.allFinite(g.data) {
            throw Graph.GradientError(message: "debug_nans: the backward of \(node.origin ?? "an op") made a NaN or infinite gradient for its input \(input.index + 1), from a finite gradient of its output")
        }
        target.accumulate(g, output: output)
    }

    /// Adds the gradient that `make` computes to `input`, computing it only
    /// when the input needs one in this walk.
    @inline(__always)
    public func add(to input: Input, _ make: () throws -> Tensor?) throws {
        guard needs(input) else { return }
        try add(try make(), to: input)
    }

    /// The gradient of `input` gains a^T b, for a [rows, m] and b [rows, n]
    /// (a dense layer's weights: inputs^T times output gradients). The
    /// products for one input are kept until every node that uses it has run,
    /// then added as one matrix product with all their rows stacked: a weight
    /// shared by the T steps of a sequence takes one [m, T] x [T, n] product
    /// instead of T thin ones.
    public func addProduct(_ a: Tensor, _ b: Tensor, to input: Input) throws {
        guard let target = target(input) else { return }
        let output = node.outputRead(fromInput: input.index)
        if output == 0 {
            target.pendingProducts.append((a, b))
            return
        }
        // Kept only for output 0 (a weight is a parameter's one output); any other takes its product now.
        try add(try Tensor.matmul(a, b, transposeA: true, transposeB: false), to: input)
    }

    /// Runs `body` on the gradient of `input` (zeros if it has none yet) for
    /// it to add its contribution in place, so that a large gradient (a
    /// memory's, which several ops feed at every step) is not built
    /// separately and then added. False, without running `body`, when the
    /// input needs no gradient.
    @discardableResult
    public func addInPlace(to input: Input, _ body: (UnsafeMutablePointer<Float>) -> Void) -> Bool {
        guard let target = target(input) else { return false }
        let output = node.outputRead(fromInput: input.index)
        let shape = target.shape(ofOutput: output)
        let count = shape.reduce(1, *)
        guard count > 0 else { return true }
        if output == 0 {
            if target.grad == nil { target.grad = Tensor(shape: shape, data: [Float](repeating: 0, count: count)) }
            target.grad!.data.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
            return true
        }
        var g = Tensor(shape: shape, data: [Float](repeating: 0, count: count))
        g.data.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
        target.accumulate(g, output: output)
        return true
    }
}
