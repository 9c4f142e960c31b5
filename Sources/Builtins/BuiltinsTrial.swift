import Foundation
import Graph
import Runtime
import Syntax
import Tensor

/// A script as one trial of a sweep (`mnemo sweep`): the runner gives the
/// trial's folder, index, seed and configuration in the environment
/// (MNEMO_TRIAL_DIR, MNEMO_TRIAL_INDEX, MNEMO_TRIAL_SEED, MNEMO_TRIAL_CONFIG
/// as a JSON object); outside a sweep they are absent and the script runs
/// with its own defaults.
enum TrialBuiltins {
    static func environment(_ a: Arguments, _ name: String) -> String? {
        a.interpreter.environmentOverrides[name] ?? ProcessInfo.processInfo.environment[name]
    }

    /// The trial's configuration: names to numbers, strings or bools.
    static func configuration(_ a: Arguments) throws -> [(String, Value)] {
        guard let text = environment(a, "MNEMO_TRIAL_CONFIG"), !text.isEmpty else { return [] }
        guard JSONDepth.within(Array(text.utf8), 4),
              let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
            throw RuntimeError("MNEMO_TRIAL_CONFIG is not a JSON object of hyper-parameters")
        }
        return object.keys.sorted().compactMap { key in
            switch object[key] {
            case let s as String: return (key, .string(s))
            case let n as NSNumber:
                // JSON's true and false arrive as a boolean subclass of NSNumber, and `as? Bool` accepts 0 and 1 too: the class tells them apart.
                if String(describing: type(of: n)).contains("Bool") { return (key, .bool(n.boolValue)) }
                return (key, .number(n.doubleValue))
            default: return nil
            }
        }
    }

    static func folder(_ a: Arguments) -> String? {
        guard let dir = environment(a, "MNEMO_TRIAL_DIR"), !dir.isEmpty else { return nil }
        return dir
    }

    static let all: [Builtin] = [
        Builtin("trial", "",
                "This run as a trial of a sweep: {index, seed, dir, config, log, checkpoint}. Outside a sweep index, seed, dir, log and checkpoint are nil and config is empty, so a script can use them unconditionally: log_metrics(trial().log, ...) writes nothing then, and checkpointed(...) keeps no checkpoint.") { a in
            let dir = folder(a)
            let config = try configuration(a)
            func number(_ name: String) -> Value { environment(a, name).flatMap(Double.init).map { .number($0) } ?? .nil }
            return .record(Record(names: ["index", "seed", "dir", "config", "log", "checkpoint"], values: [
                number("MNEMO_TRIAL_INDEX"), number("MNEMO_TRIAL_SEED"), dir.map { .string($0) } ?? .nil,
                .record(Record(names: config.map(\.0), values: config.map(\.1))),
                dir.map { .string($0 + "/metrics.jsonl") } ?? .nil, dir.map { .string($0 + "/checkpoint.safetensors") } ?? .nil,
            ]))
        }.notDifferentiable("reads the environment"),
        Builtin("hparam", "name, default",
                "A hyper-parameter: the sweep trial's value for `name`, or `default` outside a sweep (or when the sweep does not set it). A value of another kind than the default is an error.") { a in
            let name = try a.string("name")
            guard let (_, value) = try configuration(a).first(where: { $0.0 == name }) else { return try a["default"] }
            if case .nil = try a["default"] { return value }
            let fallback = try a["default"]
            guard value.kindName == fallback.kindName else {
                throw RuntimeError("hparam: the sweep gives '\(name)' as a \(value.kindName), the script's default is a \(fallback.kindName)")
            }
            return value
        }.notDifferentiable("reads the environment"),
        Builtin("checkpointed", "values, state, path = nil, every = 1000",
                "A loop that survives being stopped: for step in checkpointed(1...steps, {model: model, opt: opt}) { ... }. Every `every` items, at the end, and when SIGTERM arrives (a scheduler's time limit; the run then ends with status 75 after the current item) it checkpoints `state` at `path` (default: the sweep trial's checkpoint; outside a sweep, none). When that file exists as the loop starts, it restores it, random generator included, and goes on after the last item done, so the run continues as if never stopped.") { a in
            let path: String?
            if try a.isAbsent("path") { path = folder(a).map { $0 + "/checkpoint.safetensors" } } else { path = try a.string("path") }
            let every = try a.int("every")
            guard every >= 1 else { throw RuntimeError("checkpointed: every must be at least 1") }
            guard case .record = try a["state"] else { throw a.wrong("state", "a record of what to keep, such as {model: model, opt: opt}") }
            try Arguments.requireIterable(a, "values")
            return .object(CheckpointedLoop(source: try a["values"], state: try a["state"], path: path, every: every, interpreter: a.interpreter))
        }.notDifferentiable("writes a file"),
    ]
}

/// The loop `checkpointed` makes: it iterates its source, skipping the items
/// a restored checkpoint had done, and saves between items, never inside one.
final class CheckpointedLoop: IterableObject {
    let source: Value
    let state: Value
    let path: String?
    let every: Int
    unowned let interpreter: Interpreter
    /// Items finished, counting those done before a restore.
    private(set) var done = 0
    private(set) var resumed = false

    init(source: Value, state: Value, path: String?, every: Int, interpreter: Interpreter) {
        (self.source, self.state, self.path, self.every, self.interpreter) =
            (source, state, path, every, interpreter)
    }

    var kindName: String { "checkpointed loop" }
    var memberNames: [String] { ["done", "resumed", "path"] }
    var summary: String { "<checkpointed loop: \(done) done\(path.map { ", saved at \($0)" } ?? "")>" }

    func member(_ name: String, _ interpreter: Interpreter) throws -> Value? {
        switch name {
        case "done": return .number(Double(done))
        case "resumed": return .bool(resumed)
        case "path": return path.map { .string($0) } ?? .nil
        default: return nil
        }
    }

    func save() throws {
        guard let path else { return }
        try CheckpointBuiltins.write(path: path, state: state, extra: [("loop_done", .number(Double(done)))], interpreter: interpreter)
    }

    /// Runs the loop: `body` gets each item not done yet.
    func iterate(_ body: (Value) throws -> Bool) throws {
        var skip = 0
        if let path, FileManager.default.fileExists(atPath: path) {
            let saved = try CheckpointBuiltins.read(path: path, state: state, random: true, interpreter: interpreter)
            if case .number(let n)? = saved.first(where: { $0.0 == "loop_done" })?.1, let k = Arguments.exactInt(n), k >= 0 {
                skip = k
                resumed = true
            }
        }
        done = 0
        Interrupt.terminationDeferred += 1
        defer {
            Interrupt.terminationDeferred -= 1
            // A SIGTERM that waited for this loop now stops the run at the next check.
            if Interrupt.terminationRequested, Interrupt.terminationDeferred == 0 { Interrupt.requested = true }
        }
        var finished = true
        try Operators.iterate(source) { item in
            if done < skip { done += 1; return true }
            if done > skip, done % every == 0 { try save() }
            if Interrupt.terminationRequested {
                try save()
                finished = false
                throw RuntimeError(Interpreter.terminatedMessage)
            }
            let more = try body(item)
            done += 1
            if !more { finished = false }
            return more
        }
        if finished { try save() }
    }
}
