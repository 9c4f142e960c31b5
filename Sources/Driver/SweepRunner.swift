import Builtins
import Foundation
import Runtime
import Syntax
import Tensor

/// Runs the trials of a sweep as `mnemo run` processes and keeps each one's
/// record in RESULTS/<i>/: config.json (what it ran), output.txt (what it
/// printed), metrics.jsonl and checkpoint.safetensors (the script's, through
/// trial()), running.json while it runs, then summary.json (done: its final
/// metrics) or failed.json. Every JSON file is written atomically. A trial
/// with a summary is never run again; a stopped or failed one runs again,
/// resuming from its checkpoint when the script keeps one.
final class SweepRunner {
    let sweep: SweepFile
    let executable: String

    init(sweep: SweepFile, executable: String = SampleRunner.currentExecutable) {
        self.sweep = sweep
        self.executable = executable
    }

    enum State: String { case done, running, failed, pending }

    static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, 255)
        return String(cString: buffer)
    }

    func json(_ path: String) -> [String: Any]? {
        guard let data = FileManager.default.contents(atPath: path), JSONDepth.within([UInt8](data), 16) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    /// The Slurm tasks squeue lists ("12_3"), looked up once; nil where there is no squeue.
    private lazy var slurmTasks: Set<String>? = Shell.output(["squeue", "-h", "-o", "%i"]).map { Set($0.split(separator: "\n").map(String.init)) }

    /// This process's Slurm array task, as squeue names it.
    static var slurmTask: String? {
        let env = ProcessInfo.processInfo.environment
        guard let job = env["SLURM_ARRAY_JOB_ID"], let task = env["SLURM_ARRAY_TASK_ID"] else { return nil }
        return "\(job)_\(task)"
    }

    func state(_ i: Int) -> State {
        let dir = sweep.folder(i), fm = FileManager.default
        if fm.fileExists(atPath: dir + "/summary.json") { return .done }
        if let running = json(dir + "/running.json") {
            // A Slurm task squeue no longer lists is not running (its node may have died).
            if let task = running["slurm"] as? String, let alive = slurmTasks, !alive.contains(task) {
                return fm.fileExists(atPath: dir + "/failed.json") ? .failed : .pending
            }
            // On this host a dead process is not running; another host's claim is believed.
            if (running["host"] as? String) != SweepRunner.hostName { return .running }
            if let pid = (running["pid"] as? NSNumber)?.int32Value, kill(pid, 0) == 0 || errno == EPERM { return .running }
        }
        if fm.fileExists(atPath: dir + "/failed.json") { return .failed }
        return .pending
    }

    static func write(_ object: String, to path: String) throws { try SafeFile.write(Array((object + "\n").utf8), to: path) }

    /// Runs trial i here (unless it is done); returns its exit status.
    @discardableResult
    func run(trial i: Int, log: (String) -> Void) -> Int32 {
        let trial = sweep.trial(i), dir = sweep.folder(i), fm = FileManager.default
        if state(i) == .done { log("trial \(i) is done already"); return 0 }
        let arguments = sweep.arguments(for: trial)
        let started = Date()
        do {
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let args = arguments.map(SafeTensors.jsonString).joined(separator: ",")
            try SweepRunner.write(#"{"trial":\#(i),"seed":\#(trial.seed),"config":\#(trial.json),"script":\#(SafeTensors.jsonString(sweep.script)),"args":[\#(args)]}"#,
                                  to: dir + "/config.json")
            let slurm = SweepRunner.slurmTask.map { #","slurm":\#(SafeTensors.jsonString($0))"# } ?? ""
            try SweepRunner.write(#"{"host":\#(SafeTensors.jsonString(SweepRunner.hostName)),"pid":\#(getpid()),"started":\#(SafeTensors.jsonString(ISO8601DateFormatter().string(from: started)))\#(slurm)}"#,
                                  to: dir + "/running.json")
        } catch {
            log("trial \(i): cannot prepare \(dir): \(error)")
            return ExitStatus.ioError.rawValue
        }
        defer { try? fm.removeItem(atPath: dir + "/running.json") }
        let outputPath = dir + "/output.txt"
        if !fm.fileExists(atPath: outputPath) { _ = fm.createFile(atPath: outputPath, contents: nil) }
        guard let output = FileHandle(forWritingAtPath: outputPath) else { log("trial \(i): cannot write \(outputPath)"); return ExitStatus.ioError.rawValue }
        output.seekToEndOfFile()
        defer { try? output.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["run", sweep.script] + arguments
        var environment = ProcessInfo.processInfo.environment
        let absolute = dir.hasPrefix("/") ? dir : fm.currentDirectoryPath + "/" + dir
        environment["MNEMO_TRIAL_DIR"] = absolute
        environment["MNEMO_TRIAL_INDEX"] = String(i)
        environment["MNEMO_TRIAL_SEED"] = String(trial.seed)
        environment["MNEMO_TRIAL_CONFIG"] = trial.json
        process.environment = environment
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        Host.unblockTermination()
        do { try process.run() } catch {
            log("trial \(i): cannot run \(executable): \(error.localizedDescription)")
            return ExitStatus.ioError.rawValue
        }
        // SIGTERM to the runner (a scheduler's time limit) goes on to the trial, which checkpoints and stops.
        var forwarded = false
        while process.isRunning {
            if Interrupt.sigtermReceived, !forwarded { kill(process.processIdentifier, SIGTERM); forwarded = true }
            usleep(20_000)
        }
        process.waitUntilExit()
        let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        let seconds = Date().timeIntervalSince(started)
        do {
            if status == 0 {
                let finals = SweepRunner.finalMetrics(dir + "/metrics.jsonl").map { "\(SafeTensors.jsonString($0.0)):\(SweepFile.Setting.number($0.1).json)" }
                try SweepRunner.write(#"{"trial":\#(i),"seed":\#(trial.seed),"config":\#(trial.json),"status":"done","seconds":\#(String(format: "%.3f", seconds)),"final":{\#(finals.joined(separator: ","))}}"#,
                                      to: dir + "/summary.json")
                try? fm.removeItem(atPath: dir + "/failed.json")
            } else if status != ExitStatus.terminated.rawValue {
                try SweepRunner.write(#"{"trial":\#(i),"exit":\#(status),"seconds":\#(String(format: "%.3f", seconds))}"#, to: dir + "/failed.json")
            }
        } catch { log("trial \(i): cannot write its record: \(error)") }
        return status
    }

    /// The last finite value of each numeric column of a metrics log.
    static func finalMetrics(_ path: String) -> [(String, Double)] {
        guard let log = try? MetricsLog(path: path) else { return [] }
        return log.names.compactMap { name in log.columns[name]!.last(where: { $0.isFinite }).map { (name, $0) } }
    }

    /// Counts shared by the workers of `runAll`.
    private final class Tally: @unchecked Sendable {
        let lock = NSLock()
        var finished = 0, failed = 0, stopped = 0
    }

    /// Runs every trial that is not done, `jobs` at a time, with one progress
    /// line for the whole sweep. Returns how many failed.
    func runAll(jobs: Int, log: @escaping (String) -> Void) -> Int {
        let states = (0..<sweep.trials).map(state)
        let todo = states.indices.filter { states[$0] != .done && states[$0] != .running }
        let total = sweep.trials, alreadyDone = states.filter { $0 == .done }.count
        let onTerminal = isatty(2) == 1
        let tally = Tally()
        let start = Date()
        let name = (sweep.path as NSString).lastPathComponent
        let group = DispatchGroup(), slots = DispatchSemaphore(value: max(1, jobs))
        @Sendable func line() -> String {
            let elapsed = Date().timeIntervalSince(start)
            let left = tally.finished > 0 ? elapsed / Double(tally.finished) * Double(todo.count - tally.finished) : .nan
            return "sweep \(name): \(alreadyDone + tally.finished - tally.failed - tally.stopped)/\(total) done, \(tally.failed) failed, "
                + (tally.stopped > 0 ? "\(tally.stopped) stopped, " : "")
                + "\(min(jobs, todo.count - tally.finished)) running [\(Int(elapsed))s elapsed\(left.isFinite ? ", about \(Int(left))s left" : "")]"
        }
        for i in todo {
            if Interrupt.sigtermReceived { break }
            slots.wait()
            if Interrupt.sigtermReceived { slots.signal(); break }
            group.enter()
            DispatchQueue.global().async {
                let status = self.run(trial: i, log: log)
                tally.lock.lock()
                tally.finished += 1
                let stopped = status == ExitStatus.terminated.rawValue
                if status != 0, !stopped { tally.failed += 1 }
                if stopped { tally.stopped += 1 }
                let text = line()
                tally.lock.unlock()
                if status != 0 {
                    let t = self.sweep.trial(i)
                    let what = stopped ? "was stopped; it resumes from its checkpoint when the sweep runs again" : "ended with status \(status); see \(self.sweep.folder(i))/output.txt"
                    log((onTerminal ? "\r\u{1B}[K" : "") + "trial \(i) (\(t.configText.isEmpty ? "" : t.configText + ", ")seed \(t.seed)) \(what)")
                }
                FileHandle.standardError.write(Data((onTerminal ? "\r\u{1B}[K" + text : text + "\n").utf8))
                slots.signal()
                group.leave()
            }
        }
        group.wait()
        if onTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
        return tally.failed
    }
}
