import Builtins
import Driver
import Foundation
import Runtime
import Syntax
import XCTest

/// The package root, found from this file's place in it.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// Runs Mnemo source in a fresh interpreter on a large stack; returns printed
/// output and the error it ended with, if any.
func runMnemo(_ text: String, name: String = "test.mn") -> (output: String, error: Error?) {
    Interpreter.onLargeStack {
        var out = ""
        let interpreter = Interpreter(output: { out += $0 + "\n" })
        do { try interpreter.run(SourceFile(name: name, text: text)) } catch { return (out, error) }
        return (out, nil)
    }
}

final class SampleSuiteTests: XCTestCase {
    /// Every sample, language test and bad input reproduces its expected output.
    func testSamplesLanguageTestsAndBadInputs() {
        var log: [String] = []
        guard FileManager.default.fileExists(atPath: mnemoExecutable) else { return XCTFail("the mnemo executable was not built beside the tests") }
        let runner = SampleRunner(update: false, executable: mnemoExecutable, timeLimit: 300, log: { log.append($0) })
        let previous = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(packageRoot)
        defer { FileManager.default.changeCurrentDirectoryPath(previous) }
        let summary = runner.run(paths: ["samples", "Tests/lang", "Tests/bad"])
        XCTAssertGreaterThan(summary.total, 30)
        XCTAssertEqual(summary.failed, 0, log.filter { !$0.hasPrefix("PASS") }.joined(separator: "\n"))
    }
}

final class LanguageTests: XCTestCase {
    func testValuesAndClosures() {
        let (out, error) = runMnemo("""
        fn adder(n) { fn(x) => x + n }
        let add2 = adder(2)
        var total = 0
        for i in 1...4 { total += add2(i) }
        print(total, [1, 2][-1], "x\\(total)")
        """)
        XCTAssertNil(error)
        XCTAssertEqual(out, "18 2 x18\n")
    }

    /// Many scripts run in one process (`mnemo test`, the fuzzer): when an
    /// interpreter goes, so does everything its script made, cycles included
    /// (a function reading the names that hold it, in a loop or not; a list
    /// holding itself, kept or dropped; a module's model).
    func testAFinishedInterpretersValuesAreFreed() {
        weak var gone: Interpreter?
        weak var list: ListBox?, record: Record?, model: Record?, function: Closure?, dropped: ListBox?, droppedFunction: Closure?
        var found = 0
        Interpreter.onLargeStack {
            let interpreter = Interpreter(output: { _ in })
            let source = """
            import mann
            let model = mann.MANN(6, 3, hidden: 8, memory: (4, 5), reads: 2, batch: 2)
            var l = [zeros(100)]
            append(l, l)
            let r = {items: l, f: nil}
            fn f(n) { for i in 0..<n { append(l, r) }; if n > 0 { f(n - 1) } }
            f(2)
            fn ring() { let k = [zeros(10)]; append(k, k); fn g() { g }; {k: k, g: g} }
            for i in 0..<3 { ring() }
            let last = ring()
            """
            do { _ = try interpreter.run(SourceFile(name: "test.mn", text: source)) } catch { XCTFail("\(error)") }
            if case .list(let l) = interpreter.globals.value(of: "l") { list = l }
            if case .record(let r) = interpreter.globals.value(of: "r") { record = r }
            if case .record(let m) = interpreter.globals.value(of: "model") { model = m }
            if case .function(let f) = interpreter.globals.value(of: "f") { function = f }
            if case .record(let r) = interpreter.globals.value(of: "last"), case .list(let k) = r["k"], case .function(let g) = r["g"] {
                dropped = k
                droppedFunction = g
            }
            interpreter.globals.set("last", .nil)
            gone = interpreter
            found = [list as AnyObject?, record, model, function, dropped, droppedFunction].compactMap { $0 }.count
        }
        XCTAssertEqual(found, 6, "the script's values were not found")
        XCTAssertNil(gone, "the interpreter is kept alive by its own compiled code")
        XCTAssertNil(list, "a list holding itself outlived its interpreter")
        XCTAssertNil(record)
        XCTAssertNil(model, "a module's model outlived its interpreter")
        XCTAssertNil(function, "a function reading its own name outlived its interpreter")
        XCTAssertNil(dropped, "a list holding itself that the script dropped outlived its interpreter")
        XCTAssertNil(droppedFunction, "a local function reading its own name outlived its interpreter")
    }

    func testSameSeedSameOutput() {
        let script = "seed(7)\nprint(randn(3), randint(1, 100), rand())"
        XCTAssertEqual(runMnemo(script).output, runMnemo(script).output)
        XCTAssertNotEqual(runMnemo(script).output, runMnemo(script.replacingOccurrences(of: "seed(7)", with: "seed(8)")).output)
    }

    func testParserReportsSeveralErrorsAtOnce() {
        let (_, error) = runMnemo("let a = \nlet b = (1,\nfn g( { }\nprint(1 +)\n")
        guard let errors = error as? CompileErrors else { return XCTFail("expected compile errors, got \(String(describing: error))") }
        XCTAssertGreaterThanOrEqual(errors.diagnostics.count, 2)
    }

    func testIncompleteInputIsRecognised() {
        for text in ["let x = (1 +", "fn f() {", "print([1, 2,", "let y = 3 *"] {
            let error = runMnemo(text).error as? CompileErrors
            XCTAssertEqual(error?.incomplete, true, text)
        }
        for text in ["let x = )", "print(1))"] {
            let error = runMnemo(text).error as? CompileErrors
            XCTAssertEqual(error?.incomplete, false, text)
        }
    }

    func testRuntimeErrorsNameThePlaceAndTheStack() {
        let (_, error) = runMnemo("fn f(x) {\n  x @ ones(5)\n}\nf(ones(2, 3))\n", name: "m.mn")
        guard let d = error as? Diagnostic else { return XCTFail("expected a diagnostic") }
        let text = d.render()
        XCTAssertTrue(text.hasPrefix("m.mn:2:5: error: matmul shapes [2, 3] and [5] do not match"), text)
        XCTAssertTrue(text.contains("      x @ ones(5)\n        ^"), text)
        XCTAssertTrue(text.contains("in 'f' called at m.mn:4:1"), text)
    }

    /// Inputs that once could (or easily might) reach a Swift trap must end
    /// in a located Mnemo error instead.
    func testHostileInputsEndInErrorsNotCrashes() {
        let inputs = [
            "zeros(-1)", "reshape(zeros(4), 3)", "tensor([[1], [1, 2]])", "[1][99]", "\"a\"[5]", "eye(1e9)",
            "randn(1e10)", "arange(0, 1, 0)", "max(zeros(0))", "split(zeros(3), [5])", "chunk(zeros(3), 0)",
            "gather(zeros(3), tensor([5]))", "one_hot(tensor([3]), 2)", "one_hot(tensor([0.5]), 2)", "range(0, 10, 0)", "fmt(1, 99)",
            "transpose(zeros(2, 3), [0, 0])", "concat([])", "stack([])", "randint(5, 1)", "zeros(2)[1e20]",
            "[1, 2][0.5]", "1 % 0", "load(\"/\")", "save(\"/nonexistent/dir/x.npy\", zeros(1))", "mean([])",
            "max([])", "squeeze(zeros(2), 0)", "unsqueeze(zeros(2), 5)", "zeros(3)[::0]", "[1, 2][::0]",
            "fn f() { f() }\nf()", "let x = [1]\nx[0][0] = 2", "sum(zeros(2), axis: 7)", "softmax(zeros(2, 2), axis: -3)",
            "zeros(2, 3) @ zeros(2, 3)", "matmul(3, 4)", "tensor([\"a\"])", "tensor([[zeros(2)], [zeros(3)]])",
            "grad(zeros(2), zeros(2))", "cross_entropy(zeros(2, 3), tensor([0, 5]))", "cross_entropy(zeros(2, 3), zeros(4))",
            "mse(zeros(2), zeros(3))", "let o = adam([param(zeros(1))])\no.step(zeros(2))", "round(1, 99)",
            "seed(1e300)", "zeros(1e300)", "zeros(2.5)", "full([2], \"x\")", "slice(zeros(3), 0, 2, axis: 3)",
            "reshape(zeros(6), -1, -1)", "var t = zeros(2)\nt[5] = 1", "var t = zeros(2)\nt[0] = \"s\"",
            "let r = {a: 1}\nr.b", "nn.Linear", "import nn\nnn.Linear(-1, 2)", "zip(1, 2)", "len(3)", "x",
            "assert 1", "not 3", "1 and 2", "-\"s\"", "for i in 3 { }", "for i in 0..<1e300 { }", "clip(zeros(2), 1, 0)",
            "print(zeros(2) ** zeros(3))", "memory(-1, 3)", "memory(1e6, 1e6)", "memory(4, 2, init: \"bogus\")",
            "head(3)", "head(memory(4, 2), shifts: 9)", "let m = memory(4, 2)\nm.write(zeros(4))",
            "let m = memory(4, 2)\nm.read(zeros(3))", "let m = memory(4, 2)\nm.set(zeros(2))", "let m = memory(4, 2)\nm.bogus",
            "let m = memory(4, 2)\nhead(m).address(zeros(3), 1, 1, tensor([0, 1, 0]), 1)",
            "let m = memory(4, 2)\nhead(m).address(zeros(2), 1, 1, tensor([0, 1]), 1)", "shift(zeros(4), zeros(2))",
            "cosine(zeros(4), zeros(2))", "cosine(zeros(2, 4, 3, 1), zeros(3))", "interpolate(zeros(4), zeros(3), 0.5)",
            "sharpen(zeros(2, 2, 2, 2), 2)", "least_used(zeros(4), 9)", "zero_least_used(zeros(4, 2), zeros(3))",
            "lstm_cell(zeros(3), zeros(4), zeros(4), zeros(2, 2), zeros(2))", "write(zeros(4, 2), zeros(4), nil, zeros(3))",
            "let m = memory(4, 2, batch: 0)", "interpolate(zeros(2, 4), zeros(2, 4), zeros(3))", "gradcheck(3, [zeros(1)])", "gradcheck(fn(x) => \"s\", [zeros(1)])",
        ]
        for input in inputs {
            let (_, error) = runMnemo(input)
            switch error {
            case let d as Diagnostic: XCTAssertNotNil(d.range, input)
            case is CompileErrors: break
            default: XCTFail("\(input): expected a Mnemo error, got \(String(describing: error))")
            }
        }
    }

    /// Mutated copies of every script in the project go through the lexer,
    /// parser and resolver without trapping.
    func testMutatedSourcesNeverTrap() throws {
        let fm = FileManager.default
        var sources: [String] = []
        for folder in ["samples", "stdlib", "Tests/lang", "Tests/bad"] {
            let dir = packageRoot + "/" + folder
            for name in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] where name.hasSuffix(".mn") {
                sources.append(try String(contentsOfFile: dir + "/" + name, encoding: .utf8))
            }
        }
        XCTAssertFalse(sources.isEmpty)
        var state: UInt64 = 12345
        func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(max(n, 1)))
        }
        let pieces = ["(", ")", "[", "]", "{", "}", ",", ":", "\"", "\\(", "fn", "let", "=", "+", "..<", "\n", "@", "#", ".", "1e999", "_"]
        Interpreter.onLargeStack {
            for round in 0..<600 {
                var chars = Array(sources[round % sources.count].unicodeScalars)
                for _ in 0..<(1 + next(4)) {
                    guard !chars.isEmpty else { break }
                    let at = next(chars.count)
                    switch next(3) {
                    case 0: chars.removeSubrange(at..<min(chars.count, at + 1 + next(8)))
                    case 1: chars.insert(contentsOf: pieces[next(pieces.count)].unicodeScalars, at: at)
                    default: chars.insert(chars[next(chars.count)], at: at)
                    }
                }
                var text = ""
                text.unicodeScalars.append(contentsOf: chars)
                try? Interpreter().check(SourceFile(name: "fuzz.mn", text: text, path: packageRoot + "/samples/fuzz.mn"))
            }
        }
    }
}

/// The built mnemo executable, beside the test bundle.
var mnemoExecutable: String {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("mnemo").path
}

/// Runs the mnemo executable from the package root with `input` on its standard input.
func runMnemoProcess(_ arguments: [String], input: String = "", environment: [String: String] = [:],
                     executable: String = mnemoExecutable) throws -> (status: Int32, output: String, error: String) {
    guard FileManager.default.fileExists(atPath: executable) else { throw XCTSkip("the mnemo executable was not built beside the tests") }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: packageRoot)
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let inPipe = Pipe(), out = Pipe(), err = Pipe()
    process.standardInput = inPipe
    process.standardOutput = out
    process.standardError = err
    try process.run()
    inPipe.fileHandleForWriting.write(Data(input.utf8))
    try inPipe.fileHandleForWriting.close()
    // Standard error is read on another thread, so that neither pipe fills and blocks the child.
    final class Collected: @unchecked Sendable { var data = Data() }
    let error = Collected()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { error.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    group.wait()
    process.waitUntilExit()
    return (process.terminationStatus, output, String(decoding: error.data, as: UTF8.self))
}

final class CommandLineTests: XCTestCase {
    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String, error: String) {
        try runMnemoProcess(arguments, environment: environment)
    }

    func temporaryScript(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "/mnemo-cli-\(UUID().uuidString).mn"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func testExitCodes() throws {
        XCTAssertEqual(try run([try temporaryScript("print(1)")]).status, 0)
        XCTAssertEqual(try run([try temporaryScript("print(undefined_name)")]).status, 65)
        XCTAssertEqual(try run([try temporaryScript("print(1 / 0)")]).status, 70)
        XCTAssertEqual(try run(["no/such/file.mn"]).status, 74)
        XCTAssertEqual(try run(["--no-such-flag"]).status, 64)
        XCTAssertEqual(try run(["check", try temporaryScript("let x = (")]).status, 65)
        XCTAssertEqual(try run(["check", try temporaryScript("print(1 / 0)")]).status, 0)
    }

    /// `--version` names the matrix backend; MNEMO_BLAS=none forces the own kernels.
    func testVersionSaysWhichMatrixKernelsRun() throws {
        let forced = try run(["--version"], environment: ["MNEMO_BLAS": "none"])
        XCTAssertEqual(forced.status, 0)
        XCTAssertTrue(forced.output.hasPrefix("mnemo "), forced.output)
        XCTAssertTrue(forced.output.contains("matrix products: own kernels"), forced.output)
        let missing = try run(["--version"], environment: ["MNEMO_BLAS": "libno-such-blas.so"])
        XCTAssertTrue(missing.output.contains("own kernels (MNEMO_BLAS=libno-such-blas.so could not be loaded)"), missing.output)
        let found = try run(["--version"], environment: ["MNEMO_BLAS": ""])
        XCTAssertTrue(found.output.contains("matrix products: "), found.output)
    }

    /// A deep body times a deep recursion: the call count stays under its
    /// limit, and the stack guard ends it with an error instead of a crash.
    func testStackGuardStopsDeepBodiesInDeepRecursion() throws {
        let chain = String(repeating: " + 0", count: 5000)
        let script = try temporaryScript("fn f(n) {\n  if n == 0 { return 0 }\n  f(n - 1)\(chain)\n}\nprint(f(1900))\n")
        let result = try run([script])
        XCTAssertEqual(result.status, 70, result.error)
        XCTAssertTrue(result.error.contains("error: recursion too deep: the stack is nearly exhausted (in 'f')"), result.error)
        // The same in `mnemo check`: a chain too long for the tree is refused before anything runs.
        let long = try temporaryScript("print(" + String(repeating: "1+", count: 200_000) + "1)\n")
        let checked = try run(["check", long])
        XCTAssertEqual(checked.status, 65, checked.error)
        XCTAssertTrue(checked.error.contains("expression too long"), checked.error)
        XCTAssertLessThan(checked.error.count, 2000, "a long line is shown as a window around the caret")
    }

    /// `mnemo install PREFIX` puts the stdlib where the installed binary finds
    /// it; a module beside a script that hides a stdlib one is noted; MNEMO_PATH adds folders.
    func testInstallShadowingAndModulePath() throws {
        let prefix = NSTemporaryDirectory() + "mnemo-install-\(UUID().uuidString)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: prefix) }
        XCTAssertEqual(try run(["install", prefix]).status, 0)
        let installed = try runMnemoProcess(["--version"], environment: [:], executable: prefix + "/bin/mnemo")
        XCTAssertTrue(installed.output.contains("stdlib: \(prefix)/share/mnemo/stdlib"), installed.output)
        let folder = NSTemporaryDirectory() + "mnemo-shadow-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder + "/lib", withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: folder) }
        try "fn hello() { 7 }\n".write(toFile: folder + "/nn.mn", atomically: true, encoding: .utf8)
        try "fn twice(x) { 2 * x }\n".write(toFile: folder + "/lib/helpers.mn", atomically: true, encoding: .utf8)
        try "import nn\nimport helpers\nprint(helpers.twice(nn.hello()))\n".write(toFile: folder + "/main.mn", atomically: true, encoding: .utf8)
        let result = try run([folder + "/main.mn"], environment: ["MNEMO_PATH": folder + "/lib"])
        XCTAssertEqual(result.output, "14\n")
        XCTAssertTrue(result.error.contains("note: 'import nn' uses"), result.error)
        XCTAssertTrue(result.error.contains("which shadows the standard library's nn"), result.error)
    }

    func testScriptSeesArgumentsAndEnvironment() throws {
        let script = try temporaryScript("print(args(), env(\"MNEMO_PROBE\"), env(\"MNEMO_UNSET\", \"default\"))")
        let result = try run(["run", script, "a", "--flag"], environment: ["MNEMO_PROBE": "yes"])
        XCTAssertEqual(result.output, "[\"a\", \"--flag\"] yes default\n")
    }

    func testErrorsGoToStandardErrorWithCaret() throws {
        let result = try run([try temporaryScript("let x = 1\nprint(x + \"s\")\n")])
        XCTAssertEqual(result.status, 70)
        XCTAssertTrue(result.error.contains(":2:9: error: cannot apply '+' to number and string"), result.error)
        XCTAssertTrue(result.error.contains("    print(x + \"s\")\n            ^"), result.error)
    }

    func testImportsFindTheStdlibFromAnyDirectory() throws {
        let script = try temporaryScript("import nn\nlet l = nn.Linear(2, 3)\nprint(shape(l.forward(ones(1, 2))))")
        XCTAssertEqual(try run([script]).output, "[1, 3]\n")
    }

    /// A script named like a stdlib module finds itself first: one error, with
    /// a note saying why, and no follow-on errors about the module's uses.
    func testScriptShadowingAStdlibModule() throws {
        let dir = NSTemporaryDirectory() + "/mnemo-shadow-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "import nn\nlet l = nn.Linear(2, 3)\n".write(toFile: dir + "/nn.mn", atomically: true, encoding: .utf8)
        let result = try run([dir + "/nn.mn"])
        XCTAssertEqual(result.status, 65)
        XCTAssertTrue(result.error.contains("error: import cycle: 'nn' imports itself through nn.mn"), result.error)
        XCTAssertTrue(result.error.contains("is found before stdlib/nn.mn; rename it to import the standard 'nn'"), result.error)
        XCTAssertEqual(result.error.components(separatedBy: "error:").count, 2, result.error)
    }

    func testTestCommandReportsFailures() throws {
        let dir = NSTemporaryDirectory() + "/mnemo-suite-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "print(\"hello\")\n".write(toFile: dir + "/a.mn", atomically: true, encoding: .utf8)
        try "hello\n".write(toFile: dir + "/a.out", atomically: true, encoding: .utf8)
        try "print(2)\n".write(toFile: dir + "/b.mn", atomically: true, encoding: .utf8)
        try "3\n".write(toFile: dir + "/b.out", atomically: true, encoding: .utf8)
        let result = try run(["test", dir])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.output.contains("1 passed, 1 failed"), result.output)
        XCTAssertTrue(result.output.contains("-3\n+2"), result.output)
        XCTAssertEqual(try run(["test", "--update", dir]).status, 0)
        XCTAssertEqual(try run(["test", dir]).status, 0)
        // Each script runs as its own process with a time limit: one that never ends fails alone.
        try "while true { }\n".write(toFile: dir + "/c_hangs.mn", atomically: true, encoding: .utf8)
        try "".write(toFile: dir + "/c_hangs.out", atomically: true, encoding: .utf8)
        let hung = try run(["test", dir, "--timeout", "2"])
        XCTAssertEqual(hung.status, 1, hung.output)
        XCTAssertTrue(hung.output.contains("FAIL \(dir)/c_hangs.mn: still running after 2 s; stopped"), hung.output)
        XCTAssertTrue(hung.output.contains("2 passed, 1 failed"), hung.output)
    }
}
