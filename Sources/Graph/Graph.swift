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
        enterDetached()
        defer { exitDetached() }
        return try body()
    }

    /// `detached`'s two halves, for a compiled plan that replays a `nograd`
    /// block as steps between an opening and a closing one.
    public static func enterDetached() {
        scopeCount += 1
        openScopes.append(scopeCount)
        currentScope = scopeCount
    }

    public static func exitDetached() {
        guard openScopes.count > 1 else { return }
        openScopes.removeLast()
        currentScope = openScopes[openScopes.count - 1]
    }

    /// Computes values only, recording nothing (finite differences in gradcheck).
    public static func withoutRecording<T>(_ body: () throws -> T) rethrows -> T {
        let saved = isRecording
        isRecording = false
        defer { isRecording = saved }
        return try body()
    }

    // MARK: Recording

    /// Records `value` as computed from `a` when it needs a gradient; `vjp`
    /// is given the walk's `Backward` and a handle for the input.
    /// `graph` is an autoclosure so that an op that records nothing (no input
    /// needs a gradient) does not build its second-order closure at all.
    @inline(__always)
    public static func record(_ value: Tensor, _ a: Variable, op: StaticString, flops: Int? = nil, _ vjp: @escaping (Backward, Input) throws -> Void,
                              graph graphVJP: @autoclosure () -> Node.GraphVJP? = nil) -> Variable {
        if let recorder = planRecorder { recorder.opRecorded(op) }
        guard isRecording, a.node != nil else { return Variable(value) }
        return Variable(value, node: Node(op: op, flops: flops ?? value.count, inputs: [a.node], inputOutputs: outputsRead(a), shape: value.shape, vjp: .one(vjp), graphVJP: graphVJP()))
    }

    /// The same for an op of two inputs (`b` may be absent: it then needs no gradient).
    @inline(__always)
    public static func record(_ value: Tensor, _ a: Variable, _ b: Variable?, op: StaticString, flops: Int? = nil,
                              _ vjp: @escaping (Backward, Input, Input) throws -> Void,
                              graph graphVJP: @autoclosure () -> Node.GraphVJP? = nil) -> Variable {
        if let recorder = planRecorder { recorder.opRecorded(op) }
        guard isRecording, a.node != nil || b?.node != nil else { return Variable(value) }
        return Variable(value, node: Node(op: op, flops: flops ?? value.count, inputs: [a.node, b?.node], inputOutputs: outputsRead(a, b), shape: value.shape,
                                          vjp: .two(vjp), graphVJP: graphVJP()))
    }

    /// The same for an op of three inputs.
    @inline(__always)
    public static func record(_ value: Tensor, _ a: Variable, _ b: Variable?, _ c: Variable?, op: StaticString, flops: Int? = nil,
                              _ vjp: @escaping (Backward, Input, Input, Input) throws -> Void,
                              graph graphVJP: @autoclosure () -> Node.GraphVJP? = nil) -> Variable {
        if let recorder = planRecorder { recorder.opRecorded(op) }
        guard isRecording, a.node != nil || b?.node != nil || c?.node != nil else { return Variable(value) }
        return Variable(value, node: Node(op: op, flops: flops ?? value.count, inputs: [a.node, b?.node, c?.node], inputOutputs: outputsRead(a, b, c), shape: value.shape,
                                          vjp: .three(vjp), graphVJP: graphVJP()))
    }

    /// The same for an op of any number of inputs, given to `vjp` as a list of handles in order.
    public static func record(_ value: Tensor, _ inputs: [Variable?], op: StaticString, flops: Int? = nil,
                              _ vjp: @escaping (Backward, [Input]) throws -> Void,
                              graph graphVJP: @autoclosure () -> Node.GraphVJP? = nil) -> Variable {
        if let recorder = planRecorder { recorder.opRecorded(op) }
        guard isRecording, inputs.contains(where: { $0?.node != nil }) else { return Variable(value) }
        return Variable(value, node: Node(op: op, flops: flops ?? value.count, inputs: inputs.map { $0?.node }, inputOutputs: outputsRead(inputs), shape: value.shape,
                                          vjp: .list(vjp), graphVJP: graphVJP()))
    }

    /// An op with several outputs (as JAX's primitives with multiple
    /// results): one node, one Variable per output. Its `vjp` reads each
    /// output's gradient with `Backward.gradient(ofOutput:)` (nil where
    /// nothing used that output).
    public static func record(outputs values: [Tensor], _ inputs: [Variable?], op: StaticString, flops: Int? = nil,
                              _ vjp: @escaping (Backward, [Input]) throws -> Void,
                              graph graphVJP: @autoclosure () -> Node.MultipleGraphVJP? = nil) -> [Variable] {
        if let recorder = planRecorder { recorder.opRecorded(op) }
        guard isRecording, values.count > 0, inputs.contains(where: { $0?.node != nil }) else { return values.map { Variable($0) } }
        let node = Node(op: op, flops: flops ?? values.reduce(0) { $0 + $1.count }, inputs: inputs.map { $0?.node }, inputOutputs: outputsRead(inputs), shape: values[0].shape,
                        otherShapes: values.dropFirst().map(\.shape), vjp: .list(vjp), multipleGraphVJP: graphVJP())
        return values.enumerated().map { Variable($1, node: node, output: $0) }
    }

    /// Which output of its node each input is: empty (no allocation) when all are output 0.
    @inline(__always)
    private static func outputsRead(_ a: Variable) -> [Int] { a.output == 0 ? [] : [a.output] }
    @inline(__always)
    private static func outputsRead(_ a: Variable, _ b: Variable?) -> [Int] {
        a.output == 0 && (b?.output ?? 0) == 0 ? [] : [a.output, b?.output ?? 0]
    }
    @inline(__always)
    private static func outputsRead(_ a: Variable, _ b: Variable?, _ c: Variable?) -> [Int] {
        a.output == 0 && (b?.output ?? 0) == 0 && (c?.output ?? 0) == 0 ? [] : [a.output, b?.output ?? 0, c?.output ?? 0]
    }
    private static func outputsRead(_ inputs: [Variable?]) -> [Int] {
        inputs.contains { ($0?.output ?? 0) != 0 } ? inputs.map { $0?.output ?? 0 } : []
    }

    /// A fused op's second-order product from its equation written with ops
    /// (`compose`, given the inputs as Variables): the recorded gradient of
    /// sum(compose(inputs) * g), walked only down to the inputs. The fused
    /// op keeps its fast first-order kernel; its derivatives of higher order
    /// come from the equation, which the tests show it equals.
    public static func recomposed(_ values: [Tensor], _ compose: @escaping ([Variable]) throws -> Variable) -> Node.GraphVJP {
        let several = recomposed(values) { [try compose($0)] }
        return { g, inputs in try several([g], inputs) }
    }

    /// The same for an op with several outputs: sum over the outputs of sum(output * its gradient).
    public static func recomposed(_ values: [Tensor], _ compose: @escaping ([Variable]) throws -> [Variable]) -> Node.MultipleGraphVJP {
        { gs, refs in
            let inputs = zip(values, refs).map { input($0, $1) }
            let outs = try compose(inputs)
            var loss = try Op.sum(try Op.mul(outs[0], gs[0]), axis: nil)
            for (out, g) in zip(outs, gs).dropFirst() { loss = try Op.add(loss, try Op.sum(try Op.mul(out, g), axis: nil)) }
            var boundary = Set(refs.compactMap { $0.node.map(ObjectIdentifier.init) })
            for g in gs { if let gNode = g.node { boundary.insert(ObjectIdentifier(gNode)) } }
            let grads = try recordedWalk(from: loss, wrt: inputs, boundary: boundary)
            return zip(inputs, grads).map { input, grad in input.node == nil ? nil : grad }
        }
    }

    /// An input of a node again as a Variable (its value, captured by the op, and the output it came from).
    public static func input(_ value: Tensor, _ ref: InputRef) -> Variable { Variable(value, node: ref.node, output: ref.output) }

    /// `grad(..., create_graph: true)`: the gradients as recorded values, each
    /// op's product computed by its `graphVJP` with ops, so that they can be
    /// differentiated again (a Hessian-vector product, MAML's second-order
    /// term). An op without one is an error naming it, never a zero.
    public static func recordedGradients(of loss: Variable, wrt: [Variable], unused: Unused = .error) throws -> [Variable] {
        planRecorder?.fail("a gradient is taken other than by an optimizer's step")
        guard try walk(of: loss, wrt: wrt, unused: unused) != nil else { return wrt.map { Variable(Tensor.zeros(like: $0.value)) } }
        return try recordedWalk(from: loss, wrt: wrt, boundary: [])
    }

    /// One output of one node, as a key.
    private struct OutputKey: Hashable {
        let node: ObjectIdentifier, output: Int
        init(_ node: Node, _ output: Int) { self.node = ObjectIdentifier(node); self.output = output }
    }

    /// The walk of `recordedGradients`, not going past the nodes in `boundary`
    /// (a fused op's second derivative by recomposition stops at its inputs).
    static func recordedWalk(from loss: Variable, wrt: [Variable], boundary: Set<ObjectIdentifier>) throws -> [Variable] {
        guard let root = loss.node else { return wrt.map { Variable(Tensor.zeros(like: $0.value)) } }
        let (order, _) = reachable(from: root, boundary: boundary)
        let inWalk = Set(order.map(ObjectIdentifier.init))
        var grads: [OutputKey: Variable] = [OutputKey(root, loss.output): Variable(Tensor(shape: loss.shape, data: [1]))]
        for node in order {
            guard !node.inputs.isEmpty, !boundary.contains(ObjectIdentifier(node)) else { continue }
            let outputs = 1 + node.otherShapes.count
            let gs = (0..<outputs).map { grads[OutputKey(node, $0)] }
            guard gs.contains(where: { $0 != nil }) else { continue }
            let refs = node.inputs.indices.map { InputRef(node: node.inputs[$0], output: node.outputRead(fromInput: $0)) }
            let inputGrads: [Variable?]
            if outputs == 1, let graphVJP = node.graphVJP, let g = gs[0] {
                inputGrads = try graphVJP(g, refs)
            } else if let multiple = node.multipleGraphVJP {
                let filled = try (0..<outputs).map { k in try gs[k] ?? Variable(Tensor.zeros(node.shape(ofOutput: k))) }
                inputGrads = try multiple(filled, refs)
            } else {
                throw GradientError(message: "\(node.origin ?? "'\(node.op)' (an op on the path; debug_nans(true) gives its line)") cannot be differentiated twice yet: create_graph: true works through elementwise arithmetic and functions, sums and means, reshapes, transposes, slices and rows, concatenation, plain matrix products, max and min, gather and indexing, sort, topk, take_along, cumsum, where, sin and cos, linear, softmax, logsumexp, mse, bce from logits, cross_entropy, lstm_cell and the DNC's usage_update, write_weighting, link_update and read_weighting; not yet through the other memory ops (allocation among them), cumprod and prod, bce from probabilities or a learned exponent")
            }
            for (ref, ig) in zip(refs, inputGrads) {
                // Membership by set, not by `visit`: a graphVJP may run a walk of its own (recomposed).
                guard let input = ref.node, let ig, inWalk.contains(ObjectIdentifier(input)) else { continue }
                let key = OutputKey(input, ref.output)
                grads[key] = try grads[key].map { try Op.add($0, ig) } ?? ig
            }
        }
        return wrt.map { v in v.node.flatMap { grads[OutputKey($0, v.output)] } ?? Variable(Tensor.zeros(like: v.value)) }
    }

    /// What `Backward.transpose(of:)` keeps during one walk: a captured
    /// value's storage (alive, so unique, while the graph holds it) and shape.
    struct WalkKey: Hashable { let storage: Int, shape: [Int] }
    nonisolated(unsafe) static var walkCache: [WalkKey: Tensor] = [:]

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
        if let recorder = planRecorder, !recorder.stepping { recorder.fail("a gradient is taken other than by an optimizer's step") }
        if seed == nil && loss.value.count != 1 {
            throw TensorError("the loss must be a scalar, got a tensor of shape \(Tensor.shapeText(loss.shape))")
        }
        guard let (root, order, epoch) = try walk(of: loss, wrt: wrt, unused: unused) else { return wrt.map { Tensor.zeros(like: $0.value) } }
        let targets = Set(wrt.compactMap { $0.node.map(ObjectIdentifier.init) })
        defer { for node in order { node.clearGradients() } }
        // Transposes copied once per walk (`Backward.transpose(of:)`); a walk inside a VJP keeps its own.
        let outerCache = walkCache
        walkCache = [:]
        defer { walkCache = outerCache }
        root.accumulate(seed ?? Tensor(shape: loss.shape, data: [1]), output: loss.output)
        for node in order {
            // Every user of this node has run (they were created later).
            if !node.pendingProducts.isEmpty { try flushProducts(node) }
            guard node.hasGradient, !node.inputs.isEmpty else { continue }
            if debugNonFinite && !((0...node.otherShapes.count).allSatisfy { node.gradient(ofOutput: $0).map { VectorMath.allFinite($0.data) } ?? true }) {
                throw GradientError(message: "debug_nans: the gradient reaching the output of \(node.origin ?? "an op") is NaN or infinite")
            }
            let back = Backward(node: node, epoch: epoch)
            switch node.vjp {
            case .one(let vjp): try vjp(back, Input(index: 0))
            case .two(let vjp): try vjp(back, Input(index: 0), Input(index: 1))
            case .three(let vjp): try vjp(back, Input(index: 0), Input(index: 1), Input(index: 2))
            case .list(let vjp): try vjp(back, node.inputs.indices.map { Input(index: $0) })
            }
            if !targets.contains(ObjectIdentifier(node)) { node.clearGradients() }
        }
        return wrt.map { v in v.node?.gradient(ofOutput: v.output) ?? Tensor.zeros(like: v.value) }
    }

    /// A gradient returned while recording, as a value that later ops may
    /// use: its own gradient is not computed (the VJPs do not record
    /// themselves), so differentiating through it is an error that says so,
    /// never a zero. `detach` makes it plain data.
    public static func firstOrderResult(_ gradient: Tensor, of loss: Variable, place: String) -> Variable {
        guard isRecording, let root = loss.node else { return Variable(gradient) }
        let node = Node(op: "grad", flops: 0, inputs: [root], inputOutputs: loss.output == 0 ? [] : [loss.output], shape: gradient.shape, vjp: .one { _, _ in
            throw GradientError(message: "a gradient of a gradient is needed here, through the result of grad at \(place), which was not recorded: pass create_graph: true to that grad to differentiate it again, or wrap it in detach() to use it as data")
        })
        return Variable(gradient, node: node)
    }
}
