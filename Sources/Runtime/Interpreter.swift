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
    /// The lists, records and cells this interpreter's runs made.
    let containers = ContainerRegistry()

    /// Deeper Mnemo recursion than this is an error, not a crashed stack.
    public static let maxCallDepth = 2_000
    /// Mnemo calls in progress, and the loop ticks when the run began (for the work limit).
    package var callDepth = 0, workStart = 0

    /// Set from a signal handler (Ctrl-C); loops and calls check it.
    /// Ctrl-C was pressed: loops, calls and long kernels stop at their next check.
    public static var interruptRequested: Bool {
        get { Interrupt.requested }
        set { Interrupt.requested = newValue }
    }

    /// `mnemo run --graph`: the first optimizer step prints the profile of its
    /// loss's graph (`graph(loss)`) with `warn`, then this turns false.
    public var profileFirstStep = false
    /// `mnemo run --graph` too: the first compiled plan traced is printed with `warn`.
    public var printFirstPlan = false

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

    /// A function a script defines holds the names it reads, and those names
    /// hold the function; lists and records can hold each other. Reference
    /// counting alone would keep every value of a finished script (its
    /// tensors, its model) alive after its interpreter is gone, and many
    /// scripts run in one process (`mnemo test`, the fuzzer), so the
    /// interpreter empties its names, its modules' and every container its
    /// runs made (ContainerRegistry.swift) as it goes.
    deinit {
        globals.releaseValues()
        loader.releaseModules()
        containers.releaseAll()
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
        let outerContainers = ContainerRegistry.current
        ContainerRegistry.current = Unmanaged.passUnretained(containers)
        defer { ContainerRegistry.current = outerContainers; finishLine(); activeProgress?.finish(); activeProgress = nil }
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

    /// A relative path that does not exist from the working directory is
    /// looked up beside the script, so samples find their data from anywhere.
    public func resolvePath(_ path: String) -> String {
        let fm = FileManager.default
        guard !path.hasPrefix("/"), !fm.fileExists(atPath: path), let dir = scriptDirectory, !dir.isEmpty else { return path }
        let beside = (dir as NSString).appendingPathComponent(path)
        return fm.fileExists(atPath: beside) ? beside : path
    }
}
