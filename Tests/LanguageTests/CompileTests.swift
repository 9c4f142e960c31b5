import Builtins
import Foundation
import Runtime
import Syntax
import Tensor
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
