import Foundation
import Syntax

/// The parameters of something callable, a builtin or a Mnemo function, and
/// the one place where a call's arguments are matched to them (`bind`). The
/// resolver binds every call whose callee it can see before the script runs
/// (so that a mistake is reported with its place), the compiler binds a
/// direct call of a builtin once, and any other call is bound when it runs:
/// the same rules and the same messages each time.
public struct Signature: CustomStringConvertible {
    public enum Kind: Equatable {
        case required
        /// May be left out: a builtin's default value, or a function's default expression.
        case optional
        /// `*name`: the remaining positional arguments, as a tuple.
        case variadic
        /// `**name`: the labelled arguments no other parameter takes, as a record.
        case labels
    }

    public struct Parameter {
        public let name: String
        public let kind: Kind
        /// A builtin's default value, shown in its signature (nil for a function's default expression).
        public let defaultValue: Value?
    }

    public let name: String
    public let parameters: [Parameter]
    package let variadicIndex: Int?
    package let collectorIndex: Int?

    package init(name: String, parameters: [Parameter]) {
        self.name = name
        self.parameters = parameters
        variadicIndex = parameters.firstIndex { $0.kind == .variadic }
        collectorIndex = parameters.firstIndex { $0.kind == .labels }
    }

    /// A Mnemo function's: each parameter required or, with a default expression, optional.
    package init(function: FunctionDecl) {
        self.init(name: function.name, parameters: function.parameters.map {
            Parameter(name: $0.name, kind: $0.defaultValue == nil ? .required : .optional, defaultValue: nil)
        })
    }

    /// A builtin's, from its declaration as written in Mnemo: "x, axis = -1, keepdims = false", "*shape" or "**values".
    package init(name: String, declaration: String) {
        self.init(name: name, parameters: declaration.split(separator: ",").map { part in
            let piece = part.trimmingCharacters(in: .whitespaces)
            if piece.hasPrefix("**") { return Parameter(name: String(piece.dropFirst(2)), kind: .labels, defaultValue: nil) }
            if piece.hasPrefix("*") { return Parameter(name: String(piece.dropFirst()), kind: .variadic, defaultValue: nil) }
            let sides = piece.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard sides.count == 2 else { return Parameter(name: piece, kind: .required, defaultValue: nil) }
            return Parameter(name: sides[0], kind: .optional, defaultValue: Signature.literal(sides[1]))
        })
    }

    /// A default value as the declaration writes it.
    private static func literal(_ text: String) -> Value {
        switch text {
        case "nil": return .nil
        case "true": return .bool(true)
        case "false": return .bool(false)
        default:
            if let d = Double(text) { return .number(d) }
            let inner = text.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            return .string(inner.replacingOccurrences(of: "\\n", with: "\n").replacingOccurrences(of: "\\t", with: "\t"))
        }
    }

    /// "name(x, axis = -1, *shape)", as help and error messages show it.
    public var description: String {
        "\(name)(" + parameters.map { p in
            switch p.kind {
            case .variadic: return "*" + p.name
            case .labels: return "**" + p.name
            case .required: return p.name
            case .optional: return p.defaultValue.map { "\(p.name) = \(Formatter.repr($0))" } ?? "\(p.name) = ..."
            }
        }.joined(separator: ", ") + ")"
    }

    /// Where one call-site argument goes: a parameter, the variadic
    /// parameter's tuple, or the record of collected labels.
    public enum Slot: Equatable {
        case parameter(Int)
        case rest
        case label(String)
    }

    /// Why a call's arguments do not fit: the message, and the argument it
    /// is about (nil: the call as a whole, such as a missing argument).
    public struct Mismatch: Error {
        public let message: String
        public let argument: Int?
    }

    /// The slot of each call-site argument (`labels[k]` is argument k's
    /// label, nil when it is positional); every required parameter must be
    /// given, and none twice.
    public func bind(labels: [String?]) throws -> [Slot] {
        var slots: [Slot] = []
        slots.reserveCapacity(labels.count)
        var given = [Bool](repeating: false, count: parameters.count)
        var collected: Set<String> = []  // only a `**` parameter fills it
        var position = 0
        for (k, label) in labels.enumerated() {
            if let label {
                if let i = parameters.firstIndex(where: { $0.name == label && ($0.kind == .required || $0.kind == .optional) }) {
                    if given[i] { throw Mismatch(message: "argument '\(label)' of '\(name)' is given twice", argument: k) }
                    given[i] = true
                    slots.append(.parameter(i))
                } else if collectorIndex != nil {
                    if !collected.insert(label).inserted { throw Mismatch(message: "argument '\(label)' of '\(name)' is given twice", argument: k) }
                    slots.append(.label(label))
                } else {
                    var message = "'\(name)' has no parameter named '\(label)'"
                    if let s = Suggest.closest(to: label, among: parameters.map(\.name)) { message += "; did you mean '\(s)'?" }
                    throw Mismatch(message: message, argument: k)
                }
                continue
            }
            if let v = variadicIndex, position >= v { slots.append(.rest); continue }
            if position == collectorIndex {
                throw Mismatch(message: "'\(name)' takes its values as labelled arguments, as in \(name)(loss: l)", argument: k)
            }
            guard position < parameters.count else {
                throw Mismatch(message: "too many arguments to '\(name)': it takes \(parameters.count), got \(labels.count)", argument: k)
            }
            if given[position] {
                throw Mismatch(message: "argument '\(parameters[position].name)' of '\(name)' is given twice", argument: k)
            }
            given[position] = true
            slots.append(.parameter(position))
            position += 1
        }
        for i in parameters.indices where parameters[i].kind == .required && !given[i] {
            let missing = parameters.indices.filter { parameters[$0].kind == .required && !given[$0] }.map { "'\(parameters[$0].name)'" }
            throw Mismatch(message: "missing argument\(missing.count > 1 ? "s" : "") \(missing.joined(separator: ", ")) in call to \(self)", argument: nil)
        }
        return slots
    }

    /// The arguments in parameter order: `values` placed by `slots` over
    /// `template` (each parameter's default, or .nil), the variadic
    /// parameter's as a tuple and the collected labels as a record.
    package func arrange(_ values: [Value], _ slots: [Slot], over template: [Value]) -> [Value] {
        var out = template
        var rest: [Value] = [], names: [String] = [], labelled: [Value] = []
        for (value, slot) in zip(values, slots) {
            switch slot {
            case .parameter(let i): out[i] = value
            case .rest: rest.append(value)
            case .label(let name): names.append(name); labelled.append(value)
            }
        }
        if let v = variadicIndex { out[v] = .tuple(rest) }
        if let c = collectorIndex { out[c] = .record(Record(names: names, values: labelled)) }
        return out
    }
}
