import ArgumentParser
import Builtins
import Figure
import Foundation
import Graph
import Runtime
import Syntax
import Tensor

/// `mnemo`: the command line. Each subcommand parses its arguments and calls
/// into the Language layer; nothing else lives here.
public struct Mnemo: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "mnemo",
        abstract: "A scripting language and REPL for memory-network experiments.",
        discussion: """
        Run a script with `mnemo FILE [ARGS...]`, or start the REPL with `mnemo`.
        Exit codes: 0 success, 64 usage, 65 compile error, 70 runtime error, 74 I/O error,
        75 stopped by SIGTERM (a checkpointed loop saved its state first).
        """,
        version: Mnemo.versionText,
        subcommands: [Run.self, Check.self, Test.self, Bench.self, Plot.self, Sweep.self, Install.self],
        defaultSubcommand: Run.self)

    /// Mnemo's version, and how this process computes matrix products.
    public static var version: String { Interpreter.version }
    static var versionText: String {
        "mnemo \(version)\nmatrix products: \(MatrixBackend.description)\nstdlib: \(ModuleLoader.findStdlib() ?? "not found (set MNEMO_STDLIB)")"
    }

    public init() {}
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a script (the default), or open the REPL when no file is given.")

    @Flag(name: .customShort("i"), help: "Open the REPL after the script has run, with its names defined.") var interactive = false
    @Flag(help: "Stop at the first op whose output or gradient is NaN or infinite (as debug_nans(true)).") var debugNans = false
    @Option(help: "The memory a script's values may hold, e.g. 8G or 500M (default: half the machine's memory; also MNEMO_MAX_MEMORY).") var maxMemory: String?
    @Option(help: "Threads for the kernels that can split their work: matrix products, memory reads, writes and addressing, the LSTM step (default 1, or MNEMO_THREADS); the results are the same bits for any number.") var threads: Int?
    @Flag(help: "Print the graph of the first optimizer step: its ops by kind, their count, estimated floating-point operations and the values they hold (as graph(loss)); and the first compiled plan traced (as graph(f)).") var graph = false
    @Option(help: "Also write the run as one HTML page, DIR/index.html: its printed output and figures in order, arguments, seed, version and times.") var report: String?
    @Argument(help: "The script to run.") var file: String?
    @Argument(parsing: .captureForPassthrough, help: "Arguments the script sees through args().") var scriptArguments: [String] = []

    func run() throws {
        if let maxMemory {
            guard let bytes = MemoryBudget.parseSize(maxMemory) else { throw ValidationError("--max-memory takes a size such as 8G, 500M or 100000000, not '\(maxMemory)'") }
            MemoryBudget.limit = bytes
        }
        if debugNans { Graph.debugNonFinite = true }
        if let threads {
            guard threads >= 1, threads <= 64 else { throw ValidationError("--threads takes 1 to 64, not \(threads)") }
            Parallel.threads = threads
        }
        if file != nil, !interactive { Host.handleTermination() }
        let arguments = scriptArguments
        let makeInterpreter = { () -> Interpreter in
            let interpreter = Interpreter(output: { line in print(line) })
            interpreter.arguments = arguments
            interpreter.profileFirstStep = graph
            interpreter.printFirstPlan = graph
            return interpreter
        }
        let status = Interpreter.onLargeStack { () -> ExitStatus in
            guard let file else { return REPL.open(makeInterpreter) }
            if interactive { return REPL.open(makeInterpreter, loading: file) }
            let interpreter = makeInterpreter()
            let page = report.map { _ in Report(script: file, arguments: arguments) }
            if let page {
                // The page takes every line and figure as well as the terminal.
                interpreter.output = { line in print(line); page.text(line + "\n") }
                interpreter.outputPartial = { text in fputs(text, stdout); fflush(stdout); page.text(text) }
                interpreter.figureOutput = { figure in
                    print(TerminalRenderer.standardOutput.render(figure))
                    page.figure(figure)
                }
            }
            var status = ExitStatus.ok
            var failure: String?
            switch Host.readSource(file) {
            case .failure(let d):
                Host.writeError(d.render())
                return .ioError
            case .success(let source):
                do {
                    try interpreter.run(source)
                } catch {
                    fflush(stdout)
                    let (text, code) = Host.report(error)
                    Host.writeError(text)
                    (status, failure) = (code, text)
                }
                if let page, let directory = report {
                    do {
                        try page.write(to: directory, seed: interpreter.lastSeed, error: failure, source: source.text)
                    } catch {
                        Host.writeError("error: cannot write the report: \(error)")
                        if status == .ok { status = .ioError }
                    }
                }
                return status
            }
        }
        fflush(stdout)
        if status != .ok { throw ExitCode(status.rawValue) }
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Parse and resolve scripts without running them.")

    @Argument(help: "The scripts to check.") var files: [String]

    func run() throws {
        var worst = ExitStatus.ok
        Interpreter.onLargeStack {
            for file in files {
                let interpreter = Interpreter()
                switch Host.readSource(file) {
                case .failure(let d):
                    Host.writeError(d.render())
                    worst = .ioError
                case .success(let source):
                    do { try interpreter.check(source) } catch {
                        let (text, status) = Host.report(error)
                        Host.writeError(text)
                        if worst == .ok { worst = status }
                    }
                }
            }
        }
        if worst != .ok { throw ExitCode(worst.rawValue) }
    }
}

struct Test: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run sample scripts and compare their output with the expected output stored beside them (NAME.out).")

    @Argument(help: "Scripts or folders of scripts (default: samples).") var paths: [String] = []
    @Flag(help: "Rewrite the expected output from this run.") var update = false
    @Option(help: "Seconds a script may run before it is stopped and fails.") var timeout: Double = 300
    @Option(help: "Scripts run at a time (default: the number of cores).") var jobs = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        guard timeout > 0, jobs > 0 else { throw ValidationError("--timeout and --jobs must be positive") }
        let runner = SampleRunner(update: update, executable: SampleRunner.currentExecutable, timeLimit: timeout, jobs: jobs,
                                  log: { print($0); fflush(stdout) })
        let summary = runner.run(paths: paths.isEmpty ? ["samples"] : paths)
        if summary.failed > 0 || summary.total == 0 { throw ExitCode(1) }
    }
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the benchmark scripts of bench/ (build with -c release): loops and ops per iteration, the memory models per step.")

    @Option(help: "Iterations per loop benchmark (each script's first argument).") var iterations = 1_000_000
    @Argument(help: "Benchmark scripts to run (default: every bench/*.mn).") var files: [String] = []

    func run() throws {
        guard iterations > 0, iterations <= 100_000_000 else { throw ValidationError("iterations must be between 1 and 100000000") }
        Interpreter.onLargeStack { Benchmarks(iterations: iterations, files: files).run() }
    }
}

struct Install: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy this mnemo to PREFIX/bin and its standard library to PREFIX/share/mnemo/stdlib, where the installed mnemo finds it.")

    @Argument(help: "The folder to install into, e.g. /usr/local or ~/.local.") var prefix: String

    func run() throws {
        let fm = FileManager.default
        guard let stdlib = ModuleLoader.findStdlib() else { throw ValidationError("the standard library was not found (set MNEMO_STDLIB)") }
        let bin = prefix + "/bin", share = prefix + "/share/mnemo/stdlib"
        do {
            try fm.createDirectory(atPath: bin, withIntermediateDirectories: true)
            try fm.createDirectory(atPath: share, withIntermediateDirectories: true)
            let binary = [UInt8](fm.contents(atPath: SampleRunner.currentExecutable) ?? Data())
            guard !binary.isEmpty else { throw SafeFile.Failure(description: "cannot read the running mnemo") }
            try SafeFile.write(binary, to: bin + "/mnemo")
            chmod(bin + "/mnemo", 0o755)
            for name in try fm.contentsOfDirectory(atPath: stdlib).sorted() where name.hasSuffix(".mn") {
                try SafeFile.write([UInt8](fm.contents(atPath: stdlib + "/" + name) ?? Data()), to: share + "/" + name)
            }
            // The benchmark scripts, beside the stdlib where `mnemo bench` looks.
            if let bench = Benchmarks.folder {
                let target = prefix + "/share/mnemo/bench"
                try fm.createDirectory(atPath: target, withIntermediateDirectories: true)
                for name in try fm.contentsOfDirectory(atPath: bench).sorted() where name.hasSuffix(".mn") {
                    try SafeFile.write([UInt8](fm.contents(atPath: bench + "/" + name) ?? Data()), to: target + "/" + name)
                }
            }
        } catch {
            Host.writeError("error: \(error)")
            throw ExitCode(ExitStatus.ioError.rawValue)
        }
        print("installed \(bin)/mnemo and its standard library in \(share)")
    }
}
