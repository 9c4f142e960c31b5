import Foundation
import Language
import Tensor

/// `mnemo bench`: per-iteration costs of the interpreter's hot paths, each the
/// best of three runs, beside a native baseline measured in the same run (the
/// machine is shared and noisy, so ratios are the figures to compare).
struct Benchmarks {
    let iterations: Int

    private var cases: [(name: String, script: String)] {
        let n = iterations
        return [
            ("empty loop", "for i in 0..<\(n) { }"),
            ("scalar loop: s = s + i", "var s = 0\nfor i in 0..<\(n) { s = s + i }"),
            ("scalar loop in a function", "fn f(n) {\n var s = 0\n for i in 0..<n { s = s + i }\n s\n}\nf(\(n))"),
            ("tensor a + b (length 20)", "let a = randn(20)\nlet b = randn(20)\nfor i in 0..<\(n) { let c = a + b }"),
            ("tensor tanh(a) (length 20)", "let a = randn(20)\nfor i in 0..<\(n) { let c = tanh(a) }"),
            ("recorded p * b (length 20, graph node)", "let p = param(randn(20))\nlet b = randn(20)\nfor i in 0..<\(n) { let c = p * b }"),
        ]
    }

    func run() {
        #if DEBUG
        print("note: this is a debug build; build with `swift build -c release` for meaningful figures")
        #endif
        print("mnemo bench: \(iterations) iterations each, best of 3")
        let baseline = best { nativeTensorAdd() }
        print(pad("native Swift: Tensor + Tensor (length 20)") + String(format: "%9.1f ns/iter", baseline))
        for (name, script) in cases {
            let ns = best { timeScript(script) }
            print(pad(name) + String(format: "%9.1f ns/iter  (%.1fx native add)", ns, ns / baseline))
        }
    }

    private func pad(_ s: String) -> String { s.padding(toLength: 44, withPad: " ", startingAt: 0) }

    private func best(_ f: () -> Double) -> Double { (0..<3).map { _ in f() }.min()! }

    /// Nanoseconds per iteration of one script run.
    private func timeScript(_ text: String) -> Double {
        let interpreter = Interpreter(output: { _ in })
        let start = DispatchTime.now().uptimeNanoseconds
        do { try interpreter.run(SourceFile(name: "<bench>", text: text)) } catch { print("benchmark failed: \(error)"); return .nan }
        return Double(DispatchTime.now().uptimeNanoseconds - start) / Double(iterations)
    }

    private func nativeTensorAdd() -> Double {
        let rng = RandomGenerator(seed: 1)
        let a = try! Tensor.randn([20], rng), b = try! Tensor.randn([20], rng)
        var sink: Float = 0
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<iterations { sink += try! (a + b).data[0] }
        let ns = Double(DispatchTime.now().uptimeNanoseconds - start) / Double(iterations)
        if sink == .infinity { print(sink) }
        return ns
    }
}
