import Builtins
import Foundation
import Runtime
import Syntax
import Tensor
import XCTest

/// Checkpoints as a user relies on them: a run resumed in a new process
/// continues bit for bit, and a damaged or mismatched file is refused
/// without changing anything.
final class CheckpointTests: XCTestCase {
    func temporaryPath(_ name: String) -> String {
        let path = NSTemporaryDirectory() + "/mnemo-ckpt-\(UUID().uuidString)-\(name)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func mnemo(_ arguments: [String]) throws {
        let r = try runMnemoProcess(arguments, environment: ["MNEMO_BLAS": "none"])
        XCTAssertEqual(r.status, 0, r.error)
    }

    /// N steps straight equal N/2 steps, a checkpoint, a new process that
    /// restores it, and N/2 more: every parameter's bits and the generator's state.
    func checkResume(_ kind: String, steps: Int) throws {
        let script = packageRoot + "/Tests/fixtures/resume.mn"
        let straight = temporaryPath("straight.safetensors"), half = temporaryPath("half.safetensors"), resumed = temporaryPath("resumed.safetensors")
        try mnemo([script, kind, "straight", String(steps), straight])
        try mnemo([script, kind, "first", String(steps / 2), half])
        try mnemo([script, kind, "resume", String(steps), resumed, half])
        let a = try SafeTensors.read(path: straight), b = try SafeTensors.read(path: resumed)
        XCTAssertEqual(a.entries.map(\.name), b.entries.map(\.name))
        XCTAssertGreaterThan(a.entries.count, 4)
        for (x, y) in zip(a.entries, b.entries) {
            XCTAssertEqual(x.tensor.shape, y.tensor.shape, x.name)
            XCTAssertEqual(x.tensor.data.map(\.bitPattern), y.tensor.data.map(\.bitPattern), "\(kind): \(x.name) differs after resuming")
        }
        XCTAssertEqual(a.metadata["mnemo.random"], b.metadata["mnemo.random"])
        // And training did move the parameters away from where the half-way checkpoint had them.
        let h = try SafeTensors.read(path: half)
        XCTAssertNotEqual(h.entries.first { $0.name == a.entries[0].name }?.tensor.data, a.entries[0].tensor.data)
    }

    func testNTMResumesBitForBit() throws { try checkResume("ntm", steps: 12) }
    func testMANNResumesBitForBit() throws { try checkResume("mann", steps: 8) }
}

final class CheckpointErrorTests: XCTestCase {
    let path = NSTemporaryDirectory() + "/mnemo-ckpt-errors-\(UUID().uuidString).safetensors"
    override func tearDown() { try? FileManager.default.removeItem(atPath: path) }

    /// Saves a small model and optimizer, then runs `after` against the file.
    func run(_ after: String) -> (output: String, error: String?) {
        let r = runMnemo("""
        import nn
        seed(3)
        let net = nn.MLP([3, 4, 2])
        let opt = adam(params(net), lr: 0.01)
        opt.step(sum(net.forward(randn(5, 3)) ** 2))
        checkpoint("\(path)", {model: net, opt: opt, step: 1, note: "first", best: 0.25, done: false})
        \(after)
        """)
        return (r.output, r.error.map { ($0 as? Diagnostic)?.message ?? "\($0)" })
    }

    func testRoundTripGivesBackValuesAndState() {
        let r = run("""
        let before = net.forward(tensor([[1, 2, 3]]))
        let w = params(net)[0]
        assign(w, zeros(shape(w)))
        let saved = restore("\(path)", {model: net, opt: opt})
        print(saved.step, saved.note, saved.best, saved.done, opt.steps, allclose(net.forward(tensor([[1, 2, 3]])), before, 0, 0))
        """)
        XCTAssertNil(r.error)
        XCTAssertEqual(r.output, "1 first 0.25 false 1 true\n")
    }

    func expectError(_ code: String, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        let r = run(code)
        XCTAssertNotNil(r.error, "expected an error", file: file, line: line)
        XCTAssertTrue(r.error?.contains(fragment) ?? false, "error \(r.error ?? "nil") lacks '\(fragment)'", file: file, line: line)
    }

    func testMismatchesAreErrorsThatChangeNothing() {
        // A differently built model: a shape mismatch, and its parameters unchanged.
        let r = run("""
        let other = nn.MLP([3, 5, 2])
        let keep = params(other)[0]
        let copy = keep + 0
        print(len(keep))
        restore("\(path)", {model: other})
        """)
        XCTAssertTrue(r.error?.contains("has shape [3, 4]") ?? false, r.error ?? "no error")
        expectError("restore(\"\(path)\", {model: nn.MLP([3, 4, 4, 2])})", "has shape [4, 2]; a parameter has shape [4, 4]")
        expectError("restore(\"\(path)\", {model: {layers: [net.layers[0], net.layers[1], nn.Linear(2, 2)]}})", "has no tensor 'model.layers[2].W'")
        expectError("restore(\"\(path)\", {model: {layers: [net.layers[0]]}})", "which nothing in the given record takes")
        expectError("restore(\"\(path)\", {net: net})", "has no tensor 'net.")
        expectError("restore(\"\(path)\", {model: net, opt: sgd(params(net), lr: 0.1)})", "saved from a adam optimizer")
        expectError("restore(\"\(path).missing\", {model: net})", "no such file")
        expectError("checkpoint(\"\(path)\", {f: fn(x) => x})", "cannot keep")
        expectError("checkpoint(\"\(path)\", [net])", "takes a record")
    }

    /// As in the REPL: a restore that fails part way leaves every parameter,
    /// the optimizer and the generator as they were.
    func testFailedRestoreLeavesParametersAsTheyWere() throws {
        _ = run("")
        var out = ""
        let interpreter = Interpreter(output: { out += $0 + "\n" })
        _ = try interpreter.evaluate(SourceFile(name: "a.mn", text: """
        import nn
        let net = nn.MLP([3, 4, 2])
        let opt = adam(params(net), lr: 0.5)
        for p in params(net) { assign(p, ones(shape(p))) }
        seed(11)
        """))
        XCTAssertThrowsError(try interpreter.evaluate(SourceFile(name: "b.mn", text: """
        restore("\(path)", {model: net, opt: opt, extra: nn.MLP([9, 9])})
        """)))
        _ = try interpreter.evaluate(SourceFile(name: "c.mn", text: """
        var total = 0
        for p in params(net) { total += item(sum(p)) }
        print(total, opt.steps, opt.lr)
        seed(11)
        """))
        XCTAssertEqual(out, "26 0 0.5\n")
    }

    /// Damaged files: each fault named, none a crash.
    func testDamagedFilesAreRefusedClearly() throws {
        _ = run("")
        let good = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        func refuse(_ bytes: [UInt8], _ fragment: String, line: UInt = #line) {
            XCTAssertThrowsError(try SafeTensors.decode(bytes, name: "x.safetensors"), line: line) { e in
                XCTAssertTrue("\(e)".contains(fragment), "\(e) lacks '\(fragment)'", line: line)
            }
        }
        refuse(Array(good.prefix(5)), "shorter than the 8-byte header length")
        refuse(Array(good.prefix(40)), "the header claims")
        refuse(Array(good.dropLast(4)), "offsets outside")
        var header = Array(good)
        header[8] = UInt8(ascii: "[")
        refuse(header, "not a JSON object")
        func file(_ json: String, data: Int) -> [UInt8] {
            var out = [UInt8]()
            withUnsafeBytes(of: UInt64(json.utf8.count).littleEndian) { out += $0 }
            return out + Array(json.utf8) + [UInt8](repeating: 0, count: data)
        }
        refuse(file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, data: 12), "overlap")
        refuse(file(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: 8), "needs 12 bytes")
        refuse(file(#"{"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}"#, data: 8), "dtype C64")
        refuse(file(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: 4), "bad shape")
        refuse(file(#"{"a":{"dtype":"F32","shape":[4611686018427387904, 4],"data_offsets":[0,4]}}"#, data: 4), "entry 'a'")
        refuse(file(#"{"__metadata__":{"k":1}}"#, data: 0), "not a string")
        // Half and bfloat16 are widened exactly.
        let halves = try SafeTensors.decode(file(#"{"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[6,8]}}"#, data: 0)
                                            + [0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0x80, 0x3f], name: "x")
        XCTAssertEqual(halves.entry("h")?.tensor.data, [1, -2, 0x1p-24])
        XCTAssertEqual(halves.entry("b")?.tensor.data, [1])
    }
}
