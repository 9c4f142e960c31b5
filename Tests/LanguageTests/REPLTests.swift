import Builtins
import Driver
import Foundation
import Runtime
import Syntax
import XCTest

/// The REPL on piped input: no prompts, results on stdout, errors on stderr,
/// and the session survives every error.
final class REPLPipedTests: XCTestCase {
    /// Piped input without errors exits 0; a pasted thousands-line session is read in linear time.
    func testPipedSessionStatusAndLongPaste() throws {
        XCTAssertEqual(try runMnemoProcess([], input: "let x = 1\nx + 1\n").status, 0)
        let paste = (0..<6000).map { "let x\($0) = \($0)" }.joined(separator: "\n") + "\nx5999\n"
        let start = Date()
        let result = try runMnemoProcess([], input: paste)
        XCTAssertEqual(result.output, "5999\n")
        XCTAssertLessThan(Date().timeIntervalSince(start), 20, "6,000 inputs should take well under a second")
    }

    func testResultsPrintWithoutPromptsAndErrorsKeepTheSession() throws {
        let input = """
        let x = 20
        x + 1
        _ * 2
        let t = zeros(2, 3);
        t
        fn twice(v) {
          v * 2
        }
        twice(x)
        let y = no_such_name + 1
        y
        [1, 2][7]
        x

        [1,

        x - 1
        """
        let result = try runMnemoProcess([], input: input + "\n")
        // The session survives every error, and ends with the last failure's status (the unclosed '[').
        XCTAssertEqual(result.status, 65)
        XCTAssertEqual(result.output, """
        21
        42
        tensor([[0, 0, 0],
                [0, 0, 0]], shape: [2, 3])
        40
        20
        19

        """)
        // The failed `let y` leaves no half-defined y behind: y is simply unknown.
        XCTAssertTrue(result.error.contains("<repl>:1:9: error: unknown name 'no_such_name'"), result.error)
        XCTAssertTrue(result.error.contains("<repl>:1:1: error: unknown name 'y'"), result.error)
        XCTAssertTrue(result.error.contains("    [1, 2][7]\n    ^~~~~~~~~"), result.error)
        // An empty line ends an incomplete input and says why it is incomplete.
        XCTAssertTrue(result.error.contains("[1,"), result.error)
    }

    func testCommands() throws {
        let dir = NSTemporaryDirectory() + "mnemo-repl-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "let loaded = 7\nprint(\"loading\")\n".write(toFile: dir + "/defs.mn", atomically: true, encoding: .utf8)
        let input = """
        :help tanh
        :h :sa
        :r
        :frobnicate
        :type randn(3, 4)
        let w = param(ones(2))
        :vars
        :load \(dir)/defs.mn
        loaded * 2
        :seed 5
        let a = rand();
        seed(5)
        rand() == a
        :time 1 + 1
        :save "\(dir)/session.mn"
        :reload
        :save \(dir)/twice.mn
        :reset
        :vars
        loaded
        :quit
        print("not reached")
        """
        let result = try runMnemoProcess([], input: input + "\n")
        // `loaded` after :reset is an unknown name: piped input ends with that failure's status.
        XCTAssertEqual(result.status, 65)
        let lines = result.output.components(separatedBy: "\n")
        // :help shows the builtin's own declaration.
        let tanh = Interpreter().builtins["tanh"]!
        XCTAssertEqual(lines[0], tanh.signature.description)
        XCTAssertEqual(lines[1], "  " + tanh.doc)
        XCTAssertEqual(lines[2], ":save FILE")
        XCTAssertTrue(result.error.contains("error: ':r' is ambiguous: :reload, :reset"), result.error)
        XCTAssertTrue(result.error.contains("error: unknown command ':frobnicate'"), result.error)
        XCTAssertTrue(result.output.contains("\ntensor [3, 4]\n"), result.output)
        XCTAssertTrue(result.output.contains("\nw  tensor [2], parameter\n"), result.output)
        XCTAssertTrue(result.output.contains("loading\n14\n"), result.output)
        XCTAssertTrue(result.output.contains("\ntrue\n2\ntime: "), result.output)
        XCTAssertTrue(result.output.contains("saved 8 inputs to \(dir)/session.mn\nloading\nsaved 9 inputs to \(dir)/twice.mn\nsession reset\nno names defined yet\n"), result.output)
        // A session may define a name twice (here by :reload); the saved script could not, and :save says so.
        XCTAssertTrue(result.error.contains("note: \(dir)/twice.mn does not run as it stands"), result.error)
        XCTAssertTrue(result.error.contains("twice.mn:14:5: error: 'loaded' is already defined"), result.error)
        XCTAssertTrue(result.error.contains("<repl>:1:1: error: unknown name 'loaded'"), result.error)
        XCTAssertFalse(result.output.contains("not reached"))
        // The saved session is a script that runs.
        let saved = try runMnemoProcess([dir + "/session.mn"])
        XCTAssertEqual(saved.status, 0, saved.error)
        XCTAssertEqual(saved.output, "loading\n")
    }

    func testGraphCommandProfilesTheGraphBehindAValue() throws {
        let result = try runMnemoProcess([], input: "let w = param(ones(3))\n:graph sum(tanh(w * 2))\n:graph 3\nlet f = compile(fn(x) { sum(tanh(w * x)) })\nf(2);\n:graph f\n")
        XCTAssertTrue(result.output.contains("graph: 4 nodes, 9 FLOP forward"), result.output)
        for op in ["scale", "tanh", "sum", "param"] { XCTAssertTrue(result.output.contains("\n" + op + " "), result.output) }
        XCTAssertTrue(result.error.contains("error: :graph profiles a tensor's graph or a compiled function's plans, got a number"), result.error)
        // A compiled function's plans: its steps, with the FLOPs they recorded.
        XCTAssertTrue(result.output.contains("plan for (2): 3 steps replayed without the interpreter, 9 FLOP forward"), result.output)
    }

    func testSavedSessionRunsEvenWhereItUsedUnderscore() throws {
        let path = NSTemporaryDirectory() + "mnemo-save-\(UUID().uuidString).mn"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try runMnemoProcess([], input: "let x = 20\nx + 1\n_ * 2\nlet y = _ + 1;\nprint(y, \"_\")\n:save \(path)\n")
        XCTAssertEqual(result.output, "21\n42\n43 _\nsaved 5 inputs to \(path)\n", result.error)
        XCTAssertEqual(result.error, "")
        let saved = try runMnemoProcess([path])
        XCTAssertEqual(saved.status, 0, saved.error)
        XCTAssertEqual(saved.output, "43 _\n")
    }

    func testInteractiveFlagRunsTheScriptFirst() throws {
        let dir = NSTemporaryDirectory() + "mnemo-repl-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "let base = 40\nfn add2(v) { v + 2 }\n".write(toFile: dir + "/s.mn", atomically: true, encoding: .utf8)
        let result = try runMnemoProcess(["-i", dir + "/s.mn"], input: "add2(base)\n")
        XCTAssertEqual(result.status, 0, result.error)
        XCTAssertEqual(result.output, "42\n")
    }
}

/// Tab completion, asked directly.
final class REPLCompletionTests: XCTestCase {
    final class NoInput: LineEditor {
        var completer: REPLCompleter?
        func read(prompt: String) -> LineInput { .end }
        func addHistory(_ entry: String) {}
    }

    func makeREPL() -> REPL {
        REPL(makeInterpreter: { Interpreter(output: { _ in }) }, editor: NoInput(), write: { _ in }, error: { XCTFail($0) })
    }

    func testNamesKeywordsBuiltinsAndMembers() {
        let repl = makeREPL()
        Interpreter.onLargeStack {
            repl.handle("import ntm")
            repl.handle("let mem = memory(8, 4)")
            repl.handle("let cfg = {depth: 3, dropout: 0.5}")
            repl.handle("let costs = [1, 2]")
            repl.handle("let opt = sgd([param(zeros(2))])")
        }
        // Word breaks at brackets, commas and operators.
        let c = repl.complete("f(a, cos")
        XCTAssertEqual(c.start, 5)
        XCTAssertEqual(c.candidates, ["cos(", "cosine(", "costs"])
        XCTAssertEqual(repl.complete("x+tan").candidates, ["tanh("])
        XCTAssertEqual(repl.complete("nog").candidates, ["nograd"])
        XCTAssertTrue(repl.complete("ntm.").candidates.contains("ntm.NTM("))
        XCTAssertEqual(repl.complete("ntm.").start, 0)
        XCTAssertEqual(repl.complete("mem.wr").candidates, ["mem.write("])
        XCTAssertTrue(repl.complete("mem.").candidates.contains("mem.slots"))
        XCTAssertEqual(repl.complete("mem.tr").candidates, ["mem.trace", "mem.trace_contents"])
        XCTAssertEqual(repl.complete("opt.").candidates, ["opt.apply(", "opt.lr", "opt.norm", "opt.params", "opt.step(", "opt.steps"])
        XCTAssertEqual(repl.complete("cfg.d").candidates, ["cfg.depth", "cfg.dropout"])
        XCTAssertEqual(repl.complete("import mn").candidates, [])
        XCTAssertEqual(repl.complete("import ma").candidates, ["maml", "mann"])
        XCTAssertEqual(repl.complete("3.1").candidates, [])
    }

    func testCommandsAndFiles() throws {
        let repl = makeREPL()
        XCTAssertEqual(repl.complete(":re").candidates, [":reload", ":reset"])
        XCTAssertEqual(repl.complete(":help tan").candidates, ["tanh"])
        XCTAssertEqual(repl.complete(":type ta").candidates, ["take_along(", "tanh("])
        let dir = NSTemporaryDirectory() + "mnemo-complete-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/runs", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "".write(toFile: dir + "/model.mn", atomically: true, encoding: .utf8)
        let line = ":load \"\(dir)/"
        let c = repl.complete(line)
        XCTAssertEqual(c.start, line.utf8.count - dir.utf8.count - 1)
        XCTAssertEqual(c.candidates, ["\(dir)/model.mn", "\(dir)/runs/"])
        XCTAssertEqual(repl.complete("load(\"\(dir)/mo").candidates, ["\(dir)/model.mn"])
    }
}

/// The REPL on a real terminal: readline editing, completion, Ctrl-C, Ctrl-D, history.
final class REPLTerminalTests: XCTestCase {
    var home = ""

    override func setUpWithError() throws {
        guard FileManager.default.fileExists(atPath: mnemoExecutable) else { throw XCTSkip("the mnemo executable was not built beside the tests") }
        home = NSTemporaryDirectory() + "mnemo-home-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: home)
    }

    func session() throws -> PseudoTerminal {
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = home
        env["TERM"] = "xterm"
        env["INPUTRC"] = home + "/inputrc"
        env["MNEMO_HISTORY"] = nil
        return try PseudoTerminal(mnemoExecutable, environment: env)
    }

    func testEditingCompletionInterruptsAndExit() throws {
        let t = try session()
        t.expect("mnemo> ")
        t.type("let abcd = 5\r")
        t.expect("mnemo> ")
        t.type("abc\t + 1\r")
        t.expect("abcd + 1")
        t.expect("6")
        t.type("import ntm\r")
        t.expect("mnemo> ")
        t.type("ntm.NT\t")
        t.expect("ntm.NTM(")
        // Ctrl-C at the prompt drops the line being typed.
        t.type("\u{3}")
        t.expect("^C")
        t.expect("mnemo> ")
        t.type("abcd * 2\r")
        t.expect("10")
        // Ctrl-C stops a running loop; the variables keep their values.
        t.type("var i = 0\r")
        t.expect("mnemo> ")
        t.type("while true { i += 1 }\r")
        usleep(300_000)
        t.type("\u{3}")
        t.expect("error: interrupted")
        t.expect("mnemo> ")
        t.type("i > 0\r")
        t.expect("true")
        // An incomplete input continues on a second prompt.
        t.type("fn twice(v) {\r")
        t.expect("   ... ")
        t.type("v * 2\r}\r")
        t.expect("mnemo> ")
        t.type("twice(21)\r")
        t.expect("42")
        t.expect("mnemo> ")
        t.type("\u{4}")
        XCTAssertEqual(t.exitStatus(), 0)
        // The multi-line entry is one history item.
        let history = try String(contentsOfFile: home + "/.mnemo_history", encoding: .utf8)
        XCTAssertTrue(history.contains("fn twice(v) {\\nv * 2\\n}\n"), history)
    }

    func testHistoryPersistsAcrossSessionsAndCtrlRSearches() throws {
        try "$if mnemo\n\"\\C-t\": \"answer * 2\"\n$endif\n".write(toFile: home + "/inputrc", atomically: true, encoding: .utf8)
        try "let answer = 41\nanswer + 1\nfn third(v) {\\nv / 3\\n}\n".write(toFile: home + "/.mnemo_history", atomically: true, encoding: .utf8)
        let t = try session()
        t.expect("mnemo> ")
        t.type("\u{12}answer =")
        t.expect("let answer = 41")
        t.type("\r")
        t.expect("mnemo> ")
        // Up twice: past `let answer = 41` to the multi-line entry, which runs whole.
        t.type("\u{1B}[A\u{1B}[A\r")
        t.expect("mnemo> ")
        t.type("third(answer + 1)\r")
        t.expect("14")
        // ~/.inputrc (here $INPUTRC) applies, with `$if mnemo` sections.
        t.type("\u{14}\r")
        t.expect("82")
        t.type(":quit\r")
        XCTAssertEqual(t.exitStatus(), 0)
    }

    /// On a terminal a figure is drawn in colour (half blocks, Braille
    /// curves) and a progress bar redraws in place.
    func testFiguresAndProgressOnATerminal() throws {
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = home
        env["TERM"] = "xterm"
        env["INPUTRC"] = home + "/inputrc"
        env["MNEMO_HISTORY"] = nil
        env["NO_COLOR"] = nil
        env["COLORTERM"] = nil
        let t = try PseudoTerminal(mnemoExecutable, environment: env)
        t.expect("mnemo> ")
        // Half blocks are drawn only in colour (plain text uses shade characters).
        t.type("heatmap(eye(2), title: \"eye\")\r")
        t.expect("\u{2580}")
        t.expect("mnemo> ")
        t.type("plot([1, 4, 9], title: \"squares\")\r")
        t.expect("squares")
        t.expect("mnemo> ")
        XCTAssertTrue(t.screen.unicodeScalars.contains { (0x2801...0x28FF).contains($0.value) }, "a curve in Braille dots")
        t.type("for i in progress(1...3) { }\r")
        t.expect("100%|")
        t.expect("3/3")
        t.expect("mnemo> ")
        t.type(":quit\r")
        XCTAssertEqual(t.exitStatus(), 0)
    }
}
