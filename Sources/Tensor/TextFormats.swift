import Foundation

/// Foundation's JSON parser recurses once per nesting level: text from a
/// file is measured first, so that a crafted file cannot exhaust the stack.
public enum JSONDepth {
    /// True when brackets and braces (outside strings) nest at most `limit` deep.
    public static func within<C: Collection>(_ bytes: C, _ limit: Int) -> Bool where C.Element == UInt8 {
        var depth = 0, inString = false, escaped = false
        for c in bytes {
            if inString {
                if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch c {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                if depth > limit { return false }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            default: break
            }
        }
        return true
    }
}

/// CSV fields as RFC 4180 quotes them: only when they hold a comma, a quote or a line end.
public enum CSV {
    public static func field(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// Text with some characters replaced: `replacement` gives the text for a
/// character that must be escaped, nil for one kept as it is. (XML, JSON
/// and the like differ only in that function.)
public func escaped(_ s: String, _ replacement: (Unicode.Scalar) -> String?) -> String {
    var out = ""
    for ch in s.unicodeScalars {
        if let r = replacement(ch) { out += r } else { out.unicodeScalars.append(ch) }
    }
    return out
}

