import Foundation
import Graph
import Runtime
import Syntax
import Tensor

/// Builtins for training: parameters, gradients, gradient checks, optimizers, losses.
enum GraphBuiltins {
    /// Every parameter reachable from a value, each once, in the order met.
    static func parameters(in root: Value) -> [Variable] {
        var found: [Variable] = []
        var seen = Set<ObjectIdentifier>()
        var pending = [root]
        var visitedContainers = Set<ObjectIdentifier>()
        // Depth-first, in source order: push children reversed.
        while let v = pending.popLast() {
            switch v {
            case .tensor(let t):
                if t.isParameter, seen.insert(ObjectIdentifier(t)).inserted { found.append(t) }
            case .list(let l):
                if visitedContainers.insert(ObjectIdentifier(l)).inserted { pending += l.items.reversed() }
            case .tuple(let items):
                pending += items.reversed()
            case .record(let r):
                if visitedContainers.insert(ObjectIdentifier(r)).inserted { pending += r.values.reversed() }
            case .function(let c):
                if visitedContainers.insert(ObjectIdentifier(c)).inserted { pending += c.capturedValues.reversed() }
            case .object(let o):
                if visitedContainers.insert(ObjectIdentifier(o)).inserted { pending += o.children.reversed() }
            case .cell(let b):
                pending.append(b.value)
            default:
                break
            }
        }
        return found
    }

    /// The tensors of a structure (tensor, list, tuple, record), in order.
    static func leaves(_ v: Value, into out: inout [Variable?], depth: Int = 0) throws {
        guard depth < 64 else { throw RuntimeError("structure nested too deeply") }
        switch v {
        case .tensor(let t): out.append(t)
        case .list(let l): for item in l.items { try leaves(item, into: &out, depth: depth + 1) }
        case .tuple(let items): for item in items { try leaves(item, into: &out, depth: depth + 1) }
        case .record(let r): for item in r.values { try leaves(item, into: &out, depth: depth + 1) }
        default: out.append(nil)
        }
    }

    /// Rebuilds the structure of `v` with the next values from `grads`.
    static func rebuild(_ v: Value, _ grads: inout IndexingIterator<[Value]>) -> Value {
        switch v {
        case .list(let l): return .list(ListBox(l.items.map { rebuild($0, &grads) }))
        case .tuple(let items): return .tuple(items.map { rebuild($0, &grads) })
        case .record(let r): return .record(Record(names: r.names, values: r.values.map { rebuild($0, &grads) }))
        default: return grads.next() ?? .nil
        }
    }

    static func scalarLoss(_ a: Arguments, _ name: String) throws -> Variable {
        let loss = try a.tensor(name)
        guard loss.value.count == 1 else {
            throw RuntimeError("\(a.builtin.name): the loss must be a scalar, got a tensor of shape \(Tensor.shapeText(loss.shape))")
        }
        return loss
    }

    /// A rule's settings must make sense: rates in [0, 1), a positive epsilon.
    static func checkRule(_ rule: Optimizer.Rule, _ name: String) throws {
        func fraction(_ label: String, _ v: Float) throws {
            guard v.isFinite, v >= 0, v < 1 else { throw RuntimeError("\(name): \(label) must be in [0, 1), got \(Formatter.number(Double(v)))") }
        }
        func positive(_ label: String, _ v: Float) throws {
            guard v.isFinite, v > 0 else { throw RuntimeError("\(name): \(label) must be a finite positive number, got \(Formatter.number(Double(v)))") }
        }
        switch rule {
        case .sgd(let momentum): try fraction("momentum", momentum)
        case .adam(let b1, let b2, let eps): try fraction("beta1", b1); try fraction("beta2", b2); try positive("eps", eps)
        case .rmsprop(let decay, let eps, let momentum, _): try fraction("decay", decay); try positive("eps", eps); try fraction("momentum", momentum)
        case .rmspropGraves(let decay, let eps, let momentum): try fraction("decay", decay); try positive("eps", eps); try fraction("momentum", momentum)
        }
    }

    /// Names for the parameters found in `root`: their paths through records
    /// and lists ("controller.W", "layers[1].b"), where there is one.
    static func parameterNames(in root: Value, _ ps: [Variable]) -> [String] {
        var paths: [ObjectIdentifier: String] = [:]
        var pending: [(Value, String)] = [(root, "")]
        var visited = Set<ObjectIdentifier>()
        while let (v, path) = pending.popLast() {
            switch v {
            case .tensor(let t):
                if paths[ObjectIdentifier(t)] == nil, !path.isEmpty { paths[ObjectIdentifier(t)] = path }
            case .list(let l):
                // A list at the root (sgd([W, b])) names nothing: its items are "parameter i".
                if visited.insert(ObjectIdentifier(l)).inserted { for (i, item) in l.items.enumerated().reversed() { pending.append((item, path.isEmpty ? "" : "\(path)[\(i)]")) } }
            case .tuple(let items):
                for (i, item) in items.enumerated().reversed() { pending.append((item, path.isEmpty ? "" : "\(path)[\(i)]")) }
            case .record(let r):
                if visited.insert(ObjectIdentifier(r)).inserted {
                    for (name, item) in zip(r.names, r.values).reversed() { pending.append((item, path.isEmpty ? name : "\(path).\(name)")) }
                }
            case .cell(let b): pending.append((b.value, path))
            default: break
            }
        }
        return ps.enumerated().map { i, p in paths[ObjectIdentifier(p)] ?? p.label ?? "parameter \(i + 1)" }
    }

    /// An optimizer of `rule` over the parameters found in `params`, with
    /// the settings every optimizer takes (`lr`, `clip`, `clipnorm`).
    static func optimizer(_ a: Arguments, _ rule: Optimizer.Rule) throws -> Value {
        let ps: [Variable]
        let found = try a["params"]
        if case .list(let l) = found, l.items.allSatisfy({ if case .tensor = $0 { return true } else { return false } }) {
            ps = try l.items.map { v in
                guard case .tensor(let t) = v, t.isParameter else { throw RuntimeError("\(a.builtin.name): every item must be a parameter (made with param)") }
                return t
            }
        } else {
            ps = parameters(in: found)
        }
        guard !ps.isEmpty else { throw RuntimeError("\(a.builtin.name): no parameters found (make them with param)") }
        let names = parameterNames(in: found, ps)
        func setting(_ name: String, positive: Bool) throws -> Float? {
            if try a.isAbsent(name) { return nil }
            let v = try a.float(name)
            guard v.isFinite, positive ? v > 0 : v >= 0 else {
                throw RuntimeError("\(a.builtin.name): \(name) must be a finite \(positive ? "positive" : "non-negative") number, got \(Formatter.number(Double(v)))")
            }
            return v
        }
        try checkRule(rule, a.builtin.name)
        let o = Optimizer(parameters: ps, names: names, rule: rule, learningRate: try setting("lr", positive: false) ?? 0,
                          clipValue: try setting("clip", positive: true), clipNorm: try setting("clipnorm", positive: true))
        return .object(OptimizerObject(o, name: a.builtin.name))
    }

    static let all: [Builtin] = [
        Builtin("param", "x", "A trainable tensor: optimizers update it, `params` finds it.") { a in
            .tensor(Variable.parameter(try a.tensor("x").value))
        }.notDifferentiable("makes a leaf"),
        Builtin("assign", "param, value", "Sets a parameter's value in place (same shape), e.g. to load saved weights.") { a in
            guard case .tensor(let p) = try a["param"], p.isParameter else { throw a.wrong("param", "a parameter (made with param)") }
            let v = try a.tensor("value").value
            guard v.shape == p.shape else {
                throw RuntimeError("assign: a value of shape \(Tensor.shapeText(v.shape)) cannot replace a parameter of shape \(Tensor.shapeText(p.shape))")
            }
            p.value = v
            return .nil
        }.notDifferentiable("sets a value"),
        Builtin("params", "value", "The parameters reachable from a record, list, tuple, function closure or object.") { a in
            let found = parameters(in: try a["value"])
            // Their paths name them in later messages (an optimizer's refused step).
            for (p, name) in zip(found, parameterNames(in: try a["value"], found)) where p.label == nil && !name.hasPrefix("parameter ") { p.label = name }
            return .list(ListBox(found.map { .tensor($0) }))
        }.notDifferentiable("finds parameters"),
        Builtin("grad", "loss, wrt, allow_unused = false, create_graph = false", "Gradients of a scalar loss with respect to a tensor, or a list or record of tensors (same structure back). Changes nothing. A tensor the loss does not depend on is an error, or zeros with allow_unused: true. With create_graph: true the gradients are recorded, so they can be differentiated again (second derivatives, Hessian-vector products, MAML); otherwise differentiating through them is an error (detach them to use them as data).") { a in
            guard case .tensor = try a["loss"] else { throw a.wrong("loss", "a scalar tensor (a loss computed from parameters)") }
            let loss = try scalarLoss(a, "loss")
            var targets: [Variable?] = []
            try leaves(try a["wrt"], into: &targets)
            // Non-tensor fields of a record stay nil in the result; but a wrt with no tensor at all is a mistake.
            guard targets.contains(where: { $0 != nil }) else {
                throw a.wrong("wrt", "a tensor, or a list, tuple or record holding tensors")
            }
            let present = targets.compactMap { $0 }
            let unused: Graph.Unused = try a.bool("allow_unused") ? .zeros : .error
            let results: [Variable]
            if try a.bool("create_graph") {
                results = try Graph.recordedGradients(of: loss, wrt: present, unused: unused)
            } else {
                let place = a.place
                results = try Graph.gradients(of: loss, wrt: present, unused: unused).map { Graph.firstOrderResult($0, of: loss, place: place) }
            }
            var k = 0
            let values: [Value] = targets.map { t in
                guard t != nil else { return .nil }
                defer { k += 1 }
                return .tensor(results[k])
            }
            var it = values.makeIterator()
            return rebuild(try a["wrt"], &it)
        }.notDifferentiable("first-order: differentiating its result again is an error"),
        Builtin("debug_nans", "on = true", "Checks every op's output, and every gradient in a backward walk, for NaN and infinity; the first stops the run with an error naming the op and its line. Off by default (it costs a pass over each value); returns the previous setting.") { a in
            let previous = Graph.debugNonFinite
            Graph.debugNonFinite = try a.bool("on")
            return .bool(previous)
        }.notDifferentiable("a setting"),
        Builtin("threads", "n = nil", "The threads Mnemo's kernels may use (1 by default; also MNEMO_THREADS or mnemo run --threads): the own matrix products split their output columns, the memory's read, write and cosine, the LSTM step and softmax split a batch's rows; no sum is split, so the results are the same bits for any number. Helper threads wait spinning between kernels while work comes. Returns the previous number; with no argument, only returns it.") { a in
            let previous = Parallel.threads
            if let n = try a.optionalInt("n") {
                guard n >= 1, n <= 64 else { throw RuntimeError("threads: n must be between 1 and 64, got \(n)") }
                Parallel.threads = n
            }
            return .number(Double(previous))
        }.notDifferentiable("a setting"),
        Builtin("graph", "x", "What the recorded graph behind x does: its ops by kind, with their count, forward floating-point operations (estimated), share and the values they hold; print it as a table, or read .nodes, .flops, .bytes. Given a compiled function, its plans: each one's kernels (a kernel plan) or the steps it replays. `mnemo run --graph` prints the first optimizer step's, and the first compiled plan.") { a in
            if case .object(let f as TracedFunction) = try a["x"] {
                return .string(f.plansText)
            }
            return .object(GraphProfileObject(GraphProfile(of: try a.tensor("x"))))
        }.notDifferentiable("describes a graph"),
        Builtin("compile", "f, max_plans = 8, profile = false, threads = nil", "The function f, traced at its first call with each kind of arguments (tensor shapes; the values of numbers and strings) and replayed after without the interpreter, with the same values, bit for bit: as one kernel plan over buffers allocated once when every op has a kernel (graph(f) shows it), else step by step. Steps that a replay could not repeat stop the trace and the function runs uncompiled for those arguments, with a note: a tensor's value read to steer the script (item, a loss used in arithmetic or text), a change to a variable, field or element outside the function, a function made inside it given to a builtin. Values read from outside (a global number, a record's field) are checked before each replay. Keeps max_plans kinds of arguments, the least recently used dropped first. profile: time each kernel of a plan (graph(f) shows where a run's time went). threads: the threads its calls use (as threads(n), for the call only; the same bits for any number).") { a in
            guard case .function(let f) = try a["f"] else { throw a.wrong("f", "a Mnemo function") }
            let n = try a.int("max_plans")
            guard n >= 1, n <= 1000 else { throw RuntimeError("compile: max_plans must be between 1 and 1000, got \(n)") }
            let threads = try a.optionalInt("threads")
            if let t = threads, t < 1 || t > 64 { throw RuntimeError("compile: threads must be between 1 and 64, got \(t)") }
            return .object(TracedFunction(f, maxPlans: n, profile: try a.bool("profile"), threads: threads))
        }.notDifferentiable("makes a function"),
        Builtin("detach", "x", "The same value with no gradient flowing back through it.") { a in
            .tensor(Op.detach(try a.tensor("x")))
        }.notDifferentiable("stops the gradient by definition").inPlans(),
        Builtin("gradcheck", "f, inputs, quiet = false", "Compares f's gradients with central finite differences for each input tensor; prints OK or MISMATCH per input and returns true when all agree. f returns a tensor, or a tuple or list of tensors (checked together).") { a in
            let f = try a.function("f")
            let inputs: [Tensor]
            if case .tensor(let t) = try a["inputs"] { inputs = [t.value] } else { inputs = try a.items("inputs").map { try Convert.tensor($0) } }
            let results = try Gradcheck.check(inputs: inputs) { vars in
                let out = try a.interpreter.call(f, vars.map { .tensor($0) })
                if let t = Operators.tensorOperand(out) { return t }
                // Several outputs (lstm_cell's h and c) are checked as one vector of all their elements.
                let parts: [Value]
                switch out {
                case .tuple(let items): parts = items
                case .list(let box): parts = box.items
                default: parts = []
                }
                let tensors = parts.compactMap(Operators.tensorOperand)
                guard !tensors.isEmpty, tensors.count == parts.count else {
                    throw RuntimeError("gradcheck: f must return a tensor, or a tuple or list of tensors, got a \(out.kindName)")
                }
                return try Op.concat(try tensors.map { try Op.reshape($0, [$0.value.count]) }, axis: 0)
            }
            if try !a.bool("quiet") {
                for r in results {
                    let shape = Tensor.shapeText(inputs[r.input].shape)
                    if r.ok {
                        a.interpreter.output("gradcheck input \(r.input) \(shape): OK")
                    } else {
                        a.interpreter.output(String(format: "gradcheck input %d %@: MISMATCH (analytic %.6g, numeric %.6g, max error %.3g)",
                                                    r.input, shape, r.worstAnalytic, r.worstNumeric, r.maxAbsoluteError))
                    }
                }
            }
            return .bool(results.allSatisfy(\.ok))
        }.notDifferentiable("a check"),
        Builtin("sgd", "params, lr = 0.01, momentum = 0, clip = nil, clipnorm = nil", "Stochastic gradient descent with momentum. `clip` clamps each gradient element; `clipnorm` rescales by global norm.") { a in
            try optimizer(a, .sgd(momentum: try a.float("momentum")))
        }.notDifferentiable("an optimizer"),
        Builtin("adam", "params, lr = 0.001, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, clip = nil, clipnorm = nil", "Adam (Kingma & Ba 2015) with bias correction.") { a in
            try optimizer(a, .adam(beta1: try a.float("beta1"), beta2: try a.float("beta2"), epsilon: try a.float("eps")))
        }.notDifferentiable("an optimizer"),
        Builtin("rmsprop", "params, lr = 0.01, momentum = 0, decay = nil, eps = nil, centered = false, form = \"pytorch\", clip = nil, clipnorm = nil",
                "RMSProp. form \"pytorch\": decay 0.99, eps 1e-8 added to the root; form \"graves\" (Graves 2013, centered): decay 0.95, eps 1e-4 inside the root.") { a in
            let form = try a.string("form")
            let momentum = try a.float("momentum")
            let rule: Optimizer.Rule
            switch form {
            case "pytorch":
                rule = .rmsprop(decay: try a.isAbsent("decay") ? 0.99 : try a.float("decay"), epsilon: try a.isAbsent("eps") ? 1e-8 : try a.float("eps"),
                                momentum: momentum, centered: try a.bool("centered"))
            case "graves":
                rule = .rmspropGraves(decay: try a.isAbsent("decay") ? 0.95 : try a.float("decay"), epsilon: try a.isAbsent("eps") ? 1e-4 : try a.float("eps"), momentum: momentum)
            default:
                throw RuntimeError("rmsprop: form must be \"pytorch\" or \"graves\", got \"\(form)\"")
            }
            return try optimizer(a, rule)
        }.notDifferentiable("an optimizer"),
        Builtin("lstm_cell", "x, h, c, W, b", "One LSTM step as a single graph node: z = [x, h] @ W + b gives the input, forget, candidate and output gates in that order; returns the tuple (h', c'), two outputs of the one node.") { a in
            let (h, c) = try Op.lstmCell(x: try a.tensor("x"), h: try a.tensor("h"), c: try a.tensor("c"), weights: try a.tensor("W"), bias: try a.tensor("b"))
            return .tuple([.tensor(h), .tensor(c)])
        }.checked("lstm_cell($(randn(2, 3)), $(randn(2, 4)), $(randn(2, 4)), $(randn(7, 16) * 0.4), $(randn(16) * 0.4))", "lstm_cell($(randn(3)), $(randn(4)), $(randn(4)), $(randn(7, 16) * 0.4), $(randn(16) * 0.4))").inPlans(),
        Builtin("mse", "prediction, target", "Mean squared error.") { a in
            .tensor(try Op.mse(try a.tensor("prediction"), try a.tensor("target")))
        }.checked("mse($(randn(3, 4)), $(randn(3, 4)))").inPlans(),
        Builtin("bce", "x, target, logits = true, reduce = \"mean\"", "Binary cross-entropy, stable: from logits (default) or from probabilities (logits: false). reduce: \"mean\" or \"sum\".") { a in
            let reduce = try a.string("reduce")
            guard reduce == "mean" || reduce == "sum" else { throw RuntimeError("bce: reduce must be \"mean\" or \"sum\"") }
            let x = try a.tensor("x"), t = try a.tensor("target")
            if try a.bool("logits") { return .tensor(try Op.bceWithLogits(x, t, sum: reduce == "sum")) }
            return .tensor(try Op.bceWithProbabilities(x, t, sum: reduce == "sum"))
        }.checked("bce($(randn(3, 4)), $(uniform(3, 4)))", "bce($(uniform(3, 4, low: 0.1, high: 0.9)), $(uniform(3, 4)), logits: false)", "bce($(randn(3)), tensor([0, 1, 1]), reduce: \"sum\")").inPlans(),
        Builtin("cross_entropy", "logits, target", "Cross-entropy from logits over the last axis; target is class indices or probabilities. Mean over rows.") { a in
            .tensor(try Op.crossEntropy(try a.tensor("logits"), try a.tensor("target")))
        }.checked("cross_entropy($(randn(4, 5)), tensor([0, 3, 4, 1]))", "cross_entropy($(randn(4, 5)), $(softmax(randn(4, 5))))").inPlans(),
    ]
}

/// An optimizer as a Mnemo value: `opt.step(loss)`, `opt.lr`, `opt.steps`,
/// `opt.norm` (the last update's gradient norm, to watch training).
final class OptimizerObject: NativeObject {
    let optimizer: Optimizer
    let name: String

    init(_ optimizer: Optimizer, name: String) { self.optimizer = optimizer; self.name = name }

    var kindName: String { "optimizer" }
    var memberNames: [String] { ["lr", "steps", "norm", "params"] + methods.names }
    var summary: String { "<\(name) optimizer: \(optimizer.parameters.count) parameters, lr \(Formatter.number(Double("\(optimizer.learningRate)") ?? 0)), \(optimizer.steps) steps>" }
    var children: [Value] { optimizer.parameters.map { .tensor($0) } }

    lazy var methods: Methods = {
        let o = optimizer
        return Methods([
            Builtin("step", "loss", "Backward from a scalar loss, clip, update the parameters. Returns the loss as a number.") { a in
                let loss = try GraphBuiltins.scalarLoss(a, "loss")
                if !loss.value.scalar.isFinite { throw RuntimeError("the loss is \(Tensor.formatScalar(loss.value.scalar)); parameters left unchanged") }
                if a.interpreter.profileFirstStep {
                    a.interpreter.profileFirstStep = false
                    a.interpreter.warn("the first step's graph, at \(a.place):\n" + GraphProfile(of: loss).text)
                }
                // A compiled plan's table says what the graph holds at its largest.
                if Tracer.isTracing { Tracer.current?.noteHeld(GraphProfile(of: loss).bytes) }
                try o.step(loss: loss)
                return .number(Double(loss.value.scalar))
            }.readingValues().inPlans(),
            Builtin("apply", "grads", "Updates the parameters from a list of gradients, one per parameter, clipping as configured.") { a in
                let grads = try a.items("grads").map { try Convert.tensor($0) }
                guard grads.count == o.parameters.count, zip(grads, o.parameters).allSatisfy({ $0.shape == $1.shape }) else {
                    throw RuntimeError("apply needs one gradient per parameter, of the parameter's shape")
                }
                try o.apply(grads)
                return .nil
            },
        ])
    }()

    func member(_ name: String, _ interpreter: Interpreter) throws -> Value? {
        let o = optimizer
        switch name {
        case "lr": return .number(Double("\(o.learningRate)") ?? Double(o.learningRate))
        case "steps": return .number(Double(o.steps))
        case "norm": return .number(Double(o.lastNorm))
        case "params": return .list(ListBox(o.parameters.map { .tensor($0) }))
        default: return nil
        }
    }

    func setMember(_ name: String, _ value: Value) throws -> Bool {
        guard name == "lr" else { return false }
        guard case .number(let d) = value, d >= 0, d.isFinite else { throw RuntimeError("lr must be a non-negative number") }
        optimizer.learningRate = Float(d)
        return true
    }
}

/// `graph(x)`: a graph's profile, printed as a table.
final class GraphProfileObject: NativeObject {
    let profile: GraphProfile
    init(_ profile: GraphProfile) { self.profile = profile }

    var kindName: String { "graph profile" }
    var memberNames: [String] { ["nodes", "flops", "bytes"] }
    var summary: String { "<graph: \(profile.nodes) nodes, \(profile.flops) flops>" }
    var display: String? { profile.text }

    func member(_ name: String, _ interpreter: Interpreter) throws -> Value? {
        switch name {
        case "nodes": return .number(Double(profile.nodes))
        case "flops": return .number(Double(profile.flops))
        case "bytes": return .number(Double(profile.bytes))
        default: return nil
        }
    }
}

