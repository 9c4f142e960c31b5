import Graph
import Tensor

/// How values print: `print` shows strings bare; inside containers, and in
/// the REPL, strings are quoted and tensors summarised.
public enum Formatter {
    public static func number(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d > 0 ? "inf" : "-inf" }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return "\(d)"
    }

    /// The text `print` writes for a value.
    public static func describe(_ v: Value) -> String {
        switch v {
        case .string(let s): return s
        case .tensor(let t): return t.value.rank == 0 ? Tensor.formatScalar(t.value.scalar) : t.value.description
        default: return repr(v)
        }
    }

    /// The text for a value shown as a value (REPL results, inside containers).
    public static func repr(_ v: Value, depth: Int = 0) -> String {
        if depth > 8 { return "..." }
        switch v {
        case .nil: return "nil"
        case .number(let d): return number(d)
        case .bool(let b): return b ? "true" : "false"
        case .string(let s): return quote(s)
        case .tensor(let t): return depth == 0 ? t.value.description : t.value.summary
        case .list(let l): return "[" + l.items.map { repr($0, depth: depth + 1) }.joined(separator: ", ") + "]"
        case .tuple(let t): return "(" + t.map { repr($0, depth: depth + 1) }.joined(separator: ", ") + (t.count == 1 ? ",)" : ")")
        case .record(let r):
            return "{" + zip(r.names, r.values).map { "\($0): \(repr($1, depth: depth + 1))" }.joined(separator: ", ") + "}"
        case .function(let c):
            return "<fn \(c.name)(\(c.function.parameterNames.joined(separator: ", ")))>"
        case .builtin(let b): return "<builtin \(b.signature)>"
        case .module(let m): return "<module \(m.name)>"
        case .range(let lo, let hi): return "\(lo)..<\(hi)"
        case .object(let o): return o.summary
        case .cell(let b): return repr(b.value, depth: depth)
        case .uninitialized: return "<undefined>"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for c in s {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default: out.append(c)
            }
        }
        return out + "\""
    }
}
