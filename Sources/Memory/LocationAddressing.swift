import Foundation
import Graph
import Tensor

/// Location addressing: interpolation with the previous weighting, circular shift, sharpening.
extension Addressing {
    // MARK: Location

    /// w = g * wc + (1 - g) * wprev.
    public static func interpolate(_ wc: Variable, _ wprev: Variable, _ gate: Variable) throws -> Variable {
        record(try interpolateKernel(wc.value, wprev.value, gate.value), [wc, wprev, gate], op: "interpolate", flops: 3 * wc.value.count)
    }

    static func interpolateKernel(_ a: Tensor, _ p: Tensor, _ gateValue: Tensor) throws -> Kernel {
        let L = try Layout(weighting: a)
        guard p.shape == a.shape else {
            throw TensorError("interpolate: weightings of shapes \(Tensor.shapeText(a.shape)) and \(Tensor.shapeText(p.shape)) differ")
        }
        let gs = try L.scalars(gateValue, "the gate g")
        let (B, N) = (L.batch, L.slots)
        let out = filling(B * N) { po in
            reading(a.data, p.data) { pa, pp in
                for b in 0..<B { AddressingRows.interpolate(pa + b * N, pp + b * N, gate: gs[b], slots: N, into: po + b * N) }
            }
        }
        return (Tensor(shape: a.shape, data: out), { g in
            var dg = [Float](repeating: 0, count: B)
            let d = filling(counts: [B * N, B * N]) { out in
                reading(g.data, a.data, p.data) { pg, pa, pp in
                    for b in 0..<B {
                        let o = b * N
                        dg[b] = AddressingRows.interpolateBackward(pg + o, pa + o, pp + o, gate: gs[b], slots: N, da: out[0] + o, dp: out[1] + o)
                    }
                }
            }
            return [Tensor(shape: a.shape, data: d[0]), Tensor(shape: a.shape, data: d[1]), scalarGrad(dg, like: gateValue)]
        })
    }

    /// The offset that entry k of a shift kernel of length K applies, for N
    /// slots (defined with the row kernels: `AddressingRows.offset`).
    public static func offset(_ k: Int, kernel K: Int, slots N: Int) -> Int { AddressingRows.offset(k, kernel: K, slots: N) }

    /// Circular convolution: w~(i) = sum_k s(k) w((i - offset_k) mod N).
    /// The entry for offset +1 moves the focus forward, from slot i to slot i + 1.
    public static func shift(_ weighting: Variable, _ kernel: Variable) throws -> Variable {
        record(try shiftKernel(weighting.value, kernel.value), [weighting, kernel], op: "shift", flops: 2 * weighting.value.count * (kernel.shape.last ?? 1))
    }

    /// The length K of a shift kernel for R weighting rows of N slots,
    /// checked: [K] for one weighting, one row per weighting row otherwise.
    static func shiftLength(_ s: Tensor, rows R: Int, perRow: Bool, slots N: Int) throws -> Int {
        let K = s.shape.last ?? 0
        guard s.count == (perRow ? R * K : K), K >= 1, K <= N, K == N || K % 2 == 1 else {
            throw TensorError("shift: the kernel should be [K] (or [batch, K]) with K odd and at most \(N), or K = \(N); got shape \(Tensor.shapeText(s.shape))")
        }
        return K
    }

    static func shiftKernel(_ w: Tensor, _ s: Tensor) throws -> Kernel {
        let L = try Layout(weighting: w)
        let (B, N) = (L.batch, L.slots)
        let K = try shiftLength(s, rows: B, perRow: L.batched, slots: N)
        let out = filling(B * N) { po in
            reading(w.data, s.data) { pw, ps in
                for b in 0..<B { AddressingRows.shift(pw + b * N, kernel: ps + b * K, length: K, slots: N, into: po + b * N) }
            }
        }
        return (Tensor(shape: w.shape, data: out), { g in
            let d = filling(counts: [B * N, s.count]) { out in
                reading(g.data, w.data, s.data) { pg, pw, ps in
                    for b in 0..<B {
                        AddressingRows.shiftBackward(pg + b * N, pw + b * N, kernel: ps + b * K, length: K, slots: N,
                                                     dw: out[0] + b * N, ds: out[1] + b * K)
                    }
                }
            }
            return [Tensor(shape: w.shape, data: d[0]), Tensor(shape: s.shape, data: d[1])]
        })
    }

    /// w(i)^gamma / sum_j w(j)^gamma, computed in log space so that large gamma
    /// cannot overflow. Zeros in w stay exactly zero, and the gradient there is
    /// finite: w^(gamma-1)/Z, which is 0 for gamma > 1 and 1/Z at gamma = 1 (for
    /// gamma < 1, where it is unbounded, 0 is used). An all-zero row gives the
    /// uniform weighting.
    public static func sharpen(_ weighting: Variable, _ gamma: Variable) throws -> Variable {
        record(try sharpenKernel(weighting.value, gamma.value), [weighting, gamma], op: "sharpen", flops: 4 * weighting.value.count)
    }

    static func sharpenKernel(_ w: Tensor, _ gammaValue: Tensor) throws -> Kernel {
        let L = try Layout(weighting: w)
        let (B, N) = (L.batch, L.slots)
        let gs = try L.scalars(gammaValue, "gamma")
        var logZ = [Float](repeating: 0, count: B)
        let forward = filling(counts: [B * N, B * N]) { out in
            reading(w.data) { pw in
                for b in 0..<B {
                    logZ[b] = AddressingRows.sharpen(pw + b * N, gamma: gs[b], slots: N, logs: out[1] + b * N, into: out[0] + b * N)
                }
            }
        }
        // The weighting, and its logs kept for the backward pass.
        let (y, logs) = (Tensor(shape: w.shape, data: forward[0]), forward[1])
        return (y, { g in
            var dgamma = [Float](repeating: 0, count: B)
            let dw = filling(B * N) { pdw in
                reading(list: g.data, w.data, y.data, logs) { x in
                    for b in 0..<B {
                        let o = b * N
                        dgamma[b] = AddressingRows.sharpenBackward(x[0] + o, x[1] + o, y: x[2] + o, logs: x[3] + o, gamma: gs[b],
                                                                   logZ: logZ[b], slots: N, dw: pdw + o)
                    }
                }
            }
            return [Tensor(shape: w.shape, data: dw), scalarGrad(dgamma, like: gammaValue)]
        })
    }
}
