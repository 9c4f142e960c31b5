import Foundation
import Graph
import Runtime
import Syntax
import Tensor

/// Checkpoints: a record of what to keep ({model: m, opt: o, step: s}) as
/// one safetensors file. Each parameter is stored under its path
/// (`model.cell.W`), an optimizer's buffers under its own
/// (`opt.cell.W.exp_avg`), and numbers, strings, bools and the random
/// generator's state in the metadata; so a run restored from it continues
/// exactly as the saved one would have.
enum CheckpointBuiltins {
    /// What one field of the record contributes.
    enum Part {
        /// Parameters found in a model-like value, with their names.
        case parameters([(String, Variable)])
        case optimizer(OptimizerObject)
        /// A number, string, bool or plain tensor: given back by restore.
        case value(Value)
    }

    static func parts(of v: Value, _ builtin: String) throws -> [(String, Part)] {
        guard case .record(let r) = v else { throw RuntimeError("\(builtin) takes a record of what to keep, such as {model: model, opt: opt, step: step}; got a \(v.kindName)") }
        return try zip(r.names, r.values).map { name, value in
            switch value {
            case .object(let o as OptimizerObject): return (name, .optimizer(o))
            case .number, .string, .bool: return (name, .value(value))
            case .tensor(let t) where !t.isParameter: return (name, .value(value))
            case .nil, .function, .builtin, .module, .range:
                throw RuntimeError("\(builtin): field '\(name)' is a \(value.kindName), which a checkpoint cannot keep")
            default:
                let found = GraphBuiltins.parameters(in: value)
                var seen: [String: Int] = [:]
                let named = zip(GraphBuiltins.parameterNames(in: value, found), found).map { path, p -> (String, Variable) in
                    // Two parameters given the same label elsewhere still get distinct names.
                    let base = "\(name).\(path.replacingOccurrences(of: " ", with: "_"))"
                    seen[base, default: 0] += 1
                    return (seen[base]! == 1 ? base : "\(base)#\(seen[base]!)", p)
                }
                if case .tensor(let t) = value { return (name, .parameters([(name, t)])) }
                return (name, .parameters(named))
            }
        }
    }

    static func jsonValue(_ v: Value, _ name: String) throws -> String {
        switch v {
        case .number(let d):
            guard d.isFinite else { throw RuntimeError("checkpoint: field '\(name)' is \(Formatter.number(d)), which JSON cannot hold") }
            if d == d.rounded(), abs(d) < 1e15 { return String(Int(d)) }
            return "\(d)"
        case .bool(let b): return b ? "true" : "false"
        case .string(let s): return SafeTensors.jsonString(s)
        default: return "null"
        }
    }

    /// Writes `state` (a record) as a checkpoint at `path`, with `extra` values beside its own.
    static func write(path: String, state: Value, extra: [(String, Value)] = [], interpreter: Interpreter) throws {
        var tensors: [(String, Tensor)] = []
        var metadata = ["format": "mnemo", "mnemo.version": Interpreter.version,
                        "mnemo.random": interpreter.random.state.map { String($0, radix: 16) }.joined(separator: ",")]
        for (name, value) in extra { metadata["value.\(name)"] = try jsonValue(value, name) }
        for (name, part) in try parts(of: state, "checkpoint") {
            switch part {
            case .parameters(let ps): tensors += ps.map { ($0.0, $0.1.value) }
            case .optimizer(let o):
                let opt = o.optimizer
                for (i, buffers) in opt.state.enumerated() {
                    for (k, b) in buffers.enumerated() { tensors.append(("\(name).\(opt.names[i].replacingOccurrences(of: " ", with: "_")).\(opt.stateNames[k])", b)) }
                }
                metadata["\(name).steps"] = String(opt.steps)
                metadata["\(name).lr"] = "\(opt.learningRate)"
                metadata["\(name).norm"] = "\(opt.lastNorm)"
                metadata["\(name).rule"] = o.name
            case .value(.tensor(let t)): tensors.append((name, t.value))
            case .value(let v): metadata["value.\(name)"] = try jsonValue(v, name)
            }
        }
        do { try SafeTensors.write(tensors, metadata: metadata, path: path) } catch { throw RuntimeError("\(error)") }
    }

    /// Loads the checkpoint at `path` into `state`; returns the saved values. Checks everything before changing anything.
    static func read(path: String, state: Value, random: Bool, interpreter: Interpreter) throws -> [(String, Value)] {
        let file: SafeTensors.File
        do { file = try SafeTensors.read(path: interpreter.resolvePath(path), name: path) } catch { throw RuntimeError("\(error)") }
        let byName = Dictionary(file.entries.map { ($0.name, $0) }, uniquingKeysWith: { x, _ in x })
        var claimed = Set<String>()
        func take(_ name: String, shape: [Int], for what: String) throws -> Tensor {
            guard let e = byName[name] else {
                let near = file.entries.map(\.name).filter { $0.hasPrefix(name.split(separator: ".").first.map(String.init) ?? name) }.prefix(8)
                throw RuntimeError("restore: '\(path)' has no tensor '\(name)' (\(what))" + (near.isEmpty ? "" : "; it has \(near.joined(separator: ", "))\(near.count == 8 ? ", ..." : "")"))
            }
            guard ["F32", "F64", "F16", "BF16"].contains(e.dtype) else {
                throw RuntimeError("restore: tensor '\(name)' in '\(path)' is \(e.dtype), not a floating-point type")
            }
            guard e.tensor.shape == shape else {
                throw RuntimeError("restore: tensor '\(name)' in '\(path)' has shape \(Tensor.shapeText(e.tensor.shape)); \(what) has shape \(Tensor.shapeText(shape))")
            }
            claimed.insert(name)
            return e.tensor
        }
        func number(_ key: String) throws -> Double {
            guard let text = file.metadata[key], let d = Double(text) else { throw RuntimeError("restore: '\(path)' lacks '\(key)' in its metadata") }
            return d
        }
        // First every check, then every change.
        var assignments: [(Variable, Tensor)] = []
        var optimizers: [(Optimizer, [[Tensor]], Int, Float, Float)] = []
        let parts = try parts(of: state, "restore")
        for (name, part) in parts {
            switch part {
            case .parameters(let ps):
                for (pname, p) in ps { assignments.append((p, try take(pname, shape: p.shape, for: "a parameter"))) }
            case .optimizer(let o):
                let opt = o.optimizer
                if let rule = file.metadata["\(name).rule"], rule != o.name {
                    throw RuntimeError("restore: '\(name)' was saved from a \(rule) optimizer, this one is \(o.name)")
                }
                let state = try opt.state.enumerated().map { i, buffers in
                    try buffers.indices.map { k in
                        try take("\(name).\(opt.names[i].replacingOccurrences(of: " ", with: "_")).\(opt.stateNames[k])", shape: opt.parameters[i].shape,
                                 for: "the optimizer's \(opt.stateNames[k]) of \(opt.names[i])")
                    }
                }
                let steps = try number("\(name).steps")
                guard let whole = Arguments.exactInt(steps), whole >= 0 else { throw RuntimeError("restore: '\(name).steps' is not a step count") }
                optimizers.append((opt, state, whole, Float(try number("\(name).lr")), Float(try number("\(name).norm"))))
            case .value:
                break  // given back in the result, not assigned
            }
        }
        let prefixes = parts.compactMap { name, part -> String? in if case .value = part { return nil }; return name + "." }
        if let stray = file.entries.map(\.name).first(where: { n in !claimed.contains(n) && prefixes.contains { n.hasPrefix($0) } }) {
            throw RuntimeError("restore: '\(path)' has tensor '\(stray)', which nothing in the given record takes (was the model built differently?)")
        }
        var randomState: [UInt64]?
        if random {
            guard let text = file.metadata["mnemo.random"] else { throw RuntimeError("restore: '\(path)' holds no random generator state (pass random: false)") }
            let words = text.split(separator: ",").compactMap { UInt64($0, radix: 16) }
            guard words.count == 6 else { throw RuntimeError("restore: the random generator state in '\(path)' is damaged") }
            randomState = words
        }
        var result: [(String, Value)] = []
        // Saved values are JSON texts, one metadata key each ("value.step": "1000").
        for key in file.metadata.keys.sorted() where key.hasPrefix("value.") {
            let text = file.metadata[key]!, name = String(key.dropFirst(6))
            if text == "true" || text == "false" { result.append((name, .bool(text == "true"))) }
            else if text.hasPrefix("\""), let s = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed) as? String {
                result.append((name, .string(s)))
            } else if let d = Double(text) { result.append((name, .number(d))) }
            else { throw RuntimeError("restore: the saved value '\(name)' in '\(path)' is damaged") }
        }
        for (name, _) in parts {
            if let e = byName[name], !claimed.contains(name) { result.append((name, .tensor(Variable(e.tensor)))) }
        }
        // The changes.
        for (p, t) in assignments { p.value = t }
        for (opt, state, steps, lr, norm) in optimizers {
            try opt.restore(state: state, steps: steps, learningRate: lr, lastNorm: norm)
        }
        if let words = randomState { try interpreter.random.restore(words) }
        return result
    }

    static let all: [Builtin] = [
        Builtin("checkpoint", "path, state",
                "Writes a record of what to keep ({model: model, opt: opt, step: step}) as one safetensors file, atomically (killing the process at any moment leaves the previous file intact): every parameter under its path (model.cell.W), each optimizer's buffers, step count and learning rate, numbers, strings, bools and plain tensors, and the random generator's state. PyTorch, JAX and NumPy read it with the safetensors package. restore(path, state) reads it back.") { a in
            try write(path: try a.string("path"), state: try a["state"], interpreter: a.interpreter)
            return .nil
        }.notDifferentiable("writes a file"),
        Builtin("restore", "path, state, random = true",
                "Loads a checkpoint into a record of the same shape as the one saved ({model: model, opt: opt}): parameters and optimizer state in place, and (random: true) the random generator's state. Returns a record of the saved numbers, strings, bools and plain tensors ({step: 1000}). Everything is checked before anything changes: a missing or unexpected name, a shape or dtype mismatch, a damaged file is an error that leaves the state as it was.") { a in
            let result = try read(path: try a.string("path"), state: try a["state"], random: try a.bool("random"), interpreter: a.interpreter)
            return .record(Record(names: result.map(\.0), values: result.map(\.1)))
        }.notDifferentiable("reads a file"),
    ]
}
