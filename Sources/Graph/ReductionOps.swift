import Foundation
import Tensor

extension Op {
    /// Sum along `axis` (nil: all elements).
    public static func sum(_ a: Variable, axis: Int?, keepdims: Bool = false) throws -> Variable {
        let shape = a.shape
        let normalized = try axis.map { try a.value.axis($0) }
        let y = try a.value.reduce(.sum, axis: axis, keepdims: keepdims)
        return Graph.planned(SumKernel(shape: shape, axis: normalized), "sum", flops: a.value.count, inputs: [a],
                             Graph.record(y, a, op: "sum", flops: a.value.count, { back, a in
            try back.add(try back.gradient.keepingAxis(normalized, of: shape).broadcast(to: shape), to: a)
        }, graph: { g, _ in
            [try broadcast(try reshape(g, g.value.keepingAxis(normalized, of: shape).shape), to: shape)]
        }))
    }

    public static func mean(_ a: Variable, axis: Int?, keepdims: Bool = false) throws -> Variable {
        let n = try axis.map { a.shape.isEmpty ? 1 : a.shape[try a.value.axis($0)] } ?? a.value.count
        guard n > 0 else { throw TensorError("cannot take the mean of an empty tensor") }
        return scale(try sum(a, axis: axis, keepdims: keepdims), 1 / Float(n))
    }

    /// Max or min along an axis; the gradient is shared among tied maxima.
    public static func extreme(_ a: Variable, max isMax: Bool, axis: Int?, keepdims: Bool = false) throws -> Variable {
        let x = a.value
        let normalized = try axis.map { try x.axis($0) }
        let y = try x.reduce(isMax ? .max : .min, axis: axis, keepdims: keepdims)
        // The gradient goes to the extreme elements, shared among ties: a constant weighting.
        func weights() throws -> Tensor {
            let mask = try Tensor.zip(x, y.keepingAxis(normalized, of: x.shape)) { $0 == $1 ? 1 : 0 }
            return try mask / (try mask.reduce(.sum, axis: normalized, keepdims: true))
        }
        return Graph.record(y, a, op: isMax ? "max" : "min", flops: x.count, { back, a in
            try back.add(try weights() * back.gradient.keepingAxis(normalized, of: x.shape), to: a)
        }, graph: { g, _ in
            [try mul(Variable(try weights()), try reshape(g, g.value.keepingAxis(normalized, of: x.shape).shape))]
        })
    }

    public static func softmax(_ a: Variable, axis: Int) throws -> Variable {
        let xv = a.value
        let y = try xv.softmax(axis: axis)
        let ax = try a.value.axis(axis)
        return Graph.planned(SoftmaxKernel(shape: xv.shape, axis: ax), "softmax", flops: 4 * y.count, inputs: [a],
                             Graph.record(y, a, op: "softmax", flops: 4 * y.count, { back, a in
            let g = back.gradient
            let dot = try (g * y).reduce(.sum, axis: ax, keepdims: true)
            try back.add(try y * (try g - dot), to: a)
        }, graph: { g, nodes in
            // y (g - sum(g y)), with y = softmax(x) recomputed as an op.
            let yv = try softmax(Graph.input(xv, nodes[0]), axis: ax)
            let dot = try sum(try mul(g, yv), axis: ax, keepdims: true)
            return [try mul(yv, try sub(g, dot))]
        }))
    }

    public static func logsumexp(_ a: Variable, axis: Int, keepdims: Bool = false) throws -> Variable {
        let x = a.value
        let ax = try x.axis(axis)
        let y = try x.logsumexp(axis: ax, keepdims: keepdims)
        return Graph.planned(LogSumExpKernel(shape: x.shape, axis: ax), "logsumexp", flops: 3 * x.count, inputs: [a],
                             Graph.record(y, a, op: "logsumexp", flops: 3 * x.count, { back, a in
            try back.add(try x.softmax(axis: ax) * back.gradient.keepingAxis(ax, of: x.shape), to: a)
        }, graph: { g, nodes in
            let yv = try softmax(Graph.input(x, nodes[0]), axis: ax)
            return [try mul(yv, try reshape(g, g.value.keepingAxis(ax, of: x.shape).shape))]
        }))
    }
}
