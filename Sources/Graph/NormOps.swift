import Foundation
import Tensor

/// Spreads and norms (variance, standard deviation, the p = 2 norm, layer
/// normalisation) and adding into positions (`index_add`). Most are written
/// with ops, so they have second derivatives too; the norm is one op whose
/// gradient is zero, not NaN, where the norm is zero.
extension Op {
    /// The mean of squared deviations from the mean along `axis` (nil: all),
    /// divided by n - correction (correction 1: the unbiased estimate).
    public static func variance(_ x: Variable, axis: Int?, keepdims: Bool = false, correction: Int = 0) throws -> Variable {
        let n = try axis.map { x.shape.isEmpty ? 1 : x.shape[try x.value.axis($0)] } ?? x.value.count
        guard n - correction > 0 else { throw TensorError("variance of \(n) values with correction \(correction): nothing to divide by") }
        let centered = try sub(x, try mean(x, axis: axis, keepdims: true))
        return scale(try sum(square(centered), axis: axis, keepdims: keepdims), 1 / Float(n - correction))
    }

    public static func std(_ x: Variable, axis: Int?, keepdims: Bool = false, correction: Int = 0) throws -> Variable {
        sqrt(try variance(x, axis: axis, keepdims: keepdims, correction: correction))
    }

    /// sqrt(sum(x^2)) along `axis` (nil: all). Its gradient is x / norm, and
    /// zero where the norm is zero (as PyTorch's), not 0/0.
    public static func norm(_ x: Variable, axis: Int?, keepdims: Bool = false) throws -> Variable {
        let xv = x.value
        let normalized = try axis.map { try xv.axis($0) }
        let squares = xv.map { $0 * $0 }
        let y = try squares.reduce(.sum, axis: axis, keepdims: keepdims).map { $0.squareRoot() }
        return Graph.record(y, x, op: "norm", flops: 2 * xv.count, { back, x in
            let spread = try y.keepingAxis(normalized, of: xv.shape).broadcast(to: xv.shape)
            let g = try back.gradient.keepingAxis(normalized, of: xv.shape).broadcast(to: xv.shape)
            try back.add(try Tensor.zip(try Tensor.zip(g, xv) { $0 * $1 }, spread) { gx, n in n > 0 ? gx / n : 0 }, to: x)
        })
    }

    /// Layer normalisation along `axis`: (x - mean) / sqrt(variance + eps),
    /// then times gamma plus beta when given (shaped like that axis).
    public static func layernorm(_ x: Variable, gamma: Variable?, beta: Variable?, epsilon: Float, axis: Int) throws -> Variable {
        let ax = try x.value.axis(axis)
        let centered = try sub(x, try mean(x, axis: ax, keepdims: true))
        let spread = try mean(square(centered), axis: ax, keepdims: true)
        var y = try div(centered, sqrt(try add(spread, Variable(Tensor(epsilon)))))
        // gamma and beta apply along the normalised axis, broadcast over the others.
        var along = [Int](repeating: 1, count: x.value.rank)
        along[ax] = x.shape[ax]
        for p in [gamma, beta].compactMap({ $0 }) where p.shape != [x.shape[ax]] {
            throw TensorError("layernorm: gamma and beta must be of shape [\(x.shape[ax])], got \(Tensor.shapeText(p.shape))")
        }
        if let gamma { y = try mul(y, try reshape(gamma, along)) }
        if let beta { y = try add(y, try reshape(beta, along)) }
        return y
    }

    /// x with `values` added at `indices` along `axis` (PyTorch's
    /// index_add; repeated indices add up). values is shaped as gathering
    /// those indices from x would be.
    public static func indexAdd(_ x: Variable, _ indices: Tensor, _ values: Variable, axis: Int) throws -> Variable {
        let (shape, offsets) = try x.value.gatherSelection(indices: indices, axis: axis)
        guard values.shape == shape else {
            throw TensorError("index_add: values should have shape \(Tensor.shapeText(shape)) for these indices, got \(Tensor.shapeText(values.shape))")
        }
        return try add(x, scatterOffsets(values, offsets, x.shape))
    }

    /// x with the entries at `indices` along `axis` replaced by `values`
    /// (shaped as gathering those indices would be). A repeated index is an
    /// error: which value would win is not defined. The gradient: x's where it
    /// was kept, values' from the places they went.
    public static func scatter(_ x: Variable, _ indices: Tensor, _ values: Variable, axis: Int) throws -> Variable {
        let (shape, offsets) = try x.value.gatherSelection(indices: indices, axis: axis)
        guard values.shape == shape else {
            throw TensorError("scatter: values should have shape \(Tensor.shapeText(shape)) for these indices, got \(Tensor.shapeText(values.shape))")
        }
        guard Set(offsets).count == offsets.count else { throw TensorError("scatter: an index is repeated; use index_add to add several values at one place") }
        var keep = [Float](repeating: 1, count: x.value.count)
        for o in offsets { keep[o] = 0 }
        let kept = try mul(x, Variable(Tensor(shape: x.shape, data: keep)))
        return try add(kept, scatterOffsets(values, offsets, x.shape))
    }
}
