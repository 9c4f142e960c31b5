// Matrix-product kernels on row-major buffers, written with explicit SIMD so
// that the inner loops run 8 lanes wide. The transposed variants let the
// gradient of a product (G @ B^T, A^T @ G) run without copying a transpose.

/// y += alpha * x over n floats.
@inline(__always)
public func axpy(_ y: UnsafeMutablePointer<Float>, _ alpha: Float, _ x: UnsafePointer<Float>, _ n: Int) {
    var j = 0
    let va = SIMD8<Float>(repeating: alpha)
    while j + 8 <= n {
        let xv = UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self)
        let yv = UnsafeRawPointer(y + j).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(y + j).storeBytes(of: yv + va * xv, as: SIMD8<Float>.self)
        j += 8
    }
    while j < n { y[j] += alpha * x[j]; j += 1 }
}

/// The dot product of n floats.
@inline(__always)
public func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var j = 0
    var acc = SIMD8<Float>()
    while j + 8 <= n {
        acc += UnsafeRawPointer(a + j).loadUnaligned(as: SIMD8<Float>.self) * UnsafeRawPointer(b + j).loadUnaligned(as: SIMD8<Float>.self)
        j += 8
    }
    var s = acc.sum()
    while j < n { s += a[j] * b[j]; j += 1 }
    return s
}

/// C[m, n] += op(A) @ op(B), where op(A) is [m, k] (A stored [k, m] when
/// transposed) and op(B) is [k, n] (B stored [n, k] when transposed).
/// Four rows of C are computed together so that each row of B read from
/// memory serves four rows; the rows left over (and matrices of fewer rows,
/// as in a batch-1 step) take the one-row loops.
func gemm(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
          m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool) {
    // op(A)[i, p] is a[i * rowStride + p * depthStride].
    let rowStride = transposeA ? 1 : k, depthStride = transposeA ? m : 1
    var i = 0
    if !transposeB {
        while i + 4 <= m {
            blockOfFourRows(a + i * rowStride, rowStride, depthStride, b, c + i * n, n: n, k: k)
            i += 4
        }
        for row in i..<m {
            for p in 0..<k {
                let av = a[row * rowStride + p * depthStride]
                if av != 0 { axpy(c + row * n, av, b + p * n, n) }
            }
        }
    } else if !transposeA {
        while i + 4 <= m {
            for j in 0..<n {
                let d = dots4(a + i * k, k, b + j * k, k)
                for r in 0..<4 { c[(i + r) * n + j] += d[r] }
            }
            i += 4
        }
        for row in i..<m {
            for j in 0..<n { c[row * n + j] += dot(a + row * k, b + j * k, k) }
        }
    } else {
        for row in 0..<m {
            for j in 0..<n {
                var s: Float = 0
                for p in 0..<k { s += a[p * m + row] * b[j * k + p] }
                c[row * n + j] += s
            }
        }
    }
}

/// C[0..<4, :] += op(A)[0..<4, :] @ B for B [k, n] stored by rows: 4 x 8
/// blocks of C stay in registers while the whole depth k runs through them.
@inline(__always)
private func blockOfFourRows(_ a: UnsafePointer<Float>, _ rowStride: Int, _ depthStride: Int,
                             _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, n: Int, k: Int) {
    var j = 0
    while j + 8 <= n {
        var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), c2 = SIMD8<Float>(), c3 = SIMD8<Float>()
        var ap = a, bp = b + j
        for _ in 0..<k {
            let bv = UnsafeRawPointer(bp).loadUnaligned(as: SIMD8<Float>.self)
            c0 += ap[0] * bv
            c1 += ap[rowStride] * bv
            c2 += ap[2 * rowStride] * bv
            c3 += ap[3 * rowStride] * bv
            ap += depthStride
            bp += n
        }
        addInto(c + j, c0)
        addInto(c + n + j, c1)
        addInto(c + 2 * n + j, c2)
        addInto(c + 3 * n + j, c3)
        j += 8
    }
    while j < n {
        for r in 0..<4 {
            var s: Float = 0
            for p in 0..<k { s += a[r * rowStride + p * depthStride] * b[p * n + j] }
            c[r * n + j] += s
        }
        j += 1
    }
}

@inline(__always)
private func addInto(_ c: UnsafeMutablePointer<Float>, _ v: SIMD8<Float>) {
    let out = UnsafeMutableRawPointer(c)
    out.storeBytes(of: out.loadUnaligned(as: SIMD8<Float>.self) + v, as: SIMD8<Float>.self)
}

/// The dot products of four rows of A (rowStride apart) with one vector x, n floats each.
@inline(__always)
private func dots4(_ a: UnsafePointer<Float>, _ rowStride: Int, _ x: UnsafePointer<Float>, _ n: Int) -> SIMD4<Float> {
    var s0 = SIMD8<Float>(), s1 = SIMD8<Float>(), s2 = SIMD8<Float>(), s3 = SIMD8<Float>()
    var p = 0
    while p + 8 <= n {
        let xv = UnsafeRawPointer(x + p).loadUnaligned(as: SIMD8<Float>.self)
        s0 += UnsafeRawPointer(a + p).loadUnaligned(as: SIMD8<Float>.self) * xv
        s1 += UnsafeRawPointer(a + rowStride + p).loadUnaligned(as: SIMD8<Float>.self) * xv
        s2 += UnsafeRawPointer(a + 2 * rowStride + p).loadUnaligned(as: SIMD8<Float>.self) * xv
        s3 += UnsafeRawPointer(a + 3 * rowStride + p).loadUnaligned(as: SIMD8<Float>.self) * xv
        p += 8
    }
    var result = SIMD4<Float>(s0.sum(), s1.sum(), s2.sum(), s3.sum())
    while p < n {
        for r in 0..<4 { result[r] += a[r * rowStride + p] * x[p] }
        p += 1
    }
    return result
}

extension Tensor {
    /// c += op(a) @ op(b) for matrices, into a buffer the caller owns (a
    /// gradient being accumulated); c must hold [m, n].
    public static func addMatmul(into c: UnsafeMutablePointer<Float>, _ a: Tensor, _ b: Tensor, transposeA: Bool, transposeB: Bool) throws {
        guard a.rank == 2, b.rank == 2 else { throw TensorError("addMatmul: operands must be matrices") }
        let (m, k) = transposeA ? (a.shape[1], a.shape[0]) : (a.shape[0], a.shape[1])
        let (k2, n) = transposeB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
        guard k == k2 else { throw TensorError("matmul shapes \(shapeText(a.shape)) and \(shapeText(b.shape)) do not match") }
        a.data.withUnsafeBufferPointer { pa in
            b.data.withUnsafeBufferPointer { pb in
                gemm(pa.baseAddress!, pb.baseAddress!, c, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB)
            }
        }
    }

    /// The product of matrices (or batches of them, [batch, rows, columns]),
    /// either of which may be used transposed (its last two axes swapped).
    /// Batch axes must match, or one operand has none and is shared.
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool, transposeB: Bool) throws -> Tensor {
        guard a.rank >= 2, b.rank >= 2 else { throw TensorError("matmul: operands must be matrices here") }
        let (ar, ac) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
        let (br, bc) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
        let (m, k) = transposeA ? (ac, ar) : (ar, ac)
        let (k2, n) = transposeB ? (bc, br) : (br, bc)
        let aBatch = Array(a.shape.dropLast(2)), bBatch = Array(b.shape.dropLast(2))
        guard k == k2, aBatch == bBatch || aBatch.isEmpty || bBatch.isEmpty else {
            throw TensorError("matmul shapes \(shapeText(a.shape)) and \(shapeText(b.shape)) do not match")
        }
        let batchShape = aBatch.isEmpty ? bBatch : aBatch
        let batches = batchShape.reduce(1, *)
        let shape = batchShape + [m, n]
        var out = [Float](repeating: 0, count: try elementCount(shape))
        let aStep = aBatch.isEmpty ? 0 : m * k, bStep = bBatch.isEmpty ? 0 : k * n
        a.data.withUnsafeBufferPointer { pa in
            b.data.withUnsafeBufferPointer { pb in
                out.withUnsafeMutableBufferPointer { pc in
                    for batch in 0..<batches {
                        gemm(pa.baseAddress! + batch * aStep, pb.baseAddress! + batch * bStep, pc.baseAddress! + batch * m * n,
                             m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB)
                    }
                }
            }
        }
        return Tensor(shape: shape, data: out)
    }
}
