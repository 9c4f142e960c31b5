import Tensor

/// One recorded operation: its inputs' nodes (nil where an input needs no
/// gradient), the shapes of its outputs (most ops have one; `lstm_cell` has
/// two) and its vector-Jacobian product, which is given the outputs'
/// gradients and passes the inputs' gradients on through a `Backward`.
public final class Node {
    /// The same product written with ops, so that it records itself when
    /// asked (`grad(..., create_graph: true)`): the gradient of a gradient.
    /// It is given the output's gradient and the inputs (`InputRef`) and returns
    /// the inputs' gradients in order; it captures the input values, never
    /// Variables (so that releasing a graph stays iterative). Nil for an op
    /// that cannot be differentiated twice.
    public typealias GraphVJP = (Variable, [InputRef]) throws -> [Variable?]
    /// The same for an op with several outputs: one gradient per output
    /// (zeros where an output is not used).
    public typealias MultipleGraphVJP = ([Variable], [InputRef]) throws -> [Variable?]

    /// What recorded it ("matmul", "lstm_cell"), and an estimate of its
    /// forward floating-point operations: for `graph(loss)`, what a step does.
    let op: StaticString
    let flops: Int

    /// Creation order; a node's inputs always have smaller ids, so sorting by
    /// id gives a topological order without a recursive walk.
    let id: Int
    /// The `nograd` scope the node was recorded in (0: none); see `Graph.detached`.
    let scope: Int
    fileprivate(set) var inputs: [Node?]
    /// Which output of each input node this node read; empty when every
    /// input is an output 0 (nearly always), so it costs nothing then.
    let inputOutputs: [Int]
    /// The shape of output 0, and of the others for an op with several.
    let shape: [Int]
    let otherShapes: [[Int]]
    let vjp: VJP
    let graphVJP: GraphVJP?
    let multipleGraphVJP: MultipleGraphVJP?
    /// What recorded the node and where ("'sqrt' at model.mn:3:14"), kept
    /// only while non-finite values are being hunted (`Graph.debugNonFinite`).
    var origin: String?
    /// Scratch space used only during one backward walk: the gradient of
    /// output 0, then of the others (an op with several outputs only).
    var grad: Tensor?
    var otherGrads: [Tensor?] = []
    var visit = 0
    /// Products a^T b still to be added to `grad` (see `Backward.addProduct`).
    var pendingProducts: [(a: Tensor, b: Tensor)] = []

    init(op: StaticString, flops: Int, inputs: [Node?], inputOutputs: [Int] = [], shape: [Int], otherShapes: [[Int]] = [], vjp: VJP,
         graphVJP: GraphVJP? = nil, multipleGraphVJP: MultipleGraphVJP? = nil) {
        self.op = op
        self.flops = flops
        GraphProfile.recordedFlops &+= flops
        Graph.nodeCount += 1
        self.id = Graph.nodeCount
        self.scope = Graph.currentScope
        self.inputs = inputs
        self.inputOutputs = inputOutputs
        if Graph.debugNonFinite { origin = Graph.origin }
        self.shape = shape
        self.otherShapes = otherShapes
        self.vjp = vjp
        self.graphVJP = graphVJP
        self.multipleGraphVJP = multipleGraphVJP
    }

    /// The shape of output `k`.
    func shape(ofOutput k: Int) -> [Int] { k == 0 ? shape : otherShapes[k - 1] }

    /// Which output of input `index` this node read.
    func outputRead(fromInput index: Int) -> Int { inputOutputs.isEmpty ? 0 : inputOutputs[index] }

    /// The gradient gathered so far for output `k`.
    func gradient(ofOutput k: Int) -> Tensor? {
        if k == 0 { return grad }
        return otherGrads.isEmpty ? nil : otherGrads[k - 1]
    }

    /// Adds `g` (already checked to have the output's size) into output k's gradient.
    func accumulate(_ g: Tensor, output k: Int) {
        if k == 0 {
            if grad == nil { grad = Tensor(shape: shape, data: g.data) } else { grad!.add(g) }
            return
        }
        if otherGrads.isEmpty { otherGrads = Array(repeating: nil, count: otherShapes.count) }
        if otherGrads[k - 1] == nil { otherGrads[k - 1] = Tensor(shape: otherShapes[k - 1], data: g.data) } else { otherGrads[k - 1]!.add(g) }
    }

    /// True when some output has a gradient to pass back.
    var hasGradient: Bool { grad != nil || otherGrads.contains { $0 != nil } }

    /// Forgets the walk's scratch state.
    func clearGradients() {
        grad = nil
        if !otherGrads.isEmpty { otherGrads = [] }
        if !pendingProducts.isEmpty { pendingProducts = [] }
    }

    /// Releases long chains iteratively: an unrolled loop can chain a million
    /// nodes, and letting Swift free them recursively would overflow the stack.
    deinit {
        if inputs.isEmpty { return }
        // The inputs array itself becomes the work list (no copy: it is moved
        // out), so releasing a graph allocates only when the list must grow.
        var pending = inputs
        inputs = []
        while !pending.isEmpty {
            // Bound straight from removeLast, so the loop holds the only extra reference.
            guard var node = pending.removeLast() else { continue }
            // Only this loop holds it: take its inputs before it goes.
            if isKnownUniquelyReferenced(&node) {
                pending.append(contentsOf: node.inputs)
                node.inputs = []
            }
        }
    }
}

/// An input of a recorded op, as its VJP names it: the VJP is handed one per
/// input and passes that input's gradient on with `Backward.add(_:to:)`.
public struct Input {
    let index: Int
}

/// A node's vector-Jacobian product. The cases differ only in how many
/// inputs it names, so that a VJP's parameters read `{ back, x, w, b in }`
/// rather than positions; an op of more inputs takes them as a list.
public enum VJP {
    case one((Backward, Input) throws -> Void)
    case two((Backward, Input, Input) throws -> Void)
    case three((Backward, Input, Input, Input) throws -> Void)
    case list((Backward, [Input]) throws -> Void)
}

/// An input of a node as a second-order product sees it: the node (nil for
/// a constant) and which of its outputs was read. `Graph.input` makes it a
/// Variable again with the value the op captured.
public struct InputRef {
    public let node: Node?
    public let output: Int
}
