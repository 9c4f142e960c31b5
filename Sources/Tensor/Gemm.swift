import CSupport
import Dispatch
import Foundation
import Synchronization
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
/// row-major. A system BLAS does the work when one was found at run time
/// (`MatrixBackend`); otherwise Mnemo's own kernels below. A single row (a
/// batch-1 step) is a matrix-vector product.
func gemm(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
          m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool) {
    guard m > 0, n > 0, k > 0 else { return }
    if let blas = MatrixBackend.active, m < Int(Int32.max), n < Int(Int32.max), k < Int(Int32.max) {
        let (M, N, K) = (Int32(m), Int32(n), Int32(k))
        let (rowMajor, noTrans, trans) = (MatrixBackend.rowMajor, MatrixBackend.noTrans, MatrixBackend.trans)
        if m == 1 {
            // c = c + op(B)^T a, with a a vector whichever way it is stored.
            if transposeB { blas.sgemv(rowMajor, noTrans, N, K, 1, b, K, a, 1, 1, c, 1) }
            else { blas.sgemv(rowMajor, trans, K, N, 1, b, N, a, 1, 1, c, 1) }
            return
        }
        blas.sgemm(rowMajor, transposeA ? trans : noTrans, transposeB ? trans : noTrans,
                   M, N, K, 1, a, transposeA ? M : K, b, transposeB ? K : N, 1, c, N)
        return
    }
    OwnKernels.gemm(a, b, c, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB)
}

extension Tensor {
    /// True when the products run on Mnemo's own kernels, which take a
    /// product with B transposed (of four rows or more) by copying B's
    /// transpose first: a caller that has the transpose already may pass
    /// it instead, for the same bits.
    public static var ownKernelsTransposeB: Bool { MatrixBackend.active == nil }
}

/// Mnemo's own matrix products, used when no BLAS is loaded. They are written
/// for the shapes of memory networks: matrix-vector products at batch 1 and
/// thin products (a few to a few hundred rows) otherwise. Each runs eight
/// lanes at a time, four rows of the output together so that every load of
/// B serves four rows, and sums in a fixed order: the same inputs give the
/// same bits on every run and every x86-64 machine.
public enum OwnKernels {
    /// The four-row kernel runs on AVX where the CPU has it (same bits, twice
    /// the lanes); tests turn it off to compare the two paths.
    nonisolated(unsafe) public static var useAVX = mnemo_has_avx() != 0
    /// Eight rows at a time on AVX-512 where the CPU has it (same bits again).
    nonisolated(unsafe) public static var useAVX512 = mnemo_has_avx512() != 0
    /// The widest of these allowed, for C kernels compiled at each width (0 baseline, 1 AVX, 2 AVX-512).
    public static var level: Int32 { useAVX ? (useAVX512 ? 2 : 1) : 0 }

    /// body's result at each instruction set this CPU has (the baseline,
    /// AVX, AVX-512), the lowest first, with the choice restored after: for
    /// the tests that hold every kernel to the same bits at every width.
    public static func atEveryLevel<T>(_ body: () throws -> T) rethrows -> [(level: Int32, result: T)] {
        let (avx, avx512) = (useAVX, useAVX512)
        defer { (useAVX, useAVX512) = (avx, avx512) }
        var results: [(Int32, T)] = []
        for (wide, wider) in [(false, false), (true, false), (true, true)] where (!wide || avx) && (!wider || avx512) {
            (useAVX, useAVX512) = (wide, wider)
            results.append((level, try body()))
        }
        return results
    }

    /// C[m, n] += op(A) @ op(B), as `gemm` above.
    public static func gemm(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                            m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool) {
        guard m > 0, n > 0, k > 0 else { return }
        switch (transposeA, transposeB) {
        case (_, false):
            // B's rows are contiguous: each output row gathers rows of B, four
            // output rows at a time. A(i, p) is a[i * k + p], or a[p * m + i]
            // when A is stored transposed. The last n % 8 columns go through
            // the same kernel on zero-padded copies (B's once, C's per block).
            if transposeA && OwnKernels.useAVX512 && OwnKernels.useAVX && m >= 64 && k >= 64 && n >= 32 && n % 8 == 0 {
                packedTransposedProduct(a, b, c, m: m, n: n, k: k)
                return
            }
            if n < 8 && m >= 16 {
                // A few columns (a gate, a few classes): rows of A in vectors, A taken transposed.
                narrowProduct(a, b, c, m: m, n: n, k: k, transposeA: transposeA)
                return
            }
            let (rowStride, columnStride) = transposeA ? (1, m) : (k, 1)
            let n8 = n - n % 8, tail = n - n8
            // Blocks of four rows; with threads, each takes a range of
            // eight-column groups for every block (so each reads only its part
            // of B). Each output is computed by one thread in the same order
            // whatever their number, so the bits do not change.
            let blocks = m / 4
            // The last n % 8 columns through the same kernel on zero-padded copies (by the thread with the last columns).
            func tailColumns() {
                guard tail > 0 && m >= 4 else { return }
                let bTail = UnsafeMutablePointer<Float>.allocate(capacity: k * 8)
                defer { bTail.deallocate() }
                bTail.initialize(repeating: 0, count: k * 8)
                for p in 0..<k { for j in 0..<tail { bTail[p * 8 + j] = b[p * n + n8 + j] } }
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 32) { scratch in
                    let cTail = scratch.baseAddress!
                    for block in 0..<blocks where !Interrupt.requested {
                        let i = 4 * block
                        let ci = c + i * n
                        for r in 0..<4 { for j in 0..<8 { cTail[r * 8 + j] = j < tail ? ci[r * n + n8 + j] : 0 } }
                        fourRows(a + i * rowStride, rowStride, columnStride, bTail, ldb: 8, cTail, ldc: 8, columns: 8, k: k)
                        for r in 0..<4 { for j in 0..<tail { ci[r * n + n8 + j] = cTail[r * 8 + j] } }
                    }
                }
            }
            Parallel.forEach(n8 / 8, work: 2 * m * n * k) { groups in
                // Columns in panels of 128, every block of rows through a
                // panel before the next: the panel of B stays in cache for
                // all of them, instead of B streaming past once per block.
                let panel = 128
                var j0 = 8 * groups.lowerBound
                while j0 < 8 * groups.upperBound {
                    let width = min(panel, 8 * groups.upperBound - j0)
                    // A long product stops between blocks of rows at Ctrl-C (the caller reports it).
                    var block = 0
                    while block < blocks && !Interrupt.requested {
                        let i = 4 * block
                        if block + 1 < blocks && OwnKernels.useAVX512 && OwnKernels.useAVX {
                            mnemo_eight_rows_times_b_avx512(a + i * rowStride, rowStride, columnStride, b + j0, n, c + i * n + j0, n, width, k)
                            block += 2
                            continue
                        }
                        fourRows(a + i * rowStride, rowStride, columnStride, b + j0, ldb: n, c + i * n + j0, ldc: n, columns: width, k: k)
                        block += 1
                    }
                    j0 += width
                }
                if groups.upperBound == n8 / 8 { tailColumns() }
            }
            if Interrupt.requested { return }
            for i in (4 * blocks)..<m { oneRow(a + i * rowStride, columnStride, b, c + i * n, n: n, k: k) }
        case (false, true) where m < 4:
            // Both operands' rows are contiguous: each output is a dot product.
            for i in 0..<m { rowDotRows(a + i * k, b, c + i * n, n: n, k: k) }
        case (false, true):
            // Several rows: B transposed once into [k, n] serves the kernel above.
            let columnsOfB = UnsafeMutablePointer<Float>.allocate(capacity: n * k)
            defer { columnsOfB.deallocate() }
            transpose(b, rows: n, columns: k, into: columnsOfB)
            gemm(a, columnsOfB, c, m: m, n: n, k: k, transposeA: false, transposeB: false)
        case (true, true):
            // Rare: copy A back to [m, k] and take the case above.
            let rowsOfA = UnsafeMutablePointer<Float>.allocate(capacity: m * k)
            defer { rowsOfA.deallocate() }
            transpose(a, rows: k, columns: m, into: rowsOfA)
            for i in 0..<m { rowDotRows(rowsOfA + i * k, b, c + i * n, n: n, k: k) }
        }
    }

    /// C += A^T B for A stored [k, m] and B [k, n] with many rows k (a
    /// weight's gradient over every step and batch row): A's columns copied
    /// eight at a time into [k, 8] blocks and B's 32 at a time into [k, 32]
    /// slices, so that the eight-row kernel reads both in order, where the
    /// strided forms cost it a cache line per row of each. Each output still
    /// adds its products in the order of p (the same bits); threads take
    /// slices of columns. The rows past the last block of eight take the
    /// unpacked kernels.
    static func packedTransposedProduct(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                                        m: Int, n: Int, k: Int) {
        let blocks = m / 8, slices = (n + 31) / 32
        let space = PackingSpace.take(blocks * 8 * k + slices * 32 * k)
        defer { PackingSpace.give(space) }
        let packedA = space.pointer, packedB = space.pointer + blocks * 8 * k
        Parallel.forEach(blocks, work: 8 * k * blocks) { range in
            for r in range {
                let block = packedA + r * 8 * k
                for p in 0..<k { (block + p * 8).update(from: a + p * m + r * 8, count: 8) }
            }
        }
        Parallel.forEach(slices, work: 2 * m * n * k) { range in
            // One slice's space for each thread: its first slice's.
            let slice = packedB + range.lowerBound * 32 * k
            for s in range where !Interrupt.requested {
                let j0 = 32 * s, width = min(32, n - j0)
                for p in 0..<k { (slice + p * width).update(from: b + p * n + j0, count: width) }
                for r in 0..<blocks {
                    mnemo_eight_rows_times_b_avx512(packedA + r * 8 * k, 1, 8, slice, width, c + r * 8 * n + j0, n, width, k)
                }
            }
        }
        if Interrupt.requested { return }
        var i = 8 * blocks
        if i + 4 <= m {
            fourRows(a + i, 1, m, b, ldb: n, c + i * n, ldc: n, columns: n, k: k)
            i += 4
        }
        for row in i..<m { oneRow(a + row, m, b, c + row * n, n: n, k: k) }
    }

    /// C [m, n] += op(A) B for n < 8 columns, through `addNarrowProduct`
    /// (A stored [m, k] is transposed first, into the packing space): the
    /// bits of the four-row kernels on zero-padded columns, which it replaces.
    static func narrowProduct(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                              m: Int, n: Int, k: Int, transposeA: Bool) {
        var rows = k
        var columnsOfA = a
        var space: (pointer: UnsafeMutablePointer<Float>, count: Int, shared: Bool)? = nil
        if !transposeA {
            space = PackingSpace.take(m * k)
            transpose(a, rows: m, columns: k, into: space!.pointer)
            columnsOfA = UnsafePointer(space!.pointer)
        }
        defer { if let space { PackingSpace.give(space) } }
        var partA = columnsOfA, partB = b
        addNarrowProduct(parts: 1, a: &partA, b: &partB, rows: &rows, m: m, n: n, into: c)
    }

    /// C [m, n] += A^T B for n of 1 to 8 columns, A and B given as parts
    /// (a_k [rows_k, m], b_k [rows_k, n]) whose rows, stacked in order, make
    /// them: the bits of `gemm` on the stacked matrices, without stacking A.
    /// Rows in blocks of four sum in the order of p (row_kernels.c); the
    /// rows left over take `oneRow` on their stacked column, as `gemm` does.
    public static func addNarrowProduct(parts: Int, a: UnsafePointer<UnsafePointer<Float>>, b: UnsafePointer<UnsafePointer<Float>>,
                                        rows: UnsafePointer<Int>, m: Int, n: Int, into c: UnsafeMutablePointer<Float>) {
        var k = 0
        for part in 0..<parts { k += rows[part] }
        // An empty product adds nothing; a wider one (its callers send none) takes the parts stacked, through gemm.
        guard m > 0, n > 0, k > 0 else { return }
        if n > 8 {
            let stackedA = UnsafeMutablePointer<Float>.allocate(capacity: k * m), stackedB = UnsafeMutablePointer<Float>.allocate(capacity: k * n)
            defer { stackedA.deallocate(); stackedB.deallocate() }
            var at = 0
            for part in 0..<parts {
                (stackedA + at * m).update(from: a[part], count: rows[part] * m)
                (stackedB + at * n).update(from: b[part], count: rows[part] * n)
                at += rows[part]
            }
            gemm(stackedA, stackedB, c, m: m, n: n, k: k, transposeA: true, transposeB: false)
            return
        }
        let blocked = m >= 4 ? 4 * (m / 4) : 0
        // Threads take ranges of sixteen-row blocks (each output is one thread's, summed in the same order).
        let blocks = (blocked + 15) / 16
        a.withMemoryRebound(to: UnsafePointer<Float>?.self, capacity: parts) { pa in
            b.withMemoryRebound(to: UnsafePointer<Float>?.self, capacity: parts) { pb in
                Parallel.forEach(blocks, work: 2 * blocked * n * k) { range in
                    mnemo_narrow_product(level, pa, pb, rows, parts, m, 16 * range.lowerBound, min(blocked, 16 * range.upperBound), n, c)
                }
            }
        }
        guard blocked < m else { return }
        let column = UnsafeMutablePointer<Float>.allocate(capacity: k), stackedB = UnsafeMutablePointer<Float>.allocate(capacity: k * n)
        defer { column.deallocate(); stackedB.deallocate() }
        var at = 0
        for part in 0..<parts {
            (stackedB + at * n).update(from: b[part], count: rows[part] * n)
            at += rows[part]
        }
        for i in blocked..<m {
            at = 0
            for part in 0..<parts { for p in 0..<rows[part] { column[at] = a[part][p * m + i]; at += 1 } }
            oneRow(column, 1, stackedB, c + i * n, n: n, k: k)
        }
    }

    /// out[j, i] = x[i, j] for x [rows, columns], eight by eight in vectors (row_kernels.c).
    public static func transpose(_ x: UnsafePointer<Float>, rows: Int, columns: Int, into out: UnsafeMutablePointer<Float>) {
        // Threads take ranges of eight-row blocks (a copy: the same values whatever the split).
        let blocks = (rows + 7) / 8
        Parallel.forEach(blocks, work: rows * columns) { range in
            mnemo_transpose(level, x, rows, columns, 8 * range.lowerBound, min(rows, 8 * range.upperBound), out)
        }
    }

    /// c[r * ldc + j] += sum over p of A(r, p) * b[p * ldb + j] for four
    /// rows r and the first `columns` (a multiple of 8) columns, where
    /// A(r, p) = a[r * rowStride + p * columnStride]. Each output adds its
    /// products in the order of p, so the AVX kernel gives the same bits.
    @inline(__always)
    static func fourRows(_ a: UnsafePointer<Float>, _ rowStride: Int, _ columnStride: Int, _ b: UnsafePointer<Float>, ldb: Int,
                         _ c: UnsafeMutablePointer<Float>, ldc: Int, columns: Int, k: Int) {
        if OwnKernels.useAVX {
            mnemo_four_rows_times_b_avx(a, rowStride, columnStride, b, ldb, c, ldc, columns, k)
            return
        }
        var j = 0
        while j + 8 <= columns {
            var c0 = load8(c + j), c1 = load8(c + ldc + j), c2 = load8(c + 2 * ldc + j), c3 = load8(c + 3 * ldc + j)
            for p in 0..<k {
                let bv = load8(b + p * ldb + j)
                let ap = a + p * columnStride
                c0 += ap[0] * bv
                c1 += ap[rowStride] * bv
                c2 += ap[2 * rowStride] * bv
                c3 += ap[3 * rowStride] * bv
            }
            store8(c0, c + j); store8(c1, c + ldc + j); store8(c2, c + 2 * ldc + j); store8(c3, c + 3 * ldc + j)
            j += 8
        }
    }

    /// c[:] += sum over p of a[p * columnStride] * b[p, :] for one row, b [k, n]:
    /// rows of b four at a time, c held in registers across all of them
    /// (row_kernels.c, at the widest vectors the CPU has, the same bits).
    @inline(__always)
    static func oneRow(_ a: UnsafePointer<Float>, _ columnStride: Int, _ b: UnsafePointer<Float>,
                       _ c: UnsafeMutablePointer<Float>, n: Int, k: Int) {
        mnemo_row_times_b(level, a, columnStride, b, c, n, k)
    }

    /// c[j] += dot(a, b[j, :]) for the n rows of b ([n, k]), each dot in eight
    /// lanes as `dot` sums them, four rows sharing each load of a.
    @inline(__always)
    static func rowDotRows(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>, n: Int, k: Int) {
        mnemo_row_dot_rows(level, a, b, c, n, k)
    }

    @inline(__always) static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }
    @inline(__always) static func load8(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }
    @inline(__always) static func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self) }
}

extension Tensor {
    /// C[m, n] += op(A) @ op(B) on raw buffers (a compiled plan's), by the
    /// same kernels as every product: the same bits as `matmul`.
    public static func addProduct(into c: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                  m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool) {
        gemm(a, b, c, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB)
    }

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
        let aStep = aBatch.isEmpty ? 0 : m * k, bStep = bBatch.isEmpty ? 0 : k * n
        let out = filling(try allocationCount(shape)) { pc in
            reading(a.data, b.data) { pa, pb in
                for batch in 0..<batches where !Interrupt.requested {
                    gemm(pa + batch * aStep, pb + batch * bStep, pc + batch * m * n, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB)
                }
            }
        }
        if Interrupt.requested { throw TensorError("interrupted") }
        return Tensor(shape: shape, data: out)
    }
}

/// Space for packed copies of matrices, kept from one product to the next
/// (a training step's products would otherwise allocate megabytes each).
/// One caller at a time holds it; another meanwhile allocates its own.
enum PackingSpace {
    private static let held = Atomic<Bool>(false)
    nonisolated(unsafe) private static var kept: (pointer: UnsafeMutablePointer<Float>, count: Int)? = nil

    static func take(_ count: Int) -> (pointer: UnsafeMutablePointer<Float>, count: Int, shared: Bool) {
        guard held.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            return (.allocate(capacity: max(1, count)), count, false)
        }
        if let space = kept, space.count >= count { return (space.pointer, space.count, true) }
        kept?.pointer.deallocate()
        kept = (.allocate(capacity: max(1, count)), count)
        return (kept!.pointer, count, true)
    }

    static func give(_ space: (pointer: UnsafeMutablePointer<Float>, count: Int, shared: Bool)) {
        if space.shared { held.store(false, ordering: .releasing) } else { space.pointer.deallocate() }
    }
}
