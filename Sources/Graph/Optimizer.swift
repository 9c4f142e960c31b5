import CSupport
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
    /// What each parameter is called in messages ("controller.W", or "parameter 3").
    public let names: [String]
    public let rule: Rule
    public var learningRate: Float
    /// Clamp each gradient element into [-clipValue, clipValue].
    public var clipValue: Float?
    /// Rescale all gradients together when their global L2 norm exceeds this.
    public var clipNorm: Float?
    public private(set) var steps = 0
    /// The gradients' global norm at the last update (after clipping by
    /// value, before clipping by norm); 0 before the first.
    public private(set) var lastNorm: Float = 0
    /// Each parameter's state: up to three buffers (the rules use one to three).
    private var slots: [StateBuffers]

    /// A parameter listed twice is kept once (it would otherwise be updated twice).
    public init(parameters: [Variable], names: [String]? = nil, rule: Rule, learningRate: Float, clipValue: Float? = nil, clipNorm: Float? = nil) {
        var seen = Set<ObjectIdentifier>()
        var kept: [Variable] = [], keptNames: [String] = []
        for (i, p) in parameters.enumerated() where seen.insert(ObjectIdentifier(p)).inserted {
            kept.append(p)
            keptNames.append(names.flatMap { i < $0.count ? $0[i] : nil } ?? "parameter \(i + 1)")
        }
        (self.parameters, self.names, self.rule, self.learningRate, self.clipValue, self.clipNorm) =
            (kept, keptNames, rule, learningRate, clipValue, clipNorm)
        slots = kept.map { StateBuffers(count: $0.value.count) }
    }

    /// The names of the rule's state buffers, in slot order (PyTorch's where it has them).
    public var stateNames: [String] {
        switch rule {
        case .sgd: return ["momentum_buffer"]
        case .adam: return ["exp_avg", "exp_avg_sq"]
        case .rmsprop: return ["square_avg", "grad_avg", "momentum_buffer"]
        case .rmspropGraves: return ["square_avg", "grad_avg", "delta"]
        }
    }

    /// Each parameter's state buffers, named as `stateNames`.
    public var state: [[Tensor]] {
        zip(slots, parameters).map { buffers, p in (0..<stateNames.count).map { buffers.tensor($0, shape: p.shape) } }
    }

    /// Puts back what `state`, `steps`, `learningRate` and `lastNorm` were,
    /// so that the next update is the one the saved optimizer would have made.
    /// Every buffer is checked before anything changes.
    public func restore(state: [[Tensor]], steps: Int, learningRate: Float, lastNorm: Float) throws {
        guard state.count == parameters.count, steps >= 0 else {
            throw TensorError("optimizer state for \(state.count) parameters, this optimizer has \(parameters.count)")
        }
        for (i, buffers) in state.enumerated() {
            guard buffers.count == stateNames.count else {
                throw TensorError("optimizer state of \(names[i]) has \(buffers.count) buffers, this rule keeps \(stateNames.count)")
            }
            for b in buffers where b.shape != parameters[i].shape {
                throw TensorError("optimizer state of \(names[i]) has shape \(Tensor.shapeText(b.shape)), the parameter \(Tensor.shapeText(parameters[i].shape))")
            }
        }
        for (i, buffers) in state.enumerated() { for (k, b) in buffers.enumerated() { slots[i].set(k, b) } }
        self.steps = steps
        self.learningRate = learningRate
        self.lastNorm = lastNorm
    }

    /// Backward, clip, update. Returns the gradients' global norm (after
    /// clipping by value, before clipping by norm).
    @discardableResult
    public func step(loss: Variable) throws -> Float {
        if let recorder = Graph.planRecorder {
            recorder.stepped(self, loss: loss)
            recorder.stepping = true
        }
        defer { Graph.planRecorder?.stepping = false }
        return try apply(Graph.gradients(of: loss, wrt: parameters, unused: .zerosIfAnyUsed))
    }

    /// Clips the gradients as configured and updates every parameter in
    /// place, in one pass over each (two when clipping by norm, which needs
    /// the norm first). Returns the global norm, as `step` does.
    /// A gradient with NaN or infinite values is refused before anything
    /// changes: an update would write them into the parameters silently.
    @discardableResult
    public func apply(_ grads: [Tensor]) throws -> Float {
        try apply { i, body in try grads[i].data.withUnsafeBufferPointer(body) }
    }

    /// `apply` for gradients in buffers (a compiled plan's): `gradient(i, body)`
    /// runs body on parameter i's gradient, with the parameter's count.
    @discardableResult
    public func apply(gradient: (Int, (UnsafeBufferPointer<Float>) throws -> Void) throws -> Void) throws -> Float {
        for i in parameters.indices {
            try gradient(i) { g in
                if !VectorMath.allFinite(g) {
                    throw TensorError("the gradient of \(names[i]) (shape \(Tensor.shapeText(parameters[i].shape))) has NaN or infinite values; "
                                      + "no parameter was changed (debug_nans(true) finds the op where they start)")
                }
            }
        }
        steps += 1
        let limit = clipValue ?? .infinity
        var scale: Float = 1
        var total: Float = 0
        if let normLimit = clipNorm {
            var sq: Double = 0
            for i in parameters.indices { try gradient(i) { sq += Optimizer.sumOfSquares($0, clippedTo: limit) } }
            total = Float(sq.squareRoot())
            if total > normLimit, total.isFinite { scale = normLimit / total }
        }
        var sq: Double = 0
        let context = UpdateContext(rule: rule, lr: learningRate, step: Float(steps), limit: limit, scale: scale)
        for (i, p) in parameters.enumerated() where p.value.count > 0 {
            let s = slots[i]
            try gradient(i) { g in
                p.value.data.withUnsafeMutableBufferPointer { w in
                    sq += Optimizer.update(context, w.baseAddress!, g.baseAddress!, s.buffer(0), s.buffer(1), s.buffer(2), n: w.count)
                }
            }
        }
        if clipNorm == nil { total = Float(sq.squareRoot()) }
        lastNorm = total
        return total
    }

    typealias Lanes = VectorMath.Lanes

    struct UpdateContext {
        let rule: Rule, lr: Float, step: Float, limit: Float, scale: Float
    }

    @inline(__always) private static func load(_ p: UnsafePointer<Float>, _ n: Int) -> Lanes { VectorMath.load(p, n) }

    private static func sumOfSquares(_ g: UnsafeBufferPointer<Float>, clippedTo limit: Float) -> Double {
        var acc = Lanes()
        var j = 0
        while j < g.count {
            let v = VectorMath.clamp(load(g.baseAddress! + j, g.count - j), -limit, limit)
            acc += v * v
            j += 8
        }
        return Double(acc.sum())
    }

    /// One parameter's update (row_kernels.c, compiled for the widest
    /// vectors the CPU has, the same bits on each): the gradient is clipped
    /// into [-limit, limit] and scaled, then the rule applied with its state
    /// s0, s1, s2 (as many as the rule uses). Returns the sum of squares of
    /// the clipped gradient, summed in eight lanes.
    private static func update(_ c: UpdateContext, _ w: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>,
                               _ s0: UnsafeMutablePointer<Float>, _ s1: UnsafeMutablePointer<Float>, _ s2: UnsafeMutablePointer<Float>,
                               n: Int) -> Double {
        var squares = Lanes()
        let level = OwnKernels.level
        withUnsafeMutableBytes(of: &squares) { raw in
            let sq = raw.baseAddress!.assumingMemoryBound(to: Float.self)
            switch c.rule {
            case .sgd(let momentum):
                mnemo_update_sgd(level, w, g, s0, n, c.limit, c.scale, c.lr, momentum, sq)
            case let .adam(b1, b2, eps):
                let (c1, c2) = (1 - Foundation.pow(b1, c.step), 1 - Foundation.pow(b2, c.step))
                mnemo_update_adam(level, w, g, s0, s1, n, c.limit, c.scale, c.lr, b1, b2, eps, c1, c2, sq)
            case let .rmsprop(decay, eps, momentum, centered):
                mnemo_update_rmsprop(level, w, g, s0, s1, s2, n, c.limit, c.scale, c.lr, decay, eps, momentum, centered ? 1 : 0, sq)
            case let .rmspropGraves(decay, eps, momentum):
                mnemo_update_graves(level, w, g, s0, s1, s2, n, c.limit, c.scale, c.lr, decay, eps, momentum, sq)
            }
        }
        return Double(squares.sum())
    }
}

/// A parameter's three state buffers in one allocation, made once and
/// updated in place at every step (no copy-on-write, no reference counting
/// of arrays in the update loop).
private final class StateBuffers {
    private let base: MutableFloats
    private let count: Int

    init(count: Int) {
        self.count = count
        base = MutableFloats.allocate(capacity: max(3 * count, 1))
        base.initialize(repeating: 0, count: max(3 * count, 1))
    }

    deinit { base.deallocate() }

    /// Buffer k (0, 1 or 2) of the parameter's `count` floats.
    func buffer(_ k: Int) -> MutableFloats { base + k * count }

    /// Buffer k as a tensor of the parameter's shape.
    func tensor(_ k: Int, shape: [Int]) -> Tensor {
        Tensor(shape: shape, data: Array(UnsafeBufferPointer(start: buffer(k), count: count)))
    }

    /// Sets buffer k from a tensor of `count` values (checked by the caller).
    func set(_ k: Int, _ t: Tensor) {
        reading(t.data) { buffer(k).update(from: $0, count: count) }
    }
}

