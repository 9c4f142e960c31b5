import Tensor

/// Matrix products: matmul (batched), the dense layer `linear`, the outer product.
extension Op {
    public static func matmul(_ a: Variable, _ b: Variable) throws -> Variable {
        let (x, y) = (a.value, b.value)
        let value = try Tensor.matmul(x, y)
        let needA = a.requiresGrad, needB = b.requiresGrad
        // 2 m n k for each product of the batch.
        let products = value.count * (x.rank == 1 ? x.count : x.shape[x.rank - 1])
        let result = Graph.record(value, a, b, op: "matmul", flops: 2 * products, { back, a, b in
            let g = back.gradient
            // Work with 1-d operands promoted to matrices, as the forward did.
            let xm = x.rank == 1 ? Tensor(shape: [1, x.count], data: x.data) : x
            let ym = y.rank == 1 ? Tensor(shape: [y.count, 1], data: y.data) : y
            var gShape = Array(value.shape)
            if x.rank == 1 { gShape.insert(1, at: max(gShape.count - (y.rank == 1 ? 0 : 1), 0)) }
            if y.rank == 1 { gShape.append(1) }
            let gm = Tensor(shape: gShape, data: g.data)
            try back.add(to: a) {
                var d = try Tensor.matmul(gm, ym, transposeA: false, transposeB: true)
                while d.rank > xm.rank { d = try d.reduce(.sum, axis: 0) }
                return Tensor(shape: x.shape, data: d.data)
            }
            if x.rank == 2 && y.rank == 2 {
                // A weight shared by the steps of a sequence: its products are
                // summed as one (`Backward.addProduct`), as a dense layer's are.
                try back.addProduct(xm, gm, to: b)
            } else {
                try back.add(to: b) {
                    var d = try Tensor.matmul(xm, gm, transposeA: true, transposeB: false)
                    while d.rank > ym.rank { d = try d.reduce(.sum, axis: 0) }
                    return Tensor(shape: y.shape, data: d.data)
                }
            }
        }, graph: x.rank == 2 && y.rank == 2 ? { g, nodes in
            // Plain matrices: the same products, as ops.
            let (a, b) = (Graph.input(x, nodes[0]), Graph.input(y, nodes[1]))
            return [needA ? try matmul(g, try permute(b, [1, 0])) : nil, needB ? try matmul(try permute(a, [1, 0]), g) : nil]
        } : nil)
        // Matrices and batches of them (at most one batch axis when a side is
        // shared) have a kernel; so has a vector times a matrix (or a matrix
        // times a vector, or two vectors), a row (a column) of one row (column).
        if x.rank >= 2 && y.rank >= 2 && (x.rank == y.rank || max(x.rank, y.rank) == 3) {
            let (m, k, n) = (x.shape[x.rank - 2], x.shape[x.rank - 1], y.shape[y.rank - 1])
            let kernel = MatmulKernel(m: m, k: k, n: n, batches: value.count / max(1, m * n), aBatched: x.rank > 2, bBatched: y.rank > 2,
                                      stacksProducts: x.rank == 2 && y.rank == 2)
            Graph.capture(kernel, "matmul", flops: 2 * products, inputs: [a, b], outputs: [result])
        } else if x.rank <= 2 && y.rank <= 2 {
            let (m, k, n) = (x.rank == 1 ? 1 : x.shape[0], x.shape[x.rank - 1], y.rank == 1 ? 1 : y.shape[1])
            Graph.capture(MatmulKernel(m: m, k: k, n: n), "matmul", flops: 2 * products, inputs: [a, b], outputs: [result])
        }
        return result
    }

    /// A dense layer as one node: x @ W + b for x [..., in] (any leading axes,
    /// taken as rows), W [in, out], b [out] (or none); the result is [..., out].
    public static func linear(_ x: Variable, _ w: Variable, _ b: Variable?) throws -> Variable {
        guard x.value.rank >= 1, w.value.rank == 2 else {
            let product = try matmul(x, w)
            return try b.map { try add(product, $0) } ?? product
        }
        let (xv, wv) = (x.value, w.value)
        let (inputs, outputs) = (wv.shape[0], wv.shape[1])
        let rows = xv.shape.dropLast().reduce(1, *)
        guard xv.shape.last == inputs else {
            throw TensorError("linear: input of shape \(Tensor.shapeText(xv.shape)) does not fit weights of shape \(Tensor.shapeText(wv.shape))")
        }
        if let b, b.value.shape != [outputs] {
            throw TensorError("linear: bias of shape \(Tensor.shapeText(b.value.shape)) should be [\(outputs)]")
        }
        let x2 = Tensor(shape: [rows, inputs], data: xv.data)
        var value = try Tensor.matmul(x2, wv, transposeA: false, transposeB: false)
        if let bias = b?.value.data {
            value.data.withUnsafeMutableBufferPointer { p in
                bias.withUnsafeBufferPointer { pb in
                    for r in 0..<rows { axpy(p.baseAddress! + r * outputs, 1, pb.baseAddress!, outputs) }
                }
            }
        }
        var shape = xv.shape
        shape[shape.count - 1] = outputs
        return Graph.planned(LinearKernel(rows: rows, inputs: inputs, outputs: outputs), "linear", flops: 2 * rows * inputs * outputs + rows * outputs, inputs: [x, w, b],
                             Graph.record(Tensor(shape: shape, data: value.data), x, w, b, op: "linear", flops: 2 * rows * inputs * outputs + rows * outputs, { back, x, w, b in
            let g = back.gradient
            let g2 = Tensor(shape: [rows, outputs], data: g.data)
            try back.add(to: x) {
                // g W^T: on the own kernels, W's transpose is copied once per backward walk, not per step.
                let product = rows >= 4 && Tensor.ownKernelsTransposeB
                    ? try Tensor.matmul(g2, try back.transpose(of: wv), transposeA: false, transposeB: false)
                    : try Tensor.matmul(g2, wv, transposeA: false, transposeB: true)
                return Tensor(shape: xv.shape, data: product.data)
            }
            // Weights are shared across the steps of a sequence: dW = x^T g is summed over them in one product.
            try back.addProduct(x2, g2, to: w)
            try back.add(to: b) {
                var db = [Float](repeating: 0, count: outputs)
                db.withUnsafeMutableBufferPointer { pd in
                    g.data.withUnsafeBufferPointer { pg in
                        for r in 0..<rows { axpy(pd.baseAddress!, 1, pg.baseAddress! + r * outputs, outputs) }
                    }
                }
                return Tensor(shape: [outputs], data: db)
            }
        }, graph: { g, nodes in
            // The same products as ops, on the inputs' rows: dx = g W^T, dW = x^T g, db = the sum of g's rows.
            let xRows = try reshape(Graph.input(xv, nodes[0]), [rows, inputs]), wVar = Graph.input(wv, nodes[1])
            let gRows = try reshape(g, [rows, outputs])
            var grads: [Variable?] = [try reshape(try matmul(gRows, try permute(wVar, [1, 0])), xv.shape),
                                      try matmul(try permute(xRows, [1, 0]), gRows)]
            if nodes[2].node != nil { grads.append(try sum(gRows, axis: 0)) }
            return grads
        }))
    }

    /// The outer product of two vectors.
    public static func outer(_ a: Variable, _ b: Variable) throws -> Variable {
        guard a.value.rank == 1, b.value.rank == 1 else {
            throw TensorError("outer needs two vectors, got shapes \(Tensor.shapeText(a.shape)) and \(Tensor.shapeText(b.shape))")
        }
        return try mul(try reshape(a, [a.value.count, 1]), try reshape(b, [1, b.value.count]))
    }
}
