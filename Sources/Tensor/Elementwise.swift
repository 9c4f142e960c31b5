import Foundation

// Elementwise kernels. Each is a tight loop over contiguous buffers; the
// closures passed in are inlined by the optimizer, so there is no dynamic
// dispatch per element.

extension Tensor {
    /// NumPy's broadcasting rule: align shapes at the right; sizes must match or be 1.
    public static func broadcastShape(_ a: [Int], _ b: [Int]) throws -> [Int] {
        if a == b { return a }
        let r = max(a.count, b.count)
        var out = [Int](repeating: 1, count: r)
        for i in 0..<r {
            let da = i < r - a.count ? 1 : a[i - (r - a.count)]
            let db = i < r - b.count ? 1 : b[i - (r - b.count)]
            if da != db && da != 1 && db != 1 {
                throw TensorError("shapes \(shapeText(a)) and \(shapeText(b)) cannot be broadcast together")
            }
            out[i] = da == 1 ? db : da
        }
        return out
    }

    /// Strides of `shape` laid against `outShape`, with 0 where the dimension is broadcast.
    static func broadcastStrides(_ shape: [Int], to outShape: [Int]) -> [Int] {
        let r = outShape.count
        var strides = [Int](repeating: 0, count: r)
        var step = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            let o = i + (r - shape.count)
            strides[o] = shape[i] == 1 ? 0 : step
            step *= shape[i]
        }
        return strides
    }

    /// Applies `f` to every pair of broadcast elements.
    @inline(__always)
    public static func zip(_ a: Tensor, _ b: Tensor, _ f: (Float, Float) -> Float) throws -> Tensor {
        let n = a.count, m = b.count
        if a.shape == b.shape {
            let out = writing(n) { po in
                reading(a.data, b.data) { pa, pb in for i in 0..<n { po[i] = f(pa[i], pb[i]) } }
            }
            return Tensor(shape: a.shape, data: out)
        }
        let shape = try broadcastShape(a.shape, b.shape)
        let total = try allocationCount(shape)
        // An empty result (a zero-sized axis on either side) has nothing to compute.
        if total == 0 { return Tensor(shape: shape, data: []) }
        let out = writing(total) { po in
            reading(a.data, b.data) { pa, pb in
                if m == 1 {
                    // b has one element, so the result has a's element count.
                    for i in 0..<total { po[i] = f(pa[i], pb[0]) }
                } else if n == 1 {
                    for i in 0..<total { po[i] = f(pa[0], pb[i]) }
                } else if shape == a.shape, total % m == 0, a.shape.suffix(b.rank).elementsEqual(b.shape) {
                    // A common case: a bias row added to every row of a matrix.
                    var i = 0
                    while i < total { for j in 0..<m { po[i + j] = f(pa[i + j], pb[j]) }; i += m }
                } else if shape == b.shape, total % n == 0, b.shape.suffix(a.rank).elementsEqual(a.shape) {
                    var i = 0
                    while i < total { for j in 0..<n { po[i + j] = f(pa[j], pb[i + j]) }; i += n }
                } else {
                    // General case: walk the output's indices, with each input's offset.
                    var walk = Odometer(shape, broadcastStrides(a.shape, to: shape), broadcastStrides(b.shape, to: shape))
                    for o in 0..<total {
                        po[o] = f(pa[walk.first], pb[walk.second])
                        walk.advance()
                    }
                }
            }
        }
        return Tensor(shape: shape, data: out)
    }

    /// Applies `f` to every element.
    @inline(__always)
    public func map(_ f: (Float) -> Float) -> Tensor {
        let n = count
        var out = [Float](repeating: 0, count: n)
        data.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { po in for i in 0..<n { po[i] = f(p[i]) } }
        }
        return Tensor(shape: shape, data: out)
    }

    /// Sums a broadcast result back to `target` (the reverse of broadcasting),
    /// which is how a gradient reaches an input that was broadcast.
    public func sum(toShape target: [Int]) -> Tensor {
        if shape == target { return self }
        let total = target.reduce(1, *)
        var out = [Float](repeating: 0, count: total)
        // Nothing to sum into, or nothing to sum: zeros of the target's shape.
        if total == 0 || count == 0 { return Tensor(shape: target, data: out) }
        if total == 1 {
            var s: Float = 0
            for v in data { s += v }
            out[0] = s
            return Tensor(shape: target, data: out)
        }
        let m = total
        if count % m == 0, shape.suffix(target.count).elementsEqual(target) || (target.first == 1 && shape.suffix(target.count - 1).elementsEqual(target.dropFirst())) {
            data.withUnsafeBufferPointer { p in
                out.withUnsafeMutableBufferPointer { po in
                    var i = 0
                    while i < count { for j in 0..<m { po[j] += p[i + j] }; i += m }
                }
            }
            return Tensor(shape: target, data: out)
        }
        // Each element adds into the target element it was broadcast from.
        var walk = Odometer(shape, Tensor.broadcastStrides(target, to: shape))
        for o in 0..<count {
            out[walk.first] += data[o]
            walk.advance()
        }
        return Tensor(shape: target, data: out)
    }

    /// Repeats this tensor along broadcast dimensions to fill `target`.
    public func broadcast(to target: [Int]) throws -> Tensor {
        if shape == target { return self }
        let base = Tensor(shape: target, data: [Float](repeating: 0, count: try Tensor.allocationCount(target)))
        let out = try Tensor.zip(base, self) { _, v in v }
        guard out.shape == target else {
            throw TensorError("cannot broadcast shape \(Tensor.shapeText(shape)) to \(Tensor.shapeText(target))")
        }
        return out
    }

    // Arithmetic used by kernels and gradients.
    public static func + (a: Tensor, b: Tensor) throws -> Tensor { try zip(a, b, +) }
    public static func - (a: Tensor, b: Tensor) throws -> Tensor { try zip(a, b, -) }
    public static func * (a: Tensor, b: Tensor) throws -> Tensor { try zip(a, b, *) }
    public static func / (a: Tensor, b: Tensor) throws -> Tensor { try zip(a, b, /) }
    public static func * (a: Tensor, s: Float) -> Tensor { a.map { $0 * s } }
    public static prefix func - (a: Tensor) -> Tensor { a.map { -$0 } }

    /// Adds `other` (same shape) into this tensor in place: gradient accumulation.
    public mutating func add(_ other: Tensor) {
        let n = count
        data.withUnsafeMutableBufferPointer { p in
            other.data.withUnsafeBufferPointer { q in for i in 0..<n { p[i] += q[i] } }
        }
    }
}

/// Scalar functions shared by kernels and their derivatives.
public enum Scalar {
    @inline(__always) public static func sigmoid(_ x: Float) -> Float { VectorMath.sigmoid(x) }
    /// log(1 + exp(x)) without overflow.
    @inline(__always) public static func softplus(_ x: Float) -> Float {
        x > 0 ? x + Foundation.log1p(Foundation.exp(-x)) : Foundation.log1p(Foundation.exp(x))
    }

    // The activations' derivatives, each defined once; the ops and the fused
    // kernels (a write head's erase and add, a head's beta) use these.
    /// d sigmoid / dx from the output y = sigmoid(x).
    @inline(__always) public static func sigmoidSlope(output y: Float) -> Float { y * (1 - y) }
    /// d tanh / dx from the output y = tanh(x).
    @inline(__always) public static func tanhSlope(output y: Float) -> Float { 1 - y * y }
    /// d softplus / dx at x.
    @inline(__always) public static func softplusSlope(_ x: Float) -> Float { sigmoid(x) }
    /// g times d sigmoid / dx, from the output y, multiplied in the order the
    /// fused kernels (LSTM gates, LRUA and addressing gates) use: (g y)(1 - y).
    /// It rounds differently from g * sigmoidSlope(y), which the separate op
    /// and the write head use; both stay so that recorded runs keep their bits.
    @inline(__always) public static func sigmoidBackward(_ g: Float, output y: Float) -> Float { g * y * (1 - y) }
    /// One element of softmax's vector-Jacobian product: y_i (g_i - <g, y>),
    /// given the row's <g, y> (`inner`), whose order of summation the
    /// caller keeps (a row kernel's dot, a running sum).
    @inline(__always) public static func softmaxBackward(_ g: Float, output y: Float, inner: Float) -> Float { y * (g - inner) }
}
