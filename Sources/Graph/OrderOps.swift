import Foundation
import Tensor

/// Orderings and running products along an axis: sorting (the gradient goes
/// back through the permutation), top k, cumulative sums and products (a
/// product's gradient stays right where an element is zero), the product.
extension Op {
    /// Each line along `axis` as (start, stride) pairs, in order.
    static func lines(of shape: [Int], axis: Int) -> (count: Int, length: Int, gap: Int, starts: [Int]) {
        let n = shape[axis], inner = shape[(axis + 1)...].reduce(1, *), outer = shape[..<axis].reduce(1, *)
        var starts: [Int] = []
        starts.reserveCapacity(outer * inner)
        for o in 0..<outer { for i in 0..<inner { starts.append(o * n * inner + i) } }
        return (outer * inner, n, inner, starts)
    }

    /// The positions that sort each line along `axis`: stable (equal values
    /// keep their order), NaN last. Not differentiable: indices.
    public static func argsort(_ x: Tensor, axis: Int, descending: Bool = false) throws -> Tensor {
        guard x.rank > 0 else { throw TensorError("argsort needs at least one axis, got a scalar") }
        let ax = try x.axis(axis)
        let (_, n, gap, starts) = lines(of: x.shape, axis: ax)
        var out = [Float](repeating: 0, count: x.count)
        var order = [Int](repeating: 0, count: n)
        x.data.withUnsafeBufferPointer { p in
            for start in starts {
                for j in 0..<n { order[j] = j }
                order.sort { i, j in
                    let (a, b) = (p[start + i * gap], p[start + j * gap])
                    // NaN after every number; ties by position, so the order is stable.
                    if a.isNaN || b.isNaN { return a.isNaN == b.isNaN ? i < j : b.isNaN }
                    if a != b { return descending ? a > b : a < b }
                    return i < j
                }
                for j in 0..<n { out[start + j * gap] = Float(order[j]) }
            }
        }
        return Tensor(shape: x.shape, data: out)
    }

    /// x's entries picked along `axis` by `indices` of x's shape but for that
    /// axis (NumPy's take_along_axis); the gradient adds back where each came from.
    public static func takeAlong(_ x: Variable, _ indices: Tensor, axis: Int) throws -> Variable {
        guard x.value.rank > 0 else { throw TensorError("take_along needs at least one axis, got a scalar") }
        let ax = try x.value.axis(axis)
        var expected = x.shape
        expected[ax] = indices.rank == x.value.rank ? indices.shape[ax] : -1
        guard indices.shape == expected else {
            throw TensorError("take_along: indices of shape \(Tensor.shapeText(indices.shape)) should match \(Tensor.shapeText(x.shape)) but along axis \(ax)")
        }
        let n = x.shape[ax]
        let (_, k, gap, starts) = lines(of: indices.shape, axis: ax)
        let (_, _, sourceGap, sourceStarts) = lines(of: x.shape, axis: ax)
        var offsets = [Int](repeating: 0, count: indices.count)
        for (line, start) in starts.enumerated() {
            for j in 0..<k {
                let v = indices.data[start + j * gap]
                guard let i = Int(exactly: v), i >= -n, i < n else {
                    throw TensorError("take_along: index \(Tensor.formatScalar(v)) is out of range for an axis of \(n)")
                }
                offsets[start + j * gap] = sourceStarts[line] + (i < 0 ? i + n : i) * sourceGap
            }
        }
        return gatherOffsets(x, offsets, indices.shape)
    }

    /// Each line along `axis` sorted, with the positions it came from.
    public static func sort(_ x: Variable, axis: Int, descending: Bool = false) throws -> (values: Variable, indices: Tensor) {
        let order = try argsort(x.value, axis: axis, descending: descending)
        return (try takeAlong(x, order, axis: axis), order)
    }

    /// The k largest of each line along `axis` (or smallest), in order, with their positions.
    public static func topk(_ x: Variable, _ k: Int, axis: Int, largest: Bool = true) throws -> (values: Variable, indices: Tensor) {
        guard x.value.rank > 0 else { throw TensorError("topk needs at least one axis, got a scalar") }
        let ax = try x.value.axis(axis)
        guard k >= 0, k <= x.shape[ax] else { throw TensorError("topk: k must be between 0 and \(x.shape[ax]), got \(k)") }
        let order = try argsort(x.value, axis: ax, descending: largest)
        let first = try order.index(Array(repeating: .all, count: ax) + [.range(0, k, 1)])
        return (try takeAlong(x, first, axis: ax), first)
    }

    /// Running sums along `axis`: y_i = x_0 + ... + x_i, or, exclusive, up to x_(i-1) (y_0 = 0).
    public static func cumsum(_ x: Variable, axis: Int, exclusive: Bool = false) throws -> Variable {
        guard x.value.rank > 0 else { throw TensorError("cumsum needs at least one axis, got a scalar") }
        let ax = try x.value.axis(axis)
        let (_, n, gap, starts) = lines(of: x.shape, axis: ax)
        func run(_ t: Tensor, reverse: Bool) -> Tensor {
            var out = [Float](repeating: 0, count: t.count)
            for start in starts {
                var s: Float = 0
                for step in 0..<n {
                    let at = start + (reverse ? n - 1 - step : step) * gap
                    if exclusive { out[at] = s; s += t.data[at] } else { s += t.data[at]; out[at] = s }
                }
            }
            return Tensor(shape: t.shape, data: out)
        }
        // The gradient of a running sum is the running sum of the gradient taken from the other end.
        return Graph.record(run(x.value, reverse: false), x, op: "cumsum", flops: x.value.count, { back, x in
            try back.add(run(back.gradient, reverse: true), to: x)
        }, graph: { g, _ in [try reverseCumsum(g, axis: ax, exclusive: exclusive)] })
    }

    /// The gradient of cumsum as an op: the running sum from the far end.
    static func reverseCumsum(_ g: Variable, axis: Int, exclusive: Bool) throws -> Variable {
        let flip = reversal(g.shape, axis: axis)
        return gatherOffsets(try cumsum(gatherOffsets(g, flip, g.shape), axis: axis, exclusive: exclusive), flip, g.shape)
    }

    /// Offsets that reverse each line along `axis`.
    static func reversal(_ shape: [Int], axis: Int) -> [Int] {
        let (_, n, gap, starts) = lines(of: shape, axis: axis)
        var offsets = [Int](repeating: 0, count: shape.reduce(1, *))
        for start in starts { for j in 0..<n { offsets[start + j * gap] = start + (n - 1 - j) * gap } }
        return offsets
    }

    /// Running products along `axis`: y_i = x_0 * ... * x_i, or, exclusive, up
    /// to x_(i-1) (y_0 = 1). The gradient is computed without dividing, so it
    /// is right where an element is zero: dx_j = (x_0 ... x_(j-1)) * S_j with
    /// S_j = g_j + x_(j+1) S_(j+1) (inclusive) or g_(j+1) + x_(j+1) S_(j+1)
    /// (exclusive), from the far end.
    public static func cumprod(_ x: Variable, axis: Int, exclusive: Bool = false) throws -> Variable {
        guard x.value.rank > 0 else { throw TensorError("cumprod needs at least one axis, got a scalar") }
        let ax = try x.value.axis(axis)
        let (_, n, gap, starts) = lines(of: x.shape, axis: ax)
        let xv = x.value
        // Exclusive prefix products, which the gradient needs too.
        var before = [Float](repeating: 1, count: xv.count)
        var out = [Float](repeating: 0, count: xv.count)
        for start in starts {
            var p: Float = 1
            for j in 0..<n {
                let at = start + j * gap
                before[at] = p
                p *= xv.data[at]
                out[at] = exclusive ? before[at] : p
            }
        }
        let prefix = before
        return Graph.record(Tensor(shape: xv.shape, data: out), x, op: "cumprod", flops: 2 * xv.count, { back, x in
            let g = back.gradient.data
            var dx = [Float](repeating: 0, count: xv.count)
            for start in starts {
                var s: Float = 0
                for j in stride(from: n - 1, through: 0, by: -1) {
                    let at = start + j * gap
                    let next = j + 1 < n ? xv.data[at + gap] : 0
                    if exclusive {
                        s = j + 1 < n ? g[at + gap] + next * s : 0
                    } else {
                        s = g[at] + next * s
                    }
                    dx[at] = prefix[at] * s
                }
            }
            try back.add(Tensor(shape: xv.shape, data: dx), to: x)
        })
    }

    /// The product along `axis` (nil: of every element), with the same zero-safe gradient.
    public static func prod(_ x: Variable, axis: Int?, keepdims: Bool = false) throws -> Variable {
        guard let axis else {
            return try prod(try reshape(x, [x.value.count]), axis: 0, keepdims: false)
        }
        guard x.value.rank > 0 else { throw TensorError("prod along an axis needs at least one axis, got a scalar") }
        let ax = try x.value.axis(axis)
        let n = x.shape[ax]
        guard n > 0 else {
            var shape = x.shape
            if keepdims { shape[ax] = 1 } else { shape.remove(at: ax) }
            return Variable(Tensor(shape: shape, data: [Float](repeating: 1, count: shape.reduce(1, *))))
        }
        // The last running product of each line.
        let running = try cumprod(x, axis: ax)
        let last = try index(running, Array(repeating: .all, count: ax) + [.range(n - 1, n, 1)])
        if keepdims { return last }
        var shape = x.shape
        shape.remove(at: ax)
        return try reshape(last, shape)
    }
}
