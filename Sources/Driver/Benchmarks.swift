import Builtins
import Foundation
import Runtime
import Syntax
import Tensor

/// `mnemo bench`: the scripts in bench/ (each prints its figure, "VALUE
/// UNIT", and takes an iteration count as its argument; a user can run and
/// change them), each the best of three runs, beside a native baseline
/// measured in the same run (the machine is shared and noisy, so ratios are
/// the figures to compare).
struct Benchmarks {
    let iterations: Int
    var files: [String] = []

    /// bench/ beside the stdlib (a build tree, an install), or MNEMO_BENCH.
    static var folder: String? {
        if let env = ProcessInfo.processInfo.environment["MNEMO_BENCH"], !env.isEmpty { return env }
        guard let stdlib = ModuleLoader.findStdlib() else { return nil }
        let bench = (stdlib as NSString).deletingLastPathComponent + "/bench"
        return FileManager.default.fileExists(atPath: bench) ? bench : nil
    }

    /// The scripts to run: those named, or every bench/*.mn, loops before models.
    var scripts: [String] {
        if !files.isEmpty { return files }
        guard let folder = Benchmarks.folder, let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        let paths = names.filter { $0.hasSuffix(".mn") }.sorted().map { folder + "/" + $0 }
        let models = ["ntm_step.mn", "ntm_step_compiled.mn", "mann_episode.mn", "mann_episode_compiled.mn", "metanet_episode.mn"]
        return paths.filter { !models.contains(($0 as NSString).lastPathComponent) } + models.compactMap { m in paths.first { $0.hasSuffix("/" + m) } }
    }

    func run() {
        #if DEBUG
        print("note: this is a debug build; build with `swift build -c release` for meaningful figures")
        #endif
        let scripts = self.scripts
        guard !scripts.isEmpty else {
            print("no benchmark scripts found (bench/ beside the stdlib, or MNEMO_BENCH)")
            return
        }
        print("mnemo bench: \(iterations) iterations each, best of 3")
        let baseline = best { nativeTensorAdd() }
        print(pad("native Swift: Tensor + Tensor (length 20)") + String(format: "%9.1f ns/iter", baseline))
        for path in scripts {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { print("cannot read \(path)"); continue }
            let title = text.split(separator: "\n").first.map { $0.hasPrefix("#") ? $0.dropFirst().trimmingCharacters(in: .whitespaces) : (path as NSString).lastPathComponent } ?? path
            var best = Double.infinity, unit = ""
            for _ in 0..<3 {
                var out = ""
                let interpreter = Interpreter(output: { out += $0 + "\n" })
                interpreter.arguments = [String(iterations)]
                do { try interpreter.run(SourceFile(name: path, text: text, path: path)) } catch {
                    print(pad(title) + " failed: \(Host.report(error).text)")
                    best = .nan
                    break
                }
                let fields = out.split(whereSeparator: { $0 == " " || $0 == "\n" })
                guard let value = fields.first.flatMap({ Double($0) }) else { best = .nan; break }
                best = min(best, value)
                unit = fields.dropFirst().first.map(String.init) ?? ""
            }
            if unit == "ns/iter" {
                print(pad(title) + String(format: "%9.1f ns/iter  (%.1fx native add)", best, best / baseline))
            } else {
                print(pad(title) + String(format: "%9.2f ", best) + unit)
            }
        }
    }

    private func pad(_ s: String) -> String { s.padding(toLength: 56, withPad: " ", startingAt: 0) }

    private func best(_ f: () -> Double) -> Double { (0..<3).map { _ in f() }.min()! }

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
