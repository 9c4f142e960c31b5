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

    /// Whole training steps of the memory models, timed per step after a warm-up.
    private var modelCases: [(name: String, setup: String, step: String, repeats: Int)] {
        [
            ("NTM copy step, length 20 (LSTM 100, memory 128 x 20)",
             "import ntm\nimport tasks\nseed(1)\nlet model = ntm.NTM(9, 8, hidden: 100, memory: (128, 20))\nlet opt = rmsprop(params(model), lr: 1e-4, momentum: 0.9, decay: 0.95, clip: 10, form: \"graves\")\nlet task = tasks.copy(width: 8, length: 20)\n",
             "opt.step(bce(tasks.answer(model.run(task.input), task), task.target, reduce: \"sum\"))", 40),
            ("MANN episode, batch 16 x 50 steps, 4 reads",
             "import mann\nimport tasks\nseed(1)\nlet model = mann.MANN(25, 5, hidden: 200, memory: (128, 40), reads: 4, batch: 16)\nlet opt = adam(params(model), lr: 1e-3, clipnorm: 10)\nlet e = tasks.fewshot_episode(classes: 5, shots: 10, features: 20, batch: 16)\n",
             "opt.step(cross_entropy(model.run(e.input), e.labels))", 5),
            ("Meta Networks episode, 5-way 1-shot, 25 queries",
             "import metanet\nimport tasks\nseed(1)\nlet data = tasks.synthetic_dataset()\nlet net = metanet.MetaNet(64, 5)\nlet opt = adam(params(net), lr: 1e-3, clipnorm: 10)\nlet e = tasks.episode(data, range(60), ways: 5, shots: 1, queries: 5)\n",
             "opt.step(cross_entropy(net.forward(e.support, e.support_labels, e.query), e.query_labels))", 10),
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
        for (name, setup, step, repeats) in modelCases {
            let script = setup + "\(step)\nlet start = clock()\nfor i in 0..<\(repeats) { \(step) }\nprint((clock() - start) / \(repeats) * 1000)"
            var best = Double.infinity
            for _ in 0..<3 {
                var out = ""
                let interpreter = Interpreter(output: { out += $0 })
                do { try interpreter.run(SourceFile(name: "<bench>", text: script)) } catch { print("benchmark failed: \(error)"); break }
                best = min(best, Double(out) ?? .nan)
            }
            print(pad(name) + String(format: "%9.2f ms/step", best))
        }
    }

    private func pad(_ s: String) -> String { s.padding(toLength: 56, withPad: " ", startingAt: 0) }

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
        let a = Tensor(vector: (0..<20).map { _ in Float(rng.normal()) }), b = Tensor(vector: (0..<20).map { _ in Float(rng.normal()) })
        var sink: Float = 0
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<iterations { sink += ((try? a + b)?.data[0]) ?? 0 }
        let ns = Double(DispatchTime.now().uptimeNanoseconds - start) / Double(iterations)
        if sink == .infinity { print(sink) }
        return ns
    }
}
