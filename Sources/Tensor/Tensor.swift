/// An n-dimensional float32 array with contiguous row-major storage.
///
/// Tensors are values: every operation returns a new tensor, and copies share
/// storage until one of them is written (Swift's copy-on-write arrays).
public struct Tensor {
    public internal(set) var shape: [Int]
    public var data: [Float]

    /// The largest tensor a script may ask for (4 GiB of float32).
    public static let maxElements = 1 << 30

    /// Internal: callers guarantee `data.count == product(shape)`.
    public init(shape: [Int], data: [Float]) {
        self.shape = shape
        self.data = data
    }

    public init(_ scalar: Float) {
        self.shape = []
        self.data = [scalar]
    }

    /// A 1-d tensor holding `values`.
    public init(vector values: [Float]) {
        self.shape = [values.count]
        self.data = values
    }

    public var count: Int { data.count }
    public var rank: Int { shape.count }
    public var isScalar: Bool { data.count == 1 }

    /// The single value of a one-element tensor.
    public var scalar: Float { data[0] }

    /// The most axes a tensor may have (NumPy's limit too).
    public static let maxRank = 64

    /// Checks a shape a user asked for: no negative sizes, no absurd totals,
    /// at most `maxRank` axes.
    public static func elementCount(_ shape: [Int]) throws -> Int {
        if shape.count > maxRank { throw TensorError("a shape of \(shape.count) axes has too many (limit \(maxRank))") }
        var total = 1
        for dim in shape {
            if dim < 0 { throw TensorError("negative dimension \(dim) in shape \(shapeText(shape))") }
            let (product, overflow) = total.multipliedReportingOverflow(by: dim)
            if overflow || product > maxElements {
                throw TensorError("shape \(shapeText(shape)) is too large (limit \(maxElements) elements)")
            }
            total = product
        }
        return total
    }

    /// `elementCount`, for a tensor about to be allocated: also within the memory budget.
    public static func allocationCount(_ shape: [Int]) throws -> Int {
        let count = try elementCount(shape)
        try MemoryBudget.reserve(count * MemoryLayout<Float>.stride, for: "a tensor of shape \(shapeText(shape))")
        return count
    }

    public static func filled(_ shape: [Int], _ value: Float) throws -> Tensor {
        Tensor(shape: shape, data: [Float](repeating: value, count: try allocationCount(shape)))
    }

    public static func zeros(_ shape: [Int]) throws -> Tensor { try filled(shape, 0) }

    /// Zeros of a shape already known to be valid (the shape of an existing tensor).
    public static func zeros(like other: Tensor) -> Tensor {
        Tensor(shape: other.shape, data: [Float](repeating: 0, count: other.count))
    }

    public static func eye(_ n: Int) throws -> Tensor {
        var t = try zeros([n, n])
        for i in 0..<n { t.data[i * n + i] = 1 }
        return t
    }

    public static func arange(_ start: Double, _ stop: Double, _ step: Double) throws -> Tensor {
        guard step != 0, step.isFinite, start.isFinite, stop.isFinite else {
            throw TensorError("arange needs finite bounds and a nonzero step")
        }
        let n = max(0, Int(((stop - start) / step).rounded(.up).clamped(to: -1...Double(maxElements + 1))))
        _ = try allocationCount([n])
        return Tensor(shape: [n], data: (0..<n).map { Float(start + Double($0) * step) })
    }

    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        var dims = newShape
        let inferred = dims.indices.filter { dims[$0] == -1 }
        if inferred.count > 1 { throw TensorError("reshape: only one dimension may be -1, got \(Tensor.shapeText(newShape))") }
        if let i = inferred.first {
            dims[i] = 1
            let known = try Tensor.elementCount(dims)
            if known == 0 || count % known != 0 {
                throw TensorError("cannot reshape \(Tensor.shapeText(shape)) into \(Tensor.shapeText(newShape))")
            }
            dims[i] = count / known
        }
        guard try Tensor.elementCount(dims) == count else {
            throw TensorError("cannot reshape \(Tensor.shapeText(shape)) (\(count) elements) into \(Tensor.shapeText(newShape))")
        }
        return Tensor(shape: dims, data: data)
    }

    /// Resolves a possibly negative axis against this tensor's rank.
    public func axis(_ axis: Int, rankPlus extra: Int = 0) throws -> Int {
        let r = rank + extra
        let a = axis < 0 ? axis + r : axis
        // A scalar has no axes (as in NumPy): every axis of one is out of range.
        guard a >= 0, a < r else {
            throw TensorError("axis \(axis) is out of range for a tensor of shape \(Tensor.shapeText(shape))")
        }
        return a
    }

    /// The sizes before, along, and after an axis: the view every axis kernel uses.
    func split3(_ axis: Int) -> (outer: Int, n: Int, inner: Int) {
        if rank == 0 { return (1, 1, 1) }
        var outer = 1, inner = 1
        for i in 0..<axis { outer *= shape[i] }
        for i in (axis + 1)..<rank { inner *= shape[i] }
        return (outer, shape[axis], inner)
    }

    public static func shapeText(_ shape: [Int]) -> String {
        "[" + shape.map(String.init).joined(separator: ", ") + "]"
    }
}

public struct TensorError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension Comparable {
    func clamped(to range: ClosedRange<Self>) -> Self { min(max(self, range.lowerBound), range.upperBound) }
}

extension Tensor: Equatable {
    public static func == (a: Tensor, b: Tensor) -> Bool { a.shape == b.shape && a.data == b.data }
}
