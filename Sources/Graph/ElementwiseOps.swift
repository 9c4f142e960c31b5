import Foundation
import Tensor

/// The differentiable operations. Each computes its value at once and records
/// its vector-Jacobian product beside it; broadcast inputs get their gradient
/// summed back to their own shape.
public enum Op {}

extension Op {
    // MARK: Binary arithmetic

    public static func add(_ a: Variable, _ b: Variable) throws -> Variable {
        let (sa, sb) = (a.shape, b.shape)
        let value = try a.value + b.value
        return Graph.planned(BinaryKernel(.add, a: sa, b: sb, output: value.shape), "add", flops: value.count, inputs: [a, b],
                             Graph.record(value, a, b, op: "add", { back, a, b in
            try back.add(to: a) { back.gradient.sum(toShape: sa) }
            try back.add(to: b) { back.gradient.sum(toShape: sb) }
        },
                            graph: { g, _ in [try sum(g, toShape: sa), try sum(g, toShape: sb)] }))
    }

    public static func sub(_ a: Variable, _ b: Variable) throws -> Variable {
        let (sa, sb) = (a.shape, b.shape)
        let value = try a.value - b.value
        return Graph.planned(BinaryKernel(.sub, a: sa, b: sb, output: value.shape), "sub", flops: value.count, inputs: [a, b],
                             Graph.record(value, a, b, op: "sub", { back, a, b in
            try back.add(to: a) { back.gradient.sum(toShape: sa) }
            try back.add(to: b) { (-back.gradient).sum(toShape: sb) }
        },
                            graph: { g, _ in [try sum(g, toShape: sa), try sum(neg(g), toShape: sb)] }))
    }

    public static func mul(_ a: Variable, _ b: Variable) throws -> Variable {
        let (x, y) = (a.value, b.value)
        let needA = a.requiresGrad, needB = b.requiresGrad
        let value = try x * y
        return Graph.planned(BinaryKernel(.mul, a: x.shape, b: y.shape, output: value.shape), "mul", flops: value.count, inputs: [a, b],
                             Graph.record(value, a, b, op: "mul", { back, a, b in
            try back.add(to: a) { try (back.gradient * y).sum(toShape: x.shape) }
            try back.add(to: b) { try (back.gradient * x).sum(toShape: y.shape) }
        }, graph: { g, nodes in
            let (a, b) = (Graph.input(x, nodes[0]), Graph.input(y, nodes[1]))
            return [needA ? try sum(try mul(g, b), toShape: x.shape) : nil, needB ? try sum(try mul(g, a), toShape: y.shape) : nil]
        }))
    }

    public static func div(_ a: Variable, _ b: Variable) throws -> Variable {
        let (x, y) = (a.value, b.value)
        let needA = a.requiresGrad, needB = b.requiresGrad
        let value = try x / y
        return Graph.planned(BinaryKernel(.div, a: x.shape, b: y.shape, output: value.shape), "div", flops: value.count, inputs: [a, b],
                             Graph.record(value, a, b, op: "div", { back, a, b in
            try back.add(to: a) { try (back.gradient / y).sum(toShape: x.shape) }
            try back.add(to: b) { try Tensor.zip(try back.gradient * x, y) { gx, yv in -gx / (yv * yv) }.sum(toShape: y.shape) }
        }, graph: { g, nodes in
            let (a, b) = (Graph.input(x, nodes[0]), Graph.input(y, nodes[1]))
            return [needA ? try sum(try div(g, b), toShape: x.shape) : nil,
                    needB ? try sum(neg(try div(try mul(g, a), try mul(b, b))), toShape: y.shape) : nil]
        }))
    }

    /// A gradient summed back to the shape of an input that was broadcast,
    /// as an op (its own gradient broadcasts again): the second-order walk needs it.
    public static func sum(_ a: Variable, toShape shape: [Int]) throws -> Variable {
        if a.shape == shape { return a }
        let original = a.shape
        return Graph.record(a.value.sum(toShape: shape), a, op: "sum_to_shape", flops: a.value.count, { back, a in try back.add(try back.gradient.broadcast(to: original), to: a) },
                            graph: { g, _ in [try broadcast(g, to: original)] })
    }

    /// A value repeated along broadcast axes to `shape`, as an op.
    public static func broadcast(_ a: Variable, to shape: [Int]) throws -> Variable {
        if a.shape == shape { return a }
        let original = a.shape
        return Graph.record(try a.value.broadcast(to: shape), a, op: "broadcast", flops: 0, { back, a in try back.add(back.gradient.sum(toShape: original), to: a) },
                            graph: { g, _ in [try sum(g, toShape: original)] })
    }

    /// x ** p; the gradient with respect to p uses log(x) and is zero where x <= 0.
    public static func pow(_ a: Variable, _ b: Variable) throws -> Variable {
        let (x, p) = (a.value, b.value)
        let y = try Tensor.zip(x, p) { Foundation.pow($0, $1) }
        let needB = b.requiresGrad
        return Graph.planned(PowKernel(a: x.shape, b: p.shape, output: y.shape), "pow", flops: y.count, inputs: [a, b],
                             Graph.record(y, a, b, op: "pow", { back, a, b in
            let g = back.gradient
            try back.add(to: a) { try (g * Tensor.zip(x, p) { xv, pv in pv == 0 ? 0 : pv * Foundation.pow(xv, pv - 1) }).sum(toShape: x.shape) }
            try back.add(to: b) { try (g * Tensor.zip(y, x) { yv, xv in xv > 0 ? yv * Foundation.log(xv) : 0 }).sum(toShape: p.shape) }
        }, graph: needB ? nil : { g, nodes in
            // d/dx x^p = p x^(p - 1), with p a constant (a learned exponent is first-order only).
            let a = Graph.input(x, nodes[0])
            let dx = try mul(Variable(p), try pow(a, Variable(try p - Tensor(1))))
            return [try sum(try mul(g, dx), toShape: x.shape), nil]
        }))
    }

    /// Elementwise maximum; ties send the gradient to the first argument.
    public static func maximum(_ a: Variable, _ b: Variable) throws -> Variable {
        try select(a, b, "maximum") { $0 >= $1 }
    }

    public static func minimum(_ a: Variable, _ b: Variable) throws -> Variable {
        try select(a, b, "minimum") { $0 <= $1 }
    }

    private static func select(_ a: Variable, _ b: Variable, _ name: StaticString, _ takeFirst: @escaping (Float, Float) -> Bool) throws -> Variable {
        let (x, y) = (a.value, b.value)
        let mask = try Tensor.zip(x, y) { takeFirst($0, $1) ? 1 : 0 }
        let value = try Tensor.zip(x, y) { takeFirst($0, $1) ? $0 : $1 }
        return Graph.planned(SelectKernel(a: x.shape, b: y.shape, output: value.shape, takeFirst), name, flops: value.count, inputs: [a, b],
                             Graph.record(value, a, b, op: name, { back, a, b in
            try back.add(to: a) { try (back.gradient * mask).sum(toShape: x.shape) }
            try back.add(to: b) { try (back.gradient * mask.map { 1 - $0 }).sum(toShape: y.shape) }
        }, graph: { g, _ in
            [try sum(try mul(g, Variable(mask)), toShape: x.shape), try sum(try mul(g, Variable(mask.map { 1 - $0 })), toShape: y.shape)]
        }))
    }

    /// a where `condition` is nonzero, else b, elementwise, all three
    /// broadcast together; the gradient goes to the one chosen (exactly:
    /// the other gets zero, not g times zero).
    public static func choose(_ condition: Tensor, _ a: Variable, _ b: Variable) throws -> Variable {
        let shape = try Tensor.broadcastShape(try Tensor.broadcastShape(condition.shape, a.shape), b.shape)
        let mask = try condition.broadcast(to: shape).map { $0 != 0 ? 1 : 0 }
        let (x, y) = (try a.value.broadcast(to: shape), try b.value.broadcast(to: shape))
        var out = y
        for i in 0..<out.count where mask.data[i] != 0 { out.data[i] = x.data[i] }
        let (sa, sb) = (a.shape, b.shape)
        return Graph.record(out, a, b, op: "where", { back, a, b in
            let g = back.gradient
            try back.add(to: a) { try Tensor.zip(g, mask) { gv, m in m != 0 ? gv : 0 }.sum(toShape: sa) }
            try back.add(to: b) { try Tensor.zip(g, mask) { gv, m in m != 0 ? 0 : gv }.sum(toShape: sb) }
        }, graph: { g, _ in
            [try sum(try mul(g, Variable(mask)), toShape: sa), try sum(try mul(g, Variable(mask.map { 1 - $0 })), toShape: sb)]
        })
    }

    /// The same with the condition a tensor of the script (which a compiled plan reads at each run).
    public static func choose(_ condition: Variable, _ a: Variable, _ b: Variable) throws -> Variable {
        let result = try choose(condition.value, a, b)
        Graph.capture(ChooseKernel(condition: condition.shape, a: a.shape, b: b.shape, output: result.shape), "where", flops: result.value.count,
                      inputs: [a, b, condition], outputs: [result])
        return result
    }

    // MARK: Comparisons (not differentiable: 1 where true, 0 where false)

    public enum Comparison { case less, lessEqual, greater, greaterEqual, equal, notEqual }

    public static func compare(_ a: Variable, _ b: Variable, _ c: Comparison) throws -> Variable {
        let f: (Float, Float) -> Bool
        switch c {
        case .less: f = (<)
        case .lessEqual: f = (<=)
        case .greater: f = (>)
        case .greaterEqual: f = (>=)
        case .equal: f = (==)
        case .notEqual: f = (!=)
        }
        let value = try Tensor.zip(a.value, b.value) { f($0, $1) ? 1 : 0 }
        // A plan computes it anew at each run (it is no constant there: its inputs change).
        return Graph.plannedConstant(CompareKernel(a: a.shape, b: b.shape, output: value.shape, f), "compare", flops: value.count,
                                     inputs: [a, b], Variable(value))
    }

    // MARK: Unary functions

    /// The derivative of a unary function written with ops on its input (for
    /// the second-order walk): d/dx f at x.
    typealias Derivative = (Variable) throws -> Variable

    /// A unary op whose derivative is written in terms of the input x and output y.
    @inline(__always)
    static func unary(_ name: StaticString, _ a: Variable, _ f: @escaping (Float) -> Float, _ derivative: @escaping (Float, Float) -> Float,
                      graph: Derivative? = nil) -> Variable {
        unary(name, a, value: a.value.map(f), .scalar(f), derivative, graph: graph)
    }

    /// The same for exp, sigmoid or tanh, computed in C at the CPU's widest vectors.
    @inline(__always)
    static func unary(_ name: StaticString, _ a: Variable, activation f: VectorMath.Activation, graph: Derivative? = nil) -> Variable {
        unary(name, a, value: f.map(a.value), .activation(f), { _, y in f.slope(output: y) }, graph: graph)
    }

    @inline(__always)
    static func unary(_ name: StaticString, _ a: Variable, value y: Tensor, _ kernel: @autoclosure () -> UnaryKernel.Forward,
                      _ derivative: @escaping (Float, Float) -> Float, graph: Derivative?) -> Variable {
        let x = a.value
        return Graph.planned(UnaryKernel(count: y.count, kernel(), derivative: derivative), name, flops: y.count, inputs: [a], Graph.record(y, a, op: name, { back, a in
            let g = back.gradient
            var out = [Float](repeating: 0, count: g.count)
            for i in 0..<g.count { out[i] = g.data[i] * derivative(x.data[i], y.data[i]) }
            try back.add(Tensor(shape: g.shape, data: out), to: a)
        }, graph: graph.map { d in { g, nodes in [try mul(g, try d(Graph.input(x, nodes[0])))] } }))
    }

    /// A derivative that is constant where it exists (relu, abs, clip): its own
    /// derivative is zero, so it enters the second-order walk as a constant.
    static func constantDerivative(_ f: @escaping (Float) -> Float) -> Derivative { { x in Variable(x.value.map(f)) } }

    public static func neg(_ a: Variable) -> Variable { unary("neg", a, { -$0 }, { _, _ in -1 }, graph: constantDerivative { _ in -1 }) }
    public static func exp(_ a: Variable) -> Variable { unary("exp", a, activation: .exp, graph: { exp($0) }) }
    public static func log(_ a: Variable) -> Variable {
        unary("log", a, Foundation.log, { x, _ in 1 / x }, graph: { try div(Variable(Tensor(1)), $0) })
    }
    public static func sqrt(_ a: Variable) -> Variable {
        unary("sqrt", a, Foundation.sqrt, { _, y in 0.5 / y }, graph: { try div(Variable(Tensor(0.5)), sqrt($0)) })
    }
    public static func abs(_ a: Variable) -> Variable {
        unary("abs", a, Swift.abs, { x, _ in x > 0 ? 1 : (x < 0 ? -1 : 0) }, graph: constantDerivative { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) })
    }
    public static func tanh(_ a: Variable) -> Variable {
        unary("tanh", a, activation: .tanh, graph: { x in try sub(Variable(Tensor(1)), square(tanh(x))) })
    }
    public static func sigmoid(_ a: Variable) -> Variable {
        unary("sigmoid", a, activation: .sigmoid, graph: { x in
            let s = sigmoid(x)
            return try mul(s, try sub(Variable(Tensor(1)), s))
        })
    }
    public static func relu(_ a: Variable) -> Variable {
        unary("relu", a, { Swift.max($0, 0) }, { x, _ in x > 0 ? 1 : 0 }, graph: constantDerivative { $0 > 0 ? 1 : 0 })
    }
    public static func softplus(_ a: Variable) -> Variable { unary("softplus", a, Scalar.softplus, { x, _ in Scalar.softplusSlope(x) }, graph: { sigmoid($0) }) }
    public static func sin(_ a: Variable) -> Variable { unary("sin", a, Foundation.sin, { x, _ in Foundation.cos(x) }, graph: { cos($0) }) }
    public static func cos(_ a: Variable) -> Variable { unary("cos", a, Foundation.cos, { x, _ in -Foundation.sin(x) }, graph: { neg(sin($0)) }) }
    public static func square(_ a: Variable) -> Variable { unary("square", a, { $0 * $0 }, { x, _ in 2 * x }, graph: { scale($0, 2) }) }

    /// Clamps into [lo, hi]; the gradient passes only where the value was inside.
    public static func clip(_ a: Variable, _ lo: Float, _ hi: Float) -> Variable {
        unary("clip", a, { Swift.min(Swift.max($0, lo), hi) }, { x, _ in x >= lo && x <= hi ? 1 : 0 },
              graph: constantDerivative { $0 >= lo && $0 <= hi ? 1 : 0 })
    }

    /// Multiplies by a constant (cheaper than `mul` with a scalar tensor).
    public static func scale(_ a: Variable, _ s: Float) -> Variable {
        unary("scale", a, value: a.value.map { $0 * s }, .scale(s), { _, _ in s }, graph: constantDerivative { _ in s })
    }

    /// Stops gradients: the same value, as a constant.
    public static func detach(_ a: Variable) -> Variable {
        Graph.plannedConstant(CopyKernel.whole(a.value.count), "detach", inputs: [a], Variable(a.value))
    }
}
