import Builtins
import Foundation
import Runtime
import Syntax

/// The regression runner behind `mnemo test`: each NAME.mn runs as its own
/// `mnemo` process (so a crash or a hang fails that script alone), from its
/// own folder, with MNEMO_TEST=1 (so samples can run short), a time limit,
/// and Mnemo's own matrix kernels (MNEMO_BLAS=none: a system BLAS picks its
/// kernels for the CPU, so its last bits differ from machine to machine).
/// Its standard output and error together must equal NAME.out beside it.
public struct SampleRunner {
    public struct Summary { public var passed = 0, failed = 0; public var total: Int { passed + failed } }

    let update: Bool
    let executable: String
    let timeLimit: Double
    let jobs: Int
    let log: (String) -> Void

    /// `executable` is the mnemo binary that runs each script.
    public init(update: Bool, executable: String, timeLimit: Double = 300, jobs: Int = ProcessInfo.processInfo.activeProcessorCount,
                log: @escaping (String) -> Void) {
        self.update = update
        self.executable = executable
        self.timeLimit = timeLimit
        self.jobs = max(1, jobs)
        self.log = log
    }

    /// The running mnemo executable.
    public static var currentExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    public func run(paths: [String]) -> Summary {
        var summary = Summary()
        let found = scripts(in: paths)
        // Scripts run `jobs` at a time; results are reported in order as they arrive.
        final class Slot: @unchecked Sendable { var result: Bool?; var lines: [String] = []; let done = DispatchSemaphore(value: 0) }
        let slots = found.map { _ in Slot() }
        let gate = DispatchSemaphore(value: jobs)
        DispatchQueue.global().async {
            DispatchQueue.concurrentPerform(iterations: found.count) { i in
                gate.wait()
                var lines: [String] = []
                let passed = self.check(found[i], log: { lines.append($0) })
                gate.signal()
                slots[i].lines = lines
                slots[i].result = passed
                slots[i].done.signal()
            }
        }
        for slot in slots {
            slot.done.wait()
            slot.lines.forEach(log)
            if slot.result == true { summary.passed += 1 } else { summary.failed += 1 }
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

    /// What a run of one script produced: its output as the expected-output
    /// file stores it, or why it did not finish.
    enum Outcome { case finished(String), timedOut(String), crashed(String, signal: Int32) }

    func outcome(of path: String) -> Outcome {
        let url = URL(fileURLWithPath: path)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["run", url.lastPathComponent]
        process.currentDirectoryURL = url.deletingLastPathComponent()
        var environment = ProcessInfo.processInfo.environment
        environment["MNEMO_TEST"] = "1"
        environment["MNEMO_BLAS"] = "none"
        // A small budget, so that scripts that exhaust it (Tests/bad) end quickly.
        if environment["MNEMO_MAX_MEMORY"] == nil { environment["MNEMO_MAX_MEMORY"] = "2G" }
        environment["MNEMO_HISTORY"] = ""
        environment["SWIFT_BACKTRACE"] = "enable=no"
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        do { try process.run() } catch { return .finished("error: cannot run \(executable): \(error.localizedDescription)\n") }
        final class Collected: @unchecked Sendable { var data = Data() }
        let collected = Collected(), reading = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            collected.data = pipe.fileHandleForReading.readDataToEndOfFile()
            reading.signal()
        }
        var timedOut = false
        if exited.wait(timeout: .now() + timeLimit) == .timedOut {
            timedOut = true
            kill(process.processIdentifier, SIGKILL)
            exited.wait()
        }
        reading.wait()
        let text = String(decoding: collected.data, as: UTF8.self)
        if timedOut { return .timedOut(text) }
        if process.terminationReason == .uncaughtSignal { return .crashed(text, signal: process.terminationStatus) }
        return .finished(text)
    }

    private func check(_ path: String, log: (String) -> Void) -> Bool {
        let expectedPath = (path as NSString).deletingPathExtension + ".out"
        let start = Date()
        let result = outcome(of: path)
        let seconds = String(format: "%.1fs", Date().timeIntervalSince(start))
        let actual: String
        switch result {
        case .finished(let text): actual = text
        case .timedOut(let text):
            log("FAIL \(path): still running after \(Int(timeLimit)) s; stopped. Its output so far:\n\(text.suffix(2000))")
            return false
        case .crashed(let text, let signal):
            log("FAIL \(path) (\(seconds)): the process died of signal \(signal). Its output:\n\(text.suffix(2000))")
            return false
        }
        let expected = try? String(contentsOfFile: expectedPath, encoding: .utf8)
        if update {
            // Expected output that still matches (its timing placeholders included) is kept as written.
            if let expected, ExpectedOutput.matches(expected, actual) {
                log("PASS \(path) (\(seconds)), unchanged")
                return true
            }
            do {
                try actual.write(toFile: expectedPath, atomically: true, encoding: .utf8)
                log("UPDATED \(path) (\(seconds))")
                return true
            } catch {
                log("FAIL \(path): cannot write \(expectedPath): \(error.localizedDescription)")
                return false
            }
        }
        guard let expected else {
            log("FAIL \(path): no expected output \(expectedPath) (run `mnemo test --update \(path)` to record it)")
            return false
        }
        if ExpectedOutput.matches(expected, actual) {
            log("PASS \(path) (\(seconds))")
            return true
        }
        log("FAIL \(path) (\(seconds)): output differs from \(expectedPath)")
        log(LineDiff.unified(expected: expected, actual: actual))
        return false
    }
}

/// How output is compared with an expected-output file: exactly, except
/// that two placeholders stand for what differs from run to run. `[time]`
/// matches a number as durations and rates print it (12, 0.25, 00:03,
/// 1:02:03, 1.5e-3); `[any]` matches any text within the line. So a sample
/// may print how long it took: `done in [time] s ([any])`.
public enum ExpectedOutput {
    public static func matches(_ expected: String, _ actual: String) -> Bool {
        if expected == actual { return true }
        guard expected.contains("[time]") || expected.contains("[any]") else { return false }
        let e = expected.components(separatedBy: "\n"), a = actual.components(separatedBy: "\n")
        guard e.count == a.count else { return false }
        return zip(e, a).allSatisfy { lineMatches($0, $1) }
    }

    static func lineMatches(_ expected: String, _ actual: String) -> Bool {
        guard expected.contains("[time]") || expected.contains("[any]") else { return expected == actual }
        var pattern = "^"
        var rest = Substring(expected)
        while !rest.isEmpty {
            if rest.hasPrefix("[time]") {
                pattern += "[0-9]+(?:[:.][0-9]+)*(?:e[-+]?[0-9]+)?"
                rest = rest.dropFirst(6)
            } else if rest.hasPrefix("[any]") {
                pattern += ".*?"
                rest = rest.dropFirst(5)
            } else if let c = rest.first {
                pattern += NSRegularExpression.escapedPattern(for: String(c))
                rest = rest.dropFirst()
            }
        }
        pattern += "$"
        return actual.range(of: pattern, options: .regularExpression) != nil
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
