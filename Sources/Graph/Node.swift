import Tensor

/// One recorded operation: its inputs' nodes (nil where an input needs no
/// gradient) and its vector-Jacobian product, which maps the gradient of the
/// output to the gradients of the inputs, in order.
public final class Node {
    public typealias VJP = (Tensor) throws -> [Tensor?]
    /// The same product written with ops, so that it records itself when
    /// asked (`grad(..., create_graph: true)`): the gradient of a gradient.
    /// It is given the output's gradient and the inputs' nodes; it captures
    /// the input values, never Variables (so that releasing a graph stays
    /// iterative). Nil for an op that cannot be differentiated twice.
    public typealias GraphVJP = (Variable, [Node?]) throws -> [Variable?]

    /// Creation order; a node's inputs always have smaller ids, so sorting by
    /// id gives a topological order without a recursive walk.
    let id: Int
    /// The `nograd` scope the node was recorded in (0: none); see `Graph.detached`.
    let scope: Int
    fileprivate(set) var inputs: [Node?]
    let shape: [Int]
    let vjp: VJP
    let graphVJP: GraphVJP?
    /// What recorded the node and where ("'sqrt' at model.mn:3:14"), kept
    /// only while non-finite values are being hunted (`Graph.debugNonFinite`).
    var origin: String?
    /// Scratch space used only during one backward walk.
    var grad: Tensor?
    var visit = 0
    /// Products a^T b still to be added to `grad` (see Graph.accumulateProduct).
    var pendingProducts: [(a: Tensor, b: Tensor)] = []

    init(inputs: [Node?], shape: [Int], vjp: @escaping VJP, graphVJP: GraphVJP? = nil) {
        self.graphVJP = graphVJP
        Graph.nodeCount += 1
        self.id = Graph.nodeCount
        self.scope = Graph.currentScope
        self.inputs = inputs
        if Graph.debugNonFinite { origin = Graph.origin }
        self.shape = shape
        self.vjp = vjp
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
