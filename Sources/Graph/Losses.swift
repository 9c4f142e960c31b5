import Foundation
import Tensor

// Losses, fused with their gradients so that they are stable in float32.
// Each returns the mean over elements (or rows) unless `sum` is asked for.

extension Op {
    public static func mse(_ prediction: Variable, _ target: Variable) throws -> Variable {
        try checkSameShape("mse", prediction, target)
        let diff = try prediction.value - target.value
        try checkNotEmpty("mse", diff.count, sum: false)
        let n = Float(max(diff.count, 1))
        let value = Tensor(diff.data.reduce(0) { $0 + $1 * $1 } / n)
        let (pv, tv) = (prediction.value, target.value)
        return Graph.planned(MSEKernel(count: diff.count), "mse", flops: 3 * diff.count, inputs: [prediction, target],
                             Graph.record(value, prediction, target, op: "mse", flops: 3 * diff.count, { back, prediction, target in
            let d = diff * (2 * back.gradient.scalar / n)
            try back.add(d, to: prediction)
            try back.add(to: target) { -d }
        }, graph: { g, nodes in
            let d = scale(try mul(g, try sub(Graph.input(pv, nodes[0]), Graph.input(tv, nodes[1]))), 2 / n)
            return [d, neg(d)]
        }))
    }

    /// Binary cross-entropy from logits: max(x, 0) - x t + log(1 + exp(-|x|)).
    public static func bceWithLogits(_ logits: Variable, _ target: Variable, sum: Bool = false) throws -> Variable {
        try checkSameShape("bce", logits, target)
        try checkNotEmpty("bce", logits.value.count, sum: sum)
        let (x, t) = (logits.value, target.value)
        var total: Double = 0
        for i in 0..<x.count {
            let v = x.data[i]
            total += Double(Swift.max(v, 0) - v * t.data[i] + Foundation.log1p(Foundation.exp(-Swift.abs(v))))
        }
        let n = Float(sum ? 1 : max(x.count, 1))
        return Graph.planned(BCEWithLogitsKernel(count: x.count, divisor: n), "bce", flops: 6 * x.count, inputs: [logits, target], Graph.record(Tensor(Float(total) / n), logits, target, op: "bce", flops: 6 * x.count, { back, logits, target in
            let k = back.gradient.scalar / n
            try back.add(to: logits) { try Tensor.zip(x, t) { v, tv in (Scalar.sigmoid(v) - tv) * k } }
            try back.add(to: target) { x.map { -$0 * k } }
        }, graph: { g, nodes in
            let (xv, tv) = (Graph.input(x, nodes[0]), Graph.input(t, nodes[1]))
            let k = scale(g, 1 / n)
            return [try mul(k, try sub(sigmoid(xv), tv)), try mul(k, neg(xv))]
        }))
    }

    /// Binary cross-entropy from probabilities, clamped away from 0 and 1.
    public static func bceWithProbabilities(_ p: Variable, _ target: Variable, sum: Bool = false) throws -> Variable {
        try checkSameShape("bce", p, target)
        try checkNotEmpty("bce", p.value.count, sum: sum)
        let eps: Float = 1e-7
        let (x, t) = (p.value.map { Swift.min(Swift.max($0, eps), 1 - eps) }, target.value)
        var total: Double = 0
        for i in 0..<x.count {
            total -= Double(t.data[i] * Foundation.log(x.data[i]) + (1 - t.data[i]) * Foundation.log(1 - x.data[i]))
        }
        let n = Float(sum ? 1 : max(x.count, 1))
        return Graph.record(Tensor(Float(total) / n), p, target, op: "bce", flops: 6 * x.count) { back, p, target in
            let k = back.gradient.scalar / n
            try back.add(to: p) { try Tensor.zip(x, t) { v, tv in (v - tv) / (v * (1 - v)) * k } }
            try back.add(to: target) { x.map { (Foundation.log(1 - $0) - Foundation.log($0)) * k } }
        }
    }

    /// Cross-entropy from logits over the last axis. `target` holds class
    /// indices (shape of logits without its last axis) or probabilities (same
    /// shape as logits). Mean over rows.
    public static func crossEntropy(_ logits: Variable, _ target: Variable) throws -> Variable {
        let x = logits.value
        guard x.rank >= 1 else { throw TensorError("cross_entropy needs logits with a class axis, got a scalar") }
        let classes = x.shape[x.rank - 1]
        let rows = x.count / max(classes, 1)
        let probabilities: Tensor
        if target.shape == x.shape {
            probabilities = target.value
        } else if target.shape == Array(x.shape.dropLast()) || (rows == 1 && target.value.count == 1) {
            probabilities = try Tensor.onehot(Tensor(shape: Array(x.shape.dropLast()), data: target.value.data), classes: classes)
        } else {
            throw TensorError("cross_entropy: target of shape \(Tensor.shapeText(target.shape)) fits neither logits of shape \(Tensor.shapeText(x.shape)) (probabilities) nor \(Tensor.shapeText(Array(x.shape.dropLast()))) (class indices)")
        }
        try checkNotEmpty("cross_entropy", rows, sum: false)
        guard classes > 0 else { throw TensorError("cross_entropy needs at least one class, got logits of shape \(Tensor.shapeText(x.shape))") }
        let lse = try x.logsumexp(axis: -1, keepdims: true)
        let logp = try x - lse
        let total = try (probabilities * logp).data.reduce(0, +)
        let n = Float(max(rows, 1))
        let soft = try x.softmax(axis: -1)
        let targetIsData = target.shape == x.shape
        return Graph.planned(CrossEntropyKernel(rows: rows, classes: classes, indices: !targetIsData), "cross_entropy", flops: 5 * x.count,
                             inputs: [logits, target], Graph.record(Tensor(-total / n), logits, target, op: "cross_entropy", flops: 5 * x.count, { back, logits, target in
            let k = back.gradient.scalar / n
            try back.add(to: logits) {
                let rowMass = try probabilities.reduce(.sum, axis: -1, keepdims: true)
                return try ((try soft * rowMass) - probabilities) * k
            }
            // Class indices are data with no gradient; probabilities may be learned.
            try back.add(to: target) { targetIsData ? logp * (-k) : nil }
        }, graph: { g, nodes in
            // d/dx = (softmax(x) sum(P) - P) g / n, d/dP = -log softmax(x) g / n, as ops.
            let xv = Graph.input(x, nodes[0])
            let p = targetIsData ? Graph.input(probabilities, nodes[1]) : Variable(probabilities)
            let k = scale(g, 1 / n)
            let rowMass = try sum(p, axis: -1, keepdims: true)
            let dx = try mul(k, try sub(try mul(try softmax(xv, axis: -1), rowMass), p))
            let logSoftmax = try sub(xv, try logsumexp(xv, axis: -1, keepdims: true))
            return [dx, targetIsData ? try mul(k, neg(logSoftmax)) : nil]
        }))
    }

    /// A mean over no elements has no value: an empty batch is an error, as `mean` of an empty tensor is.
    static func checkNotEmpty(_ name: String, _ count: Int, sum: Bool) throws {
        if count == 0 && !sum { throw TensorError("\(name) of an empty batch: the mean of no elements has no value") }
    }

    static func checkSameShape(_ name: String, _ a: Variable, _ b: Variable) throws {
        guard a.shape == b.shape else {
            throw TensorError("\(name): prediction of shape \(Tensor.shapeText(a.shape)) and target of shape \(Tensor.shapeText(b.shape)) differ")
        }
    }
}
