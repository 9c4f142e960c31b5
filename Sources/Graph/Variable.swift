import Tensor

/// A tensor as the graph sees it: a value, and the node that produced it when
/// gradients must flow through it (parameters, and anything computed from
/// them while recording).
public final class Variable {
    public var value: Tensor
    public let node: Node?
    public let isParameter: Bool

    /// A constant: no gradient flows into it.
    public init(_ value: Tensor) {
        self.value = value
        self.node = nil
        self.isParameter = false
    }

    init(_ value: Tensor, node: Node?, isParameter: Bool = false) {
        self.value = value
        self.node = node
        self.isParameter = isParameter
    }

    /// A trainable leaf: optimizers update its value in place.
    public static func parameter(_ value: Tensor) -> Variable {
        Variable(value, node: Node(inputs: [], shape: value.shape) { _ in [] }, isParameter: true)
    }

    public var requiresGrad: Bool { node != nil }
    public var shape: [Int] { value.shape }
}

/// One recorded operation: its inputs' nodes (nil where an input needs no
/// gradient) and its vector-Jacobian product, which maps the gradient of the
/// output to the gradients of the inputs, in order.
public final class Node {
    public typealias VJP = (Tensor) throws -> [Tensor?]

    /// Creation order; a node's inputs always have smaller ids, so sorting by
    /// id gives a topological order without a recursive walk.
    let id: Int
    fileprivate(set) var inputs: [Node?]
    let shape: [Int]
    let vjp: VJP
    /// Scratch space used only during one backward walk.
    var grad: Tensor?
    var visit = 0

    init(inputs: [Node?], shape: [Int], vjp: @escaping VJP) {
        Graph.nodeCount += 1
        self.id = Graph.nodeCount
        self.inputs = inputs
        self.shape = shape
        self.vjp = vjp
    }

    /// Releases long chains iteratively: an unrolled loop can chain a million
    /// nodes, and letting Swift free them recursively would overflow the stack.
    deinit {
        var pending = inputs.compactMap { $0 }
        inputs = []
        while var node = pending.popLast() {
            // Only this loop holds it: take its inputs before it goes.
            if isKnownUniquelyReferenced(&node) {
                pending.append(contentsOf: node.inputs.compactMap { $0 })
                node.inputs = []
            }
        }
    }
}

/// Graph-wide state: whether operations record, and the walk that computes gradients.
public enum Graph {
    /// False inside `nograd { }`: operations compute values only.
    public static var isRecording = true
    static var nodeCount = 0
    static var visitEpoch = 0

    public static func withoutRecording<T>(_ body: () throws -> T) rethrows -> T {
        let saved = isRecording
        isRecording = false
        defer { isRecording = saved }
        return try body()
    }

    /// Records `value` as computed from `inputs` when any of them needs a gradient.
    @inline(__always)
    public static func record(_ value: Tensor, _ inputs: [Variable], _ vjp: @escaping Node.VJP) -> Variable {
        guard isRecording else { return Variable(value) }
        var any = false
        for v in inputs where v.node != nil { any = true; break }
        guard any else { return Variable(value) }
        return Variable(value, node: Node(inputs: inputs.map { $0.node }, shape: value.shape, vjp: vjp))
    }

    /// The node whose vector-Jacobian product is running, during a backward walk.
    nonisolated(unsafe) private static var running: Node?

    /// For a VJP: adds its gradient for input `index` straight into that
    /// input's gradient buffer (zeros at first), instead of returning a new
    /// tensor to be added. A weight shared by every step of a sequence then
    /// takes each step's contribution without a temporary of its size. The
    /// VJP returns nil for that input. False (and `body` not run) when the
    /// input needs no gradient.
    @discardableResult
    public static func accumulateGradient(input index: Int, _ body: (UnsafeMutablePointer<Float>) throws -> Void) rethrows -> Bool {
        guard let node = running, index < node.inputs.count, let input = node.inputs[index] else { return false }
        if input.grad == nil { input.grad = Tensor(shape: input.shape, data: [Float](repeating: 0, count: input.shape.reduce(1, *))) }
        try input.grad!.data.withUnsafeMutableBufferPointer { try body($0.baseAddress!) }
        return true
    }

    /// d loss / d x for each x in `wrt`, without changing anything; the results
    /// are constants, so this works inside a computation that is being recorded.
    public static func gradients(of loss: Variable, wrt: [Variable], seed: Tensor? = nil) throws -> [Tensor] {
        if seed == nil && loss.value.count != 1 {
            throw TensorError("the loss must be a scalar, got a tensor of shape \(Tensor.shapeText(loss.shape))")
        }
        guard let root = loss.node else { return wrt.map { Tensor.zeros(like: $0.value) } }
        // Collect the nodes reachable from the loss, then order them newest first.
        visitEpoch += 1
        let epoch = visitEpoch
        var order: [Node] = []
        var stack = [root]
        root.visit = epoch
        while let node = stack.popLast() {
            order.append(node)
            for case let input? in node.inputs where input.visit != epoch {
                input.visit = epoch
                stack.append(input)
            }
        }
        order.sort { $0.id > $1.id }
        let targets = Set(wrt.compactMap { $0.node.map(ObjectIdentifier.init) })
        defer { for node in order { node.grad = nil } }
        root.grad = seed ?? Tensor(shape: loss.shape, data: [1])
        let outer = running
        defer { running = outer }
        for node in order {
            guard let g = node.grad else { continue }
            if node.inputs.isEmpty { continue }
            running = node
            let inputGrads = try node.vjp(g)
            for (input, ig) in zip(node.inputs, inputGrads) {
                guard let input, let ig else { continue }
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
}
