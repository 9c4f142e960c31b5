import CSupport
import Foundation
import Tensor

/// The addressing primitives on one row of raw memory: one memory [N, W] of
/// a batch, one head's key, weighting or scalars. Forward functions write
/// their result and what their backward needs into caller-owned buffers, and
/// backward functions write or add into caller-owned gradients, so that the
/// separate graph ops and the fused head addressing share one definition and
/// the fused chain keeps every intermediate in a single buffer.
enum AddressingRows {
    /// The epsilon of the cosine similarity's denominator: a zero row or key gives 0, not NaN.
    static let cosineEpsilon: Float = MNEMO_COSINE_EPSILON

    /// The offset that entry k of a shift kernel of length K applies, for N slots:
    /// a kernel shorter than N is centred (K = 3 means offsets -1, 0, +1);
    /// a kernel of length N holds offsets 0, 1, ..., N-1.
    static func offset(_ k: Int, kernel K: Int, slots N: Int) -> Int { K == N ? k : k - K / 2 }

    // MARK: Cosine similarity

    // The three run in C (memory_kernels.c), at the widest vectors the CPU has.

    /// |M_i| for every row of an [N, W] memory.
    static func rowNorms(_ m: Floats, slots N: Int, width W: Int, into norms: MutableFloats) {
        mnemo_row_norms(OwnKernels.level, m, N, W, norms)
    }

    /// K(i) = M_i . k / (|M_i| |k| + eps), keeping the dot products; returns |k|.
    static func cosine(_ m: Floats, rowNorms: Floats, key: Floats, slots N: Int, width W: Int,
                       dots: MutableFloats, into out: MutableFloats) -> Float {
        var nk: Float = 0
        mnemo_cosine_rows(OwnKernels.level, m, rowNorms, key, N, W, dots, out, &nk)
        return nk
    }

    /// Adds the cosine's gradient into dm [N, W] and dk [H, W] for H heads'
    /// keys [H, W] (g and dots [H, N], key norms [H]). With d = |M_i| |k| + eps
    /// and |.|' = ./|.| (zero for a zero vector):
    /// dM_i = g_i (k / d - cm M_i), dk = sum_i g_i (M_i / d - ck k). Mode 0
    /// adds each head's part into dm; with at most MNEMO_HEAD_GROUP heads,
    /// 1 writes their sum into dm and 2 adds the sum to it.
    static func cosineBackward(_ g: Floats, memory m: Floats, rowNorms: Floats, keys: Floats, keyNorms: Floats, dots: Floats,
                               heads H: Int, slots N: Int, width W: Int, dm: MutableFloats, dk: MutableFloats, mode: Int32 = 0) {
        mnemo_cosine_backward(OwnKernels.level, g, m, rowNorms, keys, keyNorms, dots, H, N, W, dm, dk, mode)
    }

    // MARK: Focus, interpolation, shift, sharpening

    // These run in C too (address_kernels.c): the elementwise loops in
    // vectors, every sum in order over the slots.

    /// softmax(beta * K) over N slots.
    static func focus(_ similarity: Floats, beta: Float, slots N: Int, into out: MutableFloats) {
        mnemo_focus(OwnKernels.level, similarity, beta, N, out)
    }

    /// Writes dK from the focus's output y; returns dbeta.
    static func focusBackward(_ g: Floats, y: Floats, similarity: Floats, beta: Float, slots N: Int, dk: MutableFloats) -> Float {
        var dbeta: Float = 0
        withScratch(N) { mnemo_focus_backward(OwnKernels.level, g, y, similarity, beta, N, dk, &dbeta, $0) }
        return dbeta
    }

    /// g * a + (1 - g) * p.
    static func interpolate(_ a: Floats, _ p: Floats, gate: Float, slots N: Int, into out: MutableFloats) {
        mnemo_interpolate(OwnKernels.level, a, p, gate, N, out)
    }

    /// Writes da and dp; returns dg.
    static func interpolateBackward(_ g: Floats, _ a: Floats, _ p: Floats, gate: Float, slots N: Int,
                                    da: MutableFloats, dp: MutableFloats) -> Float {
        var dgate: Float = 0
        withScratch(N) { mnemo_interpolate_backward(OwnKernels.level, g, a, p, gate, N, da, dp, &dgate, $0) }
        return dgate
    }

    /// The slot a shift entry k moves weight by (see `offset`), in 0..<N.
    static func shiftOffset(_ k: Int, kernel K: Int, slots N: Int) -> Int {
        ((offset(k, kernel: K, slots: N) % N) + N) % N
    }

    /// Runs `body` with every shift entry's offset (see `shiftOffset`).
    private static func withShiftOffsets(kernel K: Int, slots N: Int, _ body: (UnsafePointer<Int>) -> Void) {
        withUnsafeTemporaryAllocation(of: Int.self, capacity: K) { offsets in
            for k in 0..<K { offsets[k] = shiftOffset(k, kernel: K, slots: N) }
            body(offsets.baseAddress!)
        }
    }

    /// N floats of scratch, on the stack when small.
    private static func withScratch(_ N: Int, _ body: (MutableFloats) -> Void) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: N) { body($0.baseAddress!) }
    }

    /// Circular convolution: out(i) = sum_k s(k) w((i - offset_k) mod N).
    static func shift(_ w: Floats, kernel s: Floats, length K: Int, slots N: Int, into out: MutableFloats) {
        withShiftOffsets(kernel: K, slots: N) { mnemo_shift(OwnKernels.level, w, s, $0, K, N, out) }
    }

    /// Writes dw and ds.
    static func shiftBackward(_ g: Floats, _ w: Floats, kernel s: Floats, length K: Int, slots N: Int,
                              dw: MutableFloats, ds: MutableFloats) {
        withShiftOffsets(kernel: K, slots: N) { mnemo_shift_backward(OwnKernels.level, g, w, s, $0, K, N, dw, ds) }
    }

    /// w(i)^gamma / sum_j w(j)^gamma in log space, keeping log w; returns log Z
    /// (NaN for an all-zero row, which gives the uniform weighting).
    static func sharpen(_ w: Floats, gamma: Float, slots N: Int, logs: MutableFloats, into out: MutableFloats) -> Float {
        var logZ: Float = 0
        mnemo_sharpen(OwnKernels.level, w, gamma, N, logs, out, &logZ)
        return logZ
    }

    /// Writes dw from the output y; returns dgamma. Where w = 0 the gradient
    /// is w^(gamma-1)/Z: 1/Z at gamma = 1, else 0.
    static func sharpenBackward(_ g: Floats, _ w: Floats, y: Floats, logs: Floats, gamma: Float, logZ: Float, slots N: Int,
                                dw: MutableFloats) -> Float {
        var dgamma: Float = 0
        withScratch(N) { mnemo_sharpen_backward(OwnKernels.level, g, w, y, logs, gamma, logZ, N, dw, &dgamma, $0) }
        return dgamma
    }
}

/// NTM addressing (cosine, focus, interpolation, shift, sharpening) over R
/// weighting rows, H heads per memory of a batch of B, keeping its inputs,
/// every intermediate the backward pass needs and the per-row gradients in
/// one buffer. Shapes are checked by the callers.
final class AddressChain {
    /// Per-row values, [R, W] for keys, [R, K] for shift kernels, [R] for the
    /// scalars: the chain's inputs, which the caller fills, and later the
    /// gradients of its loss with respect to them.
    struct Rows {
        let key, beta, gate, shift, gamma: MutableFloats
    }

    let batch: Int, heads: Int, slots: Int, width: Int, shifts: Int
    var rows: Int { batch * heads }
    let inputs: Rows, gradients: Rows
    // One allocation, made once and reused by every run (a compiled plan
    // keeps one chain per step): the inputs and their gradients (each
    // R * (W + K + 3)), the previous weighting [R, N], row norms [B, N], |k|
    // and log Z [R], and per row the dot products, similarity, focus,
    // interpolation and shift results and the logs of the shifted weighting
    // [R, 6, N], and two rows of scratch for the backward pass.
    private let storage: MutableFloats
    let floats: Int
    private let previous, keyNorms, logZ, perRow, scratch: MutableFloats
    /// The memory's row norms [B, N]: this chain's, or those of an earlier
    /// chain of the same plan on the same memory (`takeNorms`), made once.
    private var norms: MutableFloats
    private var normsShared = false

    init(layout L: Layout, heads H: Int, shifts K: Int) {
        let (B, N, W) = (L.batch, L.slots, L.width)
        let R = B * H
        (batch, heads, slots, width, shifts) = (B, H, N, W, K)
        let perRows = R * (W + K + 3)
        floats = 2 * perRows + R * N + B * N + 2 * R + R * 6 * N + 2 * N
        storage = .allocate(capacity: floats)
        var next = storage
        func take(_ n: Int) -> MutableFloats { defer { next += n }; return next }
        func rows() -> Rows { Rows(key: take(R * W), beta: take(R), gate: take(R), shift: take(R * K), gamma: take(R)) }
        inputs = rows()
        gradients = rows()
        (previous, norms, keyNorms, logZ, perRow, scratch) = (take(R * N), take(B * N), take(R), take(R), take(R * 6 * N), take(2 * N))
        storage.initialize(repeating: 0, count: next - storage)
    }

    deinit { storage.deallocate() }

    /// From now on reads the row norms `earlier` computes from the same
    /// memory before this chain runs (both kept in a plan that keeps
    /// `earlier` alive); the same numbers, computed once.
    func takeNorms(from earlier: AddressChain) -> Bool {
        guard earlier !== self, earlier.batch == batch, earlier.slots == slots, earlier.width == width else { return false }
        norms = earlier.norms
        normsShared = true
        return true
    }

    /// The intermediates of row r: dot products, similarity, content
    /// weighting, interpolated, shifted, and the logs of the shifted one.
    private func saved(_ r: Int) -> (dots: MutableFloats, similarity: MutableFloats, content: MutableFloats,
                                     interpolated: MutableFloats, shifted: MutableFloats, logs: MutableFloats) {
        let base = perRow + r * 6 * slots, N = slots
        return (base, base + N, base + 2 * N, base + 3 * N, base + 4 * N, base + 5 * N)
    }

    /// Runs the chain forward on memory pm [B, N, W] and the previous
    /// weighting p [R, N] after `fill` has written the inputs, into pw [R, N].
    func forward(memory pm: Floats, previous p: Floats, into pw: MutableFloats, fill: (Rows) -> Void) {
        fill(inputs)
        previous.update(from: p, count: rows * slots)
        let (N, W, K) = (slots, width, shifts)
        let x = inputs
        for b in 0..<batch {
            let m = pm + b * N * W
            if !normsShared { AddressingRows.rowNorms(m, slots: N, width: W, into: norms + b * N) }
            for h in 0..<heads {
                let r = b * heads + h, s = saved(r)
                keyNorms[r] = AddressingRows.cosine(m, rowNorms: norms + b * N, key: x.key + r * W, slots: N, width: W,
                                                    dots: s.dots, into: s.similarity)
                AddressingRows.focus(s.similarity, beta: x.beta[r], slots: N, into: s.content)
                AddressingRows.interpolate(s.content, previous + r * N, gate: x.gate[r], slots: N, into: s.interpolated)
                AddressingRows.shift(s.interpolated, kernel: x.shift + r * K, length: K, slots: N, into: s.shifted)
                logZ[r] = AddressingRows.sharpen(s.shifted, gamma: x.gamma[r], slots: N, logs: s.logs, into: pw + r * N)
            }
        }
    }

    /// The same into a new array.
    func forward(memory m: Tensor, previous p: Tensor, fill: (Rows) -> Void) -> [Float] {
        filling(rows * slots) { pw in reading(m.data, p.data) { pm, pp in forward(memory: pm, previous: pp, into: pw, fill: fill) } }
    }

    /// Given the weighting's gradient pg [R, N] (and the memory pm and
    /// weighting pw of the forward run), adds dMemory into [B, N, W]
    /// (zeroed by the caller), writes dPrevious [R, N], and writes the
    /// gradients of the other inputs into `gradients`.
    func backward(_ pg: Floats, memory pm: Floats, weighting pw: Floats, memory dMemory: MutableFloats, previous dPrevious: MutableFloats) {
        let (N, W, K) = (slots, width, shifts)
        let (x, d) = (inputs, gradients)
        let t1 = scratch, t2 = scratch + N
        d.key.update(repeating: 0, count: rows * W)
        for b in 0..<batch {
            for h in 0..<heads {
                let r = b * heads + h, s = saved(r)
                d.gamma[r] = AddressingRows.sharpenBackward(pg + r * N, s.shifted, y: pw + r * N, logs: s.logs,
                                                            gamma: x.gamma[r], logZ: logZ[r], slots: N, dw: t1)
                AddressingRows.shiftBackward(t1, s.interpolated, kernel: x.shift + r * K, length: K, slots: N, dw: t2, ds: d.shift + r * K)
                d.gate[r] = AddressingRows.interpolateBackward(t2, s.content, previous + r * N, gate: x.gate[r], slots: N,
                                                               da: t1, dp: dPrevious + r * N)
                d.beta[r] = AddressingRows.focusBackward(t1, y: s.content, similarity: s.similarity, beta: x.beta[r], slots: N, dk: t2)
                AddressingRows.cosineBackward(t2, memory: pm + b * N * W, rowNorms: norms + b * N, keys: x.key + r * W,
                                              keyNorms: keyNorms + r, dots: s.dots, heads: 1, slots: N, width: W,
                                              dm: dMemory + b * N * W, dk: d.key + r * W)
            }
        }
    }

    /// The same for tensors: the memory and weighting of the forward run, and the gradient g.
    func backward(_ g: Tensor, memory m: Tensor, weighting w: [Float], memory dMemory: MutableFloats, previous dPrevious: MutableFloats) {
        reading(m.data, w, g.data) { pm, pw, pg in backward(pg, memory: pm, weighting: pw, memory: dMemory, previous: dPrevious) }
    }
}
