import CSupport
import Foundation
import Tensor
import XCTest

final class TensorTests: XCTestCase {
    func t(_ shape: [Int], _ data: [Float]) -> Tensor { Tensor(shape: shape, data: data) }

    func testBroadcasting() throws {
        let a = t([2, 3], [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(try (a + Tensor(vector: [10, 20, 30])).data, [11, 22, 33, 14, 25, 36])
        XCTAssertEqual(try (a * t([2, 1], [1, 10])).data, [1, 2, 3, 40, 50, 60])
        // A middle axis broadcast takes the general path.
        let b = try t([2, 1, 2], [1, 2, 3, 4]) + t([3, 1], [10, 20, 30])
        XCTAssertEqual(b.shape, [2, 3, 2])
        XCTAssertEqual(b.data, [11, 12, 21, 22, 31, 32, 13, 14, 23, 24, 33, 34])
        XCTAssertThrowsError(try t([2, 3], [1, 2, 3, 4, 5, 6]) + Tensor(vector: [1, 2]))
    }

    func testSumToShapeReversesBroadcasting() {
        let g = t([2, 3], [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(g.sum(toShape: [3]).data, [5, 7, 9])
        XCTAssertEqual(g.sum(toShape: [2, 1]).data, [6, 15])
        XCTAssertEqual(g.sum(toShape: [1, 3]).data, [5, 7, 9])
        XCTAssertEqual(g.sum(toShape: []).data, [21])
    }

    func testReductionsAndSoftmax() throws {
        let a = t([2, 3], [1, 5, 3, 4, 2, 6])
        XCTAssertEqual(try a.reduce(.sum, axis: 0).data, [5, 7, 9])
        XCTAssertEqual(try a.reduce(.max, axis: 1).data, [5, 6])
        XCTAssertEqual(try a.reduce(.argmax, axis: 1).data, [1, 2])
        XCTAssertEqual(try a.reduce(.min, axis: nil).data, [1])
        XCTAssertEqual(try a.reduce(.sum, axis: -1, keepdims: true).shape, [2, 1])
        let s = try Tensor(vector: [1000, 1000]).softmax(axis: 0)
        XCTAssertEqual(s.data, [0.5, 0.5])
        XCTAssertEqual(try Tensor(vector: [1000, 1000]).logsumexp(axis: 0).data[0], 1000 + log(2), accuracy: 1e-3)
        XCTAssertThrowsError(try a.reduce(.sum, axis: 2))
    }

    func testMatmulShapes() throws {
        let a = t([2, 3], [1, 2, 3, 4, 5, 6]), b = t([3, 2], [1, 0, 0, 1, 1, 1])
        XCTAssertEqual(try Tensor.matmul(a, b).data, [4, 5, 10, 11])
        XCTAssertEqual(try Tensor.matmul(Tensor(vector: [1, 1]), a).data, [5, 7, 9])
        XCTAssertEqual(try Tensor.matmul(a, Tensor(vector: [1, 1, 1])).data, [6, 15])
        XCTAssertEqual(try Tensor.matmul(t([2, 2, 3], a.data + a.data), b).shape, [2, 2, 2])
        XCTAssertThrowsError(try Tensor.matmul(a, a))
    }

    /// Products against the definition, for every transpose combination,
    /// single rows (matrix-vector) and empty operands.
    func testMatmulKernelsMatchTheDefinition() throws {
        let rng = RandomGenerator(seed: 5)
        XCTAssertEqual(try Tensor.matmul(Tensor.zeros([3, 0]), Tensor.zeros([0, 2]), transposeA: false, transposeB: false).data, [0, 0, 0, 0, 0, 0])
        for (m, k, n) in [(1, 1, 1), (1, 7, 5), (3, 5, 7), (4, 8, 8), (5, 9, 17), (8, 3, 16), (13, 20, 9), (16, 33, 40), (7, 1, 12)] {
            for transposeA in [false, true] {
                for transposeB in [false, true] {
                    let a = try Tensor.randn(transposeA ? [k, m] : [m, k], rng), b = try Tensor.randn(transposeB ? [n, k] : [k, n], rng)
                    let c = try Tensor.matmul(a, b, transposeA: transposeA, transposeB: transposeB)
                    XCTAssertEqual(c.shape, [m, n])
                    for i in 0..<m {
                        for j in 0..<n {
                            var s: Float = 0
                            for p in 0..<k {
                                s += (transposeA ? a.data[p * m + i] : a.data[i * k + p]) * (transposeB ? b.data[j * k + p] : b.data[p * n + j])
                            }
                            XCTAssertEqual(c.data[i * n + j], s, accuracy: 1e-4, "m \(m) k \(k) n \(n) transposes \(transposeA) \(transposeB)")
                        }
                    }
                }
            }
        }
    }

    /// Mnemo's own kernels against the definition (whatever backend
    /// `Tensor.matmul` uses in this run), their AVX and portable paths against
    /// each other bit for bit, and, when a system BLAS was loaded, the two
    /// backends against each other.
    func testOwnKernelsAgreeWithBLASAndDefinition() throws {
        let rng = RandomGenerator(seed: 9)
        // Rows in blocks of eight and four and one; columns in runs of 32, 16 and 8 lanes and a tail;
        // the packed form of A^T B (64 rows or more) with rows left over after its blocks of eight;
        // narrow products (under 8 columns, 16 rows or more) with rows left over after blocks of four.
        let shapes = [(1, 1, 1), (1, 129, 400), (1, 400, 129), (2, 5, 3), (4, 8, 8), (5, 31, 33), (16, 57, 70), (17, 8, 100), (33, 64, 7),
                      (12, 20, 24), (9, 40, 59), (16, 40, 300), (9, 7, 264), (77, 70, 96), (69, 64, 40), (66, 100, 56),
                      (16, 200, 4), (21, 9, 3)]
        for (m, k, n) in shapes {
            for transposeA in [false, true] {
                for transposeB in [false, true] {
                    let a = try Tensor.randn(transposeA ? [k, m] : [m, k], rng), b = try Tensor.randn(transposeB ? [n, k] : [k, n], rng)
                    let start = try Tensor.randn([m, n], rng).data
                    func own(avx: Bool, avx512: Bool = true) -> [Float] {
                        let (saved, saved512) = (OwnKernels.useAVX, OwnKernels.useAVX512)
                        OwnKernels.useAVX = avx && saved
                        OwnKernels.useAVX512 = avx512 && saved512
                        defer { (OwnKernels.useAVX, OwnKernels.useAVX512) = (saved, saved512) }
                        var c = start
                        c.withUnsafeMutableBufferPointer { pc in
                            OwnKernels.gemm(a.data, b.data, pc.baseAddress!, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB)
                        }
                        return c
                    }
                    let ownResult = own(avx: true)
                    let label = "m \(m) k \(k) n \(n) transposes \(transposeA) \(transposeB)"
                    XCTAssertEqual(ownResult, own(avx: false), "AVX and portable kernels differ: " + label)
                    XCTAssertEqual(ownResult, own(avx: true, avx512: false), "AVX-512 and AVX kernels differ: " + label)
                    // Threads split the work, never the order of any sum: the same bits.
                    for threads in [2, 3] {
                        let (saved, savedWork) = (Parallel.threads, Parallel.minimumWork)
                        (Parallel.threads, Parallel.minimumWork) = (threads, 1)
                        defer { (Parallel.threads, Parallel.minimumWork) = (saved, savedWork) }
                        XCTAssertEqual(own(avx: true), ownResult, "\(threads) threads differ: " + label)
                    }
                    let product = try Tensor.matmul(a, b, transposeA: transposeA, transposeB: transposeB).data
                    for i in 0..<m {
                        for j in 0..<n {
                            var exact = Double(start[i * n + j])
                            for p in 0..<k {
                                exact += Double(transposeA ? a.data[p * m + i] : a.data[i * k + p]) * Double(transposeB ? b.data[j * k + p] : b.data[p * n + j])
                            }
                            let tolerance = 1e-5 * Double(k).squareRoot() * 4 + 1e-5
                            XCTAssertEqual(Double(ownResult[i * n + j]), exact, accuracy: tolerance, "own kernels: " + label)
                            XCTAssertEqual(Double(product[i * n + j] + start[i * n + j]), exact, accuracy: tolerance, "\(MatrixBackend.description): " + label)
                        }
                    }
                }
            }
        }
        if !MatrixBackend.usesBLAS { print("note: no system BLAS was loaded; only Mnemo's own kernels were checked") }
    }

    /// A narrow A^T B summed part by part (a gate's weight gradient over the
    /// steps of a compiled plan) gives the bits the four-row kernels give the
    /// stacked parts, for rows in and out of the blocks of four and sixteen,
    /// every width from 1 to 8 (wider ones: the stacked product) and parts of
    /// uneven lengths, at every instruction set.
    func testNarrowProductOfPartsEqualsTheStackedProduct() throws {
        let rng = RandomGenerator(seed: 12)
        for m in [3, 4, 21, 37, 64] {
            for n in Array(1...8) + [9, 20] {
                let rows = [5, 1, 16, 3]
                let a = try rows.map { try Tensor.randn([$0, m], rng).data }, b = try rows.map { try Tensor.randn([$0, n], rng).data }
                let start = try Tensor.randn([m, n], rng).data
                // The four-row kernels' order: each output adds its products in the order of p, from
                // its start; the rows past the last block of four take oneRow on the stacked matrices.
                var stacked = start
                let stackedA = a.flatMap { $0 }, stackedB = b.flatMap { $0 }, k = rows.reduce(0, +)
                // Wider than 8 (no caller sends it): the stacked product through gemm.
                if n > 8 {
                    stacked.withUnsafeMutableBufferPointer { c in
                        OwnKernels.gemm(stackedA, stackedB, c.baseAddress!, m: m, n: n, k: k, transposeA: true, transposeB: false)
                    }
                }
                let blocked = n > 8 ? 0 : m >= 4 ? 4 * (m / 4) : 0
                for i in 0..<blocked {
                    for j in 0..<n {
                        var sum = start[i * n + j]
                        for p in 0..<k { sum += stackedA[p * m + i] * stackedB[p * n + j] }
                        stacked[i * n + j] = sum
                    }
                }
                for i in blocked..<m where n <= 8 {
                    let column = (0..<k).map { stackedA[$0 * m + i] }
                    // One row through gemm is oneRow.
                    stacked.withUnsafeMutableBufferPointer { c in
                        OwnKernels.gemm(column, stackedB, c.baseAddress! + i * n, m: 1, n: n, k: k, transposeA: true, transposeB: false)
                    }
                }
                func copied(_ part: [Float]) -> UnsafePointer<Float> {
                    let p = UnsafeMutablePointer<Float>.allocate(capacity: part.count)
                    p.initialize(from: part, count: part.count)
                    return UnsafePointer(p)
                }
                let (pa, pb) = (a.map(copied), b.map(copied))
                defer { for p in pa + pb { p.deallocate() } }
                let runs = OwnKernels.atEveryLevel { () -> [Float] in
                    var c = start
                    c.withUnsafeMutableBufferPointer { pc in
                        OwnKernels.addNarrowProduct(parts: rows.count, a: pa, b: pb, rows: rows, m: m, n: n, into: pc.baseAddress!)
                    }
                    return c
                }
                for (level, c) in runs { XCTAssertEqual(c.map(\.bitPattern), stacked.map(\.bitPattern), "m \(m) n \(n) level \(level)") }
                // Threads take ranges of rows: the same bits.
                for threads in [2, 3] {
                    let (saved, savedWork) = (Parallel.threads, Parallel.minimumWork)
                    (Parallel.threads, Parallel.minimumWork) = (threads, 1)
                    defer { (Parallel.threads, Parallel.minimumWork) = (saved, savedWork) }
                    var c = start
                    c.withUnsafeMutableBufferPointer { pc in
                        OwnKernels.addNarrowProduct(parts: rows.count, a: pa, b: pb, rows: rows, m: m, n: n, into: pc.baseAddress!)
                    }
                    XCTAssertEqual(c.map(\.bitPattern), stacked.map(\.bitPattern), "m \(m) n \(n) \(threads) threads")
                }
            }
        }
    }

    /// The eight-lane exp, sigmoid and tanh against double-precision libm:
    /// within a few float ulps everywhere, exact limits, NaN kept.
    func testVectorMathIsAccurate() {
        var x: [Float] = [0, -0.0, 1e-30, -1e-7, 1e-3, 0.3, 0.6249, 0.625, 0.7, 1, 2.5, 9, 10, 20, 44, 80, 88.3, 88.72, -87, -87.3, -100, 100]
        var v: Float = -30
        while v < 30 { x.append(v); v += 0.0137 }
        func close(_ got: Float, _ want: Double, _ what: String, _ input: Float) {
            if want > Double(Float.greatestFiniteMagnitude) { XCTAssertEqual(got, .infinity, "\(what)(\(input))"); return }
            if want == 0 { XCTAssertEqual(got, 0, "\(what)(\(input))"); return }
            // Relative error within 4 ulp, or a denormal-sized absolute error.
            XCTAssertLessThanOrEqual(abs(Double(got) - want), max(abs(want) * 4.8e-7, 1e-37), "\(what)(\(input)) = \(got), want \(want)")
        }
        for a in x {
            close(VectorMath.exp(a), Foundation.exp(Double(a)), "exp", a)
            close(VectorMath.tanh(a), Foundation.tanh(Double(a)), "tanh", a)
            close(VectorMath.sigmoid(a), 1 / (1 + Foundation.exp(-Double(a))), "sigmoid", a)
        }
        XCTAssertEqual(VectorMath.exp(Float.infinity), .infinity)
        XCTAssertEqual(VectorMath.exp(-Float.infinity), 0)
        XCTAssertEqual(VectorMath.exp(89), .infinity)
        XCTAssertEqual(VectorMath.sigmoid(-200), 0)
        XCTAssertEqual(VectorMath.sigmoid(200), 1)
        XCTAssertEqual(VectorMath.tanh(-Float.infinity), -1)
        for f in [VectorMath.exp, VectorMath.sigmoid, VectorMath.tanh] as [(Float) -> Float] { XCTAssertTrue(f(.nan).isNaN) }
        // A tail shorter than eight lanes takes the same path.
        var t = [Float](repeating: 0, count: 13)
        VectorMath.apply(VectorMath.tanh, x, &t, 13)
        for i in 0..<13 { XCTAssertEqual(t[i], VectorMath.tanh(x[i])) }
    }

    /// The C kernels' exp, sigmoid and tanh (vmath.h, at every width the CPU
    /// has) give VectorMath's bits, limits, NaN and tails included.
    func testCActivationsMatchVectorMath() {
        var x: [Float] = [0, -0.0, 1e-30, -1e-7, 0.6249, 0.625, 88.72, 88.73, -87.33, -87.34, 89, -100, 100, .infinity, -.infinity, .nan,
                          .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude]
        var v: Float = -95
        while v < 95 { x.append(v); v += 0.0731 }
        let functions: [(Int32, (Float) -> Float)] = [(0, VectorMath.exp), (1, VectorMath.sigmoid), (2, VectorMath.tanh)]
        for level: Int32 in 0...OwnKernels.level {
            for (kind, f) in functions {
                for n in [x.count, 13, 5] {
                    var y = [Float](repeating: 0, count: n)
                    mnemo_activations(level, kind, x, &y, n)
                    for i in 0..<n {
                        XCTAssertEqual(y[i].bitPattern, f(x[i]).bitPattern, "kind \(kind), level \(level), x \(x[i]): \(y[i]) against \(f(x[i]))")
                    }
                }
            }
        }
    }

    func testPermuteConcatSplit() throws {
        let x = try Tensor.arange(0, 24, 1).reshaped([2, 3, 4])
        let p = try x.permuted([2, 0, 1])
        XCTAssertEqual(p.shape, [4, 2, 3])
        XCTAssertEqual(try p.index([.at(1), .at(1), .at(2)]).data, [21])  // x[1, 2, 1]
        let joined = try Tensor.concat([x, x], axis: 1)
        XCTAssertEqual(joined.shape, [2, 6, 4])
        let parts = try joined.split(sizes: [3, 3], axis: 1)
        XCTAssertEqual(parts[0], x)
        XCTAssertEqual(try Tensor.stack([x, x], axis: 0).shape, [2, 2, 3, 4])
    }

    func testIndexingFollowsPython() throws {
        let x = try Tensor.arange(0, 10, 1)
        XCTAssertEqual(try x.index([.range(-3, nil, nil)]).data, [7, 8, 9])
        XCTAssertEqual(try x.index([.range(nil, nil, -3)]).data, [9, 6, 3, 0])
        XCTAssertEqual(try x.index([.range(20, 30, 1)]).data, [])
        XCTAssertThrowsError(try x.index([.at(10)]))
        XCTAssertThrowsError(try x.index([.at(0), .at(0)]))
        let (shape, offsets) = try x.gatherSelection(indices: Tensor(vector: [2, -1]), axis: 0)
        XCTAssertEqual(shape, [2])
        XCTAssertEqual(offsets, [2, 9])
    }

    func testAbsurdShapesAreErrors() {
        XCTAssertThrowsError(try Tensor.zeros([1 << 40, 1 << 40]))
        XCTAssertThrowsError(try Tensor.zeros([-1]))
        XCTAssertThrowsError(try Tensor.zeros([Int.max, 2]))
        XCTAssertThrowsError(try Tensor.arange(0, 1e300, 1))
    }

    func testRandomIsDeterministic() {
        let a = RandomGenerator(seed: 5), b = RandomGenerator(seed: 5)
        XCTAssertEqual((0..<10).map { _ in a.next() }, (0..<10).map { _ in b.next() })
        let n = RandomGenerator(seed: 1)
        let samples = (0..<20_000).map { _ in n.normal() }
        let mean = samples.reduce(0, +) / Double(samples.count)
        let variance = samples.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(samples.count)
        XCTAssertEqual(mean, 0, accuracy: 0.03)
        XCTAssertEqual(variance, 1, accuracy: 0.05)
        let g = try! Tensor.glorot([100, 50], n)
        let limit = Float((6.0 / 150).squareRoot())
        XCTAssertTrue(g.data.allSatisfy { abs($0) <= limit })
    }

    func testPrinting() throws {
        XCTAssertEqual(Tensor(vector: [1, 2, 3]).description, "tensor([1, 2, 3], shape: [3])")
        XCTAssertEqual(Tensor(vector: [0.5, -1]).description, "tensor([ 0.5000, -1.0000], shape: [2])")
        XCTAssertEqual(Tensor(vector: [1e-6, 1]).description, "tensor([1.0000e-06, 1.0000e+00], shape: [2])")
        XCTAssertEqual(Tensor(2.5).description, "tensor(2.5)")
        let big = try Tensor.arange(0, 2000, 1).description
        XCTAssertTrue(big.contains("..."))
        XCTAssertTrue(big.hasSuffix("shape: [2000])"))
        XCTAssertLessThan(big.count, 200)
    }
}

final class NPYTests: XCTestCase {
    /// A .npy file as NumPy writes it, for any dtype and raw data.
    func npy(_ descr: String, _ shape: String, fortran: Bool = false, _ payload: [UInt8]) -> [UInt8] {
        var header = "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shape), }"
        let total = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0] + Array(header.utf8) + payload
    }

    func bytes<T>(_ values: [T]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }

    func testReadsCommonDtypes() throws {
        XCTAssertEqual(try NPY.decode(npy("<f8", "(2,)", bytes([1.5, -2.0] as [Double])), name: "x").data, [1.5, -2])
        XCTAssertEqual(try NPY.decode(npy("<i8", "(3,)", bytes([7, -1, 3] as [Int64])), name: "x").data, [7, -1, 3])
        XCTAssertEqual(try NPY.decode(npy("<i4", "(2,)", bytes([-5, 9] as [Int32])), name: "x").data, [-5, 9])
        XCTAssertEqual(try NPY.decode(npy("|u1", "(2,)", [200, 1]), name: "x").data, [200, 1])
        XCTAssertEqual(try NPY.decode(npy("|b1", "(2,)", [1, 0]), name: "x").data, [1, 0])
        XCTAssertEqual(try NPY.decode(npy(">f4", "(1,)", [0x3f, 0x80, 0, 0]), name: "x").data, [1])
        let scalar = try NPY.decode(npy("<f4", "()", bytes([4.0] as [Float])), name: "x")
        XCTAssertEqual(scalar.shape, [])
    }

    func testFortranOrderIsTransposedBack() throws {
        // [[1, 2, 3], [4, 5, 6]] stored column by column.
        let t = try NPY.decode(npy("<f4", "(2, 3)", fortran: true, bytes([1, 4, 2, 5, 3, 6] as [Float])), name: "x")
        XCTAssertEqual(t.shape, [2, 3])
        XCTAssertEqual(t.data, [1, 2, 3, 4, 5, 6])
    }

    func testMalformedFilesAreErrors() {
        XCTAssertThrowsError(try NPY.decode(Array("hello".utf8), name: "x"))
        XCTAssertThrowsError(try NPY.decode(npy("<f4", "(10,)", [0, 0, 0]), name: "x"))  // truncated data
        XCTAssertThrowsError(try NPY.decode(npy("<c8", "(1,)", [0, 0, 0, 0, 0, 0, 0, 0]), name: "x"))  // complex
        XCTAssertThrowsError(try NPY.decode(npy("<f4", "(-1,)", []), name: "x"))
        XCTAssertThrowsError(try NPY.decode(Array(npy("<f4", "(1,)", [0, 0, 0, 0]).prefix(12)), name: "x"))
    }

    func testWriteThenReadRoundTrips() throws {
        let path = NSTemporaryDirectory() + "/mnemo-npy-\(ProcessInfo.processInfo.processIdentifier).npy"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let t = Tensor(shape: [2, 1, 3], data: [1, 2, 3, 4, 5, 6.5])
        try NPY.write(t, path: path)
        XCTAssertEqual(try NPY.read(path: path), t)
        let raw = [UInt8](FileManager.default.contents(atPath: path)!)
        XCTAssertEqual((10 + Int(raw[8]) + Int(raw[9]) << 8) % 64, 0, "header padded to 64 bytes as NumPy does")
    }

    /// When NumPy is installed, it reads what Mnemo writes and Mnemo reads what it writes.
    func testInteroperatesWithNumPy() throws {
        let dir = NSTemporaryDirectory() + "/mnemo-numpy-\(ProcessInfo.processInfo.processIdentifier)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try NPY.write(Tensor(shape: [2, 2], data: [1, 2, 3, 4]), path: dir + "/from_mnemo.npy")
        let script = """
        import numpy as np
        a = np.load('\(dir)/from_mnemo.npy')
        assert a.dtype == np.float32 and a.shape == (2, 2) and a[1, 0] == 3
        np.save('\(dir)/from_numpy.npy', np.arange(6, dtype=np.float64).reshape(3, 2) * 0.5)
        """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { throw XCTSkip("python3 is not available") }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw XCTSkip("NumPy is not available") }
        let t = try NPY.read(path: dir + "/from_numpy.npy")
        XCTAssertEqual(t.shape, [3, 2])
        XCTAssertEqual(t.data, [0, 0.5, 1, 1.5, 2, 2.5])
    }

    /// Runs Python code; skips the test when Python or a module it imports is missing.
    func python(_ code: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", code]
        let err = Pipe()
        process.standardError = err
        do { try process.run() } catch { throw XCTSkip("python3 is not available") }
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if message.contains("ModuleNotFoundError") { throw XCTSkip(message) }
        XCTAssertEqual(process.terminationStatus, 0, message)
    }

    /// .npz both ways (np.savez and np.savez_compressed), float16 arrays widened exactly.
    func testNPZInteroperatesWithNumPy() throws {
        let dir = NSTemporaryDirectory() + "/mnemo-npz-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try NPZ.write([("W", Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])), ("cell.b", Tensor(shape: [2], data: [-1, 0.5]))], path: dir + "/mnemo.npz")
        try python("""
        import numpy as np
        z = np.load('\(dir)/mnemo.npz')
        assert sorted(z.files) == ['W', 'cell.b'], z.files
        assert z['W'].dtype == np.float32 and z['W'].shape == (2, 3) and z['W'][1, 2] == 6
        assert list(z['cell.b']) == [-1, 0.5]
        np.savez('\(dir)/plain.npz', half=np.array([1.5, -2, 65504, 2**-24], dtype=np.float16), ints=np.arange(4).reshape(2, 2))
        np.savez_compressed('\(dir)/packed.npz', x=np.linspace(0, 1, 1000, dtype=np.float64))
        """)
        let plain = try NPZ.read(path: dir + "/plain.npz")
        XCTAssertEqual(plain.map(\.0).sorted(), ["half", "ints"])
        XCTAssertEqual(plain.first { $0.0 == "half" }?.1.data, [1.5, -2, 65504, 0x1p-24])
        XCTAssertEqual(plain.first { $0.0 == "ints" }?.1.shape, [2, 2])
        let packed = try NPZ.read(path: dir + "/packed.npz")
        XCTAssertEqual(packed[0].1.count, 1000)
        XCTAssertEqual(packed[0].1.data[999], 1)
        XCTAssertThrowsError(try NPZ.decode(Data("not a zip".utf8), name: "x.npz")) { XCTAssertTrue("\($0)".contains("not a zip archive")) }
    }

    /// Damaged archives are errors that name the fault, never a read past the end.
    func testDamagedNPZIsRefused() throws {
        let good = try NPZ.encode([("a", Tensor(shape: [3], data: [1, 2, 3]))])
        XCTAssertEqual(try NPZ.decode(Data(good), name: "x").first?.1.data, [1, 2, 3])
        func refuse(_ bytes: [UInt8], _ fragment: String, line: UInt = #line) {
            XCTAssertThrowsError(try NPZ.decode(Data(bytes), name: "x.npz"), line: line) { XCTAssertTrue("\($0)".contains(fragment), "\($0)", line: line) }
        }
        refuse(Array(good.prefix(40)), "not a zip archive")
        var flipped = good
        flipped[100] ^= 0xff  // inside the array's data
        refuse(flipped, "CRC-32")
        var farDirectory = good
        let end = good.count - 22
        farDirectory[end + 16] = 0xff; farDirectory[end + 17] = 0xff
        refuse(farDirectory, "central directory lies outside")
        var longData = good
        let sizeAt = end - 46 - 5 + 20  // the central entry's compressed size (its name is "a.npy")
        longData[sizeAt + 3] = 0x7f
        refuse(longData, "runs past the end")
        // An input the fuzzer found: sizes of 0xFFFFFFFF with no zip64 field, which a zip library trapped on.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let found = try Data(contentsOf: root.appendingPathComponent("Fuzz/seeds/npz_bad_sizes"))
        XCTAssertThrowsError(try NPZ.decode(found.dropFirst(), name: "found.npz"))
    }

    /// What Mnemo's safetensors hold, the safetensors package reads (where it is installed), and back.
    func testSafeTensorsInteroperateWithThePythonPackage() throws {
        let dir = NSTemporaryDirectory() + "/mnemo-st-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try SafeTensors.write([("model.W", Tensor(shape: [2, 2], data: [1, 2, 3, 4])), ("b", Tensor(shape: [3], data: [0, -1, 2.5]))],
                              metadata: ["step": "7"], path: dir + "/m.safetensors")
        try python("""
        import numpy as np
        from safetensors.numpy import load_file, save_file
        from safetensors import safe_open
        d = load_file('\(dir)/m.safetensors')
        assert d['model.W'].dtype == np.float32 and d['model.W'][1, 0] == 3 and list(d['b']) == [0, -1, 2.5]
        with safe_open('\(dir)/m.safetensors', 'np') as f: assert f.metadata() == {'step': '7'}
        save_file({'h': np.array([0.5, -3], dtype=np.float16), 'd': np.ones((2, 2)), 'i': np.arange(3, dtype=np.int64)}, '\(dir)/py.safetensors')
        """)
        let file = try SafeTensors.read(path: dir + "/py.safetensors")
        XCTAssertEqual(file.entry("h")?.tensor.data, [0.5, -3])
        XCTAssertEqual(file.entry("h")?.dtype, "F16")
        XCTAssertEqual(file.entry("d")?.tensor.shape, [2, 2])
        XCTAssertEqual(file.entry("i")?.tensor.data, [0, 1, 2])
    }
}

/// Saving never damages what is at the target path.
final class SafeFileTests: XCTestCase {
    var folder = ""

    override func setUp() {
        folder = NSTemporaryDirectory() + "mnemo-safefile-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: folder) }

    func mode(_ path: String) -> mode_t {
        var info = stat()
        stat(path, &info)
        return info.st_mode
    }

    func testReplacesRegularFileKeepingItsMode() throws {
        let path = folder + "/weights.npy"
        FileManager.default.createFile(atPath: path, contents: Data("old".utf8))
        chmod(path, 0o600)
        try SafeFile.write(Array("new".utf8), to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "new")
        XCTAssertEqual(mode(path) & 0o777, 0o600)
        // Nothing is left beside it.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), ["weights.npy"])
    }

    func testFollowsSymbolicLinksAndKeepsHardLinks() throws {
        let real = folder + "/real.csv", symbolic = folder + "/link.csv", hard = folder + "/hard.csv"
        FileManager.default.createFile(atPath: real, contents: Data("a".utf8))
        try FileManager.default.createSymbolicLink(atPath: symbolic, withDestinationPath: "real.csv")
        try SafeFile.write(Array("b".utf8), to: symbolic)
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: symbolic), "real.csv", "the link stays a link")
        XCTAssertEqual(try String(contentsOfFile: real, encoding: .utf8), "b")
        XCTAssertEqual(link(real, hard), 0)
        try SafeFile.write(Array("c".utf8), to: hard)
        XCTAssertEqual(try String(contentsOfFile: real, encoding: .utf8), "c", "both names still share the file")
    }

    func testWritesThroughDevicesAndFIFOs() throws {
        try SafeFile.write(Array("discarded".utf8), to: "/dev/null")
        XCTAssertEqual(mode("/dev/null") & S_IFMT, S_IFCHR, "/dev/null is still a device")
        let fifo = folder + "/pipe"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        final class Received: @unchecked Sendable { var data = Data() }
        let received = Received()
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            received.data = FileHandle(forReadingAtPath: fifo)?.readDataToEndOfFile() ?? Data()
            done.signal()
        }
        try SafeFile.write(Array("through".utf8), to: fifo)
        done.wait()
        XCTAssertEqual(String(decoding: received.data, as: UTF8.self), "through")
        XCTAssertEqual(mode(fifo) & S_IFMT, S_IFIFO)
        // A device that refuses the bytes is an error, and stays a device.
        if FileManager.default.fileExists(atPath: "/dev/full") {
            XCTAssertThrowsError(try SafeFile.write(Array("x".utf8), to: "/dev/full"))
            XCTAssertEqual(mode("/dev/full") & S_IFMT, S_IFCHR)
        }
    }

    func testNextSaveRemovesATemporaryLeftByAKilledOne() throws {
        let path = folder + "/model.npy"
        // A process id that cannot be running.
        let stale = folder + "/.model.npy.2147483600.mnemo-tmp"
        FileManager.default.createFile(atPath: stale, contents: Data(repeating: 0, count: 1000))
        try SafeFile.write([1, 2, 3], to: path)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale))
        XCTAssertEqual(FileManager.default.contents(atPath: path), Data([1, 2, 3]))
    }
}
