import CSupport
import Foundation

// Reductions along one axis (or all of them), softmax and logsumexp.
// Every axis kernel sees the tensor as (outer, n, inner).

extension Tensor {
    public enum Reduction { case sum, max, min, argmax, argmin }

    /// Reduces along `axis` (nil: every element). `keepdims` leaves a size-1 axis.
    public func reduce(_ kind: Reduction, axis: Int?, keepdims: Bool = false) throws -> Tensor {
        guard let axis else {
            if count == 0 && kind != .sum { throw TensorError("cannot take \(kind) of an empty tensor") }
            let value = Tensor.reduceRun(kind, data, 0, count, 1)
            return Tensor(shape: keepdims ? [Int](repeating: 1, count: rank) : [], data: [value])
        }
        let a = try self.axis(axis)
        let (outer, n, inner) = split3(a)
        if n == 0 && kind != .sum { throw TensorError("cannot take \(kind) along an empty axis") }
        var out = [Float](repeating: 0, count: outer * inner)
        for o in 0..<outer {
            for i in 0..<inner {
                out[o * inner + i] = Tensor.reduceRun(kind, data, o * n * inner + i, n, inner)
            }
        }
        var shape = self.shape
        if rank > 0 { if keepdims { shape[a] = 1 } else { shape.remove(at: a) } }
        return Tensor(shape: shape, data: out)
    }

    @inline(__always)
    static func reduceRun(_ kind: Reduction, _ data: [Float], _ start: Int, _ n: Int, _ stride: Int) -> Float {
        data.withUnsafeBufferPointer { p in
            switch kind {
            case .sum:
                var s: Float = 0
                for j in 0..<n { s += p[start + j * stride] }
                return s
            case .max, .min:
                var best = p[start]
                for j in 1..<max(n, 1) {
                    let v = p[start + j * stride]
                    if kind == .max ? (v > best || v.isNaN) : (v < best || v.isNaN) { best = v }
                }
                return best
            case .argmax, .argmin:
                var best = p[start], at = 0
                for j in 1..<max(n, 1) {
                    let v = p[start + j * stride]
                    if kind == .argmax ? v > best : v < best { best = v; at = j }
                }
                return Float(at)
            }
        }
    }

    /// Re-inserts a reduced axis as size 1, so a reduced tensor broadcasts against the original.
    public func keepingAxis(_ axis: Int?, of original: [Int]) -> Tensor {
        guard let axis else { return Tensor(shape: [Int](repeating: 1, count: original.count), data: data) }
        var shape = original
        if !shape.isEmpty { shape[axis] = 1 }
        return Tensor(shape: shape, data: data)
    }

    /// Calls `body` once per line of values along `axis`: the offset of the
    /// line's first element, and the line's number (its position once the
    /// axis is removed); the line's elements are `step` apart.
    /// `work` is the floating-point work per line: lines of enough work are
    /// shared among threads (each line whole, so the same bits).
    private func forEachLine(along axis: Int, work: Int = 0, _ body: (_ start: Int, _ line: Int) -> Void) {
        let (outer, n, inner) = split3(axis)
        Parallel.forEach(outer, work: outer * inner * work) { outers in
            for o in outers {
                for i in 0..<inner { body(o * n * inner + i, o * inner + i) }
            }
        }
    }

    /// The largest of `n` values `step` apart (-infinity for none).
    private static func largest(_ p: Floats, _ n: Int, _ step: Int) -> Float {
        var m = -Float.infinity
        for j in 0..<n { m = Swift.max(m, p[j * step]) }
        return m
    }

    /// The softmax of one line of n values `step` apart, into y (laid out
    /// the same): exp(x - max) by VectorMath's exp (the same bits on every
    /// machine, unlike libm's), summed in eight lanes as `dot` sums (a
    /// contiguous line), then scaled by 1 / sum.
    public static func softmaxLine(_ x: Floats, _ y: MutableFloats, _ n: Int, _ step: Int) {
        // Contiguous: the same steps in C, at the widest vectors the CPU has (row_kernels.c).
        if step == 1 { mnemo_softmax_lines(OwnKernels.level, x, y, 1, n); return }
        var m = Tensor.largest(x, n, step)
        if m == -.infinity { m = 0 }
        var s: Float = 0
        for j in 0..<n { let e = VectorMath.exp(x[j * step] - m); y[j * step] = e; s += e }
        let inv = 1 / s
        for j in 0..<n { y[j * step] *= inv }
    }

    /// log(sum(exp(x))) of one line of n values `step` apart.
    public static func logsumexpLine(_ x: Floats, _ n: Int, _ step: Int) -> Float {
        let m = Tensor.largest(x, n, step)
        if m == -.infinity || m == .infinity { return m }
        var s: Float = 0
        for j in 0..<n { s += Foundation.exp(x[j * step] - m) }
        return m + Foundation.log(s)
    }

    /// Numerically stable softmax along `axis`.
    public func softmax(axis: Int) throws -> Tensor {
        let a = try self.axis(axis)
        let (_, n, step) = split3(a)
        let out = filling(count) { po in
            reading(data) { p in
                // An exp costs about as much as twenty multiply-adds.
                forEachLine(along: a, work: 24 * n) { start, _ in Tensor.softmaxLine(p + start, po + start, n, step) }
            }
        }
        return Tensor(shape: shape, data: out)
    }

    /// Numerically stable log(sum(exp(x))) along `axis`, which is removed.
    public func logsumexp(axis: Int, keepdims: Bool = false) throws -> Tensor {
        let a = try self.axis(axis)
        let (outer, n, step) = split3(a)
        let out = filling(outer * step) { po in
            reading(data) { p in
                forEachLine(along: a) { start, line in po[line] = Tensor.logsumexpLine(p + start, n, step) }
            }
        }
        var shape = self.shape
        if rank > 0 { if keepdims { shape[a] = 1 } else { shape.remove(at: a) } }
        return Tensor(shape: shape, data: out)
    }
}
