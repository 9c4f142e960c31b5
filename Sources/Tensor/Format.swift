import Foundation

// Printing: one number format shared by the whole tensor, values right-aligned,
// large tensors elided NumPy-style (three entries at each edge of every axis).

extension Tensor: CustomStringConvertible {
    public static let elideAbove = 1000
    static let edgeItems = 3

    public var description: String {
        if rank == 0 { return "tensor(\(Tensor.formatScalar(data[0])))" }
        let elide = count > Tensor.elideAbove
        let shown = elide ? shownValues() : data
        let format = NumberFormat(shown)
        let prefix = "tensor("
        var out = prefix
        appendAxis(0, offset: 0, indent: prefix.count + 1, elide: elide, format: format, to: &out)
        return out + ", shape: \(Tensor.shapeText(shape)))"
    }

    /// A one-line summary for tensors inside lists and records.
    public var summary: String {
        if rank == 0 { return Tensor.formatScalar(data[0]) }
        if count <= 6 {
            let format = NumberFormat(data)
            var out = ""
            appendAxis(0, offset: 0, indent: -1, elide: false, format: format, to: &out)
            return "tensor(\(out))"
        }
        return "tensor\(Tensor.shapeText(shape))"
    }

    public static func formatScalar(_ v: Float) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v > 0 ? "inf" : "-inf" }
        if v == v.rounded() && abs(v) < 1e7 { return String(Int(v)) }
        return "\(v)"
    }

    private func shownValues() -> [Float] {
        var values: [Float] = []
        collect(0, offset: 0, into: &values)
        return values
    }

    private func collect(_ axis: Int, offset: Int, into values: inout [Float]) {
        let stride = Tensor.strides(shape)[axis]
        for i in visibleIndices(axis, elide: true) where i >= 0 {
            if axis == rank - 1 { values.append(data[offset + i]) }
            else { collect(axis + 1, offset: offset + i * stride, into: &values) }
        }
    }

    private func visibleIndices(_ axis: Int, elide: Bool) -> [Int] {
        let n = shape[axis], e = Tensor.edgeItems
        if !elide || n <= 2 * e { return Array(0..<n) }
        return Array(0..<e) + [-1] + Array((n - e)..<n)
    }

    /// indent < 0 means "all on one line".
    private func appendAxis(_ axis: Int, offset: Int, indent: Int, elide: Bool, format: NumberFormat, to out: inout String) {
        let stride = Tensor.strides(shape)[axis]
        out += "["
        let indices = visibleIndices(axis, elide: elide)
        for (k, i) in indices.enumerated() {
            if k > 0 {
                if axis == rank - 1 || indent < 0 { out += ", " }
                else {
                    out += "," + String(repeating: "\n", count: rank - 1 - axis)
                    out += String(repeating: " ", count: indent + axis)
                }
            }
            if i < 0 { out += "..."; continue }
            if axis == rank - 1 { out += format.text(data[offset + i]) }
            else { appendAxis(axis + 1, offset: offset + i * stride, indent: indent, elide: elide, format: format, to: &out) }
        }
        out += "]"
    }
}

/// The format chosen for a whole tensor: integers, fixed or scientific.
struct NumberFormat {
    enum Style { case integer, fixed, scientific }
    let style: Style
    let width: Int

    init(_ values: [Float]) {
        let finite = values.filter { $0.isFinite }
        let maxAbs = finite.map { abs($0) }.max() ?? 0
        let minAbs = finite.map { abs($0) }.filter { $0 > 0 }.min() ?? 0
        if finite.allSatisfy({ $0 == $0.rounded() }) && maxAbs < 1e7 { style = .integer }
        else if maxAbs >= 1e5 || (minAbs > 0 && minAbs < 1e-4) { style = .scientific }
        else { style = .fixed }
        var w = 0
        let probe = NumberFormat(style: style, width: 0)
        for v in values { w = max(w, probe.text(v).count) }
        width = w
    }

    private init(style: Style, width: Int) { self.style = style; self.width = width }

    func text(_ v: Float) -> String {
        let s: String
        if v.isNaN { s = "nan" }
        else if v.isInfinite { s = v > 0 ? "inf" : "-inf" }
        else {
            switch style {
            case .integer: s = String(Int(v))
            case .fixed: s = String(format: "%.4f", Double(v))
            case .scientific: s = String(format: "%.4e", Double(v))
            }
        }
        return s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }
}
