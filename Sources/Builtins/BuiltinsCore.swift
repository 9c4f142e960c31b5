import Foundation
import Graph
import Runtime
import Syntax
import Tensor

/// Builtins for plain values: printing, lists, strings, numbers, randomness,
/// the environment.
enum CoreBuiltins {
    /// A list about to be built from a range has a known length: one larger
    /// than the memory budget is refused at once, not after filling memory.
    static func reserve(for source: Value) throws {
        if case let .range(lo, hi) = source, hi > lo { try Operators.reserveList(hi - lo) }
    }

    static let all: [Builtin] = [
        Builtin("print", "*values, sep = \" \", end = \"\\n\"", "Prints the values separated by `sep`, then `end` (a newline unless given: end: \"\" continues the line, end: \"\\r\" returns to its start).") { a in
            let sep = try a.string("sep"), end = try a.string("end")
            let values = try a.items("values")
            // A host that keeps figures as pictures gets each one in its place among the text.
            if a.interpreter.figureOutput != nil, values.contains(where: { if case .object(let o) = $0 { return o is FigureObject }; return false }) {
                var text: [String] = []
                for v in values {
                    if case .object(let f as FigureObject) = v {
                        if !text.isEmpty { a.interpreter.write(text.joined(separator: sep)); text = [] }
                        a.interpreter.emit(f.figure)
                    } else {
                        text.append(Formatter.describe(v))
                    }
                }
                if !text.isEmpty { a.interpreter.write(text.joined(separator: sep), end: end) }
                return .nil
            }
            a.interpreter.write(values.map(Formatter.describe).joined(separator: sep), end: end)
            return .nil
        },
        Builtin("str", "value", "The text `print` would show for a value.") { a in
            // Text of a tensor inside a compiled function would be the traced text at every replay.
            if Tracer.isTracing { Tracer.current?.describes(try a["value"], at: a.callRange, inStep: true) }
            return .string(Formatter.describe(try a["value"]))
        },
        Builtin("repr", "value", "The text of a value as the REPL shows it (strings quoted).") { a in
            if Tracer.isTracing { Tracer.current?.describes(try a["value"], at: a.callRange, inStep: true) }
            return .string(Formatter.repr(try a["value"]))
        },
        Builtin("type", "value", "The kind of a value: \"number\", \"tensor\", \"list\", ...") { a in .string(try a["value"].kindName) },
        Builtin("len", "value", "Length of a list, tuple, string, range or record; first dimension of a tensor.") { a in
            switch try a["value"] {
            case .list(let l): return .number(Double(l.items.count))
            case .tuple(let t): return .number(Double(t.count))
            case .string(let s): return .number(Double(s.count))
            case .record(let r): return .number(Double(r.names.count))
            case .range(let lo, let hi): return .number(Double(max(0, hi - lo)))
            case .tensor(let t):
                guard t.value.rank > 0 else { throw RuntimeError("len of a scalar tensor; use size") }
                return .number(Double(t.shape[0]))
            default: throw a.wrong("value", "a list, tuple, string, range, record or tensor")
            }
        }.inPlans(),
        Builtin("append", "list, value", "Appends a value to a list (in place).") { a in
            guard case .list(let l) = try a["list"] else { throw a.wrong("list", "a list") }
            l.items.append(try a["value"])
            return .nil
        }.inPlans(),
        Builtin("list", "values", "A new list with the items of a list, tuple, range, string or tensor rows.") { a in
            try reserve(for: try a["values"])
            var items: [Value] = []
            try Operators.iterate(try a["values"]) { items.append($0); return true }
            return .list(ListBox(items))
        },
        Builtin("range", "start, stop = nil, step = 1", "The list start, start+step, ... below stop (range(n) counts from 0).") { a in
            var start = try a.int("start"), stop = try a.optionalInt("stop")
            let step = try a.int("step")
            if stop == nil { stop = start; start = 0 }
            guard step != 0 else { throw RuntimeError("range step cannot be zero") }
            let count = step > 0 ? max(0, (stop! - start + step - 1) / step) : max(0, (start - stop! - step - 1) / -step)
            guard count <= Tensor.maxElements else { throw RuntimeError("range of \(count) items is too large") }
            try Operators.reserveList(count)
            return .list(ListBox(Swift.stride(from: start, to: stop!, by: step).map { .number(Double($0)) }))
        },
        Builtin("enumerate", "values", "A list of (index, item) pairs.") { a in
            try reserve(for: try a["values"])
            var items: [Value] = []
            try Operators.iterate(try a["values"]) { items.append(.tuple([.number(Double(items.count)), $0])); return true }
            return .list(ListBox(items))
        }.inPlans(),
        Builtin("zip", "a, b", "A list of (a item, b item) pairs, as long as the shorter.") { a in
            try reserve(for: try a["a"])
            try reserve(for: try a["b"])
            var xs: [Value] = [], ys: [Value] = []
            try Operators.iterate(try a["a"]) { xs.append($0); return true }
            try Operators.iterate(try a["b"]) { ys.append($0); return true }
            return .list(ListBox(Swift.zip(xs, ys).map { .tuple([$0, $1]) }))
        },
        Builtin("join", "values, sep = \" \"", "The values as text (as print shows them), joined by `sep`.") { a in
            .string(try a.items("values").map(Formatter.describe).joined(separator: try a.string("sep")))
        },
        Builtin("keys", "record", "The field names of a record.") { a in
            guard case .record(let r) = try a["record"] else { throw a.wrong("record", "a record") }
            return .list(ListBox(r.names.map { .string($0) }))
        },
        Builtin("fmt", "value, digits = 4", "A number (or one-element tensor) as text with a fixed number of decimals.") { a in
            let digits = try a.int("digits")
            guard (0...20).contains(digits) else { throw RuntimeError("fmt: digits must be between 0 and 20") }
            let x = try a.number("value")
            if !x.isFinite { return .string(Formatter.number(x)) }
            return .string(String(format: "%.\(digits)f", x))
        },
        Builtin("error", "message", "Stops the script with a runtime error carrying `message`.") { a in
            throw RuntimeError(Formatter.describe(try a["message"]))
        },
        Builtin("seed", "n", "Reseeds the random generator; the same seed gives the same numbers on every run.") { a in
            let n = try a.int("n")
            a.interpreter.random.reseed(UInt64(bitPattern: Int64(n)))
            a.interpreter.lastSeed = n
            return .nil
        },
        Builtin("randint", "low, high", "A random whole number in low...high.") { a in
            let lo = try a.int("low"), hi = try a.int("high")
            guard lo <= hi else { throw RuntimeError("randint: low (\(lo)) is above high (\(hi))") }
            return .number(Double(a.interpreter.random.int(lo, hi)))
        }.readingValues(),
        Builtin("rand", "", "A random number, uniform in [0, 1).") { a in .number(a.interpreter.random.uniform()) }.readingValues(),
        Builtin("shuffle", "values", "A new list with the items in random order.") { a in
            let items = try a.items("values")
            return .list(ListBox(a.interpreter.random.permutation(items.count).map { items[$0] }))
        },
        Builtin("permutation", "n", "A tensor of 0, 1, ..., n - 1 in random order: the draws of shuffle on n items, as a tensor of indices (which a compiled function replays as data).") { a in
            let n = try a.int("n")
            guard n >= 0, n <= Tensor.maxElements else { throw RuntimeError("permutation: n must be between 0 and \(Tensor.maxElements), got \(n)") }
            try MemoryBudget.reserve(n * 16, for: "a permutation of \(n)")
            return .tensor(Variable(Tensor(shape: [n], data: a.interpreter.random.permutation(n).map { Float($0) })))
        }.notDifferentiable("random indices"),
        Builtin("env", "name, default = nil", "An environment variable's value, or `default` when unset.") { a in
            let name = try a.string("name")
            if let v = a.interpreter.environmentOverrides[name] ?? ProcessInfo.processInfo.environment[name] { return .string(v) }
            return try a["default"]
        },
        Builtin("args", "", "The script's command-line arguments, as a list of strings.") { a in
            .list(ListBox(a.interpreter.arguments.map { .string($0) }))
        },
        Builtin("clock", "", "Seconds since an arbitrary start (for timing; not deterministic).") { _ in
            .number(Double(DispatchTime.now().uptimeNanoseconds) / 1e9)
        }.readingValues(),
        Builtin("number", "value", "A number from a string, bool or one-element tensor.") { a in
            switch try a["value"] {
            case .number: return try a["value"]
            case .bool(let b): return .number(b ? 1 : 0)
            case .string(let s):
                guard let d = Double(s.trimmingCharacters(in: .whitespaces)) else { throw RuntimeError("'\(s)' is not a number") }
                return .number(d)
            default: return .number(try a.number("value"))
            }
        }.readingValues(),
        Builtin("floor", "x", "The largest whole number not above x.") { a in .number(Foundation.floor(try a.number("x"))) },
        Builtin("ceil", "x", "The smallest whole number not below x.") { a in .number(Foundation.ceil(try a.number("x"))) },
        Builtin("round", "x, digits = 0", "x rounded to `digits` decimals.") { a in
            let digits = try a.int("digits")
            guard (0...15).contains(digits) else { throw RuntimeError("round: digits must be between 0 and 15") }
            let scale = Foundation.pow(10, Double(digits))
            return .number((try a.number("x") * scale).rounded() / scale)
        },
        Builtin("isnan", "x", "True when a number is NaN, or when a tensor holds any NaN.") { a in
            if case .tensor(let t) = try a["x"] { return .bool(t.value.data.contains { $0.isNaN }) }
            return .bool(try a.number("x").isNaN)
        }.readingValues(),
    ]
}
