import Foundation
import Graph
import Runtime
import Syntax
import Tensor

/// Builtins that make and transform tensors. Those that compute record graph
/// nodes (through `Op`), so gradients flow through them.
enum TensorBuiltins {
    /// A math function that maps numbers to numbers and tensors to tensors.
    static func unary(_ name: String, _ doc: String, _ op: @escaping (Variable) -> Variable, _ scalar: @escaping (Double) -> Double) -> Builtin {
        Builtin(name, "x", doc) { a in
            if case .number(let d) = try a["x"] { return .number(scalar(d)) }
            return .tensor(op(try a.tensor("x")))
        }.inPlans()
    }

    static func axisReduction(_ name: String, _ doc: String, _ op: @escaping (Variable, Int?, Bool) throws -> Variable,
                              list: @escaping ([Value]) throws -> Value) -> Builtin {
        Builtin(name, "x, axis = nil, keepdims = false", doc) { a in
            switch try a["x"] {
            case .list, .tuple:
                guard try a.isAbsent("axis") else { throw RuntimeError("\(name) of a list takes no axis") }
                return try list(try a.items("x"))
            case .number(let d):
                // min(9, 3) reads 3 as an axis: say so rather than answer 9.
                guard try a.isAbsent("axis") else { throw RuntimeError("\(name): a number has no axis \(Formatter.repr(try a["axis"])); to compare numbers, pass a list: \(name)([a, b])") }
                return .number(d)
            default: return .tensor(try op(try a.tensor("x"), try a.optionalInt("axis"), try a.bool("keepdims")))
            }
        }.inPlans()
    }

    static func numbers(_ items: [Value], _ name: String) throws -> [Double] {
        guard !items.isEmpty else { throw RuntimeError("\(name) of an empty list") }
        return try items.map {
            guard case .number(let d) = $0 else { throw RuntimeError("\(name) of a list needs numbers, got a \($0.kindName)") }
            return d
        }
    }

    static func tensors(_ a: Arguments, _ name: String) throws -> [Variable] {
        let items = try a.items(name)
        guard !items.isEmpty else { throw RuntimeError("\(a.builtin.name) needs at least one tensor") }
        return try items.map {
            guard let t = Operators.tensorOperand($0) else { throw RuntimeError("\(a.builtin.name) needs tensors, got a \($0.kindName)") }
            return t
        }
    }

    static let all: [Builtin] = [
        Builtin("tensor", "values", "A tensor from a number or nested lists of numbers: tensor([[1, 2], [3, 4]]).") { a in
            .tensor(Variable(try Convert.tensor(try a["values"])))
        }.notDifferentiable("a constant made from numbers"),
        Builtin("zeros", "*shape", "A tensor of zeros: zeros(2, 3) or zeros([2, 3]).") { a in
            .tensor(Variable(try Tensor.zeros(try a.shape("shape"))))
        }.notDifferentiable("a constant").inPlans(),
        Builtin("ones", "*shape", "A tensor of ones.") { a in .tensor(Variable(try Tensor.filled(try a.shape("shape"), 1))) }.notDifferentiable("a constant").inPlans(),
        Builtin("full", "shape, value", "A tensor of `shape` filled with `value`.") { a in
            .tensor(Variable(try Tensor.filled(try a.shape("shape"), try a.float("value"))))
        }.notDifferentiable("a constant").inPlans(),
        Builtin("eye", "n", "The n x n identity matrix.") { a in .tensor(Variable(try Tensor.eye(try a.int("n")))) }.notDifferentiable("a constant"),
        Builtin("arange", "start, stop = nil, step = 1", "Evenly spaced values in [start, stop); arange(n) is 0..n-1.") { a in
            var start = try a.number("start"), stop = try a.optionalNumber("stop")
            if stop == nil { stop = start; start = 0 }
            return .tensor(Variable(try Tensor.arange(start, stop!, try a.number("step"))))
        }.notDifferentiable("a constant"),
        Builtin("randn", "*shape, mean = 0, std = 1", "Normal random values from the seeded generator.") { a in
            .tensor(Variable(try Tensor.randn(try a.shape("shape"), a.interpreter.random, mean: try a.number("mean"), std: try a.number("std"))))
        }.notDifferentiable("a random draw"),
        Builtin("uniform", "*shape, low = 0, high = 1", "Uniform random values in [low, high) from the seeded generator.") { a in
            .tensor(Variable(try Tensor.uniform(try a.shape("shape"), a.interpreter.random, low: try a.number("low"), high: try a.number("high"))))
        }.notDifferentiable("a random draw"),
        Builtin("glorot", "*shape", "Glorot/Xavier uniform values for a weight used as x @ W (fan-in = rows, fan-out = columns).") { a in
            .tensor(Variable(try Tensor.glorot(try a.shape("shape"), a.interpreter.random)))
        }.notDifferentiable("a random draw"),
        Builtin("shape", "x", "The shape of a tensor, as a list.") { a in
            .list(ListBox(try a.tensor("x").shape.map { .number(Double($0)) }))
        }.notDifferentiable("a shape, not a tensor").inPlans(),
        Builtin("size", "x", "The number of elements of a tensor.") { a in .number(Double(try a.tensor("x").value.count)) }.notDifferentiable("a count, not a tensor"),
        Builtin("item", "x", "The number held by a one-element tensor.") { a in
            let t = try a.tensor("x")
            guard t.value.count == 1 else { throw RuntimeError("item needs a one-element tensor, got shape \(Tensor.shapeText(t.shape))") }
            return .number(Double(t.value.scalar))
        }.notDifferentiable("a number taken out of the graph").readingValues(),
        Builtin("allclose", "a, b, rtol = 1e-5, atol = 1e-6", "True when two tensors have the same shape and values within tolerance.") { a in
            let x = try a.tensor("a").value, y = try a.tensor("b").value
            let rtol = try a.number("rtol"), atol = try a.number("atol")
            guard x.shape == y.shape else { return .bool(false) }
            return .bool(zip(x.data, y.data).allSatisfy { Swift.abs(Double($0) - Double($1)) <= atol + rtol * Swift.abs(Double($1)) })
        }.notDifferentiable("a comparison").readingValues(),

        unary("exp", "e to the power x, elementwise.", Op.exp, Foundation.exp).checked("exp($(randn(3, 4)))"),
        unary("log", "Natural logarithm, elementwise.", Op.log, Foundation.log).checked("log($(uniform(3, 4, low: 0.5, high: 2)))"),
        unary("sqrt", "Square root, elementwise.", Op.sqrt, { $0.squareRoot() }).checked("sqrt($(uniform(3, 4, low: 0.5, high: 2)))"),
        unary("abs", "Absolute value, elementwise.", Op.abs, Swift.abs).checked("abs($(tensor([[-2, -0.5], [0.7, 3]])))"),
        unary("tanh", "Hyperbolic tangent, elementwise.", Op.tanh, Foundation.tanh).checked("tanh($(randn(3, 4)))", "tanh($(tensor([-20, 20, 0])))"),
        unary("sigmoid", "1 / (1 + exp(-x)), elementwise, stable.", Op.sigmoid, { Double(Scalar.sigmoid(Float($0))) }).checked("sigmoid($(randn(3, 4)))", "sigmoid($(tensor([-30, 30, 0])))"),
        unary("relu", "max(x, 0), elementwise.", Op.relu, { Swift.max($0, 0) }).checked("relu($(tensor([[-2, -0.5], [0.7, 3]])))"),
        unary("softplus", "log(1 + exp(x)), elementwise, stable.", Op.softplus, { Double(Scalar.softplus(Float($0))) }).checked("softplus($(randn(3, 4)))", "softplus($(tensor([-40, 40])))"),
        Builtin("pow", "x, p", "x to the power p, elementwise (same as x ** p).") { a in
            try Operators.binary(.power, try a["x"], try a["p"])
        }.checked("pow($(uniform(3, 2, low: 0.5, high: 2)), $(tensor([1.5, 2.5])))", "pow($(randn(4)), 3)"),
        Builtin("maximum", "a, b", "Elementwise maximum of two tensors (broadcast).") { a in
            if case .number(let x) = try a["a"], case .number(let y) = try a["b"] { return .number(Swift.max(x, y)) }
            return .tensor(try Op.maximum(try a.tensor("a"), try a.tensor("b")))
        }.checked("maximum($(tensor([[1, -2], [3, 0.5]])), $(tensor([0, 1])))").inPlans(),
        Builtin("minimum", "a, b", "Elementwise minimum of two tensors (broadcast).") { a in
            if case .number(let x) = try a["a"], case .number(let y) = try a["b"] { return .number(Swift.min(x, y)) }
            return .tensor(try Op.minimum(try a.tensor("a"), try a.tensor("b")))
        }.checked("minimum($(tensor([[1, -2], [3, 0.5]])), $(tensor([0, 1])))").inPlans(),
        Builtin("clip", "x, low, high", "x clamped into [low, high]; the gradient passes only inside.") { a in
            let lo = try a.number("low"), hi = try a.number("high")
            guard lo <= hi else { throw RuntimeError("clip: low (\(Formatter.number(lo))) is above high (\(Formatter.number(hi)))") }
            if case .number(let d) = try a["x"] { return .number(Swift.min(Swift.max(d, lo), hi)) }
            return .tensor(Op.clip(try a.tensor("x"), Float(lo), Float(hi)))
        }.checked("clip($(tensor([-3, -0.5, 0.2, 4])), -1, 1)").inPlans(),

        axisReduction("sum", "Sum over an axis (all elements when axis is nil); also sums a list.", { try Op.sum($0, axis: $1, keepdims: $2) }) { items in
            var total: Value = .number(0)
            for item in items { total = try Operators.binary(.add, total, item) }
            return total
        }.checked("sum($(randn(3, 4)))", "sum($(randn(3, 4)), 0)", "sum($(randn(2, 3, 4)), -1, keepdims: true)"),
        axisReduction("mean", "Mean over an axis (all elements when axis is nil); also of a list of numbers.", { try Op.mean($0, axis: $1, keepdims: $2) }) { items in
            let xs = try numbers(items, "mean")
            return .number(xs.reduce(0, +) / Double(xs.count))
        }.checked("mean($(randn(3, 4)))", "mean($(randn(3, 4)), 1)"),
        axisReduction("max", "Maximum over an axis (all elements when axis is nil); also of a list of numbers.", { try Op.extreme($0, max: true, axis: $1, keepdims: $2) }) { items in
            .number(try numbers(items, "max").max()!)
        }.checked("max($(tensor([[1, 5, 3], [4, 2, 6]])), 1)", "max($(tensor([1, 7, 3])))"),
        axisReduction("min", "Minimum over an axis (all elements when axis is nil); also of a list of numbers.", { try Op.extreme($0, max: false, axis: $1, keepdims: $2) }) { items in
            .number(try numbers(items, "min").min()!)
        }.checked("min($(tensor([[1, 5, 3], [4, 2, 6]])), 0)"),
        Builtin("argmax", "x, axis = nil", "Index of the largest value (over all elements, or along an axis). Not differentiable.") { a in
            let t = try a.tensor("x").value.reduce(.argmax, axis: try a.optionalInt("axis"))
            return t.rank == 0 ? .number(Double(t.scalar)) : .tensor(Variable(t))
        }.notDifferentiable("an index"),
        Builtin("argmin", "x, axis = nil", "Index of the smallest value (over all elements, or along an axis). Not differentiable.") { a in
            let t = try a.tensor("x").value.reduce(.argmin, axis: try a.optionalInt("axis"))
            return t.rank == 0 ? .number(Double(t.scalar)) : .tensor(Variable(t))
        }.notDifferentiable("an index"),
        Builtin("softmax", "x, axis = -1", "exp(x) / sum(exp(x)) along an axis, computed stably.") { a in
            .tensor(try Op.softmax(try a.tensor("x"), axis: try a.int("axis")))
        }.checked("softmax($(randn(3, 5)))", "softmax($(randn(3, 5)), 0)", "softmax($(tensor([100, 0, -100])))").inPlans(),
        Builtin("logsumexp", "x, axis = -1, keepdims = false", "log(sum(exp(x))) along an axis, computed stably.") { a in
            .tensor(try Op.logsumexp(try a.tensor("x"), axis: try a.int("axis"), keepdims: try a.bool("keepdims")))
        }.checked("logsumexp($(randn(3, 5)))", "logsumexp($(randn(3, 5)), 0, keepdims: true)").inPlans(),

        Builtin("matmul", "a, b", "Matrix product (same as a @ b); 1-d operands and a leading batch axis work as in NumPy.") { a in
            .tensor(try Op.matmul(try a.tensor("a"), try a.tensor("b")))
        }.checked("matmul($(randn(3, 4)), $(randn(4, 2)))", "matmul($(randn(4)), $(randn(4, 2)))", "matmul($(randn(2, 3, 4)), $(randn(4, 2)))"),
        Builtin("linear", "x, W, b = nil", "A dense layer, x @ W + b, as one graph node (x [in] or [rows, in], W [in, out], b [out] or nil).") { a in
            .tensor(try Op.linear(try a.tensor("x"), try a.tensor("W"), try a.isAbsent("b") ? nil : try a.tensor("b")))
        }.checked("linear($(randn(3, 4)), $(randn(4, 2)), $(randn(2)))", "linear($(randn(4)), $(randn(4, 2)))", "linear($(randn(2, 3, 4)), $(randn(4, 2)), $(randn(2)))").inPlans(),
        Builtin("outer", "a, b", "Outer product of two vectors.") { a in .tensor(try Op.outer(try a.tensor("a"), try a.tensor("b"))) }.checked("outer($(randn(3)), $(randn(4)))"),
        Builtin("transpose", "x, axes = nil", "Swaps the last two axes, or reorders axes by the list `axes`.") { a in
            let t = try a.tensor("x")
            if try a.isAbsent("axes") { return .tensor(try Op.permute(t, Tensor.swapLastTwo(rank: t.value.rank))) }
            let axes = try a.items("axes").map { try Operators.integer($0, "an axis") }.map { $0 < 0 ? $0 + t.value.rank : $0 }
            return .tensor(try Op.permute(t, axes))
        }.checked("transpose($(randn(3, 4)))", "transpose($(randn(2, 3, 4)), [2, 0, 1])").inPlans(),
        Builtin("reshape", "x, *shape", "The same elements in a new shape; one dimension may be -1.") { a in
            let dims = try a.items("shape").flatMap { v -> [Value] in
                switch v { case .list(let l): return l.items; case .tuple(let t): return t; default: return [v] }
            }.map { try Operators.integer($0, "a dimension") }
            return .tensor(try Op.reshape(try a.tensor("x"), dims))
        }.checked("reshape($(randn(3, 4)), 2, 6)").inPlans(),
        Builtin("flatten", "x", "The elements as a vector.") { a in .tensor(try Op.reshape(try a.tensor("x"), [-1])) }.checked("flatten($(randn(3, 4)))"),
        Builtin("unsqueeze", "x, axis", "Inserts an axis of size 1.") { a in
            let t = try a.tensor("x")
            var shape = t.shape
            shape.insert(1, at: try t.value.axis(try a.int("axis"), rankPlus: 1))
            return .tensor(try Op.reshape(t, shape))
        }.checked("unsqueeze($(randn(3, 4)), 1)").inPlans(),
        Builtin("squeeze", "x, axis = nil", "Removes an axis of size 1 (all of them when axis is nil).") { a in
            let t = try a.tensor("x")
            var shape = t.shape
            if let axis = try a.optionalInt("axis") {
                let ax = try t.value.axis(axis)
                guard shape[ax] == 1 else { throw RuntimeError("squeeze: axis \(axis) has size \(shape[ax]), not 1") }
                shape.remove(at: ax)
            } else {
                shape.removeAll { $0 == 1 }
            }
            return .tensor(try Op.reshape(t, shape))
        }.checked("squeeze($(randn(3, 1, 4)))").inPlans(),
        Builtin("concat", "tensors, axis = 0", "Joins tensors along an existing axis.") { a in
            .tensor(try Op.concat(try tensors(a, "tensors"), axis: try a.int("axis")))
        }.checked("concat([$(randn(2, 3)), $(randn(1, 3))])", "concat([$(randn(2, 3)), $(randn(2, 2))], 1)").inPlans(),
        Builtin("stack", "tensors, axis = 0", "Joins same-shaped tensors along a new axis.") { a in
            .tensor(try Op.stack(try tensors(a, "tensors"), axis: try a.int("axis")))
        }.checked("stack([$(randn(2, 3)), $(randn(2, 3))], 1)").inPlans(),
        Builtin("split", "x, sizes, axis = 0", "Cuts a tensor along an axis into pieces of the given sizes.") { a in
            let sizes = try a.items("sizes").map { try Operators.integer($0, "a size") }
            return .list(ListBox(try Op.split(try a.tensor("x"), sizes: sizes, axis: try a.int("axis")).map { .tensor($0) }))
        }.checked("split($(randn(5, 2)), [2, 3])[1]", "split($(randn(2, 5)), [1, 4], 1)[0]").inPlans(),
        Builtin("chunk", "x, n, axis = 0", "Cuts a tensor along an axis into n equal pieces.") { a in
            let t = try a.tensor("x"), n = try a.int("n")
            let ax = try t.value.axis(try a.int("axis"))
            guard n > 0, t.value.rank > 0, t.shape[ax] % n == 0, n <= max(t.shape[ax], 1) else {
                throw RuntimeError("chunk: cannot cut an axis of size \(t.value.rank > 0 ? t.shape[ax] : 0) into \(n) equal pieces")
            }
            let sizes = [Int](repeating: t.shape[ax] / n, count: n)
            return .list(ListBox(try Op.split(t, sizes: sizes, axis: ax).map { .tensor($0) }))
        }.checked("chunk($(randn(4, 2)), 2)[1]").inPlans(),
        Builtin("slice", "x, start, end, axis = 0", "Elements start..<end along an axis (negative counts from the end).") { a in
            let t = try a.tensor("x")
            let ax = try t.value.axis(try a.int("axis"))
            return .tensor(try Op.index(t, Array(repeating: .all, count: ax) + [.range(try a.int("start"), try a.int("end"), 1)]))
        }.checked("slice($(randn(5, 3)), 1, 4)", "slice($(randn(5, 3)), -2, 3, 1)").inPlans(),
        Builtin("gather", "x, indices, axis = 0", "Picks entries along an axis by integer indices of any shape.") { a in
            .tensor(try Op.gather(try a.tensor("x"), try a.tensor("indices"), axis: try a.int("axis")))
        }.checked("gather($(randn(4, 3)), tensor([[2, 0], [2, 3]]))", "gather($(randn(4, 3)), tensor([1, 1]), 1)").inPlans(),
        Builtin("one_hot", "indices, n", "One-hot rows: shape of indices plus a last axis of n classes.") { a in
            .tensor(Variable(try Tensor.onehot(try a.tensor("indices").value, classes: try a.int("n"))))
        }.notDifferentiable("made from class indices"),
    ]
}
