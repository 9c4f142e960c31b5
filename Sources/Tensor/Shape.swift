// Matrix products and the operations that move elements without arithmetic:
// transpose, concat, stack, split, indexing and gather. Indexing and gather
// are expressed as a list of source offsets, so that the gradient is the same
// list used to scatter-add.

extension Tensor {
    /// NumPy's matmul: 1-d operands are promoted to a row or column and the
    /// extra axis is dropped again; leading batch axes must match or be absent.
    public static func matmul(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard a.rank >= 1, b.rank >= 1 else {
            throw TensorError("matmul needs tensors of rank 1 or more, got shapes \(shapeText(a.shape)) and \(shapeText(b.shape))")
        }
        let aShape = a.rank == 1 ? [1, a.shape[0]] : a.shape
        let bShape = b.rank == 1 ? [b.shape[0], 1] : b.shape
        let k = aShape[aShape.count - 1], k2 = bShape[bShape.count - 2]
        let aBatch = Array(aShape.dropLast(2)), bBatch = Array(bShape.dropLast(2))
        guard k == k2, aBatch == bBatch || aBatch.isEmpty || bBatch.isEmpty else {
            throw TensorError("matmul shapes \(shapeText(a.shape)) and \(shapeText(b.shape)) do not match")
        }
        var product = try matmul(Tensor(shape: aShape, data: a.data), Tensor(shape: bShape, data: b.data),
                                  transposeA: false, transposeB: false)
        if b.rank == 1 { product.shape.removeLast() }
        if a.rank == 1 { product.shape.remove(at: product.shape.count - (b.rank == 1 ? 1 : 2)) }
        return product
    }

    /// Reorders axes; `perm[i]` is the source axis of result axis i.
    public func permuted(_ perm: [Int]) throws -> Tensor {
        guard perm.count == rank, Set(perm) == Set(0..<rank) else {
            throw TensorError("transpose: \(Tensor.shapeText(perm)) is not a permutation of the axes of a tensor of shape \(Tensor.shapeText(shape))")
        }
        if perm == Array(0..<rank) { return self }
        let outShape = perm.map { shape[$0] }
        let srcStrides = Tensor.strides(shape)
        let strides = perm.map { srcStrides[$0] }
        if rank == 2 {
            let (r, c) = (outShape[0], outShape[1])
            var out = [Float](repeating: 0, count: count)
            for i in 0..<r { for j in 0..<c { out[i * c + j] = data[j * r + i] } }
            return Tensor(shape: outShape, data: out)
        }
        var out = [Float](repeating: 0, count: count)
        var walk = Odometer(outShape, strides)
        for o in 0..<count {
            out[o] = data[walk.first]
            walk.advance()
        }
        return Tensor(shape: outShape, data: out)
    }

    /// The permutation that swaps the last two axes.
    public static func swapLastTwo(rank: Int) -> [Int] {
        var perm = Array(0..<rank)
        if rank >= 2 { perm.swapAt(rank - 1, rank - 2) }
        return perm
    }

    public static func concat(_ parts: [Tensor], axis: Int) throws -> Tensor {
        guard let first = parts.first else { throw TensorError("concat needs at least one tensor") }
        guard first.rank > 0 else { throw TensorError("cannot concat scalars; use stack") }
        let a = try first.axis(axis)
        var total = 0
        for p in parts {
            guard p.rank == first.rank,
                  (0..<p.rank).allSatisfy({ $0 == a || p.shape[$0] == first.shape[$0] }) else {
                throw TensorError("concat along axis \(axis): shapes \(shapeText(first.shape)) and \(shapeText(p.shape)) do not match")
            }
            total += p.shape[a]
        }
        var shape = first.shape
        shape[a] = total
        let count = try allocationCount(shape)
        let (outer, _, inner) = first.split3(a)
        var out = [Float](); out.reserveCapacity(count)
        for o in 0..<outer {
            for p in parts {
                let run = p.shape[a] * inner
                out.append(contentsOf: p.data[(o * run)..<((o + 1) * run)])
            }
        }
        return Tensor(shape: shape, data: out)
    }

    public static func stack(_ parts: [Tensor], axis: Int) throws -> Tensor {
        guard let first = parts.first else { throw TensorError("stack needs at least one tensor") }
        for p in parts where p.shape != first.shape {
            throw TensorError("stack: shapes \(shapeText(first.shape)) and \(shapeText(p.shape)) differ")
        }
        let a = try first.axis(axis, rankPlus: 1)
        var unit = first.shape
        unit.insert(1, at: a)
        return try concat(parts.map { Tensor(shape: unit, data: $0.data) }, axis: a)
    }

    /// Cuts along `axis` into pieces of the given sizes.
    public func split(sizes: [Int], axis: Int) throws -> [Tensor] {
        guard rank > 0 else { throw TensorError("cannot split a scalar") }
        let a = try self.axis(axis)
        guard sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == shape[a] else {
            throw TensorError("split sizes \(Tensor.shapeText(sizes)) do not add up to \(shape[a]), the size of axis \(axis) of \(Tensor.shapeText(shape))")
        }
        // The inverse of concat: each part takes its run of every outer block.
        let (outer, n, inner) = split3(a)
        var parts: [Tensor] = []
        parts.reserveCapacity(sizes.count)
        var start = 0
        data.withUnsafeBufferPointer { source in
            for size in sizes {
                var partShape = shape
                partShape[a] = size
                let run = size * inner
                let part = [Float](unsafeUninitializedCapacity: outer * run) { out, initialized in
                    for o in 0..<outer where run > 0 {
                        (out.baseAddress! + o * run).initialize(from: source.baseAddress! + (o * n + start) * inner, count: run)
                    }
                    initialized = outer * run
                }
                parts.append(Tensor(shape: partShape, data: part))
                start += size
            }
        }
        return parts
    }

    // MARK: Indexing

    public enum IndexSpec {
        /// One position; the axis is dropped. Negative counts from the end.
        case at(Int)
        /// Python's start:end:step, nil meaning the default; the axis is kept.
        case range(Int?, Int?, Int?)
        case all
    }

    /// The result shape and the source offset of each result element.
    public func selection(_ specs: [IndexSpec]) throws -> (shape: [Int], offsets: [Int]) {
        guard specs.count <= rank else {
            throw TensorError("too many indices (\(specs.count)) for a tensor of shape \(Tensor.shapeText(shape))")
        }
        var outShape: [Int] = []
        var offsets = [0]
        let strides = Tensor.strides(shape)
        for axis in 0..<rank {
            let dim = shape[axis], stride = strides[axis]
            let spec = axis < specs.count ? specs[axis] : .all
            var positions: [Int]
            switch spec {
            case .at(let i):
                let j = i < 0 ? i + dim : i
                guard j >= 0, j < dim else {
                    throw TensorError("index \(i) is out of range for axis \(axis) of size \(dim) (shape \(Tensor.shapeText(shape)))")
                }
                positions = [j]
            case .all:
                positions = Array(0..<dim); outShape.append(dim)
            case let .range(start, end, step):
                let s = step ?? 1
                guard s != 0 else { throw TensorError("slice step cannot be zero") }
                positions = Tensor.slicePositions(start, end, s, dim)
                outShape.append(positions.count)
            }
            var next: [Int] = []
            next.reserveCapacity(offsets.count * positions.count)
            for o in offsets { for p in positions { next.append(o + p * stride) } }
            offsets = next
        }
        return (outShape, offsets)
    }

    /// Row-major strides of a shape.
    public static func strides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        for i in stride(from: shape.count - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * shape[i + 1] }
        return strides
    }

    /// Python's slice rules: negative bounds count from the end, out-of-range bounds clamp.
    public static func slicePositions(_ start: Int?, _ end: Int?, _ step: Int, _ dim: Int) -> [Int] {
        func norm(_ v: Int?, _ def: Int, _ lo: Int, _ hi: Int) -> Int {
            guard let v else { return def }
            return (v < 0 ? v + dim : v).clamped(to: lo...hi)
        }
        if step > 0 {
            let (s, e) = sliceBounds(start, end, dim)
            return s < e ? Array(stride(from: s, to: e, by: step)) : []
        } else {
            let s = norm(start, dim - 1, -1, dim - 1), e = norm(end, -1, -1, dim - 1)
            return s > e ? Array(stride(from: s, to: e, by: step)) : []
        }
    }

    /// The positions start..<end that a step-1 slice takes under Python's
    /// rules (end == start when it takes none).
    public static func sliceBounds(_ start: Int?, _ end: Int?, _ dim: Int) -> (start: Int, end: Int) {
        let s = start.map { ($0 < 0 ? $0 + dim : $0).clamped(to: 0...dim) } ?? 0
        let e = end.map { ($0 < 0 ? $0 + dim : $0).clamped(to: 0...dim) } ?? dim
        return (s, Swift.max(s, e))
    }

    public func index(_ specs: [IndexSpec]) throws -> Tensor {
        let (shape, offsets) = try selection(specs)
        return gathering(offsets: offsets, shape: shape)
    }

    public func gathering(offsets: [Int], shape: [Int]) -> Tensor {
        var out = [Float](repeating: 0, count: offsets.count)
        data.withUnsafeBufferPointer { p in for (i, o) in offsets.enumerated() { out[i] = p[o] } }
        return Tensor(shape: shape, data: out)
    }

    /// Adds `values` into the positions `offsets` of this tensor: the gradient of a gather.
    public mutating func scatterAdd(offsets: [Int], values: Tensor) {
        data.withUnsafeMutableBufferPointer { p in
            for (i, o) in offsets.enumerated() { p[o] += values.data[i] }
        }
    }

    /// Offsets for `gather(x, indices, axis)`: the result has shape
    /// x.shape[..<axis] + indices.shape + x.shape[(axis+1)...].
    public func gatherSelection(indices: Tensor, axis: Int) throws -> (shape: [Int], offsets: [Int]) {
        guard rank > 0 else { throw TensorError("cannot gather from a scalar") }
        let a = try self.axis(axis)
        let (outer, n, inner) = split3(a)
        var picks = [Int](); picks.reserveCapacity(indices.count)
        for v in indices.data {
            guard v == v.rounded(), v >= -Float(n), v < Float(n) else {
                throw TensorError("gather index \(v) is out of range for axis \(axis) of size \(n)")
            }
            let i = Int(v)
            picks.append(i < 0 ? i + n : i)
        }
        let shape = Array(self.shape[..<a]) + indices.shape + Array(self.shape[(a + 1)...])
        _ = try Tensor.allocationCount(shape)
        var offsets = [Int](); offsets.reserveCapacity(outer * picks.count * inner)
        for o in 0..<outer { for p in picks { for i in 0..<inner { offsets.append((o * n + p) * inner + i) } } }
        return (shape, offsets)
    }

    /// One-hot rows: shape indices.shape + [classes].
    public static func onehot(_ indices: Tensor, classes: Int) throws -> Tensor {
        guard classes > 0 else { throw TensorError("one_hot needs at least one class, got \(classes)") }
        var out = try zeros(indices.shape + [classes])
        for (i, v) in indices.data.enumerated() {
            guard v == v.rounded(), v >= 0, v < Float(classes) else {
                throw TensorError("one_hot index \(v) is out of range for \(classes) classes")
            }
            out.data[i * classes + Int(v)] = 1
        }
        return out
    }
}

/// Walks the indices of a shape in row-major order, keeping the offsets
/// they map to in one or two strided layouts (a stride of 0 repeats an
/// axis, as broadcasting does): the output of a broadcast op, a transpose
/// or a sum back to a shape, element by element.
struct Odometer {
    let shape: [Int], firstStrides: [Int], secondStrides: [Int]
    var index: [Int]
    /// The current element's offsets in the first and second layouts.
    var first = 0, second = 0

    init(_ shape: [Int], _ firstStrides: [Int], _ secondStrides: [Int]? = nil) {
        self.shape = shape
        self.firstStrides = firstStrides
        self.secondStrides = secondStrides ?? [Int](repeating: 0, count: shape.count)
        index = [Int](repeating: 0, count: shape.count)
    }

    /// Moves to the next index: the last axis fastest, carrying into the ones before.
    @inline(__always)
    mutating func advance() {
        var d = shape.count - 1
        while d >= 0 {
            index[d] += 1; first += firstStrides[d]; second += secondStrides[d]
            if index[d] < shape[d] { return }
            first -= firstStrides[d] * shape[d]; second -= secondStrides[d] * shape[d]; index[d] = 0
            d -= 1
        }
    }
}

