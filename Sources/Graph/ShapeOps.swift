import Tensor

extension Op {
    public static func matmul(_ a: Variable, _ b: Variable) throws -> Variable {
        let (x, y) = (a.value, b.value)
        let value = try Tensor.matmul(x, y)
        let needA = a.requiresGrad, needB = b.requiresGrad
        return Graph.record(value, [a, b]) { g in
            // Work with 1-d operands promoted to matrices, as the forward did.
            let xm = x.rank == 1 ? Tensor(shape: [1, x.count], data: x.data) : x
            let ym = y.rank == 1 ? Tensor(shape: [y.count, 1], data: y.data) : y
            var gShape = Array(value.shape)
            if x.rank == 1 { gShape.insert(1, at: max(gShape.count - (y.rank == 1 ? 0 : 1), 0)) }
            if y.rank == 1 { gShape.append(1) }
            let gm = Tensor(shape: gShape, data: g.data)
            var dx: Tensor? = nil, dy: Tensor? = nil
            if needA {
                var d = try Tensor.matmul(gm, ym, transposeA: false, transposeB: true)
                while d.rank > xm.rank { d = try d.reduce(.sum, axis: 0) }
                dx = Tensor(shape: x.shape, data: d.data)
            }
            if needB {
                var d = try Tensor.matmul(xm, gm, transposeA: true, transposeB: false)
                while d.rank > ym.rank { d = try d.reduce(.sum, axis: 0) }
                dy = Tensor(shape: y.shape, data: d.data)
            }
            return [dx, dy]
        }
    }

    /// Reorders axes; `perm[i]` is the source axis of result axis i.
    public static func permute(_ a: Variable, _ perm: [Int]) throws -> Variable {
        let value = try a.value.permuted(perm)
        var inverse = perm
        for (i, p) in perm.enumerated() { inverse[p] = i }
        return Graph.record(value, [a]) { g in [try g.permuted(inverse)] }
    }

    public static func reshape(_ a: Variable, _ shape: [Int]) throws -> Variable {
        let original = a.shape
        return Graph.record(try a.value.reshaped(shape), [a]) { g in [Tensor(shape: original, data: g.data)] }
    }

    public static func concat(_ parts: [Variable], axis: Int) throws -> Variable {
        let value = try Tensor.concat(parts.map(\.value), axis: axis)
        let ax = try parts[0].value.axis(axis)
        let sizes = parts.map { $0.shape[ax] }
        return Graph.record(value, parts) { g in try g.split(sizes: sizes, axis: ax) }
    }

    public static func stack(_ parts: [Variable], axis: Int) throws -> Variable {
        guard let first = parts.first else { throw TensorError("stack needs at least one tensor") }
        let ax = try first.value.axis(axis, rankPlus: 1)
        var unit = first.shape
        unit.insert(1, at: ax)
        let rows = try parts.map { p -> Variable in
            guard p.shape == first.shape else {
                throw TensorError("stack: shapes \(Tensor.shapeText(first.shape)) and \(Tensor.shapeText(p.shape)) differ")
            }
            return try reshape(p, unit)
        }
        return try concat(rows, axis: ax)
    }

    public static func split(_ a: Variable, sizes: [Int], axis: Int) throws -> [Variable] {
        guard a.value.rank > 0 else { throw TensorError("cannot split a scalar") }
        let ax = try a.value.axis(axis)
        guard sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == a.shape[ax] else {
            throw TensorError("split sizes \(Tensor.shapeText(sizes)) do not add up to \(a.shape[ax]), the size of axis \(axis) of \(Tensor.shapeText(a.shape))")
        }
        var start = 0
        return try sizes.map { size in
            defer { start += size }
            return try index(a, Array(repeating: .all, count: ax) + [.range(start, start + size, 1)])
        }
    }

    public static func index(_ a: Variable, _ specs: [Tensor.IndexSpec]) throws -> Variable {
        let (shape, offsets) = try a.value.selection(specs)
        return gatherOffsets(a, offsets, shape)
    }

    /// Picks entries along `axis` by integer indices (any shape).
    public static func gather(_ a: Variable, _ indices: Tensor, axis: Int) throws -> Variable {
        let (shape, offsets) = try a.value.gatherSelection(indices: indices, axis: axis)
        return gatherOffsets(a, offsets, shape)
    }

    static func gatherOffsets(_ a: Variable, _ offsets: [Int], _ shape: [Int]) -> Variable {
        let source = a.shape
        return Graph.record(a.value.gathering(offsets: offsets, shape: shape), [a]) { g in
            var d = Tensor(shape: source, data: [Float](repeating: 0, count: source.reduce(1, *)))
            d.scatterAdd(offsets: offsets, values: g)
            return [d]
        }
    }

    /// `a` with the selected part replaced by `v` (broadcast to the part's shape).
    public static func setIndex(_ a: Variable, _ specs: [Tensor.IndexSpec], _ v: Variable) throws -> Variable {
        let (shape, offsets) = try a.value.selection(specs)
        let part = try v.value.broadcast(to: shape)
        var value = a.value
        value.data.withUnsafeMutableBufferPointer { p in
            for (i, o) in offsets.enumerated() { p[o] = part.data[i] }
        }
        let vShape = v.shape
        return Graph.record(value, [a, v]) { g in
            var da = g
            for o in offsets { da.data[o] = 0 }
            let dv = g.gathering(offsets: offsets, shape: shape).sum(toShape: vShape)
            return [da, dv]
        }
    }

    /// The outer product of two vectors.
    public static func outer(_ a: Variable, _ b: Variable) throws -> Variable {
        guard a.value.rank == 1, b.value.rank == 1 else {
            throw TensorError("outer needs two vectors, got shapes \(Tensor.shapeText(a.shape)) and \(Tensor.shapeText(b.shape))")
        }
        return try mul(try reshape(a, [a.value.count, 1]), try reshape(b, [1, b.value.count]))
    }
}
