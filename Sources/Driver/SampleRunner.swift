import Foundation
import Language

/// The regression runner behind `mnemo test`: each NAME.mn runs in a fresh
/// interpreter with MNEMO_TEST=1 (so samples can run short), and its output,
/// including any error it ends with, must equal NAME.out beside it.
public struct SampleRunner {
    public struct Summary { public var passed = 0, failed = 0; public var total: Int { passed + failed } }

    let update: Bool
    let log: (String) -> Void

    public init(update: Bool, log: @escaping (String) -> Void) {
        self.update = update
        self.log = log
    }

    public func run(paths: [String]) -> Summary {
        var summary = Summary()
        for script in scripts(in: paths) {
            if check(script) { summary.passed += 1 } else { summary.failed += 1 }
        }
        log("\(summary.passed) passed, \(summary.failed) failed")
        return summary
    }

    func scripts(in paths: [String]) -> [String] {
        var found: [String] = []
        let fm = FileManager.default
        for path in paths {
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else {
                log("FAIL \(path): no such file or folder")
                continue
            }
            if isDirectory.boolValue {
                let names = (try? fm.contentsOfDirectory(atPath: path)) ?? []
                found += names.filter { $0.hasSuffix(".mn") }.sorted().map { (path as NSString).appendingPathComponent($0) }
            } else {
                found.append(path)
            }
        }
        return found
    }

    /// The output a script produces, as the expected-output file stores it.
    public static func output(of path: String) -> String {
        var out = ""
        let interpreter = Interpreter(output: { out += $0 + "\n" })
        interpreter.environmentOverrides["MNEMO_TEST"] = "1"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "error: cannot read \(path)\n" }
        let name = (path as NSString).lastPathComponent
        do {
            try interpreter.run(SourceFile(name: name, text: text, path: path))
        } catch {
            out += Host.report(error).text + "\n"
        }
        return out
    }

    private func check(_ path: String) -> Bool {
        let expectedPath = (path as NSString).deletingPathExtension + ".out"
        let start = Date()
        let actual = SampleRunner.output(of: path)
        let seconds = String(format: "%.1fs", Date().timeIntervalSince(start))
        if update {
            do {
                try actual.write(toFile: expectedPath, atomically: true, encoding: .utf8)
                log("UPDATED \(path) (\(seconds))")
                return true
            } catch {
                log("FAIL \(path): cannot write \(expectedPath): \(error.localizedDescription)")
                return false
            }
        }
        guard let expected = try? String(contentsOfFile: expectedPath, encoding: .utf8) else {
            log("FAIL \(path): no expected output \(expectedPath) (run `mnemo test --update \(path)` to record it)")
            return false
        }
        if expected == actual {
            log("PASS \(path) (\(seconds))")
            return true
        }
        log("FAIL \(path) (\(seconds)): output differs from \(expectedPath)")
        log(LineDiff.unified(expected: expected, actual: actual))
        return false
    }
}

/// A small line diff (longest common subsequence), shown with -expected/+actual.
enum LineDiff {
    static func unified(expected: String, actual: String, context: Int = 2) -> String {
        let a = expected.components(separatedBy: "\n"), b = actual.components(separatedBy: "\n")
        let n = a.count, m = b.count
        guard n * m <= 4_000_000 else { return "--- expected (\(n) lines)\n+++ actual (\(m) lines)\n(too long to diff)" }
        var lcs = [[Int]](repeating: [Int](repeating: 0, count: m + 1), count: n + 1)
        for i in stride(from: n - 1, through: 0, by: -1) {
            for j in stride(from: m - 1, through: 0, by: -1) {
                lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
            }
        }
        var lines: [(Character, String)] = []
        var i = 0, j = 0
        while i < n || j < m {
            if i < n, j < m, a[i] == b[j] { lines.append((" ", a[i])); i += 1; j += 1 }
            else if i < n, j == m || lcs[i + 1][j] >= lcs[i][j + 1] { lines.append(("-", a[i])); i += 1 }
            else { lines.append(("+", b[j])); j += 1 }
        }
        let changed = lines.indices.filter { lines[$0].0 != " " }
        var out = ["--- expected", "+++ actual"]
        var last = -1
        for k in lines.indices where changed.contains(where: { abs($0 - k) <= context }) {
            if last >= 0 && k > last + 1 { out.append("...") }
            out.append("\(lines[k].0)\(lines[k].1)")
            last = k
        }
        return out.joined(separator: "\n")
    }
}
