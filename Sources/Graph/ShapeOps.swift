import Tensor

/// Ops that move elements without arithmetic: permute, reshape, concat, stack, split, indexing, slices, gather.
extension Op {
    /// Reorders axes; `perm[i]` is the source axis of result axis i.
    public static func permute(_ a: Variable, _ perm: [Int]) throws -> Variable {
        let value = try a.value.permuted(perm)
        var inverse = perm
        for (i, p) in perm.enumerated() { inverse[p] = i }
        return Graph.planned(ReorderKernel.permute(a.shape, perm), "permute", inputs: [a],
                             Graph.record(value, a, op: "permute", flops: 0, { back, a in try back.add(try back.gradient.permuted(inverse), to: a) },
                                          graph: { g, _ in [try permute(g, inverse)] }))
    }

    public static func reshape(_ a: Variable, _ shape: [Int]) throws -> Variable {
        let original = a.shape
        return Graph.planned(CopyKernel.whole(original.reduce(1, *)), "reshape", inputs: [a], Graph.record(try a.value.reshaped(shape), a, op: "reshape", flops: 0, { back, a in try back.add(Tensor(shape: original, data: back.gradient.data), to: a) },
                            graph: { g, _ in [try reshape(g, original)] }))
    }

    public static func concat(_ parts: [Variable], axis: Int) throws -> Variable {
        let value = try Tensor.concat(parts.map { $0.value }, axis: axis)
        let ax = try parts[0].value.axis(axis)
        let sizes = parts.map { $0.shape[ax] }
        return Graph.planned(CopyKernel.concat(parts.map(\.shape), axis: ax), "concat", inputs: parts, Graph.record(value, parts, op: "concat", flops: 0, { back, parts in
            for (part, d) in zip(parts, try back.gradient.split(sizes: sizes, axis: ax)) { try back.add(d, to: part) }
        }, graph: { g, _ in
            var start = 0
            return try sizes.map { size in
                defer { start += size }
                return try slice(g, axis: ax, start: start, end: start + size)
            }
        }))
    }

    /// g placed at start..<start + g's size along `axis` of zeros shaped like
    /// `source`: the gradient of a slice, as an op (for the second-order walk).
    static func padded(_ g: Variable, axis: Int, start: Int, into source: [Int]) throws -> Variable {
        var before = source, after = source
        before[axis] = start
        after[axis] = source[axis] - start - g.shape[axis]
        return try concat([Variable(try Tensor.zeros(before)), g, Variable(try Tensor.zeros(after))], axis: axis)
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
        // One node of several outputs (not a slice per piece): the pieces' gradients meet in one tensor.
        let x = a.value
        let inner = x.shape[(ax + 1)...].reduce(1, *), outer = x.shape[..<ax].reduce(1, *), n = x.shape[ax]
        let starts = sizes.indices.map { sizes[..<$0].reduce(0, +) }
        let pieces = zip(sizes, starts).map { size, start in
            var shape = x.shape
            shape[ax] = size
            let run = size * inner
            return Tensor(shape: shape, data: writing(outer * run) { out in
                reading(x.data) { px in
                    for o in 0..<outer where run > 0 { (out + o * run).update(from: px + (o * n + start) * inner, count: run) }
                }
            })
        }
        let source = x.shape
        let outputs = Graph.record(outputs: pieces, [a], op: "split", flops: 0, { back, inputs in
            try back.add(to: inputs[0]) {
                Tensor(shape: source, data: filling(source.reduce(1, *)) { d in
                    for (k, (size, start)) in zip(sizes, starts).enumerated() {
                        guard let g = back.gradient(ofOutput: k), size > 0 else { continue }
                        let run = size * inner
                        reading(g.data) { pg in
                            for o in 0..<outer { (d + (o * n + start) * inner).update(from: pg + o * run, count: run) }
                        }
                    }
                })
            }
        }, graph: { gs, _ in [try concat(gs, axis: ax)] })
        Graph.capture(SplitKernel(shape: source, axis: ax, sizes: sizes), "split", inputs: [a], outputs: outputs)
        return outputs
    }

    public static func index(_ a: Variable, _ specs: [Tensor.IndexSpec]) throws -> Variable {
        // The common case, one contiguous range on one axis, copies runs instead of listing offsets.
        if let last = specs.last, case let .range(start, end, step) = last, step == nil || step == 1,
           specs.dropLast().allSatisfy({ if case .all = $0 { return true } else { return false } }), specs.count <= a.value.rank {
            let axis = specs.count - 1
            let n = a.shape[axis]
            let bounds = Tensor.sliceBounds(start, end, n)
            return try slice(a, axis: axis, start: bounds.start, end: bounds.end)
        }
        // Another: one position on the first axis (a row, as a loop over a tensor takes) is one contiguous run.
        if specs.count == 1, case let .at(i) = specs[0], a.value.rank >= 1 {
            let n = a.shape[0]
            let j = i < 0 ? i + n : i
            guard j >= 0, j < n else {
                throw TensorError("index \(i) is out of range for axis 0 of size \(n) (shape \(Tensor.shapeText(a.shape)))")
            }
            return row(a, j)
        }
        let (shape, offsets) = try a.value.selection(specs)
        return gatherOffsets(a, offsets, shape)
    }

    /// Row j of a along its first axis, which loses that axis.
    static func row(_ a: Variable, _ j: Int) -> Variable {
        let source = a.shape
        let size = source.dropFirst().reduce(1, *)
        let value = Tensor(shape: Array(source.dropFirst()), data: Array(a.value.data[(j * size)..<((j + 1) * size)]))
        return Graph.planned(CopyKernel.slice(source, axis: 0, start: j, end: j + 1), "row", inputs: [a], Graph.record(value, a, op: "row", flops: 0, { back, a in
            var d = [Float](repeating: 0, count: source.reduce(1, *))
            d.replaceSubrange((j * size)..<((j + 1) * size), with: back.gradient.data)
            try back.add(Tensor(shape: source, data: d), to: a)
        }, graph: { g, _ in [try padded(try reshape(g, [1] + Array(source.dropFirst())), axis: 0, start: j, into: source)] }))
    }

    /// Elements start..<end along one axis (bounds already within the axis).
    public static func slice(_ a: Variable, axis: Int, start: Int, end: Int) throws -> Variable {
        let x = a.value
        let ax = try x.axis(axis)
        let n = x.shape[ax]
        guard start >= 0, end <= n, start <= end else {
            throw TensorError("slice \(start)..<\(end) is out of range for axis \(axis) of size \(n)")
        }
        let inner = x.shape[(ax + 1)...].reduce(1, *), outer = x.shape[..<ax].reduce(1, *)
        let run = (end - start) * inner
        let out = [Float](unsafeUninitializedCapacity: outer * run) { po, initialized in
            x.data.withUnsafeBufferPointer { p in
                for o in 0..<outer where run > 0 {
                    (po.baseAddress! + o * run).initialize(from: p.baseAddress! + (o * n + start) * inner, count: run)
                }
            }
            initialized = outer * run
        }
        var shape = x.shape
        shape[ax] = end - start
        let source = x.shape
        return Graph.planned(CopyKernel.slice(source, axis: ax, start: start, end: end), "slice", inputs: [a], Graph.record(Tensor(shape: shape, data: out), a, op: "slice", flops: 0, { back, a in
            let g = back.gradient
            var d = [Float](repeating: 0, count: source.reduce(1, *))
            g.data.withUnsafeBufferPointer { pg in
                d.withUnsafeMutableBufferPointer { pd in
                    for o in 0..<outer where run > 0 {
                        (pd.baseAddress! + (o * n + start) * inner).update(from: pg.baseAddress! + o * run, count: run)
                    }
                }
            }
            try back.add(Tensor(shape: source, data: d), to: a)
        }, graph: { g, _ in [try padded(g, axis: ax, start: start, into: source)] }))
    }

    /// Picks entries along `axis` by integer indices (any shape).
    public static func gather(_ a: Variable, _ indices: Tensor, axis: Int) throws -> Variable {
        let (shape, offsets) = try a.value.gatherSelection(indices: indices, axis: axis)
        return gatherOffsets(a, offsets, shape)
    }

    /// The same with the indices a tensor of the script (which a compiled plan reads at each run).
    public static func gather(_ a: Variable, _ indices: Variable, axis: Int) throws -> Variable {
        let ax = try a.value.axis(axis)
        let (shape, offsets) = try a.value.gatherSelection(indices: indices.value, axis: ax)
        // The node reads no index tensor; the kernel takes the indices as a second input.
        return Graph.planned(GatherKernel(shape: a.shape, axis: ax, picks: indices.value.count), "gather", inputs: [a, indices],
                             gatherOffsets(a, offsets, shape))
    }

    static func gatherOffsets(_ a: Variable, _ offsets: [Int], _ shape: [Int]) -> Variable {
        let source = a.shape
        return Graph.record(a.value.gathering(offsets: offsets, shape: shape), a, op: "gather", flops: 0, { back, a in
            var d = Tensor(shape: source, data: [Float](repeating: 0, count: source.reduce(1, *)))
            d.scatterAdd(offsets: offsets, values: back.gradient)
            try back.add(d, to: a)
        }, graph: { g, _ in [scatterOffsets(g, offsets, source)] })
    }

    /// Zeros of `shape` with `a`'s elements added at `offsets`: the gradient
    /// of a gather, as an op (its own gradient gathers again).
    static func scatterOffsets(_ a: Variable, _ offsets: [Int], _ shape: [Int]) -> Variable {
        let part = a.shape
        var value = Tensor(shape: shape, data: [Float](repeating: 0, count: shape.reduce(1, *)))
        value.scatterAdd(offsets: offsets, values: a.value)
        return Graph.record(value, a, op: "scatter", flops: 0, { back, a in try back.add(back.gradient.gathering(offsets: offsets, shape: part), to: a) },
                            graph: { g, _ in [gatherOffsets(g, offsets, part)] })
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
        return Graph.record(value, a, v, op: "set_index", flops: 0) { back, a, v in
            let g = back.gradient
            try back.add(to: a) {
                var da = g
                for o in offsets { da.data[o] = 0 }
                return da
            }
            try back.add(to: v) { g.gathering(offsets: offsets, shape: shape).sum(toShape: vShape) }
        }
    }
}
