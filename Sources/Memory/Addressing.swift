import Foundation
import Graph
import Tensor

/// The addressing primitives of Neural Turing Machines and LRUA memories, as
/// graph ops with analytic vector-Jacobian products.
///
/// Shapes: a memory is [N, W] or, for a batch of episodes, [B, N, W]; a key,
/// erase or add vector is [W] or [B, W]; a weighting is [N] or [B, N]; a
/// per-head scalar (beta, g, gamma, alpha) has one value, or one per batch row.
public enum Addressing {
    /// The epsilon of the cosine similarity's denominator (the row kernels' constant).
    public static var cosineEpsilon: Float { AddressingRows.cosineEpsilon }

    /// Where each of an NTM head's parameters sits in the raw vector its
    /// controller emits (the one place this is defined: the fused ops,
    /// the memory's trace and, through `head_layout`, ntm.mn read it).
    /// Key [W] (as is), beta (softplus), g (sigmoid), the shift logits [S]
    /// (softmax), gamma (1 + softplus); a write head then has erase [W]
    /// (sigmoid) and add [W] (tanh).
    public struct HeadLayout {
        public let width: Int, shifts: Int
        public init(width: Int, shifts: Int) { self.width = width; self.shifts = shifts }
        public var key: Range<Int> { 0..<width }
        public var beta: Int { width }
        public var gate: Int { width + 1 }
        public var shift: Range<Int> { (width + 2)..<(width + 2 + shifts) }
        public var gamma: Int { width + 2 + shifts }
        public var erase: Range<Int> { (width + 3 + shifts)..<(2 * width + 3 + shifts) }
        public var add: Range<Int> { (2 * width + 3 + shifts)..<(3 * width + 3 + shifts) }
        /// A read head's parameter count (its addressing).
        public var readSize: Int { width + 3 + shifts }
        /// A write head's: addressing, erase, add.
        public var writeSize: Int { 3 * width + 3 + shifts }
    }

    /// Sums per-row gradients back into the shape of a per-row scalar.
    static func scalarGrad(_ perRow: [Float], like t: Tensor) -> Tensor {
        if t.count == 1 && perRow.count != 1 { return Tensor(shape: t.shape, data: [perRow.reduce(0, +)]) }
        return Tensor(shape: t.shape, data: perRow)
    }

    /// A primitive's value and its vector-Jacobian product, on plain tensors,
    /// so that the separate ops and the fused head addressing share one definition.
    typealias Kernel = (value: Tensor, backward: (Tensor) -> [Tensor])

    /// Records a kernel's value as computed from `inputs`, whose gradients
    /// its backward gives in the same order.
    static func record(_ kernel: Kernel, _ inputs: [Variable?], op: StaticString, flops: Int? = nil) -> Variable {
        Graph.record(kernel.value, inputs, op: op, flops: flops) { back, inputs in
            for (gradient, input) in zip(kernel.backward(back.gradient), inputs) { try back.add(gradient, to: input) }
        }
    }
}
