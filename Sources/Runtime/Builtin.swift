import Foundation
import Graph
import Syntax
import Tensor

/// An error raised by a builtin or an operator, without a place yet: the
/// call site that catches it adds the source range.
public struct RuntimeError: Error {
    public let message: String
    public init(_ message: String) { self.message = message }
}

/// A function implemented in Swift. Its name, signature and help text are
/// declared once, here, and feed the interpreter, the resolver's checks, and
/// the REPL's help and completion.
public final class Builtin {
    public typealias Implementation = (Arguments) throws -> Value

    public let name: String
    public let signature: Signature
    public let doc: String
    package let implementation: Implementation
    /// Each parameter's default value (.nil where it has none), the arguments' starting point.
    package let defaults: [Value]

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

    /// True for a builtin whose numbers change from call to call (a tensor's
    /// value read out, a random number, the time): a compiled function replays
    /// them as values, which may be passed on or returned but not steer the
    /// script (see `Tracer`). Another builtin's plain results are checked to
    /// be the same at every replay.
    public private(set) var readsValues = false
    public func readingValues() -> Builtin { readsValues = true; return self }

    /// True for a builtin a compiled function can run as a kernel plan
    /// (`KernelPlan`): its tensor work is ops with kernels, and what it
    /// leaves in objects is handed to the plan's recorder. A trace whose
    /// every call is such a builtin runs as one plan; else step by step.
    public private(set) var runsInPlans = false
    public func inPlans() -> Builtin { runsInPlans = true; return self }

    /// `signature` is written as in Mnemo: "x, axis = -1, keepdims = false", "*shape" or "**values".
    public init(_ name: String, _ signature: String, _ doc: String, _ implementation: @escaping Implementation) {
        self.name = name
        self.doc = doc
        self.implementation = implementation
        self.signature = Signature(name: name, declaration: signature)
        self.defaults = self.signature.parameters.map { $0.defaultValue ?? .nil }
    }

    /// Puts a call's arguments in parameter order, filling defaults
    /// (`labels` is nil when every argument is positional).
    package func bind(_ args: [Value], labels: [String?]?) throws -> [Value] {
        let s = signature
        if labels == nil, s.variadicIndex == nil, s.collectorIndex == nil, args.count == s.parameters.count { return args }
        do {
            let slots = try s.bind(labels: labels ?? [String?](repeating: nil, count: args.count))
            return s.arrange(args, slots, over: defaults)
        } catch let mismatch as Signature.Mismatch {
            throw RuntimeError(mismatch.message)
        }
    }
}

/// The arguments of one builtin call, in parameter order, with typed accessors
/// whose errors name the builtin and the parameter.
public struct Arguments {
    public let values: [Value]
    public let builtin: Builtin
    // The interpreter and where the call is in the source, when known: kept
    // without reference counting (both outlive every call made in them), as
    // every builtin call builds one of these.
    public unowned(unsafe) let interpreter: Interpreter
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

    /// The position of parameter `name`. A builtin reads its arguments by
    /// the names its signature declares; a name it does not declare is a
    /// mistake in Mnemo, reported as one, never a trap.
    @inline(__always)
    package func index(_ name: String) throws -> Int {
        let parameters = builtin.signature.parameters
        for i in parameters.indices where parameters[i].name == name { return i }
        throw RuntimeError("internal: \(builtin.name) has no parameter named '\(name)'")
    }

    /// The argument of parameter `name`.
    public subscript(name: String) -> Value { get throws { values[try index(name)] } }

    public func isAbsent(_ name: String) throws -> Bool {
        if case .nil = try self[name] { return true }
        return false
    }

    package func wrong(_ name: String, _ expected: String) -> RuntimeError {
        let kind = (try? self[name].kindName) ?? "nothing"
        return RuntimeError("argument '\(name)' of \(builtin.name) must be \(expected), got \(kind)")
    }

    public func number(_ name: String) throws -> Double {
        switch try self[name] {
        case .number(let d): return d
        case .tensor(let t) where t.value.count == 1: return Double(t.value.scalar)
        default: throw wrong(name, "a number")
        }
    }

    public func float(_ name: String) throws -> Float { Float(try number(name)) }

    public func int(_ name: String) throws -> Int {
        let d = try number(name)
        guard let n = Arguments.exactInt(d) else {
            throw RuntimeError("argument '\(name)' of \(builtin.name) must be a whole number, got \(Formatter.number(d))")
        }
        return n
    }

    public func optionalInt(_ name: String) throws -> Int? { try isAbsent(name) ? nil : try int(name) }
    public func optionalNumber(_ name: String) throws -> Double? { try isAbsent(name) ? nil : try number(name) }

    public func bool(_ name: String) throws -> Bool {
        guard case .bool(let b) = try self[name] else { throw wrong(name, "true or false") }
        return b
    }

    public func string(_ name: String) throws -> String {
        guard case .string(let s) = try self[name] else { throw wrong(name, "a string") }
        return s
    }

    /// A tensor; numbers and (nested) lists of numbers are converted.
    public func tensor(_ name: String) throws -> Variable {
        let value = try self[name]
        if case .tensor(let t) = value { return t }
        do { return Variable(try Convert.tensor(value)) }
        catch { throw wrong(name, "a tensor (or a number or list of numbers)") }
    }

    /// A list or tuple's items.
    public func items(_ name: String) throws -> [Value] {
        switch try self[name] {
        case .list(let l): return l.items
        case .tuple(let t): return t
        default: throw wrong(name, "a list")
        }
    }

    /// A shape: whole numbers given as separate arguments, or one list/tuple.
    public func shape(_ name: String) throws -> [Int] {
        var dims = try items(name)
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

    /// The argument `name` must be something a for loop goes through (what a progress bar or a checkpointed loop wraps).
    package static func requireIterable(_ a: Arguments, _ name: String) throws {
        switch try a[name] {
        case .range, .list, .tuple, .string, .tensor: return
        default: throw a.wrong(name, "something a for loop can go through (a range, list, tuple, string or tensor)")
        }
    }

    public func function(_ name: String) throws -> Value {
        let value = try self[name]
        switch value {
        case .function, .builtin: return value
        default: throw wrong(name, "a function")
        }
    }

    /// A Double that is a whole number in Int range, else nil (never traps).
    package static func exactInt(_ d: Double) -> Int? {
        guard d.isFinite, d == d.rounded(), abs(d) < 9.0e15 else { return nil }
        return Int(d)
    }
}

/// Conversions between Mnemo values and tensors.
package enum Convert {
    /// Nested lists (or tuples) of numbers as a tensor; ragged lists are an error.
    package static func tensor(_ v: Value) throws -> Tensor {
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
