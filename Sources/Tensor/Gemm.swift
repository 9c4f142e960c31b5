import COpenBLAS

// Vector kernels written with explicit SIMD (8 lanes), and matrix products on
// row-major buffers. The transposed variants let the gradient of a product
// (G @ B^T, A^T @ G) run without copying a transpose.

/// y += alpha * x over n floats.
@inlinable @inline(__always)
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
@inlinable @inline(__always)
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
/// transposed) and op(B) is [k, n] (B stored [n, k] when transposed), all
/// row-major. OpenBLAS does the work with kernels chosen for the CPU it runs
/// on, on one thread (a model's products are small, and results stay
/// reproducible run to run). A single row (a batch-1 step) is a
/// matrix-vector product.
func gemm(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
          m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool) {
    guard m > 0, n > 0, k > 0 else { return }
    _ = blasOnOneThread
    let (M, N, K) = (Int32(m), Int32(n), Int32(k))
    if m == 1 {
        // c = c + op(B)^T a, with a a vector whichever way it is stored.
        if transposeB { cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, 1, b, K, a, 1, 1, c, 1) }
        else { cblas_sgemv(CblasRowMajor, CblasTrans, K, N, 1, b, N, a, 1, 1, c, 1) }
        return
    }
    cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                M, N, K, 1, a, transposeA ? M : K, b, transposeB ? K : N, 1, c, N)
}

/// Set once, before the first product.
private let blasOnOneThread: Void = openblas_set_num_threads(1)

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
        // Plain matrices (the common case) build no batch arrays: an empty literal allocates nothing.
        let aBatch = a.rank > 2 ? Array(a.shape.dropLast(2)) : [], bBatch = b.rank > 2 ? Array(b.shape.dropLast(2)) : []
        guard k == k2, aBatch == bBatch || aBatch.isEmpty || bBatch.isEmpty else {
            throw TensorError("matmul shapes \(shapeText(a.shape)) and \(shapeText(b.shape)) do not match")
        }
        let batchShape = aBatch.isEmpty ? bBatch : aBatch
        let batches = batchShape.reduce(1, *)
        let shape = batchShape.isEmpty ? [m, n] : batchShape + [m, n]
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
