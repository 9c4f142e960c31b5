import Foundation
import Tensor

/// Solving linear systems and the Cholesky factor (a Kanerva-style memory's
/// least-squares write): computed in double precision, with their gradients.
extension Op {
    /// Rows of a square matrix as doubles, checked.
    private static func square(_ a: Tensor, _ what: String) throws -> (n: Int, values: [Double]) {
        guard a.rank == 2, a.shape[0] == a.shape[1], a.shape[0] > 0 else {
            throw TensorError("\(what) needs a square matrix [n, n], got shape \(Tensor.shapeText(a.shape))")
        }
        return (a.shape[0], a.data.map(Double.init))
    }

    /// X with A X = B, by elimination with partial pivoting: A [n, n], B [n]
    /// or [n, m]. A singular A is an error. The gradients: dB = A^-T g, dA = -dB X^T.
    static func solveValues(_ a: [Double], _ n: Int, transposed: Bool, _ b: [Double], columns m: Int) throws -> [Double] {
        var lu = transposed ? (0..<n * n).map { a[($0 % n) * n + $0 / n] } : a
        var x = b
        for col in 0..<n {
            var pivot = col
            for r in (col + 1)..<max(col + 1, n) where Swift.abs(lu[r * n + col]) > Swift.abs(lu[pivot * n + col]) { pivot = r }
            guard lu[pivot * n + col] != 0, lu[pivot * n + col].isFinite else { throw TensorError("solve: the matrix is singular") }
            if pivot != col {
                for j in 0..<n { lu.swapAt(col * n + j, pivot * n + j) }
                for j in 0..<m { x.swapAt(col * m + j, pivot * m + j) }
            }
            for r in (col + 1)..<max(col + 1, n) {
                let f = lu[r * n + col] / lu[col * n + col]
                if f == 0 { continue }
                for j in col..<n { lu[r * n + j] -= f * lu[col * n + j] }
                for j in 0..<m { x[r * m + j] -= f * x[col * m + j] }
            }
        }
        for col in stride(from: n - 1, through: 0, by: -1) {
            for j in 0..<m {
                var s = x[col * m + j]
                for k in (col + 1)..<max(col + 1, n) { s -= lu[col * n + k] * x[k * m + j] }
                x[col * m + j] = s / lu[col * n + col]
            }
        }
        return x
    }

    public static func solve(_ a: Variable, _ b: Variable) throws -> Variable {
        let (n, av) = try square(a.value, "solve")
        guard (b.value.rank == 1 || b.value.rank == 2), b.shape[0] == n else {
            throw TensorError("solve: B should be [\(n)] or [\(n), m] for A of shape \(Tensor.shapeText(a.shape)), got \(Tensor.shapeText(b.shape))")
        }
        let m = b.value.rank == 1 ? 1 : b.shape[1]
        let x = try solveValues(av, n, transposed: false, b.value.data.map(Double.init), columns: m)
        let xShape = b.shape
        return Graph.record(Tensor(shape: xShape, data: x.map(Float.init)), a, b, op: "solve", flops: 2 * n * n * n / 3 + 2 * n * n * m, { back, da, db in
            let gb = try solveValues(av, n, transposed: true, back.gradient.data.map(Double.init), columns: m)
            try back.add(Tensor(shape: xShape, data: gb.map(Float.init)), to: db)
            try back.add(to: da) {
                var ga = [Float](repeating: 0, count: n * n)
                for i in 0..<n { for j in 0..<n {
                    var s = 0.0
                    for c in 0..<m { s += gb[i * m + c] * x[j * m + c] }
                    ga[i * n + j] = Float(-s)
                } }
                return Tensor(shape: [n, n], data: ga)
            }
        })
    }

    /// The lower-triangular L with L L^T = A, for a symmetric positive-definite
    /// A (only its lower triangle is read). Its gradient (Murray 2016): with
    /// P = the lower triangle of L^T g, diagonal halved, and S = L^-T P L^-1,
    /// the symmetric gradient is (S + S^T) / 2; as only the lower triangle is
    /// read, an entry below the diagonal takes both halves, S_ij + S_ji, one
    /// above takes none (the same downstream for an A built symmetric).
    public static func cholesky(_ a: Variable) throws -> Variable {
        let (n, av) = try square(a.value, "cholesky")
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var s = av[i * n + j]
                for k in 0..<j { s -= l[i * n + k] * l[j * n + k] }
                if i == j {
                    guard s > 0, s.isFinite else { throw TensorError("cholesky: the matrix is not positive definite") }
                    l[i * n + i] = s.squareRoot()
                } else {
                    l[i * n + j] = s / l[j * n + j]
                }
            }
        }
        let lower = l
        return Graph.record(Tensor(shape: [n, n], data: l.map(Float.init)), a, op: "cholesky", flops: n * n * n / 3, { back, da in
            let g = back.gradient.data.map(Double.init)
            // P = Phi(L^T g): lower triangle, diagonal halved.
            var p = [Double](repeating: 0, count: n * n)
            for i in 0..<n { for j in 0...i {
                var s = 0.0
                for k in 0..<n { s += lower[k * n + i] * g[k * n + j] }
                p[i * n + j] = i == j ? s / 2 : s
            } }
            // S = L^-T P L^-1: solve L^T Y = P, then S L = Y, i.e. L^T S^T = Y^T.
            let y = try solveValues(lower, n, transposed: true, p, columns: n)
            let yt = (0..<n * n).map { y[($0 % n) * n + $0 / n] }
            let st = try solveValues(lower, n, transposed: true, yt, columns: n)
            // Only A's lower triangle is read: an entry below the diagonal stands for
            // both halves of the symmetric matrix (S_ij + S_ji); the upper ones get nothing.
            var ga = [Float](repeating: 0, count: n * n)
            for i in 0..<n { for j in 0...i { ga[i * n + j] = Float(i == j ? st[i * n + i] : st[j * n + i] + st[i * n + j]) } }
            try back.add(Tensor(shape: [n, n], data: ga), to: da)
        })
    }
}
