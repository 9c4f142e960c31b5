import CSupport
import Foundation
import Tensor

// The kernel forms of the ops a compiled plan runs (see `KernelPlan`): each
// repeats its op's arithmetic and its VJP's, in the same order, on the
// plan's buffers. `PlanTests` and the compile tests hold them to the eager
// ops bit for bit.

/// Moves runs of floats (concat, reshape, stack's rows, a slice or a row):
/// part k of the output is, for each of `outer` blocks, `runs[k]` floats
/// taken from input k at `starts[k]` within its block of `blocks[k]`.
final class CopyKernel: PlanKernel {
    let outer: Int
    /// Per input: the floats of one block of the input, where the run starts in it, its length.
    let blocks: [Int], starts: [Int], runs: [Int]
    /// The output's block (the sum of the runs).
    let outBlock: Int

    init(outer: Int, blocks: [Int], starts: [Int], runs: [Int]) {
        (self.outer, self.blocks, self.starts, self.runs) = (outer, blocks, starts, runs)
        outBlock = runs.reduce(0, +)
    }

    /// concat along an axis: each part whole.
    static func concat(_ shapes: [[Int]], axis: Int) -> CopyKernel {
        let outer = shapes[0][..<axis].reduce(1, *), inner = shapes[0][(axis + 1)...].reduce(1, *)
        let runs = shapes.map { $0[axis] * inner }
        return CopyKernel(outer: outer, blocks: runs, starts: runs.map { _ in 0 }, runs: runs)
    }

    /// A copy of `count` floats (a reshape).
    static func whole(_ count: Int) -> CopyKernel { CopyKernel(outer: 1, blocks: [count], starts: [0], runs: [count]) }

    /// One contiguous part of a tensor of `shape`: `start..<end` along `axis`.
    static func slice(_ shape: [Int], axis: Int, start: Int, end: Int) -> CopyKernel {
        let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
        return CopyKernel(outer: outer, blocks: [shape[axis] * inner], starts: [start * inner], runs: [(end - start) * inner])
    }

    /// Where the output starts in a single input it copies contiguously (a view the plan may read in place).
    var contiguousStart: Int? { outer == 1 && runs.count == 1 ? starts[0] : nil }

    override func forward(_ io: PlanIO) {
        let y = io.output(0)
        // A view placed on its input (`KernelPlan`): nothing to copy.
        if let start = contiguousStart, y == io.input(0) + start { return }
        var at = 0
        for o in 0..<outer {
            for k in runs.indices where runs[k] > 0 {
                (y + at).update(from: io.input(k) + o * blocks[k] + starts[k], count: runs[k])
                at += runs[k]
            }
        }
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        var offset = 0
        for k in runs.indices {
            defer { offset += runs[k] }
            guard io.needs(k) else { continue }
            let whole = runs[k] == blocks[k]
            // One run that is the whole part (a part of a concat of rows): its gradient is that run of g.
            if whole && outer == 1 {
                io.add(g + offset, to: k)
                continue
            }
            // The part's gradient, built whole and then added (as the eager
            // VJPs do): its runs of g, zeros elsewhere in its blocks.
            let scratch = io.scratch(0, outer * blocks[k])
            if !whole { scratch.update(repeating: 0, count: outer * blocks[k]) }
            for o in 0..<outer where runs[k] > 0 {
                (scratch + o * blocks[k] + starts[k]).update(from: g + o * outBlock + offset, count: runs[k])
            }
            io.add(scratch, to: k)
        }
    }
}

/// `linear(x, W, b)`: x [rows, inputs] W + b, and its VJP.
final class LinearKernel: PlanKernel, KeepsProducts {
    var productInput: Int? { 1 }
    let rows: Int, inputs: Int, outputs: Int
    /// The output's gradient, kept until W's product is summed.
    let saved: UnsafeMutablePointer<Float>

    init(rows: Int, inputs: Int, outputs: Int) {
        (self.rows, self.inputs, self.outputs) = (rows, inputs, outputs)
        saved = planBuffer(rows * outputs)
    }

    deinit { saved.deallocate() }

    override func forward(_ io: PlanIO) {
        let y = io.output(0)
        y.update(repeating: 0, count: rows * outputs)
        Tensor.addProduct(into: y, io.input(0), io.input(1), m: rows, n: outputs, k: inputs, transposeA: false, transposeB: false)
        if io.hasInput(2) {
            let b = io.input(2)
            for r in 0..<rows { axpy(y + r * outputs, 1, b, outputs) }
        }
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        if io.needs(0) {
            let dx = io.scratch(0, rows * inputs)
            dx.update(repeating: 0, count: rows * inputs)
            io.productWithTransposedWeight(into: dx, g, weight: 1, rows: rows, n: inputs, k: outputs)
            io.add(dx, to: 0)
        }
        // The product is summed later, when the gradient's space may hold another's: g is kept.
        if io.needs(1) {
            saved.update(from: g, count: rows * outputs)
            io.addProduct(io.input(0), saved, rows: rows, m: inputs, n: outputs, to: 1)
        }
        if io.hasInput(2) && io.needs(2) {
            let db = io.scratch(0, outputs)
            db.update(repeating: 0, count: outputs)
            for r in 0..<rows { axpy(db, 1, g + r * outputs, outputs) }
            io.add(db, to: 2)
        }
    }
}

/// Binary cross-entropy from logits, mean or sum.
final class BCEWithLogitsKernel: PlanKernel {
    let count: Int, divisor: Float

    init(count: Int, divisor: Float) {
        (self.count, self.divisor) = (count, divisor)
    }

    override func forward(_ io: PlanIO) {
        let x = io.input(0), t = io.input(1)
        var total: Double = 0
        for i in 0..<count {
            let v = x[i]
            total += Double(Swift.max(v, 0) - v * t[i] + Foundation.log1p(Foundation.exp(-Swift.abs(v))))
        }
        io.output(0)[0] = Float(total) / divisor
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        let k = g[0] / divisor
        let x = io.input(0), t = io.input(1), scratch = io.scratch(0, count)
        if io.needs(0) {
            for i in 0..<count { scratch[i] = (Scalar.sigmoid(x[i]) - t[i]) * k }
            io.add(scratch, to: 0)
        }
        if io.needs(1) {
            for i in 0..<count { scratch[i] = -x[i] * k }
            io.add(scratch, to: 1)
        }
    }
}

extension PlanIO {
    /// Adds d, a gradient of the output's `count` elements, to input i of
    /// n elements broadcast through `map` (nil: the output's shape): summed
    /// in the output's order, as `Tensor.sum(toShape:)` sums it.
    func add(_ d: UnsafePointer<Float>, through map: UnsafeBufferPointer<Int>?, count: Int, into n: Int, to i: Int) {
        guard let map else { return add(d, to: i) }
        let summed = scratch(1, n)
        summed.update(repeating: 0, count: n)
        for o in 0..<count { summed[map[o]] += d[o] }
        add(summed, to: i)
    }

    /// c += g [rows, k] times the transpose of input `weight` ([n, k]), as
    /// the eager VJPs take it: from a transposed copy made once per
    /// backward pass on the own kernels for four rows or more, else directly.
    public func productWithTransposedWeight(into c: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, weight: Int,
                                            rows: Int, n: Int, k: Int) {
        if rows >= 4 && Tensor.ownKernelsTransposeB {
            Tensor.addProduct(into: c, g, plan.transposed(inputs[weight], rows: n, columns: k), m: rows, n: n, k: k,
                              transposeA: false, transposeB: false)
        } else {
            Tensor.addProduct(into: c, g, input(weight), m: rows, n: n, k: k, transposeA: false, transposeB: true)
        }
    }
}

/// A unary elementwise op (`Op.unary`): y = f(x), dx = g * f'(x, y).
final class UnaryKernel: PlanKernel {
    enum Forward {
        case scalar((Float) -> Float)
        case activation(VectorMath.Activation)
        /// x times a constant (the loop in vectors, where a closure would be called per element).
        case scale(Float)
    }
    let count: Int
    let f: Forward
    let derivative: (Float, Float) -> Float

    init(count: Int, _ f: Forward, derivative: @escaping (Float, Float) -> Float) {
        (self.count, self.f, self.derivative) = (count, f, derivative)
    }

    override func forward(_ io: PlanIO) {
        let x = io.input(0), y = io.output(0)
        switch f {
        case .scalar(let f): for i in 0..<count { y[i] = f(x[i]) }
        case .activation(let f): f.apply(x, y, count)
        case .scale(let s): for i in 0..<count { y[i] = x[i] * s }
        }
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0), io.needs(0) else { return }
        let x = io.input(0), y = io.output(0), scratch = io.scratch(0, count)
        // exp, sigmoid and tanh: the same slope, inline (the loop in vectors).
        if case .activation(let f) = self.f {
            // The slope's choice outside the loop, so that the loop runs in vectors.
            switch f {
            case .exp: for i in 0..<count { scratch[i] = g[i] * y[i] }
            case .sigmoid: for i in 0..<count { scratch[i] = g[i] * Scalar.sigmoidSlope(output: y[i]) }
            case .tanh: for i in 0..<count { scratch[i] = g[i] * Scalar.tanhSlope(output: y[i]) }
            }
        } else if case .scale(let s) = self.f {
            for i in 0..<count { scratch[i] = g[i] * s }
        } else {
            for i in 0..<count { scratch[i] = g[i] * derivative(x[i], y[i]) }
        }
        io.add(scratch, to: 0)
    }
}

/// add, sub, mul and div, with broadcasting: each output element's inputs
/// are found by index maps made when traced (nil: the input has the
/// output's shape), and a broadcast input's gradient is summed back in the
/// output's order, as `Tensor.sum(toShape:)` sums it.
final class BinaryKernel: PlanKernel {
    enum Kind { case add, sub, mul, div }
    let kind: Kind
    let count: Int, countA: Int, countB: Int
    let mapA: [Int]?, mapB: [Int]?

    init(_ kind: Kind, a: [Int], b: [Int], output: [Int]) {
        self.kind = kind
        (count, countA, countB, mapA, mapB) = BinaryKernel.maps(a, b, output)
    }

    /// The element counts of the output and both inputs, and each input's
    /// index map (nil where it has the output's shape).
    static func maps(_ a: [Int], _ b: [Int], _ output: [Int]) -> (Int, Int, Int, [Int]?, [Int]?) {
        (output.reduce(1, *), a.reduce(1, *), b.reduce(1, *),
         a == output ? nil : indices(of: a, in: output), b == output ? nil : indices(of: b, in: output))
    }

    /// For each element of `output` (row-major), the element of `shape` broadcast to it.
    static func indices(of shape: [Int], in output: [Int]) -> [Int] {
        let r = output.count
        var strides = [Int](repeating: 0, count: r)
        var step = 1
        for k in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[r - shape.count + k] = shape[k] == 1 ? 0 : step
            step *= shape[k]
        }
        var out = [Int](repeating: 0, count: output.reduce(1, *))
        var coordinate = [Int](repeating: 0, count: r)
        var offset = 0
        for o in out.indices {
            out[o] = offset
            var k = r - 1
            while k >= 0 {
                coordinate[k] += 1
                offset += strides[k]
                if coordinate[k] < output[k] { break }
                offset -= strides[k] * coordinate[k]
                coordinate[k] = 0
                k -= 1
            }
        }
        return out
    }

    override func forward(_ io: PlanIO) {
        let a = io.input(0), b = io.input(1), y = io.output(0)
        if mapA == nil && mapB == nil {
            // Same shapes: plain loops, in vectors.
            switch kind {
            case .add: for o in 0..<count { y[o] = a[o] + b[o] }
            case .sub: for o in 0..<count { y[o] = a[o] - b[o] }
            case .mul: for o in 0..<count { y[o] = a[o] * b[o] }
            case .div: for o in 0..<count { y[o] = a[o] / b[o] }
            }
            return
        }
        mapA.withOptionalBuffer { ma in
            mapB.withOptionalBuffer { mb in
                for o in 0..<count {
                    let x = a[ma?[o] ?? o], v = b[mb?[o] ?? o]
                    switch kind {
                    case .add: y[o] = x + v
                    case .sub: y[o] = x - v
                    case .mul: y[o] = x * v
                    case .div: y[o] = x / v
                    }
                }
            }
        }
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        let a = io.input(0), b = io.input(1), product = io.scratch(0, count)
        mapA.withOptionalBuffer { ma in
            mapB.withOptionalBuffer { mb in
                if io.needs(0) {
                    switch kind {
                    case .add, .sub: io.add(UnsafePointer(g), through: ma, count: count, into: countA, to: 0)
                    case .mul:
                        for o in 0..<count { product[o] = g[o] * b[mb?[o] ?? o] }
                        io.add(product, through: ma, count: count, into: countA, to: 0)
                    case .div:
                        for o in 0..<count { product[o] = g[o] / b[mb?[o] ?? o] }
                        io.add(product, through: ma, count: count, into: countA, to: 0)
                    }
                }
                if io.needs(1) {
                    switch kind {
                    case .add: io.add(UnsafePointer(g), through: mb, count: count, into: countB, to: 1)
                    case .sub:
                        for o in 0..<count { product[o] = -g[o] }
                        io.add(product, through: mb, count: count, into: countB, to: 1)
                    case .mul:
                        for o in 0..<count { product[o] = g[o] * a[ma?[o] ?? o] }
                        io.add(product, through: mb, count: count, into: countB, to: 1)
                    case .div:
                        for o in 0..<count {
                            let gx = g[o] * a[ma?[o] ?? o], v = b[mb?[o] ?? o]
                            product[o] = -gx / (v * v)
                        }
                        io.add(product, through: mb, count: count, into: countB, to: 1)
                    }
                }
            }
        }
    }

}

/// `sum` along an axis (or of everything): sequential sums, as `Tensor.reduce`;
/// each input element's gradient is its line's.
final class SumKernel: PlanKernel {
    let outer: Int, n: Int, inner: Int

    init(shape: [Int], axis: Int?) {
        if let axis {
            (outer, n, inner) = (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
        } else {
            (outer, n, inner) = (1, shape.reduce(1, *), 1)
        }
    }

    override func forward(_ io: PlanIO) {
        let x = io.input(0), y = io.output(0)
        for o in 0..<outer {
            if inner == 1 {
                var s: Float = 0
                for j in 0..<n { s += x[o * n + j] }
                y[o] = s
                continue
            }
            // Line by line over the summed axis: each output still adds its
            // elements in order from zero, with whole lines in vectors.
            let out = y + o * inner
            out.update(repeating: 0, count: inner)
            for j in 0..<n {
                let line = x + (o * n + j) * inner
                for i in 0..<inner { out[i] += line[i] }
            }
        }
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0), io.needs(0) else { return }
        let scratch = io.scratch(0, outer * n * inner)
        for o in 0..<outer { for j in 0..<n { for i in 0..<inner { scratch[(o * n + j) * inner + i] = g[o * inner + i] } } }
        io.add(scratch, to: 0)
    }
}

extension Optional where Wrapped == [Int] {
    /// The array's buffer, or nil, for the duration of `body`.
    func withOptionalBuffer<R>(_ body: (UnsafeBufferPointer<Int>?) -> R) -> R {
        guard let self else { return body(nil) }
        return self.withUnsafeBufferPointer { body($0) }
    }
}

/// `a @ b` for matrices [m, k] x [k, n], or batches of them ([batch, m, k]
/// with [batch, k, n], or one side shared by the batch), and its VJP g b^T
/// and a^T g, a shared side's summed over the batch in order.
final class MatmulKernel: PlanKernel, KeepsProducts {
    var productInput: Int? { stacksProducts ? 1 : nil }
    let m: Int, k: Int, n: Int
    /// The batch's size, and whether each side has one (else it is shared).
    let batches: Int, aBatched: Bool, bBatched: Bool
    /// Plain matrices: b's gradient a^T g is kept to be summed with b's other
    /// products as one (`PlanIO.addProduct`), g in `saved` until then.
    let stacksProducts: Bool
    let saved: UnsafeMutablePointer<Float>?

    init(m: Int, k: Int, n: Int, batches: Int = 1, aBatched: Bool = false, bBatched: Bool = false, stacksProducts: Bool = false) {
        (self.m, self.k, self.n) = (m, k, n)
        (self.batches, self.aBatched, self.bBatched) = (batches, aBatched, bBatched)
        self.stacksProducts = stacksProducts
        saved = stacksProducts ? planBuffer(m * n) : nil
    }

    deinit { saved?.deallocate() }

    override func forward(_ io: PlanIO) {
        let (a, b, y) = (io.input(0), io.input(1), io.output(0))
        y.update(repeating: 0, count: batches * m * n)
        for t in 0..<batches {
            Tensor.addProduct(into: y + t * m * n, a + (aBatched ? t * m * k : 0), b + (bBatched ? t * k * n : 0),
                              m: m, n: n, k: k, transposeA: false, transposeB: false)
        }
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        let (a, b) = (io.input(0), io.input(1))
        if io.needs(0) && stacksProducts {
            // g b^T from b's transposed copy, made once per backward pass.
            let d = io.scratch(0, m * k)
            d.update(repeating: 0, count: m * k)
            io.productWithTransposedWeight(into: d, g, weight: 1, rows: m, n: k, k: n)
            io.add(d, to: 0)
        } else if io.needs(0) {
            let d = io.scratch(0, batches * m * k)
            d.update(repeating: 0, count: batches * m * k)
            for t in 0..<batches {
                Tensor.addProduct(into: d + t * m * k, g + t * m * n, b + (bBatched ? t * k * n : 0), m: m, n: k, k: n, transposeA: false, transposeB: true)
            }
            io.add(aBatched ? UnsafePointer(d) : summedOverBatch(d, m * k, io), to: 0)
        }
        if io.needs(1), let saved {
            saved.update(from: g, count: m * n)
            io.addProduct(a, saved, rows: m, m: k, n: n, to: 1)
        } else if io.needs(1) {
            let d = io.scratch(0, batches * k * n)
            d.update(repeating: 0, count: batches * k * n)
            for t in 0..<batches {
                Tensor.addProduct(into: d + t * k * n, a + (aBatched ? t * m * k : 0), g + t * m * n, m: k, n: n, k: m, transposeA: true, transposeB: false)
            }
            io.add(bBatched ? UnsafePointer(d) : summedOverBatch(d, k * n, io), to: 1)
        }
    }

    /// A shared side's gradient: the batch's products summed in order (as `reduce(.sum, axis: 0)`).
    private func summedOverBatch(_ d: UnsafeMutablePointer<Float>, _ size: Int, _ io: PlanIO) -> UnsafePointer<Float> {
        guard batches > 1 || aBatched || bBatched else { return UnsafePointer(d) }
        let out = io.scratch(1, size)
        for i in 0..<size {
            var s: Float = 0
            for t in 0..<batches { s += d[t * size + i] }
            out[i] = s
        }
        return UnsafePointer(out)
    }
}

/// `softmax` along an axis, and its VJP y (g - sum(g y)).
final class SoftmaxKernel: PlanKernel {
    let outer: Int, n: Int, inner: Int

    init(shape: [Int], axis: Int) {
        (outer, n, inner) = (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
    }

    override func forward(_ io: PlanIO) {
        let x = io.input(0), y = io.output(0)
        // Lines are independent: threads take whole ones (the same bits).
        Parallel.forEach(outer, work: 24 * outer * n * inner) { range in
            if inner == 1 {
                mnemo_softmax_lines(OwnKernels.level, x + range.lowerBound * n, y + range.lowerBound * n, range.count, n)
                return
            }
            for o in range { for i in 0..<inner { Tensor.softmaxLine(x + o * n * inner + i, y + o * n * inner + i, n, inner) } }
        }
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0), io.needs(0) else { return }
        let y = io.output(0)
        if inner == 1 {
            // Contiguous lines (row_kernels.c), eight at a time, written or added straight into the input's gradient.
            let (lines, n, level) = (outer, n, OwnKernels.level)
            io.accumulate(to: 0) { d, first in
                Parallel.forEach(lines, work: 4 * lines * n) { range in
                    mnemo_softmax_backward_lines(level, y + range.lowerBound * n, g + range.lowerBound * n, d + range.lowerBound * n,
                                                 range.count, n, first ? 0 : 1)
                }
            }
            return
        }
        let scratch = io.scratch(0, outer * n * inner), dots = io.scratch(1, outer * inner)
        // Lines are independent: threads take whole ones (the same bits).
        Parallel.forEach(outer, work: 4 * outer * n * inner) { range in
            // Contiguous lines four at a time: their sums are four independent
            // chains of additions, each in order.
            var first = range.lowerBound
            if inner == 1 {
                while first + 4 <= range.upperBound {
                    var s = SIMD4<Float>()
                    for j in 0..<n {
                        for k in 0..<4 { let at = (first + k) * n + j; s[k] += g[at] * y[at] }
                    }
                    for k in 0..<4 { dots[first + k] = s[k] }
                    first += 4
                }
            }
            for o in first..<range.upperBound {
                for i in 0..<inner {
                    var s: Float = 0
                    for j in 0..<n { let at = (o * n + j) * inner + i; s += g[at] * y[at] }
                    dots[o * inner + i] = s
                }
            }
            for o in range {
                for j in 0..<n { for i in 0..<inner {
                    let at = (o * n + j) * inner + i
                    scratch[at] = y[at] * (g[at] - dots[o * inner + i])
                } }
            }
        }
        io.add(scratch, to: 0)
    }
}

/// Mean squared error, and its VJP 2 (p - t) g / n.
final class MSEKernel: PlanKernel {
    let count: Int
    /// p - t, kept for the backward pass.
    let diff: UnsafeMutablePointer<Float>

    init(count: Int) {
        self.count = count
        diff = planBuffer(count)
    }

    deinit { diff.deallocate() }

    override func forward(_ io: PlanIO) {
        let p = io.input(0), t = io.input(1)
        var total: Float = 0
        for i in 0..<count {
            diff[i] = p[i] - t[i]
            total = total + diff[i] * diff[i]
        }
        io.output(0)[0] = total / Float(max(count, 1))
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        let s = 2 * g[0] / Float(max(count, 1)), scratch = io.scratch(0, count)
        for i in 0..<count { scratch[i] = diff[i] * s }
        io.add(scratch, to: 0)
        if io.needs(1) {
            for i in 0..<count { scratch[i] = -(diff[i] * s) }
            io.add(scratch, to: 1)
        }
    }
}

/// Cross-entropy from logits [rows, classes] with class indices (one per
/// row) or probabilities (the logits' shape): the mean over rows of
/// -sum(P log softmax(x)), and its VJP.
final class CrossEntropyKernel: PlanKernel {
    let rows: Int, classes: Int, indices: Bool
    /// The targets as probabilities, log softmax and softmax, kept for the backward pass.
    let probabilities, logp, soft: UnsafeMutablePointer<Float>

    init(rows: Int, classes: Int, indices: Bool) {
        (self.rows, self.classes, self.indices) = (rows, classes, indices)
        (probabilities, logp, soft) = (planBuffer(rows * classes), planBuffer(rows * classes), planBuffer(rows * classes))
    }

    deinit { for p in [probabilities, logp, soft] { p.deallocate() } }

    override func forward(_ io: PlanIO) throws {
        let x = io.input(0), t = io.input(1), n = classes
        if indices {
            probabilities.update(repeating: 0, count: rows * n)
            for r in 0..<rows {
                let v = t[r]
                guard v == v.rounded(), v >= 0, v < Float(n) else { throw TensorError("one_hot index \(v) is out of range for \(n) classes") }
                probabilities[r * n + Int(v)] = 1
            }
        } else {
            probabilities.update(from: t, count: rows * n)
        }
        for r in 0..<rows {
            let lse = Tensor.logsumexpLine(x + r * n, n, 1)
            for j in 0..<n { logp[r * n + j] = x[r * n + j] - lse }
            Tensor.softmaxLine(x + r * n, soft + r * n, n, 1)
        }
        var total: Float = 0
        for i in 0..<(rows * n) { total = total + probabilities[i] * logp[i] }
        io.output(0)[0] = -total / Float(max(rows, 1))
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        let k = g[0] / Float(max(rows, 1)), n = classes
        let scratch = io.scratch(0, rows * n), rowMass = io.scratch(1, rows)
        if io.needs(0) {
            for r in 0..<rows {
                var s: Float = 0
                for j in 0..<n { s += probabilities[r * n + j] }
                rowMass[r] = s
            }
            for r in 0..<rows { for j in 0..<n { scratch[r * n + j] = ((soft[r * n + j] * rowMass[r]) - probabilities[r * n + j]) * k } }
            io.add(scratch, to: 0)
        }
        if !indices && io.needs(1) {
            for i in 0..<(rows * n) { scratch[i] = logp[i] * (-k) }
            io.add(scratch, to: 1)
        }
    }
}

/// `split` along an axis: one output per piece; the input's gradient is the
/// pieces' gradients in place (zeros for a piece nothing used).
final class SplitKernel: PlanKernel {
    let outer: Int, n: Int, inner: Int
    let sizes: [Int], starts: [Int]

    init(shape: [Int], axis: Int, sizes: [Int]) {
        (outer, n, inner) = (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
        self.sizes = sizes
        starts = sizes.indices.map { sizes[..<$0].reduce(0, +) }
    }

    override func forward(_ io: PlanIO) {
        let x = io.input(0)
        for k in sizes.indices {
            let run = sizes[k] * inner, out = io.output(k)
            for o in 0..<outer where run > 0 { (out + o * run).update(from: x + (o * n + starts[k]) * inner, count: run) }
        }
    }

    override func backward(_ io: PlanIO) {
        guard io.needs(0) else { return }
        let d = io.scratch(0, outer * n * inner)
        d.update(repeating: 0, count: outer * n * inner)
        for k in sizes.indices {
            guard let g = io.gradient(ofOutput: k), sizes[k] > 0 else { continue }
            let run = sizes[k] * inner
            for o in 0..<outer { (d + (o * n + starts[k]) * inner).update(from: g + o * run, count: run) }
        }
        io.add(d, to: 0)
    }
}

/// A comparison, 1 where it holds and 0 elsewhere, with broadcasting (a constant to gradients).
final class CompareKernel: PlanKernel {
    let count: Int
    let mapA: [Int]?, mapB: [Int]?
    let holds: (Float, Float) -> Bool

    init(a: [Int], b: [Int], output: [Int], _ holds: @escaping (Float, Float) -> Bool) {
        (count, _, _, mapA, mapB) = BinaryKernel.maps(a, b, output)
        self.holds = holds
    }

    override func forward(_ io: PlanIO) {
        let a = io.input(0), b = io.input(1), y = io.output(0)
        mapA.withOptionalBuffer { ma in
            mapB.withOptionalBuffer { mb in
                for o in 0..<count { y[o] = holds(a[ma?[o] ?? o], b[mb?[o] ?? o]) ? 1 : 0 }
            }
        }
    }

    override func backward(_ io: PlanIO) {}
}

/// A reordering of elements (`permute`): output element o is input element
/// `map[o]`; the gradient goes back to where each came from.
final class ReorderKernel: PlanKernel {
    let map: [Int]

    init(map: [Int]) { self.map = map }

    /// The map of `permute(perm)` on a tensor of `shape`.
    static func permute(_ shape: [Int], _ perm: [Int]) -> ReorderKernel {
        var strides = [Int](repeating: 1, count: shape.count)
        for k in stride(from: shape.count - 2, through: 0, by: -1) { strides[k] = strides[k + 1] * shape[k + 1] }
        let outShape = perm.map { shape[$0] }
        var map = [Int](repeating: 0, count: shape.reduce(1, *))
        var coordinate = [Int](repeating: 0, count: perm.count)
        for o in map.indices {
            var offset = 0
            for k in perm.indices { offset += coordinate[k] * strides[perm[k]] }
            map[o] = offset
            var k = perm.count - 1
            while k >= 0 {
                coordinate[k] += 1
                if coordinate[k] < outShape[k] { break }
                coordinate[k] = 0
                k -= 1
            }
        }
        return ReorderKernel(map: map)
    }

    override func forward(_ io: PlanIO) {
        let x = io.input(0), y = io.output(0)
        map.withUnsafeBufferPointer { m in for o in m.indices { y[o] = x[m[o]] } }
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0), io.needs(0) else { return }
        let d = io.scratch(0, map.count)
        map.withUnsafeBufferPointer { m in for o in m.indices { d[m[o]] = g[o] } }
        io.add(d, to: 0)
    }
}

/// `maximum` and `minimum`: the first input where `takeFirst` holds, else
/// the second, with broadcasting; each gradient is g times the 0/1 mask
/// (or 1 - mask), summed back to its input's shape.
final class SelectKernel: PlanKernel {
    let count: Int, countA: Int, countB: Int
    let mapA: [Int]?, mapB: [Int]?
    let takeFirst: (Float, Float) -> Bool
    /// The mask of the forward run, kept for the backward pass.
    let mask: UnsafeMutablePointer<Float>

    init(a: [Int], b: [Int], output: [Int], _ takeFirst: @escaping (Float, Float) -> Bool) {
        (count, countA, countB, mapA, mapB) = BinaryKernel.maps(a, b, output)
        self.takeFirst = takeFirst
        mask = planBuffer(count)
    }

    deinit { mask.deallocate() }

    override func forward(_ io: PlanIO) {
        let a = io.input(0), b = io.input(1), y = io.output(0)
        mapA.withOptionalBuffer { ma in
            mapB.withOptionalBuffer { mb in
                for o in 0..<count {
                    let (x, v) = (a[ma?[o] ?? o], b[mb?[o] ?? o])
                    let first = takeFirst(x, v)
                    mask[o] = first ? 1 : 0
                    y[o] = first ? x : v
                }
            }
        }
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        let product = io.scratch(0, count)
        for (i, map, n) in [(0, mapA, countA), (1, mapB, countB)] where io.needs(i) {
            for o in 0..<count { product[o] = g[o] * (i == 0 ? mask[o] : 1 - mask[o]) }
            map.withOptionalBuffer { io.add(product, through: $0, count: count, into: n, to: i) }
        }
    }
}

/// `logsumexp` along an axis (removed or kept), and its VJP softmax(x) g.
final class LogSumExpKernel: PlanKernel {
    let outer: Int, n: Int, inner: Int

    init(shape: [Int], axis: Int) {
        (outer, n, inner) = (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
    }

    override func forward(_ io: PlanIO) {
        let x = io.input(0), y = io.output(0)
        for o in 0..<outer { for i in 0..<inner { y[o * inner + i] = Tensor.logsumexpLine(x + o * n * inner + i, n, inner) } }
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0), io.needs(0) else { return }
        let x = io.input(0), d = io.scratch(0, outer * n * inner)
        for o in 0..<outer { for i in 0..<inner { Tensor.softmaxLine(x + o * n * inner + i, d + o * n * inner + i, n, inner) } }
        for o in 0..<outer { for j in 0..<n { for i in 0..<inner { d[(o * n + j) * inner + i] *= g[o * inner + i] } } }
        io.add(d, to: 0)
    }
}

/// `gather` along an axis by a tensor of indices read at each run (checked,
/// negative ones counted from the end, as `Tensor.gatherSelection`); the
/// gradient adds each pick back where it came from, in order.
final class GatherKernel: PlanKernel {
    let outer: Int, n: Int, inner: Int, picks: Int, axis: Int
    /// This run's picks along the axis.
    let chosen: UnsafeMutablePointer<Int>

    init(shape: [Int], axis: Int, picks: Int) {
        (outer, n, inner) = (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
        (self.picks, self.axis) = (picks, axis)
        chosen = .allocate(capacity: max(1, picks))
    }

    deinit { chosen.deallocate() }

    override func forward(_ io: PlanIO) throws {
        let x = io.input(0), indices = io.input(1), y = io.output(0)
        for k in 0..<picks {
            let v = indices[k]
            guard v == v.rounded(), v >= -Float(n), v < Float(n) else {
                throw TensorError("gather index \(v) is out of range for axis \(axis) of size \(n)")
            }
            let i = Int(v)
            chosen[k] = i < 0 ? i + n : i
        }
        var j = 0
        for o in 0..<outer { for k in 0..<picks { for i in 0..<inner { y[j] = x[(o * n + chosen[k]) * inner + i]; j += 1 } } }
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0), io.needs(0) else { return }
        let d = io.scratch(0, outer * n * inner)
        d.update(repeating: 0, count: outer * n * inner)
        var j = 0
        for o in 0..<outer { for k in 0..<picks { for i in 0..<inner { d[(o * n + chosen[k]) * inner + i] += g[j]; j += 1 } } }
        io.add(d, to: 0)
    }
}

/// `where(condition, a, b)` with broadcasting, the condition read at each run
/// (its third input); each gradient goes whole to the side chosen and is
/// summed back to that side's shape.
final class ChooseKernel: PlanKernel {
    let count: Int, countA: Int, countB: Int
    let mapA: [Int]?, mapB: [Int]?, mapCondition: [Int]?
    /// The choice of the forward run, kept for the backward pass.
    let chosen: UnsafeMutablePointer<Bool>

    init(condition: [Int], a: [Int], b: [Int], output: [Int]) {
        (count, countA, countB, mapA, mapB) = BinaryKernel.maps(a, b, output)
        mapCondition = condition == output ? nil : BinaryKernel.indices(of: condition, in: output)
        chosen = .allocate(capacity: max(1, count))
    }

    deinit { chosen.deallocate() }

    override func forward(_ io: PlanIO) {
        let a = io.input(0), b = io.input(1), c = io.input(2), y = io.output(0)
        mapA.withOptionalBuffer { ma in
            mapB.withOptionalBuffer { mb in
                mapCondition.withOptionalBuffer { mc in
                    for o in 0..<count {
                        chosen[o] = c[mc?[o] ?? o] != 0
                        y[o] = chosen[o] ? a[ma?[o] ?? o] : b[mb?[o] ?? o]
                    }
                }
            }
        }
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        let part = io.scratch(0, count)
        for (i, map, n) in [(0, mapA, countA), (1, mapB, countB)] where io.needs(i) {
            for o in 0..<count { part[o] = chosen[o] == (i == 0) ? g[o] : 0 }
            map.withOptionalBuffer { io.add(part, through: $0, count: count, into: n, to: i) }
        }
    }
}

/// `x ** p` with broadcasting, and its VJP: p x^(p-1) (0 where p is 0) for
/// x, y log x (0 where x <= 0) for p, each times g and summed back to its shape.
final class PowKernel: PlanKernel {
    let count: Int, countA: Int, countB: Int
    let mapA: [Int]?, mapB: [Int]?

    init(a: [Int], b: [Int], output: [Int]) {
        (count, countA, countB, mapA, mapB) = BinaryKernel.maps(a, b, output)
    }

    override func forward(_ io: PlanIO) {
        let x = io.input(0), p = io.input(1), y = io.output(0)
        mapA.withOptionalBuffer { ma in
            mapB.withOptionalBuffer { mb in
                for o in 0..<count { y[o] = Foundation.pow(x[ma?[o] ?? o], p[mb?[o] ?? o]) }
            }
        }
    }

    override func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        let x = io.input(0), p = io.input(1), y = io.output(0), part = io.scratch(0, count)
        mapA.withOptionalBuffer { ma in
            mapB.withOptionalBuffer { mb in
                for (i, map, n) in [(0, ma, countA), (1, mb, countB)] where io.needs(i) {
                    for o in 0..<count {
                        let (xv, pv) = (x[ma?[o] ?? o], p[mb?[o] ?? o])
                        part[o] = g[o] * (i == 0 ? (pv == 0 ? 0 : pv * Foundation.pow(xv, pv - 1)) : (xv > 0 ? y[o] * Foundation.log(xv) : 0))
                    }
                    io.add(part, through: map, count: count, into: n, to: i)
                }
            }
        }
    }
}
