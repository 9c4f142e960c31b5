import Foundation
import Graph
import Runtime
import Tensor

/// Orderings, running sums and products, choosing, spreads and norms,
/// dropout, adding into positions, and the trigonometric functions: the
/// toolkit a DNC's allocation (sorted usage, exclusive cumulative product)
/// and newer memories build on.
enum OrderBuiltins {
    static let all: [Builtin] = [
        Builtin("argsort", "x, axis = -1, descending = false", "The positions that sort each line of x along an axis (stable: equal values keep their order; NaN last), as a tensor of indices.") { a in
            .tensor(Variable(try Op.argsort(try a.tensor("x").value, axis: try a.int("axis"), descending: try a.bool("descending"))))
        }.notDifferentiable("indices"),
        Builtin("sort", "x, axis = -1, descending = false", "Each line of x along an axis in order (stable, NaN last); the gradient goes back to where each value came from. `argsort` gives the positions.") { a in
            .tensor(try Op.sort(try a.tensor("x"), axis: try a.int("axis"), descending: try a.bool("descending")).values)
        }.checked("sort($(tensor([[0.3, -1.2, 2.5, 0.9], [1.7, -0.4, -2.2, 3.1]])))",
                  "sort($(tensor([[0.3, -1.2], [2.5, 0.9], [1.7, -0.4]])), axis: 0, descending: true)"),
        Builtin("topk", "x, k, axis = -1, largest = true", "The k largest values of each line along an axis (or smallest), largest first, and their positions: a tuple (values, indices).") { a in
            let (values, indices) = try Op.topk(try a.tensor("x"), try a.int("k"), axis: try a.int("axis"), largest: try a.bool("largest"))
            return .tuple([.tensor(values), .tensor(Variable(indices))])
        }.checked("topk($(tensor([[0.3, -1.2, 2.5, 0.9], [1.7, -0.4, -2.2, 3.1]])), 2)[0]",
                  "topk($(tensor([0.3, -1.2, 2.5, 0.9])), 3, largest: false)[0]"),
        Builtin("take_along", "x, indices, axis = -1", "Entries of x picked along an axis by indices shaped like x but for that axis (NumPy's take_along_axis); the gradient adds back where each came from.") { a in
            .tensor(try Op.takeAlong(try a.tensor("x"), try a.tensor("indices").value, axis: try a.int("axis")))
        }.checked("take_along($(randn(3, 4)), tensor([[0, 2], [1, 1], [3, 0]]))", "take_along($(randn(3, 2)), tensor([[2, 0]]), axis: 0)"),
        Builtin("cumsum", "x, axis = -1, exclusive = false", "Running sums along an axis: y_i = x_0 + ... + x_i, or with exclusive: true, up to x_(i-1) (starting at 0).") { a in
            .tensor(try Op.cumsum(try a.tensor("x"), axis: try a.int("axis"), exclusive: try a.bool("exclusive")))
        }.checked("cumsum($(randn(3, 4)))", "cumsum($(randn(3, 4)), axis: 0, exclusive: true)"),
        Builtin("cumprod", "x, axis = -1, exclusive = false", "Running products along an axis: y_i = x_0 * ... * x_i, or with exclusive: true, up to x_(i-1) (starting at 1). The gradient is computed without division, so it is right where an element is zero.") { a in
            .tensor(try Op.cumprod(try a.tensor("x"), axis: try a.int("axis"), exclusive: try a.bool("exclusive")))
        }.checked("cumprod($(randn(3, 4)))", "cumprod($(tensor([1.5, 0, 2, -1, 0, 0.5])))",
                  "cumprod($(tensor([[2, 0, 3, 0.5], [0, 1.5, -2, 0]])), exclusive: true)", "cumprod($(randn(3, 2)), axis: 0, exclusive: true)"),
        TensorBuiltins.axisReduction("prod", "Product over an axis (all elements when axis is nil), with a gradient that is right where an element is zero; also multiplies a list.", { try Op.prod($0, axis: $1, keepdims: $2) }) { items in
            var total: Value = .number(1)
            for item in items { total = try Operators.binary(.multiply, total, item) }
            return total
        }.checked("prod($(randn(3, 4)), 1)", "prod($(tensor([[2, 0, 3], [0, 0, 1.5], [1, 2, 0.5]])), 1)", "prod($(randn(2, 3)))",
                  "prod($(randn(2, 3)), 0, keepdims: true)"),
        Builtin("where", "condition, a, b", "a where condition is nonzero (or true), else b, elementwise, the three broadcast together; the gradient goes to the one chosen.") { a in
            let condition: Variable
            switch try a["condition"] {
            case .bool(let b): condition = Variable(Tensor(b ? 1 : 0))
            default: condition = try a.tensor("condition")
            }
            guard let x = Operators.tensorOperand(try a["a"]) else { throw a.wrong("a", "a tensor or a number") }
            guard let y = Operators.tensorOperand(try a["b"]) else { throw a.wrong("b", "a tensor or a number") }
            return .tensor(try Op.choose(condition, x, y))
        }.checked("where(tensor([1, 0, 1]), $(randn(3)), $(randn(2, 3)))", "where(tensor([[1], [0]]), $(randn(2, 3)), 0)").inPlans(),
        Builtin("variance", "x, axis = nil, keepdims = false, correction = 0", "The mean squared deviation from the mean along an axis (all elements when nil), divided by n - correction (1: the unbiased estimate). `var` is a keyword, hence the name.") { a in
            .tensor(try Op.variance(try a.tensor("x"), axis: try a.optionalInt("axis"), keepdims: try a.bool("keepdims"), correction: try a.int("correction")))
        }.checked("variance($(randn(3, 4)))", "variance($(randn(3, 4)), 1, correction: 1)", "variance($(randn(3, 4)), 0, keepdims: true)"),
        Builtin("std", "x, axis = nil, keepdims = false, correction = 0", "The standard deviation: sqrt(variance(x, axis, keepdims, correction)).") { a in
            .tensor(try Op.std(try a.tensor("x"), axis: try a.optionalInt("axis"), keepdims: try a.bool("keepdims"), correction: try a.int("correction")))
        }.checked("std($(randn(3, 4)), 1)", "std($(randn(5)))"),
        Builtin("norm", "x, axis = nil, keepdims = false", "The Euclidean norm sqrt(sum(x^2)) along an axis (all elements when nil); its gradient is zero, not NaN, where the norm is zero.") { a in
            .tensor(try Op.norm(try a.tensor("x"), axis: try a.optionalInt("axis"), keepdims: try a.bool("keepdims")))
        }.checked("norm($(randn(3, 4)))", "norm($(randn(3, 4)), 1, keepdims: true)"),
        Builtin("layernorm", "x, gamma = nil, beta = nil, eps = 1e-5, axis = -1", "Layer normalisation along an axis: (x - mean) / sqrt(variance + eps), times gamma plus beta when given (each shaped like that axis).") { a in
            let gamma = try a.isAbsent("gamma") ? nil : try a.tensor("gamma")
            let beta = try a.isAbsent("beta") ? nil : try a.tensor("beta")
            return .tensor(try Op.layernorm(try a.tensor("x"), gamma: gamma, beta: beta, epsilon: Float(try a.number("eps")), axis: try a.int("axis")))
        }.checked("layernorm($(randn(3, 4)))", "layernorm($(randn(3, 4)), $(randn(4)), $(randn(4)))", "layernorm($(tensor([[1.5, -2, 0.3], [-0.7, 2.2, 1.1], [0.4, 0.9, -1.8]])), axis: 0)"),
        Builtin("dropout", "x, p, training = true", "Zeroes each element with probability p and scales the rest by 1 / (1 - p), from the seeded generator; x itself when training is false or p is 0.") { a in
            let x = try a.tensor("x")
            let p = try a.number("p")
            guard p >= 0, p < 1 else { throw RuntimeError("dropout: p must be in [0, 1), got \(Formatter.number(p))") }
            guard try a.bool("training"), p > 0 else { return .tensor(x) }
            let keep = Float(1 / (1 - p))
            let random = a.interpreter.random
            let mask = Tensor(shape: x.shape, data: (0..<x.value.count).map { _ in random.uniform() >= p ? keep : 0 })
            return .tensor(try Op.mul(x, Variable(mask)))
        }.notDifferentiable("a random mask times x (its gradient is the mask's, checked as mul's)"),
        Builtin("index_add", "x, indices, values, axis = 0", "x with values added at indices along an axis (PyTorch's index_add; repeated indices add up); values is shaped as gather(x, indices, axis) would be.") { a in
            .tensor(try Op.indexAdd(try a.tensor("x"), try a.tensor("indices").value, try a.tensor("values"), axis: try a.int("axis")))
        }.checked("index_add($(randn(4, 3)), tensor([2, 0, 2]), $(randn(3, 3)))", "index_add($(randn(2, 5)), tensor([4, 1]), $(randn(2, 2)), 1)"),
        Builtin("scatter", "x, indices, values, axis = 0", "x with the entries at indices along an axis replaced by values (shaped as gather(x, indices, axis) would be); a repeated index is an error (index_add adds instead).") { a in
            .tensor(try Op.scatter(try a.tensor("x"), try a.tensor("indices").value, try a.tensor("values"), axis: try a.int("axis")))
        }.checked("scatter($(randn(4, 3)), tensor([2, 0]), $(randn(2, 3)))", "scatter($(randn(2, 5)), tensor([4, 1]), $(randn(2, 2)), 1)"),
        Builtin("solve", "A, B", "X with A X = B, for a square A [n, n] and B [n] or [n, m], by elimination with partial pivoting in double precision; a singular A is an error. Gradients: dB = A^-T g, dA = -dB X^T.") { a in
            .tensor(try Op.solve(try a.tensor("A"), try a.tensor("B")))
        }.checked("solve($(tensor([[3, 1, 0.5], [1, 4, 1], [0.5, -1, 5]])), $(randn(3)))", "solve($(tensor([[0.5, 2], [3, 1]])), $(randn(2, 3)))"),
        Builtin("cholesky", "A", "The lower-triangular L with L L^T = A, for a symmetric positive-definite A [n, n] (only its lower triangle is read; an entry below the diagonal takes the gradient of both halves). Not positive definite is an error.") { a in
            .tensor(try Op.cholesky(try a.tensor("A")))
        }.checked("cholesky($(tensor([[4, 1, 0.5], [1, 3, 0.2], [0.5, 0.2, 2]])))"),
        TensorBuiltins.unary("sin", "Sine, elementwise.", Op.sin, Foundation.sin).checked("sin($(randn(3, 4)))"),
        TensorBuiltins.unary("cos", "Cosine, elementwise.", Op.cos, Foundation.cos).checked("cos($(randn(3, 4)))"),
    ]
}
