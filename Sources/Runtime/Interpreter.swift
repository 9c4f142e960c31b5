import Figure
import Foundation
import Graph
import Syntax
import Tensor

/// Runs Mnemo code for a host (the command line, the REPL, the test runner).
/// It never prints on its own: output goes to `output`, errors are thrown as
/// `Diagnostic` or `CompileErrors` values for the host to render.
public final class Interpreter {
    /// Where `print` writes.
    public var output: (String) -> Void
    /// Where printed figures go when the host keeps them as pictures (a
    /// report); nil draws them as text through `output`.
    public var figureOutput: ((Figure) -> Void)?
    /// Where text that does not end a line goes at once (print with an `end:`
    /// other than "\n"); nil keeps it until the line ends and gives the
    /// whole line to `output`.
    public var outputPartial: ((String) -> Void)?
    private var pendingLine = ""
    /// The progress bar drawn on the terminal, if any: printed lines clear it
    /// first and it is drawn again below them.
    package var activeProgress: LiveLine?

    /// Writes text followed by `end` (print's one way out).
    package func write(_ text: String, end: String = "\n") {
        activeProgress?.clearLine()
        if end == "\n" {
            output(pendingLine + text)
            pendingLine = ""
        } else if let partial = outputPartial {
            partial(text + end)
        } else {
            pendingLine += text + end
            // A line end inside the text still ends lines for a host that takes whole lines.
            while let newline = pendingLine.firstIndex(of: "\n") {
                output(String(pendingLine[..<newline]))
                pendingLine = String(pendingLine[pendingLine.index(after: newline)...])
            }
        }
        activeProgress?.draw(force: true)
    }

    /// Text printed without a line end that is still waiting, given out as a line.
    package func finishLine() {
        if !pendingLine.isEmpty { output(pendingLine); pendingLine = "" }
    }
    /// The script's command-line arguments (`args()`).
    public var arguments: [String] = []
    /// The folder of the script being run: `load` falls back to it for relative paths.
    public var scriptDirectory: String?
    /// Variables that `env(name)` sees before the process environment.
    public var environmentOverrides: [String: String] = [:]
    /// Mnemo's version (the command line and checkpoints name it).
    public static let version = "0.7.0"
    public let random = RandomGenerator(seed: Interpreter.defaultSeed)
    /// The last seed a script gave `seed`, nil if it kept the default (a report names it).
    public package(set) var lastSeed: Int?
    public static let defaultSeed: UInt64 = 0
    public let builtins: BuiltinRegistry
    public let loader: ModuleLoader
    /// The top-level names of the main script or REPL session.
    public let globals = Globals()

    /// Deeper Mnemo recursion than this is an error, not a crashed stack.
    public static let maxCallDepth = 2_000
    private var callDepth = 0

    /// Set from a signal handler (Ctrl-C); loops and calls check it.
    /// Ctrl-C was pressed: loops, calls and long kernels stop at their next check.
    public static var interruptRequested: Bool {
        get { Interrupt.requested }
        set { Interrupt.requested = newValue }
    }

    /// For fuzzing and tests: a run stops with an error after this many loop
    /// iterations and calls, or after this many seconds (nil: no limit).
    nonisolated(unsafe) public static var workLimit: Int? = nil
    nonisolated(unsafe) public static var timeLimit: Double? = nil
    package nonisolated(unsafe) static var deadline: UInt64 = .max

    /// Notes that are not errors (a module shadowing the standard library's), on standard error.
    public var warn: (String) -> Void = { text in
        fflush(stdout)
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// Without `output`, printing goes to standard output, partial lines at once.
    public init(builtins: BuiltinRegistry, stdlibDirectory: String?, output: ((String) -> Void)?) {
        self.output = output ?? { print($0) }
        if output == nil { outputPartial = { text in fputs(text, stdout); fflush(stdout) } }
        self.builtins = builtins
        self.loader = ModuleLoader(stdlibDirectory: stdlibDirectory)
        loader.interpreter = self
    }

    /// Shows a figure: kept as a picture by a host that takes them, else drawn as text.
    package func emit(_ figure: Figure) {
        if let keep = figureOutput { finishLine(); keep(figure) } else { write(TerminalRenderer.standardOutput.render(figure)) }
    }

    // MARK: Running source

    /// Parses, resolves and compiles `file` against `globals`.
    package func compile(_ file: SourceFile, globals: Globals, allowRedefinition: Bool) throws -> CompiledScript {
        var parser = Parser(file: file)
        let statements = parser.parseProgram()
        if !parser.diagnostics.isEmpty { throw CompileErrors(parser.diagnostics, incomplete: parser.endedEarly) }
        let resolver = Resolver(globals: globals, builtins: builtins, loader: loader, file: file, allowRedefinition: allowRedefinition)
        let slotCount = resolver.resolveScript(statements)
        if !resolver.diagnostics.isEmpty { throw CompileErrors(resolver.diagnostics) }
        return Compiler(interpreter: self, resolved: resolver.resolved).script(statements, slotCount: slotCount)
    }

    /// Checks a script without running it (`mnemo check`).
    public func check(_ file: SourceFile) throws {
        _ = try compile(file, globals: Globals(), allowRedefinition: false)
    }

    /// Runs a script; returns the value of its last expression.
    @discardableResult
    public func run(_ file: SourceFile) throws -> Value {
        if let path = file.path { scriptDirectory = (path as NSString).deletingLastPathComponent }
        let script = try compile(file, globals: globals, allowRedefinition: false)
        return try execute(script)
    }

    /// Runs one REPL input against the session's names; returns its value.
    /// An input that fails leaves no half-declared names behind.
    public func evaluate(_ file: SourceFile) throws -> Value {
        let checkpoint = globals.checkpoint()
        let script: CompiledScript
        do {
            script = try compile(file, globals: globals, allowRedefinition: true)
        } catch {
            globals.restore(checkpoint, compiled: false)
            throw error
        }
        do {
            return try execute(script)
        } catch {
            globals.restore(checkpoint, compiled: true)
            throw error
        }
    }

    private func execute(_ script: CompiledScript) throws -> Value {
        Interpreter.interruptRequested = false
        callDepth = 0
        workStart = Interpreter.loopTicks
        Interpreter.deadline = Interpreter.timeLimit.map { DispatchTime.now().uptimeNanoseconds + UInt64($0 * 1e9) } ?? .max
        let frame = Frame(slotCount: script.slotCount, captures: [])
        defer { finishLine(); activeProgress?.finish(); activeProgress = nil }
        _ = try script.body(frame)
        return frame.result
    }

    package func runModule(_ module: Module, at range: SourceRange) throws {
        guard module.state == .loaded, let body = module.body else { return }
        module.state = .running
        do {
            let frame = Frame(slotCount: body.slotCount, captures: [])
            _ = try body.body(frame)
            module.state = .done
        } catch var d as Diagnostic {
            module.state = .loaded
            d.addFrame("while importing '\(module.name)' at \(range.position)")
            throw d
        }
    }

    /// With `debug_nans(true)`: runs one op (a builtin or an operator on
    /// tensors), naming it for the nodes it records, and stops at the first
    /// NaN or infinity in its result.
    @inline(never)
    package func checkingNonFinite(_ name: String, _ range: SourceRange, inputs: [Value], _ body: () throws -> Value) throws -> Value {
        let saved = Graph.origin
        Graph.origin = "'\(name)' at \(range.place)"
        defer { Graph.origin = saved }
        let result = try body()
        if Interpreter.hasNonFinite(result) {
            let cause = inputs.contains(where: Interpreter.hasNonFinite)
                ? "; an input already had them (from outside the graph: a file, a constant)" : " from finite inputs"
            throw Diagnostic(.runtime, "debug_nans: '\(name)' produced NaN or infinite values\(cause)", at: range)
        }
        return result
    }

    /// A tensor or number with a NaN or infinity, directly or as an item of a list or tuple.
    package static func hasNonFinite(_ v: Value) -> Bool {
        switch v {
        case .number(let d): return !d.isFinite
        case .tensor(let t): return !VectorMath.allFinite(t.value.data)
        case .list(let l): return l.items.contains { if case .tensor(let t) = $0 { return !VectorMath.allFinite(t.value.data) } else { return false } }
        case .tuple(let items): return items.contains { if case .tensor(let t) = $0 { return !VectorMath.allFinite(t.value.data) } else { return false } }
        default: return false
        }
    }

    /// Loops call this on every iteration: Ctrl-C, and now and then the memory budget.
    @inline(__always)
    package func loopCheck(at range: SourceRange) throws {
        if Interpreter.interruptRequested { throw interruption(at: range) }
        Interpreter.loopTicks &+= 1
        if Interpreter.loopTicks & 1023 == 0 { try periodicCheck(at: range) }
    }
    package nonisolated(unsafe) static var loopTicks = 0

    /// Every 1024 iterations and calls: the work and time limits if set, and
    /// every 64th time the memory budget (a look costs a few system calls;
    /// what a loop appends in 65,536 iterations is small).
    @inline(never)
    package func periodicCheck(at range: SourceRange) throws {
        if Interpreter.loopTicks & 0xffff == 0 {
            do { try MemoryBudget.check(adding: 0, for: "the values this script holds") } catch let e as TensorError { throw Diagnostic(.runtime, e.message, at: range) }
        }
        if let limit = Interpreter.workLimit, Interpreter.loopTicks - workStart > limit {
            throw Diagnostic(.runtime, "work limit reached: more than \(limit) loop iterations and calls", at: range)
        }
        if Interpreter.deadline != .max && DispatchTime.now().uptimeNanoseconds > Interpreter.deadline {
            throw Diagnostic(.runtime, "time limit reached", at: range)
        }
    }
    private var workStart = 0

    package func interruption(at range: SourceRange) -> Diagnostic {
        Interpreter.interruptRequested = false
        if Interrupt.terminationRequested { return Diagnostic(.runtime, Interpreter.terminatedMessage, at: range) }
        return Diagnostic(.runtime, "interrupted", at: range)
    }

    /// The message a run stopped by SIGTERM ends with (the command line exits with status 75 on it).
    public static let terminatedMessage = "stopped by SIGTERM"

    /// A relative path that does not exist from the working directory is
    /// looked up beside the script, so samples find their data from anywhere.
    public func resolvePath(_ path: String) -> String {
        let fm = FileManager.default
        guard !path.hasPrefix("/"), !fm.fileExists(atPath: path), let dir = scriptDirectory, !dir.isEmpty else { return path }
        let beside = (dir as NSString).appendingPathComponent(path)
        return fm.fileExists(atPath: beside) ? beside : path
    }

    // MARK: Calls

    /// Calls a function value with positional and (optionally) labelled arguments.
    public func call(_ callee: Value, _ args: [Value], labels: [String?]? = nil, at range: SourceRange? = nil) throws -> Value {
        switch callee {
        case .function(let c):
            return try invoke(c, args, labels: labels, at: range)
        case .builtin(let b):
            do {
                let values = try b.bind(args, labels: labels)
                if Graph.debugNonFinite, let range {
                    return try checkingNonFinite(b.name, range, inputs: values) {
                        try b.implementation(Arguments(values: values, builtin: b, interpreter: self, callRange: range))
                    }
                }
                return try b.implementation(Arguments(values: values, builtin: b, interpreter: self, callRange: range))
            } catch {
                guard let range else { throw error }
                throw locate(error, range)
            }
        default:
            let error = RuntimeError("cannot call a \(callee.kindName)")
            guard let range else { throw error }
            throw locate(error, range)
        }
    }

    private func invoke(_ c: Closure, _ args: [Value], labels: [String?]?, at range: SourceRange?) throws -> Value {
        let fn = c.function
        callDepth += 1
        defer { callDepth -= 1 }
        func fail(_ message: String) -> Error {
            guard let range else { return RuntimeError(message) }
            return Diagnostic(.runtime, message, at: range)
        }
        if callDepth > Interpreter.maxCallDepth {
            throw fail("recursion too deep: more than \(Interpreter.maxCallDepth) nested calls (in '\(fn.name)')")
        }
        // The call count is not the stack: deep bodies use more per call.
        if !StackGuard.hasMargin {
            throw fail("recursion too deep: the stack is nearly exhausted (in '\(fn.name)')")
        }
        if let range { try loopCheck(at: range) }
        let frame = Frame(slotCount: fn.slotCount, captures: c.captures)
        let n = fn.parameterNames.count
        if labels == nil && args.count == n {
            for i in 0..<n { frame.slots[i] = args[i] }
        } else {
            let slots: [Signature.Slot]
            do { slots = try fn.signature.bind(labels: labels ?? [String?](repeating: nil, count: args.count)) }
            catch let mismatch as Signature.Mismatch { throw fail(mismatch.message) }
            var given = [Bool](repeating: false, count: n)
            for (arg, slot) in zip(args, slots) {
                if case .parameter(let i) = slot { frame.slots[i] = arg; given[i] = true }
            }
            // Left out: optional (bind checked that every required one is given), so it has a default.
            for i in 0..<n where !given[i] {
                guard let d = fn.defaults[i] else { throw fail("missing argument '\(fn.parameterNames[i])' in call to \(fn.signature)") }
                frame.slots[i] = try d(frame)
            }
        }
        for i in fn.boxedParameters { frame.slots[i] = .cell(Box(frame.slots[i])) }
        do {
            _ = try fn.body(frame)
        } catch var d as Diagnostic {
            if let range { d.addFrame("in '\(fn.name)' called at \(range.position)") }
            throw d
        }
        return frame.result
    }
}

extension Interpreter {
    /// Runs `body` on a thread with a large stack, so that deep (but bounded)
    /// recursion in scripts and in the parser cannot overflow it.
    public static func onLargeStack<T>(_ body: @escaping () -> T) -> T {
        let slot = ResultSlot(body)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            slot.value = slot.body()
            done.signal()
        }
        thread.stackSize = 1 << 29
        thread.start()
        done.wait()
        return slot.value!
    }
}

/// Carries a result back from the large-stack thread.
private final class ResultSlot<T>: @unchecked Sendable {
    var value: T?
    let body: () -> T
    init(_ body: @escaping () -> T) { self.body = body }
}
