import Graph
import Syntax
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
        case .object(let o): return o.display ?? o.summary
        default: return repr(v)
        }
    }

    /// The text for a value shown as a value (REPL results, inside containers).
    /// Containers show at most `maxItems` items each and nest at most 8
    /// deep; a list or record met again inside itself shows as `[...]` or
    /// `{...}`; the whole text stops near `maxCharacters`.
    public static func repr(_ v: Value) -> String {
        var state = ReprState()
        var out = ""
        repr(v, depth: 0, into: &out, &state)
        return out
    }

    package static let maxItems = 1000, maxCharacters = 100_000

    package struct ReprState {
        package var open: Set<ObjectIdentifier> = []
    }

    private static func repr(_ v: Value, depth: Int, into out: inout String, _ state: inout ReprState) {
        if depth > 8 || out.utf8.count > maxCharacters { out += "..."; return }
        func items(_ values: [Value], _ open: String, _ close: String, name: (Int) -> String = { _ in "" }) {
            out += open
            for (i, item) in values.enumerated() {
                if i > 0 { out += ", " }
                if i >= maxItems || out.utf8.count > maxCharacters { out += "... (\(values.count - i) more)"; break }
                out += name(i)
                repr(item, depth: depth + 1, into: &out, &state)
            }
            out += close
        }
        switch v {
        case .tensor(let t): out += depth == 0 ? t.value.description : t.value.summary
        case .list(let l):
            let id = ObjectIdentifier(l)
            if state.open.contains(id) { out += "[...]"; return }
            state.open.insert(id)
            items(l.items, "[", "]")
            state.open.remove(id)
        case .tuple(let t): items(t, "(", t.count == 1 ? ",)" : ")")
        case .record(let r):
            let id = ObjectIdentifier(r)
            if state.open.contains(id) { out += "{...}"; return }
            state.open.insert(id)
            items(r.values, "{", "}", name: { "\(r.names[$0]): " })
            state.open.remove(id)
        case .cell(let b): repr(b.value, depth: depth, into: &out, &state)
        default: out += scalarText(v)
        }
    }

    /// The text of a value that holds no other values.
    private static func scalarText(_ v: Value) -> String {
        switch v {
        case .nil: return "nil"
        case .number(let d): return number(d)
        case .bool(let b): return b ? "true" : "false"
        case .string(let s): return quote(s)
        case .function(let c):
            return "<fn \(c.name)(\(c.function.parameterNames.joined(separator: ", ")))>"
        case .builtin(let b): return "<builtin \(b.signature)>"
        case .module(let m): return "<module \(m.name)>"
        case .range(let lo, let hi): return "\(lo)..<\(hi)"
        case .object(let o): return o.summary
        case .uninitialized: return "<undefined>"
        case .tensor, .list, .tuple, .record, .cell: return ""
        }
    }

    package static func quote(_ s: String) -> String {
        var out = "\""
        for c in s {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                // Other control characters (an escape sequence) are shown, not obeyed by the terminal.
                if c.unicodeScalars.count == 1, let u = c.unicodeScalars.first, u.value < 0x20 || (0x7f...0x9f).contains(u.value) {
                    out += "\\u{\(String(u.value, radix: 16))}"
                } else {
                    out.append(c)
                }
            }
        }
        return out + "\""
    }
}
