import Builtins
import Foundation
import Runtime
import Syntax
import Tensor
import MallocCounter
import XCTest

/// `compile(f)` as a user relies on it: a compiled training step gives the
/// same parameters, bit for bit, as the step run by the interpreter, for the
/// NTM (sequences of several lengths: one plan each), the MANN and Meta
/// Networks.
final class CompileTests: XCTestCase {
    func temporaryPath(_ name: String) -> String {
        let path = NSTemporaryDirectory() + "/mnemo-compile-\(UUID().uuidString)-\(name)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func checkCompiledEqualsStraight(_ kind: String, steps: Int, plans: Int) throws {
        let script = packageRoot + "/Tests/fixtures/resume.mn"
        let straight = temporaryPath("straight.safetensors"), compiled = temporaryPath("compiled.safetensors")
        var r = try runMnemoProcess([script, kind, "straight", String(steps), straight], environment: ["MNEMO_BLAS": "none"])
        XCTAssertEqual(r.status, 0, r.error)
        r = try runMnemoProcess([script, kind, "compiled", String(steps), compiled], environment: ["MNEMO_BLAS": "none"])
        XCTAssertEqual(r.status, 0, r.error)
        // Every call after a kind's first is a replay: none ran uncompiled.
        XCTAssertTrue(r.output.contains("\(plans) plan\(plans == 1 ? "" : "s"), \(plans) traced, \(steps - plans) replayed"), r.output)
        XCTAssertFalse(r.error.contains("uncompiled"), r.error)
        let a = try SafeTensors.read(path: straight), b = try SafeTensors.read(path: compiled)
        XCTAssertEqual(a.entries.map(\.name), b.entries.map(\.name))
        XCTAssertGreaterThan(a.entries.count, 4)
        for (x, y) in zip(a.entries, b.entries) {
            XCTAssertEqual(x.tensor.data.map(\.bitPattern), y.tensor.data.map(\.bitPattern), "\(kind): \(x.name) differs when compiled")
        }
    }

    /// The plan's C kernels (softmax and its gradient, the LRUA weights'
    /// gradient, a cleared write, the packed products), compiled for the
    /// baseline, AVX and AVX-512, give the same bits on each: a compiled MANN
    /// with rows of eight and one left over and slots in and out of the eight lanes.
    func testCompiledMANNGivesTheSameBitsAtEveryWidth() throws {
        let path = temporaryPath("every-width.safetensors")
        let script = """
        import mann
        import tasks
        seed(2)
        let m = mann.MANN(8, 3, hidden: 12, memory: (21, 6), reads: 4, batch: 3)
        let opt = adam(params(m), lr: 1e-2)
        let f = compile(fn(e) { opt.step(cross_entropy(m.run(e.input), e.labels)) })
        for i in 0..<3 { f(tasks.fewshot_episode(classes: 3, shots: 2, features: 5, batch: 3)) }
        print(f.kernel_plans)
        checkpoint("\(path)", {model: m})
        """
        let runs = try OwnKernels.atEveryLevel { () throws -> [[UInt32]] in
            let r = runMnemo(script)
            XCTAssertNil(r.error)
            XCTAssertEqual(r.output, "1\n")
            return try SafeTensors.read(path: path).entries.map { $0.tensor.data.map(\.bitPattern) }
        }
        XCTAssertGreaterThan(runs.count, 1)
        for (level, result) in runs.dropFirst() { XCTAssertTrue(result == runs[0].result, "level \(level) differs from the baseline") }
    }

    func testCompiledNTMStepEqualsInterpreted() throws { try checkCompiledEqualsStraight("ntm", steps: 14, plans: 5) }
    func testCompiledMANNStepEqualsInterpreted() throws { try checkCompiledEqualsStraight("mann", steps: 6, plans: 1) }

    /// Meta Networks take gradients in the middle of their forward pass and
    /// pick support pairs at random: the compiled step replays both.
    func testCompiledMetaNetStepEqualsInterpreted() {
        let r = runMnemo("""
        import metanet
        import tasks
        fn run(compiled) {
          seed(4)
          let data = tasks.synthetic_dataset(classes: 12, features: 16)
          let net = metanet.MetaNet(16, 3, hidden: 12)
          let opt = adam(params(net), lr: 1e-3)
          fn step(e) { opt.step(cross_entropy(net.forward(e.support, e.support_labels, e.query), e.query_labels)) }
          let f = if compiled { compile(step) } else { step }
          let losses = []
          for i in 0..<4 { append(losses, f(tasks.episode(data, range(12), ways: 3, shots: 2, queries: 2))) }
          if compiled { print(f) }
          (losses, params(net))
        }
        let (a, pa) = run(false)
        let (b, pb) = run(true)
        print(a == b, len(pa))
        for (x, y) in zip(pa, pb) { assert allclose(x, y, rtol: 0, atol: 0) }
        """)
        XCTAssertNil(r.error)
        XCTAssertEqual(r.output, "<compiled function step: 1 plan, 1 traced, 3 replayed>\ntrue 16\n")
    }

    /// A loop over a progress bar draws (and a checkpointed range saves) as it
    /// goes: a replay would skip that, so the function runs uncompiled.
    func testLoopOverAProgressBarRunsUncompiled() {
        let r = runMnemo("""
        let f = compile(fn(n) { var s = 0; for i in progress(0..<n, every: 1000) { s = s + i }; s })
        print(f(3), f(3), f.uncompiled, f.plans)
        print(graph(f))
        """)
        XCTAssertNil(r.error)
        XCTAssertTrue(r.output.hasPrefix("3 3 1 0\narguments (3): runs uncompiled (a for loop over a progress does its work as it goes"), r.output)
    }
}

/// A compiled step whose every op has a kernel runs as one plan over
/// buffers allocated once: its calls allocate almost nothing, where the
/// same step run op by op allocates thousands of times.
final class KernelPlanAllocationTests: XCTestCase {
    /// Mallocs per call of `step` in `setup`, over the difference between
    /// scripts of 3 and 8 calls (what tracing and setting up cost cancels).
    func mallocsPerCall(_ setup: String, compiled: Bool) -> Int {
        func count(_ calls: Int) -> Int {
            let script = setup + "\nlet f = \(compiled ? "compile(step)" : "step")\nfor i in 0..<\(calls) { f(task) }\n"
            let before = mnemo_malloc_calls()
            let r = runMnemo(script)
            XCTAssertNil(r.error)
            return mnemo_malloc_calls() - before
        }
        _ = count(3)
        return (count(8) - count(3)) / 5
    }

    func testAnLSTMStepAllocatesAlmostNothingCompiled() {
        let setup = """
        import nn
        seed(1)
        let cell = nn.LSTMCell(5, 16)
        let out = nn.Linear(16, 3)
        let opt = rmsprop(params(cell) + params(out), lr: 1e-3, momentum: 0.9, decay: 0.95, clip: 10, form: "graves")
        let task = {x: randn(12, 5), y: (randn(12, 3) > 0) * 1.0}
        fn step(t) {
          var state = cell.initial()
          let hs = []
          for x in t.x { state = cell.step(x, state); append(hs, state[0]) }
          opt.step(bce(out.forward(stack(hs)), t.y))
        }
        """
        let compiled = mallocsPerCall(setup, compiled: true), straight = mallocsPerCall(setup, compiled: false)
        XCTAssertLessThan(compiled, 25, "compiled \(compiled), op by op \(straight) mallocs per step")
        XCTAssertGreaterThan(straight, 20 * max(compiled, 1), "compiled \(compiled), op by op \(straight) mallocs per step")
    }

    /// The NTM's step keeps its memory's trace, its weightings and vectors
    /// left in the plan's values (made once, at the first replay, then only
    /// stamped): no allocation per access.
    func testAnNTMStepKeepsItsTraceWithoutAllocatingCompiled() {
        let setup = """
        import ntm
        import tasks
        seed(1)
        let model = ntm.NTM(9, 8, hidden: 20, memory: (16, 6))
        let opt = rmsprop(params(model), lr: 1e-4, momentum: 0.9, decay: 0.95, clip: 10, form: "graves")
        let task = tasks.copy(width: 8, length: 5)
        fn step(t) { opt.step(bce(tasks.answer(model.run(t.input), t), t.target, reduce: "sum")) }
        """
        let compiled = mallocsPerCall(setup, compiled: true), straight = mallocsPerCall(setup, compiled: false)
        // 11 time steps, each a read and a write kept in the trace: not one malloc per access.
        XCTAssertLessThan(compiled, 22, "compiled \(compiled), op by op \(straight) mallocs per step")
        XCTAssertGreaterThan(straight, 100 * max(compiled, 1), "compiled \(compiled), op by op \(straight) mallocs per step")
    }
}
