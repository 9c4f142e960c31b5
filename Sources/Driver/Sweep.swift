import Builtins
import Foundation
import Runtime
import Syntax
import Tensor

/// A sweep: one script run as many trials, over seeds and hyper-parameters.
///
/// The sweep file is a Mnemo record (NAME.mn, its last expression) or the
/// same as JSON (NAME.json):
///
///     {
///       script: "../samples/ntm_copy.mn",  # relative to this file
///       args: ["20000", "{seed}"],          # {name}: the trial's value
///       seeds: 10,                          # 1...10, or a list [3, 7]
///       grid: {lr: [1e-4, 3e-4]},           # every combination
///       random: {momentum: {low: 0.8, high: 0.99}, width: [20, 40]},
///       samples: 4,                         # random draws per grid point
///       results: "copy.results",            # default: NAME.results beside the file
///       metric: "bits", goal: "min",        # what summary sorts by
///     }
///
/// Trial i is the file and i alone: configuration i / seeds, seed i % seeds.
/// Random draws come from a generator seeded by the file's `seed` (default
/// 0) and the configuration's number, so every machine draws the same.
struct SweepFile {
    enum Setting: Equatable {
        case number(Double), string(String), bool(Bool)

        var text: String {
            switch self {
            case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : "\(d)"
            case .string(let s): return s
            case .bool(let b): return b ? "true" : "false"
            }
        }
        var json: String {
            switch self {
            case .string(let s): return SafeTensors.jsonString(s)
            default: return text
            }
        }
    }

    /// A range to draw from: uniform, or uniform in the logarithm; or a list to pick from.
    enum Draw {
        case uniform(low: Double, high: Double, log: Bool, integer: Bool)
        case choice([Setting])
    }

    struct Trial {
        let index: Int
        let configuration: Int
        let seed: Int
        /// Grid and drawn values, in the file's order, then "seed".
        let settings: [(String, Setting)]
        var configText: String { settings.filter { $0.0 != "seed" }.map { "\($0.0)=\($0.1.text)" }.joined(separator: " ") }
        var json: String { "{" + settings.map { "\(SafeTensors.jsonString($0.0)):\($0.1.json)" }.joined(separator: ",") + "}" }
    }

    let path: String
    let script: String
    let arguments: [String]
    let seeds: [Int]
    let grid: [(String, [Setting])]
    let random: [(String, Draw)]
    let samples: Int
    let results: String
    let metric: String?
    let minimize: Bool
    let drawSeed: UInt64

    var configurations: Int { grid.reduce(1) { $0 * $1.1.count } * samples }
    var trials: Int { configurations * seeds.count }

    struct Invalid: Error, CustomStringConvertible { let description: String }

    /// A value of the file, whichever way it was written.
    indirect enum Plain {
        case number(Double), string(String), bool(Bool), list([Plain]), record([(String, Plain)]), none
    }

    init(path: String) throws {
        self.path = path
        guard let data = FileManager.default.contents(atPath: path) else { throw Invalid(description: "cannot read '\(path)': no such file or not readable") }
        let root: Plain
        if path.lowercased().hasSuffix(".json") {
            guard JSONDepth.within([UInt8](data), 16), let object = try? JSONSerialization.jsonObject(with: data) else {
                throw Invalid(description: "'\(path)' is not valid JSON")
            }
            root = SweepFile.plain(json: object)
        } else {
            let interpreter = Interpreter(output: { _ in })
            let result: Result<Value, Error> = Interpreter.onLargeStack {
                Result { try interpreter.run(SourceFile(name: path, text: String(decoding: data, as: UTF8.self), path: path)) }
            }
            let value: Value
            switch result {
            case .success(let v): value = v
            case .failure(let error): throw Invalid(description: Host.report(error).text)
            }
            root = try SweepFile.plain(value)
        }
        guard case .record(let fields) = root else { throw Invalid(description: "'\(path)' must describe a record ({script: ..., seeds: ...})") }
        func field(_ name: String) -> Plain? { fields.first { $0.0 == name }?.1 }
        let known = ["script", "args", "seeds", "grid", "random", "samples", "results", "metric", "goal", "seed"]
        if let unknown = fields.first(where: { !known.contains($0.0) }) {
            throw Invalid(description: "'\(path)': unknown field '\(unknown.0)' (a sweep has \(known.joined(separator: ", ")))")
        }
        let folder = (path as NSString).deletingLastPathComponent
        func relative(_ p: String) -> String { p.hasPrefix("/") || folder.isEmpty ? p : folder + "/" + p }
        guard case .string(let script)? = field("script") else { throw Invalid(description: "'\(path)': script must name the script to run") }
        self.script = relative(script)
        switch field("args") {
        case nil, .none?: arguments = []
        case .list(let items)?: arguments = items.map { SweepFile.setting($0)?.text ?? "" }
        default: throw Invalid(description: "'\(path)': args must be a list")
        }
        switch field("seeds") {
        case nil, .none?: seeds = [1]
        case .number(let n)?:
            guard let k = Int(exactly: n), k >= 1, k <= 100_000 else { throw Invalid(description: "'\(path)': seeds must be a count from 1 to 100000 or a list") }
            seeds = Array(1...k)
        case .list(let items)?:
            seeds = try items.map { item in
                guard case .number(let n) = item, let k = Int(exactly: n) else { throw Invalid(description: "'\(path)': seeds must be whole numbers") }
                return k
            }
            guard !seeds.isEmpty, Set(seeds).count == seeds.count else { throw Invalid(description: "'\(path)': seeds must be distinct and not empty") }
        default: throw Invalid(description: "'\(path)': seeds must be a count or a list")
        }
        var grid: [(String, [Setting])] = []
        if case .record(let entries)? = field("grid") {
            for (name, values) in entries {
                guard case .list(let items) = values, !items.isEmpty else { throw Invalid(description: "'\(path)': grid.\(name) must be a non-empty list") }
                grid.append((name, try items.map { item in
                    guard let s = SweepFile.setting(item) else { throw Invalid(description: "'\(path)': grid.\(name) holds numbers, strings or bools") }
                    return s
                }))
            }
        } else if field("grid") != nil, case .none? = field("grid") {} else if field("grid") != nil {
            throw Invalid(description: "'\(path)': grid must be a record of lists")
        }
        self.grid = grid
        var random: [(String, Draw)] = []
        if case .record(let entries)? = field("random") {
            for (name, spec) in entries {
                switch spec {
                case .list(let items):
                    let choices = items.compactMap(SweepFile.setting)
                    guard !choices.isEmpty, choices.count == items.count else { throw Invalid(description: "'\(path)': random.\(name) must list numbers, strings or bools") }
                    random.append((name, .choice(choices)))
                case .record(let r):
                    func number(_ k: String) -> Double? { if case .number(let d)? = r.first(where: { $0.0 == k })?.1 { return d }; return nil }
                    func flag(_ k: String) -> Bool { if case .bool(let b)? = r.first(where: { $0.0 == k })?.1 { return b }; return false }
                    guard let low = number("low"), let high = number("high"), low < high, low.isFinite, high.isFinite else {
                        throw Invalid(description: "'\(path)': random.\(name) needs low < high")
                    }
                    let log = flag("log")
                    if log, low <= 0 { throw Invalid(description: "'\(path)': random.\(name) is drawn on a log scale, so low must be positive") }
                    random.append((name, .uniform(low: low, high: high, log: log, integer: flag("integer"))))
                default: throw Invalid(description: "'\(path)': random.\(name) must be {low: a, high: b, log: true} or a list to choose from")
                }
            }
        }
        self.random = random
        if let dup = (grid.map(\.0) + random.map(\.0)).first(where: { n in grid.filter { $0.0 == n }.count + random.filter { $0.0 == n }.count > 1 || n == "seed" }) {
            throw Invalid(description: "'\(path)': '\(dup)' is set twice (or is 'seed', which seeds sets)")
        }
        switch field("samples") {
        case nil, .none?: samples = 1
        case .number(let n)?:
            guard let k = Int(exactly: n), k >= 1, k <= 100_000 else { throw Invalid(description: "'\(path)': samples must be a count from 1 to 100000") }
            guard !random.isEmpty || k == 1 else { throw Invalid(description: "'\(path)': samples draws from random ranges; there are none") }
            samples = k
        default: throw Invalid(description: "'\(path)': samples must be a count")
        }
        if case .string(let r)? = field("results") { results = relative(r) } else {
            results = (path as NSString).deletingPathExtension + ".results"
        }
        if case .string(let m)? = field("metric") { metric = m } else { metric = nil }
        if case .string(let g)? = field("goal") {
            guard g == "min" || g == "max" else { throw Invalid(description: "'\(path)': goal is \"min\" or \"max\"") }
            minimize = g == "min"
        } else { minimize = true }
        if case .number(let n)? = field("seed"), let k = Int(exactly: n) { drawSeed = UInt64(bitPattern: Int64(k)) } else { drawSeed = 0 }
        guard configurations <= 1_000_000, trials <= 1_000_000 else { throw Invalid(description: "'\(path)': \(trials) trials is more than a sweep may have (1,000,000)") }
        for a in arguments {
            for name in SweepFile.placeholders(a) where name != "seed" && !grid.contains(where: { $0.0 == name }) && !random.contains(where: { $0.0 == name }) {
                throw Invalid(description: "'\(path)': args use {\(name)}, which the sweep does not set")
            }
        }
    }

    static func placeholders(_ s: String) -> [String] {
        var out: [String] = [], rest = Substring(s)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            out.append(String(rest[rest.index(after: open)..<close]))
            rest = rest[rest.index(after: close)...]
        }
        return out
    }

    static func setting(_ p: Plain) -> Setting? {
        switch p {
        case .number(let d): return .number(d)
        case .string(let s): return .string(s)
        case .bool(let b): return .bool(b)
        default: return nil
        }
    }

    static func plain(_ v: Value, depth: Int = 0) throws -> Plain {
        guard depth < 16 else { throw Invalid(description: "the sweep file nests too deeply") }
        switch v {
        case .number(let d): return .number(d)
        case .string(let s): return .string(s)
        case .bool(let b): return .bool(b)
        case .nil: return .none
        case .list(let l): return .list(try l.items.map { try plain($0, depth: depth + 1) })
        case .tuple(let t): return .list(try t.map { try plain($0, depth: depth + 1) })
        case .range(let lo, let hi): return .list((lo..<max(lo, min(hi, lo + 100_000))).map { .number(Double($0)) })
        case .record(let r): return .record(try zip(r.names, r.values).map { ($0, try plain($1, depth: depth + 1)) })
        default: throw Invalid(description: "a sweep file holds numbers, strings, bools, lists and records, not a \(v.kindName)")
        }
    }

    static func plain(json: Any) -> Plain {
        switch json {
        case let s as String: return .string(s)
        case let n as NSNumber:
            if String(describing: type(of: n)).contains("Bool") { return .bool(n.boolValue) }
            return .number(n.doubleValue)
        case let a as [Any]: return .list(a.map { plain(json: $0) })
        case let d as [String: Any]: return .record(d.keys.sorted().map { ($0, plain(json: d[$0]!)) })
        default: return .none
        }
    }

    func trial(_ index: Int) -> Trial {
        let configuration = index / seeds.count, seed = seeds[index % seeds.count]
        var settings: [(String, Setting)] = []
        var rest = configuration / samples
        // The grid's last field varies fastest.
        var chosen: [(String, Setting)] = []
        for (name, values) in grid.reversed() {
            chosen.append((name, values[rest % values.count]))
            rest /= values.count
        }
        settings += chosen.reversed()
        if !random.isEmpty {
            let generator = RandomGenerator(seed: drawSeed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(configuration))
            for (name, draw) in random {
                switch draw {
                case let .uniform(low, high, log, integer):
                    let u = generator.uniform()
                    var v = log ? Foundation.exp(Foundation.log(low) + u * (Foundation.log(high) - Foundation.log(low))) : low + u * (high - low)
                    if integer { v = min(high, Foundation.floor(v)) }
                    settings.append((name, .number(v)))
                case .choice(let options):
                    settings.append((name, options[generator.int(0, options.count - 1)]))
                }
            }
        }
        settings.append(("seed", .number(Double(seed))))
        return Trial(index: index, configuration: configuration, seed: seed, settings: settings)
    }

    /// The script's arguments for a trial, each {name} replaced.
    func arguments(for trial: Trial) -> [String] {
        arguments.map { a in
            var out = a
            for (name, value) in trial.settings { out = out.replacingOccurrences(of: "{\(name)}", with: value.text) }
            return out
        }
    }

    func folder(_ trial: Int) -> String { results + "/" + String(trial) }
}

/// A sweep's trials as `mnemo sweep run` runs them, for tools and tests.
public enum SweepPlan {
    public struct Trial: Equatable {
        public let seed: Int
        public let arguments: [String]
        /// Each setting as text, "seed" included.
        public let settings: [String: String]
    }

    public static func trials(_ path: String) throws -> [Trial] {
        let sweep = try SweepFile(path: path)
        return (0..<sweep.trials).map { i in
            let t = sweep.trial(i)
            return Trial(seed: t.seed, arguments: sweep.arguments(for: t), settings: Dictionary(t.settings.map { ($0.0, $0.1.text) }, uniquingKeysWith: { a, _ in a }))
        }
    }
}
