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
    /// The epsilon of the cosine similarity's denominator: a zero row or key gives 0, not NaN.
    public static let cosineEpsilon: Float = 1e-8

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

    /// Batch size and sizes of a memory, checked against the other operands.
    struct Layout {
        let batch: Int, slots: Int, width: Int, batched: Bool
        init(memory m: Tensor) throws {
            switch m.rank {
            case 2: (batch, slots, width, batched) = (1, m.shape[0], m.shape[1], false)
            case 3: (batch, slots, width, batched) = (m.shape[0], m.shape[1], m.shape[2], true)
            default: throw TensorError("a memory is [slots, width] or [batch, slots, width], got shape \(Tensor.shapeText(m.shape))")
            }
            guard batch > 0, slots > 0, width > 0 else {
                throw TensorError("a memory needs at least one slot of width at least 1 (and a batch of at least 1), got shape \(Tensor.shapeText(m.shape))")
            }
        }
        init(weighting w: Tensor) throws {
            switch w.rank {
            case 1: (batch, slots, width, batched) = (1, w.shape[0], 0, false)
            case 2: (batch, slots, width, batched) = (w.shape[0], w.shape[1], 0, true)
            default: throw TensorError("a weighting is [slots] or [batch, slots], got shape \(Tensor.shapeText(w.shape))")
            }
            guard batch > 0, slots > 0 else {
                throw TensorError("a weighting needs at least one slot (and a batch of at least 1), got shape \(Tensor.shapeText(w.shape))")
            }
        }
        /// How many heads an operand ending in `last` carries: [last] (or
        /// [B, last] with a batch) is one head, [H, last] (or [B, H, last])
        /// is H heads, and `axis` says the result keeps that head axis.
        func heads(_ t: Tensor, last: Int, _ what: String) throws -> (count: Int, axis: Bool) {
            let s = t.shape
            if batched {
                if s == [batch, last] { return (1, false) }
                if s.count == 3, s[0] == batch, s[2] == last { return (s[1], true) }
            } else {
                if s == [last] { return (1, false) }
                if s.count == 2, s[1] == last { return (s[0], true) }
            }
            let several = batched ? "[\(batch), heads, \(last)]" : "[heads, \(last)]"
            throw TensorError("\(what) should have shape \(Tensor.shapeText(batched ? [batch, last] : [last])), or \(several) for several heads; got \(Tensor.shapeText(s))")
        }
        /// The shape of a per-head result ending in `last`.
        func shape(heads: (count: Int, axis: Bool), last: Int) -> [Int] {
            switch (batched, heads.axis) {
            case (false, false): return [last]
            case (false, true): return [heads.count, last]
            case (true, false): return [batch, last]
            case (true, true): return [batch, heads.count, last]
            }
        }
        /// A per-row scalar: one value shared, or one per batch row.
        func scalars(_ t: Tensor, _ what: String) throws -> [Float] { try perRow(t, batch, what) }
    }

    /// A scalar per row of R: one value shared, or one per row.
    static func perRow(_ t: Tensor, _ R: Int, _ what: String) throws -> [Float] {
        if t.count == 1 { return [Float](repeating: t.data[0], count: R) }
        if t.count == R { return t.data }
        throw TensorError("\(what) should have 1 or \(R) values, got shape \(Tensor.shapeText(t.shape))")
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
    static func record(_ kernel: Kernel, _ inputs: [Variable?]) -> Variable {
        Graph.record(kernel.value, inputs) { back, inputs in
            for (gradient, input) in zip(kernel.backward(back.gradient), inputs) { try back.add(gradient, to: input) }
        }
    }
}
