import Foundation
import Tensor

/// Updates a fixed list of parameters from the gradient of a loss.
/// `step(loss)` = backward, clip, update; nothing is left accumulated.
public final class Optimizer {
    public enum Rule {
        case sgd(momentum: Float)
        case adam(beta1: Float, beta2: Float, epsilon: Float)
        /// PyTorch's form: v = a v + (1-a) g^2; g / (sqrt(v) + eps), optionally
        /// centered; momentum applied to the scaled gradient.
        case rmsprop(decay: Float, epsilon: Float, momentum: Float, centered: Bool)
        /// Graves 2013, eqs. 38-41: n = a n + (1-a) g^2, gbar = a gbar + (1-a) g,
        /// delta = m delta - lr g / sqrt(n - gbar^2 + eps).
        case rmspropGraves(decay: Float, epsilon: Float, momentum: Float)
    }

    public let parameters: [Variable]
    public let rule: Rule
    public var learningRate: Float
    /// Clamp each gradient element into [-clipValue, clipValue].
    public var clipValue: Float?
    /// Rescale all gradients together when their global L2 norm exceeds this.
    public var clipNorm: Float?
    public private(set) var steps = 0
    private var slots: [[Tensor]]

    public init(parameters: [Variable], rule: Rule, learningRate: Float, clipValue: Float? = nil, clipNorm: Float? = nil) {
        self.parameters = parameters
        self.rule = rule
        self.learningRate = learningRate
        self.clipValue = clipValue
        self.clipNorm = clipNorm
        let slotCount: Int
        switch rule {
        case .sgd: slotCount = 1
        case .adam: slotCount = 2
        case .rmsprop, .rmspropGraves: slotCount = 3
        }
        slots = parameters.map { p in Array(repeating: Tensor.zeros(like: p.value), count: slotCount) }
    }

    /// Backward, clip, update. Returns the gradients' global norm before clipping.
    @discardableResult
    public func step(loss: Variable) throws -> Float {
        var grads = try Graph.gradients(of: loss, wrt: parameters)
        let norm = Optimizer.clip(&grads, value: clipValue, norm: clipNorm)
        apply(grads)
        return norm
    }

    /// Clips in place; returns the global norm before clipping.
    @discardableResult
    public static func clip(_ grads: inout [Tensor], value: Float?, norm: Float?) -> Float {
        if let c = value { for i in grads.indices { grads[i] = grads[i].map { Swift.min(Swift.max($0, -c), c) } } }
        var sq: Double = 0
        for g in grads { for v in g.data { sq += Double(v) * Double(v) } }
        let total = Float(sq.squareRoot())
        if let limit = norm, total > limit, total.isFinite {
            let s = limit / total
            for i in grads.indices { grads[i] = grads[i] * s }
        }
        return total
    }

    /// Updates every parameter in place from its gradient.
    public func apply(_ grads: [Tensor]) {
        steps += 1
        let lr = learningRate
        let step = Float(steps)
        for (i, p) in parameters.enumerated() {
            let n = p.value.count
            grads[i].data.withUnsafeBufferPointer { g in
                p.value.data.withUnsafeMutableBufferPointer { w in
                    slots[i].withUnsafeMutableBufferPointer { state in
                        Optimizer.update(rule, w, g, state, n: n, lr: lr, step: step)
                    }
                }
            }
        }
    }

    private static func update(_ rule: Rule, _ w: UnsafeMutableBufferPointer<Float>, _ g: UnsafeBufferPointer<Float>,
                               _ state: UnsafeMutableBufferPointer<Tensor>, n: Int, lr: Float, step: Float) {
        state[0].data.withUnsafeMutableBufferPointer { s0 in
            switch rule {
            case .sgd(let momentum):
                for j in 0..<n {
                    s0[j] = momentum * s0[j] + g[j]
                    w[j] -= lr * s0[j]
                }
            case let .adam(b1, b2, eps):
                state[1].data.withUnsafeMutableBufferPointer { v in
                    let c1 = 1 - Foundation.pow(b1, step), c2 = 1 - Foundation.pow(b2, step)
                    for j in 0..<n {
                        s0[j] = b1 * s0[j] + (1 - b1) * g[j]
                        v[j] = b2 * v[j] + (1 - b2) * g[j] * g[j]
                        w[j] -= lr * (s0[j] / c1) / ((v[j] / c2).squareRoot() + eps)
                    }
                }
            case let .rmsprop(decay, eps, momentum, centered):
                state[1].data.withUnsafeMutableBufferPointer { avg in
                    state[2].data.withUnsafeMutableBufferPointer { buf in
                        for j in 0..<n {
                            s0[j] = decay * s0[j] + (1 - decay) * g[j] * g[j]
                            var denominator = s0[j]
                            if centered {
                                avg[j] = decay * avg[j] + (1 - decay) * g[j]
                                denominator -= avg[j] * avg[j]
                            }
                            let scaled = g[j] / (Swift.max(denominator, 0).squareRoot() + eps)
                            if momentum > 0 { buf[j] = momentum * buf[j] + scaled; w[j] -= lr * buf[j] }
                            else { w[j] -= lr * scaled }
                        }
                    }
                }
            case let .rmspropGraves(decay, eps, momentum):
                state[1].data.withUnsafeMutableBufferPointer { gbar in
                    state[2].data.withUnsafeMutableBufferPointer { delta in
                        for j in 0..<n {
                            s0[j] = decay * s0[j] + (1 - decay) * g[j] * g[j]
                            gbar[j] = decay * gbar[j] + (1 - decay) * g[j]
                            delta[j] = momentum * delta[j] - lr * g[j] / Swift.max(s0[j] - gbar[j] * gbar[j] + eps, eps).squareRoot()
                            w[j] += delta[j]
                        }
                    }
                }
            }
        }
    }
}
