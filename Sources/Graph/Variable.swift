import Tensor

/// A tensor as the graph sees it: a value, and the node that produced it when
/// gradients must flow through it (parameters, and anything computed from
/// them while recording).
public final class Variable {
    public var value: Tensor
    public let node: Node?
    /// Which output of `node` this is (0 but for an op with several outputs).
    public let output: Int
    public let isParameter: Bool
    /// A parameter's path in the model it was first found in ("controller.W"), for messages.
    public var label: String?
    /// When it was made (see `Serial`): a compiled function's trace tells the
    /// tensors made before it began from those made while it ran.
    public let serial = Serial.next()

    /// A constant: no gradient flows into it.
    public init(_ value: Tensor) {
        self.value = value
        self.node = nil
        self.output = 0
        self.isParameter = false
    }

    init(_ value: Tensor, node: Node?, output: Int = 0, isParameter: Bool = false) {
        self.value = value
        self.node = node
        self.output = output
        self.isParameter = isParameter
    }

    /// A trainable leaf: optimizers update its value in place.
    public static func parameter(_ value: Tensor) -> Variable {
        Variable(value, node: Node(op: "param", flops: 0, inputs: [], shape: value.shape, vjp: .list { _, _ in }), isParameter: true)
    }

    public var requiresGrad: Bool { node != nil }
    public var shape: [Int] { value.shape }
}

/// A count of objects made, in order: a trace compares an object's number
/// with the count when it began to know whether the object is older.
public enum Serial {
    nonisolated(unsafe) public private(set) static var last = 0
    @inline(__always)
    public static func next() -> Int { last &+= 1; return last }
}
