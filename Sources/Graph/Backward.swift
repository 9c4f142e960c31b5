import Tensor

/// Graph-wide state: whether operations record, and the walk that computes gradients.
public enum Graph {
    /// False inside `nograd { }`: operations compute values only.
    public static var isRecording = true
    static var nodeCount = 0
    static var visitEpoch = 0

    /// `debug_nans(true)`: every op's output (checked by the language, which
    /// names the op and its line in `origin`) and every gradient in a backward
    /// walk is checked, and the first NaN or infinity is an error naming where
    /// it started. Off by default: it costs a pass over each value.
    nonisolated(unsafe) public static var debugNonFinite = false
    nonisolated(unsafe) public static var origin: String?

    /// The open `nograd` scopes, innermost last (0 is the top level).
    nonisolated(unsafe) static var openScopes = [0]
    nonisolated(unsafe) static var scopeCount = 0
    /// The innermost open scope (the last of `openScopes`), read by every new node.
    nonisolated(unsafe) static var currentScope = 0

    /// `nograd { }`: inside, operations record as usual, so that `grad` works
    /// there (an evaluation that reads a support set by its gradients); once
    /// the block has ended, what it recorded is a constant to every gradient
    /// taken outside it, as if each value had been detached on leaving.
    public static func detached<T>(_ body: () throws -> T) rethrows -> T {
        scopeCount += 1
        openScopes.append(scopeCount)
        currentScope = scopeCount
        defer { openScopes.removeLast(); currentScope = openScopes[openScopes.count - 1] }
        return try body()
    }

    /// Computes values only, recording nothing (finite differences in gradcheck).
    public static func withoutRecording<T>(_ body: () throws -> T) rethrows -> T {
        let saved = isRecording
        isRecording = false
        defer { isRecording = saved }
        return try body()
    }

    /// Records `value` as computed from `inputs` when any of them needs a gradient.
    @inline(__always)
    /// `graph` is an autoclosure so that an op that records nothing (no input
    /// needs a gradient) does not build its second-order closure at all.
    public static func record(_ value: Tensor, _ inputs: [Variable], _ vjp: @escaping Node.VJP,
                              graph graphVJP: @autoclosure () -> Node.GraphVJP? = nil) -> Variable {
        guard isRecording else { return Variable(value) }
        var any = false
        for v in inputs where v.node != nil { any = true; break }
        guard any else { return Variable(value) }
        return Variable(value, node: Node(inputs: inputs.map { $0.node }, shape: value.shape, vjp: vjp, graphVJP: graphVJP()))
    }

    /// A fused op's second-order product from its equation written with ops
    /// (`compose`, given the inputs as Variables): the recorded gradient of
    /// sum(compose(inputs) * g), walked only down to the inputs. The fused
    /// op keeps its fast first-order kernel; its derivatives of higher order
    /// come from the equation, which the tests show it equals.
    public static func recomposed(_ values: [Tensor], _ compose: @escaping ([Variable]) throws -> Variable) -> Node.GraphVJP {
        { g, nodes in
            let inputs = zip(values, nodes).map { Variable($0, node: $1) }
            let out = try compose(inputs)
            let loss = try Op.sum(try Op.mul(out, g), axis: nil)
            var boundary = Set(nodes.compactMap { $0.map(ObjectIdentifier.init) })
            if let gNode = g.node { boundary.insert(ObjectIdentifier(gNode)) }
            let grads = try recordedWalk(from: loss, wrt: inputs, boundary: boundary)
            return zip(inputs, grads).map { input, grad in input.node == nil ? nil : grad }
        }
    }

    /// An input of a node again as a Variable (its value, captured by the op, and its node).
    public static func input(_ value: Tensor, _ node: Node?) -> Variable { Variable(value, node: node) }

    /// `grad(..., create_graph: true)`: the gradients as recorded values, each
    /// op's product computed by its `graphVJP` with ops, so that they can be
    /// differentiated again (a Hessian-vector product, MAML's second-order
    /// term). An op without one is an error naming it, never a zero.
    public static func recordedGradients(of loss: Variable, wrt: [Variable], unused: Unused = .error) throws -> [Variable] {
        guard try walk(of: loss, wrt: wrt, unused: unused) != nil else { return wrt.map { Variable(Tensor.zeros(like: $0.value)) } }
        return try recordedWalk(from: loss, wrt: wrt, boundary: [])
    }

    /// The walk of `recordedGradients`, not going past the nodes in `boundary`
    /// (a fused op's second derivative by recomposition stops at its inputs).
    static func recordedWalk(from loss: Variable, wrt: [Variable], boundary: Set<ObjectIdentifier>) throws -> [Variable] {
        guard let root = loss.node else { return wrt.map { Variable(Tensor.zeros(like: $0.value)) } }
        let (order, _) = reachable(from: root, boundary: boundary)
        let inWalk = Set(order.map(ObjectIdentifier.init))
        var grads: [ObjectIdentifier: Variable] = [ObjectIdentifier(root): Variable(Tensor(shape: loss.shape, data: [1]))]
        for node in order {
            guard let g = grads[ObjectIdentifier(node)], !node.inputs.isEmpty, !boundary.contains(ObjectIdentifier(node)) else { continue }
            guard let graphVJP = node.graphVJP else {
                throw GradientError(message: "\(node.origin ?? "an op on the path (debug_nans(true) names it)") cannot be differentiated twice yet: create_graph: true works through elementwise arithmetic and functions, sums and means, reshapes, transposes, slices and rows, concatenation, plain matrix products, max and min, gather and indexing, linear, softmax, logsumexp, mse, bce from logits, cross_entropy and lstm_cell; not yet through the memory ops, bce from probabilities or a learned exponent")
            }
            let inputGrads = try graphVJP(g, node.inputs)
            for (input, ig) in zip(node.inputs, inputGrads) {
                // Membership by set, not by `visit`: a graphVJP may run a walk of its own (recomposed).
                guard let input, let ig, inWalk.contains(ObjectIdentifier(input)) else { continue }
                let key = ObjectIdentifier(input)
                grads[key] = try grads[key].map { try Op.add($0, ig) } ?? ig
            }
        }
        return wrt.map { v in v.node.flatMap { grads[ObjectIdentifier($0)] } ?? Variable(Tensor.zeros(like: v.value)) }
    }

    /// The node whose vector-Jacobian product is running, during a backward walk.
    nonisolated(unsafe) private static var running: Node?

    /// For a VJP: the gradient of input `index` gains a^T b, for a [rows, m]
    /// and b [rows, n] (a dense layer's weights: inputs^T times output
    /// gradients). The products for one input are kept until every node that
    /// uses it has run, then added as one matrix product with all their rows
    /// stacked: a weight shared by the T steps of a sequence takes one
    /// [m, T] x [T, n] product instead of T thin ones. The VJP returns nil for
    /// that input. False when the input needs no gradient.
    @discardableResult
    public static func accumulateProduct(input index: Int, _ a: Tensor, _ b: Tensor) -> Bool {
        guard let node = running, index < node.inputs.count, let input = node.inputs[index], input.visit == visitEpoch else { return false }
        input.pendingProducts.append((a, b))
        return true
    }

    /// For a VJP: runs `body` on the gradient of input `index` (zeros if it
    /// has none yet) for it to add its contribution in place, so that a large
    /// gradient (a memory's, which several ops feed at every step) is not
    /// built separately and then added. The VJP returns nil for that input.
    /// False, without running `body`, when the input needs no gradient.
    @discardableResult
    public static func addIntoGradient(input index: Int, _ body: (UnsafeMutablePointer<Float>) -> Void) -> Bool {
        guard let node = running, index < node.inputs.count, let input = node.inputs[index], input.visit == visitEpoch else { return false }
        let count = input.shape.reduce(1, *)
        guard count > 0 else { return true }
        if input.grad == nil { input.grad = Tensor(shape: input.shape, data: [Float](repeating: 0, count: count)) }
        input.grad!.data.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
        return true
    }

    /// Adds a node's pending products into its gradient.
    private static func flushProducts(_ node: Node) throws {
        let pending = node.pendingProducts
        node.pendingProducts = []
        guard pending[0].a.rank == 2, pending[0].b.rank == 2 else {
            throw TensorError("internal: a product of shapes \(Tensor.shapeText(pending[0].a.shape)) and \(Tensor.shapeText(pending[0].b.shape)) for a gradient")
        }
        let (m, n) = (pending[0].a.shape[1], pending[0].b.shape[1])
        var rows = 0
        for p in pending {
            guard p.a.rank == 2, p.b.rank == 2, p.a.shape[1] == m, p.b.shape[1] == n, p.a.shape[0] == p.b.shape[0] else {
                throw TensorError("internal: products of shapes \(Tensor.shapeText(p.a.shape)) and \(Tensor.shapeText(p.b.shape)) for a gradient of shape [\(m), \(n)]")
            }
            rows += p.a.shape[0]
        }
        guard node.shape.reduce(1, *) == m * n else {
            throw TensorError("internal: a product [\(m), \(n)] for a gradient of shape \(Tensor.shapeText(node.shape))")
        }
        func stacked(_ parts: [Tensor], columns: Int) -> Tensor {
            if parts.count == 1 { return parts[0] }
            var data = [Float](repeating: 0, count: rows * columns)
            data.withUnsafeMutableBufferPointer { out in
                var offset = 0
                for part in parts {
                    part.data.withUnsafeBufferPointer { (out.baseAddress! + offset).update(from: $0.baseAddress!, count: $0.count) }
                    offset += part.count
                }
            }
            return Tensor(shape: [rows, columns], data: data)
        }
        let a = stacked(pending.map(\.a), columns: m), b = stacked(pending.map(\.b), columns: n)
        if node.grad == nil { node.grad = Tensor(shape: node.shape, data: [Float](repeating: 0, count: m * n)) }
        try node.grad!.data.withUnsafeMutableBufferPointer { c in
            try Tensor.addMatmul(into: c.baseAddress!, a, b, transposeA: true, transposeB: false)
        }
    }

    /// The nodes reachable from `root` through nodes of open scopes (what a
    /// nograd block that has ended recorded is a constant), newest first, each
    /// marked with the walk's epoch.
    static func reachable(from root: Node, boundary: Set<ObjectIdentifier> = []) -> (order: [Node], epoch: Int) {
        let active = openScopes
        visitEpoch += 1
        let epoch = visitEpoch
        var order: [Node] = []
        var stack = [root]
        root.visit = epoch
        while let node = stack.popLast() {
            order.append(node)
            if !boundary.isEmpty && boundary.contains(ObjectIdentifier(node)) { continue }
            for case let input? in node.inputs where input.visit != epoch && isActive(input, active) {
                input.visit = epoch
                stack.append(input)
            }
        }
        // Every user of a node was created after it: by id, newest first, is a topological order.
        order.sort { $0.id > $1.id }
        return (order, epoch)
    }

    /// Why a gradient cannot be taken; the builtins add the place.
    public struct GradientError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// The nodes a gradient walk from `loss` visits (newest first), after the
    /// checks every gradient makes: a constant loss, a constant or unused
    /// `wrt`, each an error unless `unused` allows zeros (then nil: all zeros).
    static func walk(of loss: Variable, wrt: [Variable], unused: Unused) throws -> (root: Node, order: [Node], epoch: Int)? {
        let active = openScopes
        guard let root = loss.node, isActive(root, active) else {
            if unused == .zeros || wrt.isEmpty { return nil }
            if unused == .zerosIfAnyUsed { throw GradientError(message: "the loss is a constant: nothing recorded how it depends on the parameters (is it computed from them, outside nograd and detach?)") }
            throw GradientError(message: "the loss is a constant: nothing recorded how it depends on \(wrt.count == 1 ? "the tensor" : "any of the \(wrt.count) tensors") asked for (is it computed from parameters made with param, outside nograd and detach?)")
        }
        for (i, v) in wrt.enumerated() where v.node == nil && unused == .error {
            throw GradientError(message: "\(wrt.count == 1 ? "the tensor asked for" : "tensor \(i + 1) of the \(wrt.count) asked for") is a constant, not a parameter (make it with param) or a value computed from one, so the loss cannot depend on it")
        }
        let (order, epoch) = reachable(from: root)
        if unused == .zerosIfAnyUsed && !wrt.isEmpty && !wrt.contains(where: { $0.node?.visit == epoch }) {
            throw GradientError(message: "the loss does not depend on any of the \(wrt.count) parameters being trained")
        }
        if unused == .error {
            for (i, v) in wrt.enumerated() where v.node?.visit != epoch {
                throw GradientError(message: "the loss does not depend on \(wrt.count == 1 ? "the tensor asked for" : "tensor \(i + 1) of the \(wrt.count) asked for") (pass allow_unused: true for zeros)")
            }
        }
        return (root, order, epoch)
    }

    /// Nodes recorded in a nograd block that has ended are constants to a walk.
    @inline(__always)
    static func isActive(_ node: Node, _ active: [Int]) -> Bool { node.scope == 0 || active.contains(node.scope) }

    /// What to do with a `wrt` the loss does not depend on.
    public enum Unused {
        /// An error naming it (`grad`'s default).
        case error
        /// Zeros (`grad(..., allow_unused: true)`).
        case zeros
        /// Zeros, as long as the loss depends on at least one (an optimizer's
        /// parameters: a model may have parts a loss does not use).
        case zerosIfAnyUsed
    }

    /// d loss / d x for each x in `wrt`, without changing anything; the results
    /// are constants, so this works inside a computation that is being recorded.
    /// A `wrt` that the loss does not depend on (nothing recorded a path from
    /// it to the loss) is an error naming its position, unless `unused`
    /// allows zeros: a gradient is never silently zero.
    public static func gradients(of loss: Variable, wrt: [Variable], seed: Tensor? = nil, unused: Unused = .error) throws -> [Tensor] {
        if seed == nil && loss.value.count != 1 {
            throw TensorError("the loss must be a scalar, got a tensor of shape \(Tensor.shapeText(loss.shape))")
        }
        guard let (root, order, epoch) = try walk(of: loss, wrt: wrt, unused: unused) else { return wrt.map { Tensor.zeros(like: $0.value) } }
        let targets = Set(wrt.compactMap { $0.node.map(ObjectIdentifier.init) })
        defer { for node in order { node.grad = nil; node.pendingProducts = [] } }
        root.grad = seed ?? Tensor(shape: loss.shape, data: [1])
        let outer = running
        defer { running = outer }
        for node in order {
            // Every user of this node has run (they were created later).
            if !node.pendingProducts.isEmpty { try flushProducts(node) }
            guard let g = node.grad else { continue }
            if node.inputs.isEmpty { continue }
            if debugNonFinite && !VectorMath.allFinite(g.data) {
                throw GradientError(message: "debug_nans: the gradient reaching the output of \(node.origin ?? "an op") is NaN or infinite")
            }
            running = node
            let inputGrads = try node.vjp(g)
            if debugNonFinite {
                for (k, ig) in inputGrads.enumerated() where ig.map({ !VectorMath.allFinite($0.data) }) ?? false {
                    throw GradientError(message: "debug_nans: the backward of \(node.origin ?? "an op") made a NaN or infinite gradient for its input \(k + 1), from a finite gradient of its output")
                }
            }
            for (input, ig) in zip(node.inputs, inputGrads) {
                guard let input, let ig, input.visit == epoch else { continue }
                guard ig.count == input.shape.reduce(1, *) else {
                    throw TensorError("internal: gradient of shape \(Tensor.shapeText(ig.shape)) for a value of shape \(Tensor.shapeText(input.shape))")
                }
                if input.grad == nil { input.grad = Tensor(shape: input.shape, data: ig.data) }
                else { input.grad!.add(ig) }
            }
            if !targets.contains(ObjectIdentifier(node)) { node.grad = nil }
        }
        return wrt.map { v in v.node?.grad ?? Tensor.zeros(like: v.value) }
    }

    /// A gradient returned while recording, as a value that later ops may
    /// use: its own gradient is not computed (the VJPs do not record
    /// themselves), so differentiating through it is an error that says so,
    /// never a zero. `detach` makes it plain data.
    public static func firstOrderResult(_ gradient: Tensor, of loss: Variable, place: String) -> Variable {
        guard isRecording, let root = loss.node else { return Variable(gradient) }
        let node = Node(inputs: [root], shape: gradient.shape) { _ in
            throw GradientError(message: "a gradient of a gradient is needed here, through the result of grad at \(place), which was not recorded: pass create_graph: true to that grad to differentiate it again, or wrap it in detach() to use it as data")
        }
        return Variable(gradient, node: node)
    }
}
