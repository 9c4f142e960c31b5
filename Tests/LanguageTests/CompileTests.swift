import Builtins
import Foundation
import Runtime
import Syntax
import Tensor
import XCTest

/// `compile(f)` as a user relies on it: a compiled training step gives the
/// same parameters, bit for bit, as the step run by the interpreter, for the
/// NTM (sequences of several lengths: one plan each) and the MANN; a step it
/// cannot replay (Meta Networks reads labels as numbers) runs uncompiled and
/// still agrees.
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

    func testMetaNetRunsUncompiledAndAgrees() {
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
          for i in 0..<3 { append(losses, f(tasks.episode(data, range(12), ways: 3, shots: 1, queries: 2))) }
          if compiled { print(f.uncompiled, f.plans) }
          losses
        }
        print(run(false) == run(true))
        """)
        XCTAssertNil(r.error)
        XCTAssertEqual(r.output, "2 0\ntrue\n")
    }
}
