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
    /// A gradient per input, built whole and then added (as the eager VJPs do).
    let scratch: UnsafeMutablePointer<Float>
    let scratchCount: Int

    init(outer: Int, blocks: [Int], starts: [Int], runs: [Int]) {
        (self.outer, self.blocks, self.starts, self.runs) = (outer, blocks, starts, runs)
        outBlock = runs.reduce(0, +)
        scratchCount = max(1, (blocks.max() ?? 0) * outer)
        scratch = .allocate(capacity: scratchCount)
    }

    deinit { scratch.deallocate() }

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

    func forward(_ io: PlanIO) {
        let y = io.output(0)
        var at = 0
        for o in 0..<outer {
            for k in runs.indices where runs[k] > 0 {
                (y + at).update(from: io.input(k) + o * blocks[k] + starts[k], count: runs[k])
                at += runs[k]
            }
        }
    }

    func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        var offset = 0
        for k in runs.indices {
            defer { offset += runs[k] }
            guard io.needs(k) else { continue }
            // The part's gradient: its runs of g, zeros elsewhere in its blocks.
            let whole = runs[k] == blocks[k]
            if !whole { scratch.update(repeating: 0, count: outer * blocks[k]) }
            for o in 0..<outer where runs[k] > 0 {
                (scratch + o * blocks[k] + starts[k]).update(from: g + o * outBlock + offset, count: runs[k])
            }
            io.add(scratch, to: k)
        }
    }
}

/// `linear(x, W, b)`: x [rows, inputs] W + b, and its VJP.
final class LinearKernel: PlanKernel {
    let rows: Int, inputs: Int, outputs: Int
    let dx: UnsafeMutablePointer<Float>, db: UnsafeMutablePointer<Float>

    init(rows: Int, inputs: Int, outputs: Int) {
        (self.rows, self.inputs, self.outputs) = (rows, inputs, outputs)
        dx = .allocate(capacity: max(1, rows * inputs))
        db = .allocate(capacity: max(1, outputs))
    }

    deinit { dx.deallocate(); db.deallocate() }

    func forward(_ io: PlanIO) {
        let y = io.output(0)
        y.update(repeating: 0, count: rows * outputs)
        Tensor.addProduct(into: y, io.input(0), io.input(1), m: rows, n: outputs, k: inputs, transposeA: false, transposeB: false)
        if io.hasInput(2) {
            let b = io.input(2)
            for r in 0..<rows { axpy(y + r * outputs, 1, b, outputs) }
        }
    }

    func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        if io.needs(0) {
            dx.update(repeating: 0, count: rows * inputs)
            io.productWithTransposedWeight(into: dx, g, weight: 1, rows: rows, n: inputs, k: outputs)
            io.add(dx, to: 0)
        }
        io.addProduct(io.input(0), g, rows: rows, m: inputs, n: outputs, to: 1)
        if io.hasInput(2) && io.needs(2) {
            db.update(repeating: 0, count: outputs)
            for r in 0..<rows { axpy(db, 1, g + r * outputs, outputs) }
            io.add(db, to: 2)
        }
    }
}

/// Binary cross-entropy from logits, mean or sum.
final class BCEWithLogitsKernel: PlanKernel {
    let count: Int, divisor: Float
    let scratch: UnsafeMutablePointer<Float>

    init(count: Int, divisor: Float) {
        (self.count, self.divisor) = (count, divisor)
        scratch = .allocate(capacity: max(1, count))
    }

    deinit { scratch.deallocate() }

    func forward(_ io: PlanIO) {
        let x = io.input(0), t = io.input(1)
        var total: Double = 0
        for i in 0..<count {
            let v = x[i]
            total += Double(Swift.max(v, 0) - v * t[i] + Foundation.log1p(Foundation.exp(-Swift.abs(v))))
        }
        io.output(0)[0] = Float(total) / divisor
    }

    func backward(_ io: PlanIO) {
        guard let g = io.gradient(ofOutput: 0) else { return }
        let k = g[0] / divisor
        let x = io.input(0), t = io.input(1)
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
