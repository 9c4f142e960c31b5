import Tensor

// The shapes the addressing ops and their row kernels agree on, checked
// once per op: below both, so that dependencies run one way (ops -> row
// kernels -> this).

/// Batch size and sizes of a memory, checked against the other operands.
struct Layout {
    let batch: Int, slots: Int, width: Int, batched: Bool
    init(memory m: Tensor) throws {
        switch m.rank {
        case 2: (batch, slots, width, batched) = (1, m.shape[0], m.shape[1], false)
        case 3: (batch, slots, width, batched) = (m.shape[0], m.shape[1], m.shape[2], true)
        default: throw TensorError("a memory is [slots, width] or [batch, slots, width], got shape \(Tensor.shapeText(m.shape))")
        }
        guard batch > 0, slots > 0, width > 0 else {
            throw TensorError("a memory needs at least one slot of width at least 1 (and a batch of at least 1), got shape \(Tensor.shapeText(m.shape))")
        }
    }
    /// A weighting's rows are independent to the location ops: [slots],
    /// [batch, slots], [heads, slots] and [batch, heads, slots] all give
    /// rows of `slots` (`batch` then counts every row).
    init(weighting w: Tensor) throws {
        guard (1...3).contains(w.rank) else {
            throw TensorError("a weighting is [slots], [batch, slots], [heads, slots] or [batch, heads, slots], got shape \(Tensor.shapeText(w.shape))")
        }
        (batch, slots, width, batched) = (w.shape.dropLast().reduce(1, *), w.shape[w.rank - 1], 0, w.rank > 1)
        guard batch > 0, slots > 0 else {
            throw TensorError("a weighting needs at least one slot (and a batch of at least 1), got shape \(Tensor.shapeText(w.shape))")
        }
    }
    /// How many heads an operand ending in `last` carries: [last] (or
    /// [B, last] with a batch) is one head, [H, last] (or [B, H, last])
    /// is H heads, and `axis` says the result keeps that head axis.
    func heads(_ t: Tensor, last: Int, _ what: String) throws -> (count: Int, axis: Bool) {
        let s = t.shape
        if batched {
            if s == [batch, last] { return (1, false) }
            if s.count == 3, s[0] == batch, s[2] == last { return (s[1], true) }
        } else {
            if s == [last] { return (1, false) }
            if s.count == 2, s[1] == last { return (s[0], true) }
        }
        let several = batched ? "[\(batch), heads, \(last)]" : "[heads, \(last)]"
        throw TensorError("\(what) should have shape \(Tensor.shapeText(batched ? [batch, last] : [last])), or \(several) for several heads; got \(Tensor.shapeText(s))")
    }
    /// The shape of a per-head result ending in `last`.
    func shape(heads: (count: Int, axis: Bool), last: Int) -> [Int] {
        switch (batched, heads.axis) {
        case (false, false): return [last]
        case (false, true): return [heads.count, last]
        case (true, false): return [batch, last]
        case (true, true): return [batch, heads.count, last]
        }
    }
    /// A per-row scalar: one value shared, or one per batch row.
    func scalars(_ t: Tensor, _ what: String) throws -> [Float] { try perRow(t, batch, what) }
}

/// A scalar per row of R: one value shared, or one per row.
func perRow(_ t: Tensor, _ R: Int, _ what: String) throws -> [Float] {
    if t.count == 1 { return [Float](repeating: t.data[0], count: R) }
    if t.count == R { return t.data }
    throw TensorError("\(what) should have 1 or \(R) values, got shape \(Tensor.shapeText(t.shape))")
}
