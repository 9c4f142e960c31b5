import Foundation
import Graph
import Tensor

/// An error raised by a builtin or an operator, without a place yet: the
/// call site that catches it adds the source range.
public struct RuntimeError: Error {
    public let message: String
    public init(_ message: String) { self.message = message }
}

public struct BuiltinParameter {
    public let name: String
    /// nil: required. `.nil` means "optional, absent".
    public let defaultValue: Value?
    /// Collects the remaining positional arguments as a tuple (`*shape`).
    public let variadic: Bool
    /// Collects labelled arguments no other parameter takes, as a record
    /// (`**values`: `bar.set(loss: l, bits: b)`).
    public var collectsLabels = false
}

/// A function implemented in Swift. Its name, signature and help text are
/// declared once, here, and feed the interpreter, the resolver's checks, and
/// the REPL's help and completion.
public final class Builtin {
    public typealias Implementation = (Arguments) throws -> Value

    public let name: String
    public let parameters: [BuiltinParameter]
    public let doc: String
    let implementation: Implementation

    /// How the builtin's gradients are checked, declared with it: the test
    /// suite runs a finite-difference check of every example, so no builtin
    /// can drop a gradient unnoticed (`Tests/LanguageTests/GradientTableTests`).
    public enum Gradients {
        /// Not yet declared: the suite fails for a tensor builtin left so.
        case undeclared
        /// Mnemo calls in which each `$(expr)` is an input whose gradient is
        /// checked at the value of `expr`; other arguments are held constant
        /// (not differentiable in them, or not a tensor).
        case checked([String])
        /// No gradient flows through it (an index, a random draw, a file), and why.
        case none(String)
    }
    public private(set) var gradients = Gradients.undeclared

    /// Declares the examples its gradient is checked at.
    public func checked(_ examples: String...) -> Builtin { gradients = .checked(examples); return self }
    /// Declares that no gradient flows through it, and why.
    public func notDifferentiable(_ why: String) -> Builtin { gradients = .none(why); return self }

    /// `signature` is written as in Mnemo: "x, axis = -1, keepdims = false" or "*shape".
    public init(_ name: String, _ signature: String, _ doc: String, _ implementation: @escaping Implementation) {
        self.name = name
        self.doc = doc
        self.implementation = implementation
        self.parameters = Builtin.parse(signature)
    }

    public var signature: String {
        "\(name)(" + parameters.map { p in
            if p.variadic { return "*" + p.name }
            if p.collectsLabels { return "**" + p.name }
            guard let d = p.defaultValue else { return p.name }
            return "\(p.name) = \(Formatter.repr(d))"
        }.joined(separator: ", ") + ")"
    }

    var variadicIndex: Int? { parameters.firstIndex { $0.variadic } }
    var labelCollectorIndex: Int? { parameters.firstIndex { $0.collectsLabels } }

    static func parse(_ signature: String) -> [BuiltinParameter] {
        signature.split(separator: ",").map { part in
            let piece = part.trimmingCharacters(in: .whitespaces)
            if piece.hasPrefix("**") {
                var p = BuiltinParameter(name: String(piece.dropFirst(2)), defaultValue: .nil, variadic: false)
                p.collectsLabels = true
                return p
            }
            if piece.hasPrefix("*") { return BuiltinParameter(name: String(piece.dropFirst()), defaultValue: nil, variadic: true) }
            let sides = piece.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard sides.count == 2 else { return BuiltinParameter(name: piece, defaultValue: nil, variadic: false) }
            let text = sides[1]
            let value: Value
            switch text {
            case "nil": value = .nil
            case "true": value = .bool(true)
            case "false": value = .bool(false)
            default:
                if let d = Double(text) { value = .number(d) }
                else {
                    let inner = text.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                    value = .string(inner.replacingOccurrences(of: "\\n", with: "\n").replacingOccurrences(of: "\\t", with: "\t"))
                }
            }
            return BuiltinParameter(name: sides[0], defaultValue: value, variadic: false)
        }
    }

    /// Puts call-site arguments in parameter order, filling defaults.
    /// `labels` is nil when every argument is positional.
    func bind(_ args: [Value], labels: [String?]?) throws -> [Value] {
        var out = [Value?](repeating: nil, count: parameters.count)
        let variadic = variadicIndex
        var rest: [Value] = []
        var next = 0
        let collector = labelCollectorIndex
        var collectedNames: [String] = [], collectedValues: [Value] = []
        for (k, arg) in args.enumerated() {
            if let label = labels?[k] {
                guard let i = parameters.firstIndex(where: { $0.name == label && !$0.variadic && !$0.collectsLabels }) else {
                    if collector != nil {
                        if collectedNames.contains(label) { throw RuntimeError("argument '\(label)' of \(name) is given twice") }
                        collectedNames.append(label)
                        collectedValues.append(arg)
                        continue
                    }
                    throw RuntimeError("\(name) has no parameter named '\(label)'")
                }
                if out[i] != nil { throw RuntimeError("argument '\(label)' of \(name) is given twice") }
                out[i] = arg
                continue
            }
            if let v = variadic, next >= v { rest.append(arg); continue }
            if next == collector {
                throw RuntimeError("\(name) takes its values as labelled arguments, as in \(name)(loss: l)")
            }
            guard next < parameters.count else {
                throw RuntimeError("too many arguments to \(name): it takes \(parameters.count), got \(args.count)")
            }
            out[next] = arg
            next += 1
        }
        if let v = variadic { out[v] = .tuple(rest) }
        if let c = collector { out[c] = .record(Record(names: collectedNames, values: collectedValues)) }
        return try out.enumerated().map { i, v in
            if let v { return v }
            if let d = parameters[i].defaultValue { return d }
            throw RuntimeError("missing argument '\(parameters[i].name)' in call to \(signature)")
        }
    }
}

/// The arguments of one builtin call, in parameter order, with typed accessors
/// whose errors name the builtin and the parameter.
public struct Arguments {
    public let values: [Value]
    public let builtin: Builtin
    public unowned let interpreter: Interpreter
    // Where the call is in the source, when known: kept without reference
    // counting (the source outlives every call made from it), as every
    // builtin call builds one of these.
    private unowned(unsafe) let callFile: SourceFile?
    private let callStart: Int, callEnd: Int

    public init(values: [Value], builtin: Builtin, interpreter: Interpreter, callRange: SourceRange? = nil) {
        self.values = values
        self.builtin = builtin
        self.interpreter = interpreter
        callFile = callRange?.file
        callStart = callRange?.start ?? 0
        callEnd = callRange?.end ?? 0
    }

    public var callRange: SourceRange? { callFile.map { SourceRange($0, callStart, callEnd) } }

    /// "file.mn:3:7", for messages that must point back at this call later.
    public var place: String {
        callRange?.place ?? "an earlier call of \(builtin.name)"
    }

    public subscript(i: Int) -> Value { values[i] }

    public func isAbsent(_ i: Int) -> Bool {
        if case .nil = values[i] { return true }
        return false
    }

    func wrong(_ i: Int, _ expected: String) -> RuntimeError {
        RuntimeError("argument '\(builtin.parameters[i].name)' of \(builtin.name) must be \(expected), got \(values[i].kindName)")
    }

    public func number(_ i: Int) throws -> Double {
        switch values[i] {
        case .number(let d): return d
        case .tensor(let t) where t.value.count == 1: return Double(t.value.scalar)
        default: throw wrong(i, "a number")
        }
    }

    public func float(_ i: Int) throws -> Float { Float(try number(i)) }

    public func int(_ i: Int) throws -> Int {
        let d = try number(i)
        guard let n = Arguments.exactInt(d) else {
            throw RuntimeError("argument '\(builtin.parameters[i].name)' of \(builtin.name) must be a whole number, got \(Formatter.number(d))")
        }
        return n
    }

    public func optionalInt(_ i: Int) throws -> Int? { isAbsent(i) ? nil : try int(i) }
    public func optionalNumber(_ i: Int) throws -> Double? { isAbsent(i) ? nil : try number(i) }

    public func bool(_ i: Int) throws -> Bool {
        guard case .bool(let b) = values[i] else { throw wrong(i, "true or false") }
        return b
    }

    public func string(_ i: Int) throws -> String {
        guard case .string(let s) = values[i] else { throw wrong(i, "a string") }
        return s
    }

    /// A tensor; numbers and (nested) lists of numbers are converted.
    public func tensor(_ i: Int) throws -> Variable {
        if case .tensor(let t) = values[i] { return t }
        do { return Variable(try Convert.tensor(values[i])) }
        catch { throw wrong(i, "a tensor (or a number or list of numbers)") }
    }

    /// A list or tuple's items.
    public func items(_ i: Int) throws -> [Value] {
        switch values[i] {
        case .list(let l): return l.items
        case .tuple(let t): return t
        default: throw wrong(i, "a list")
        }
    }

    /// A shape: whole numbers given as separate arguments, or one list/tuple.
    public func shape(_ i: Int) throws -> [Int] {
        var dims = try items(i)
        if dims.count == 1 {
            switch dims[0] {
            case .list(let l): dims = l.items
            case .tuple(let t): dims = t
            default: break
            }
        }
        return try dims.map { v in
            guard case .number(let d) = v, let n = Arguments.exactInt(d) else {
                throw RuntimeError("\(builtin.name): a shape is made of whole numbers, got \(v.kindName == "number" ? Formatter.describe(v) : v.kindName)")
            }
            if n < 0 { throw RuntimeError("\(builtin.name): negative dimension \(n) in shape") }
            return n
        }
    }

    /// Argument i must be something a for loop goes through (what a progress bar or a checkpointed loop wraps).
    static func requireIterable(_ a: Arguments, _ i: Int) throws {
        switch a[i] {
        case .range, .list, .tuple, .string, .tensor: return
        default: throw a.wrong(i, "something a for loop can go through (a range, list, tuple, string or tensor)")
        }
    }

    public func function(_ i: Int) throws -> Value {
        switch values[i] {
        case .function, .builtin: return values[i]
        default: throw wrong(i, "a function")
        }
    }

    /// A Double that is a whole number in Int range, else nil (never traps).
    static func exactInt(_ d: Double) -> Int? {
        guard d.isFinite, d == d.rounded(), abs(d) < 9.0e15 else { return nil }
        return Int(d)
    }
}

/// Conversions between Mnemo values and tensors.
enum Convert {
    /// Nested lists (or tuples) of numbers as a tensor; ragged lists are an error.
    static func tensor(_ v: Value) throws -> Tensor {
        switch v {
        case .number(let d): return Tensor(Float(d))
        case .bool(let b): return Tensor(b ? 1 : 0)
        case .tensor(let t): return t.value
        case .list, .tuple:
            var shape: [Int] = []
            var data: [Float] = []
            try flatten(v, depth: 0, shape: &shape, data: &data)
            return Tensor(shape: shape, data: data)
        default:
            throw RuntimeError("cannot make a tensor from a \(v.kindName)")
        }
    }

    private static func flatten(_ v: Value, depth: Int, shape: inout [Int], data: inout [Float]) throws {
        let items: [Value]
        switch v {
        case .list(let l): items = l.items
        case .tuple(let t): items = t
        case .number(let d):
            guard depth == shape.count else { throw RuntimeError("ragged nested list: cannot make a tensor") }
            data.append(Float(d)); return
        case .bool(let b):
            guard depth == shape.count else { throw RuntimeError("ragged nested list: cannot make a tensor") }
            data.append(b ? 1 : 0); return
        case .tensor(let t):
            // A list of tensors stacks them.
            if depth == shape.count { shape += t.value.shape }
            guard Array(shape[depth...]) == t.value.shape else { throw RuntimeError("tensors of different shapes in one list: cannot make a tensor") }
            data += t.value.data; return
        default:
            throw RuntimeError("a tensor holds numbers, not a \(v.kindName)")
        }
        if depth > 64 { throw RuntimeError("list nested too deeply to make a tensor") }
        if depth == shape.count { shape.append(items.count) }
        else if depth > shape.count || shape[depth] != items.count { throw RuntimeError("ragged nested list: cannot make a tensor") }
        for item in items { try flatten(item, depth: depth + 1, shape: &shape, data: &data) }
        if items.isEmpty && depth + 1 == shape.count { return }
        _ = try Tensor.allocationCount(shape)
    }
}
