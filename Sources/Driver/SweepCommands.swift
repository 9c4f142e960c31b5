import ArgumentParser
import Builtins
import Figure
import Foundation
import Runtime
import Syntax
import Tensor

struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a script over seeds and hyper-parameters: here, or as a Slurm array job; see where it stands; sum it up.",
        subcommands: [SweepRun.self, SweepStatus.self, SweepSummary.self, SweepSlurm.self])

    static func load(_ path: String) throws -> SweepFile {
        do { return try SweepFile(path: path) } catch let e as SweepFile.Invalid {
            Host.writeError("error: \(e.description)")
            throw ExitCode(ExitStatus.compileError.rawValue)
        }
    }

    /// The trial an array scheduler gives this process, if any.
    static var scheduledTrial: Int? {
        let env = ProcessInfo.processInfo.environment
        return (env["SLURM_ARRAY_TASK_ID"] ?? env["JOB_COMPLETION_INDEX"]).flatMap(Int.init)
    }
}

/// The sweep file every `mnemo sweep` command takes.
struct SweepFileArgument: ParsableArguments {
    @Argument(help: "The sweep file (.mn holding a record, or .json).") var file: String

    func load() throws -> SweepFile { try Sweep.load(file) }
}

struct SweepRun: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run the trials that are not done yet, N at a time; or one (--trial I, SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX).")

    @OptionGroup var sweepFile: SweepFileArgument
    @Option(help: "Run this trial only (0-based).") var trial: Int?
    @Option(help: "Trials at a time (default: the number of cores).") var jobs = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        let sweep = try sweepFile.load()
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
        Host.handleTermination()
        let runner = SweepRunner(sweep: sweep)
        if let i = trial ?? Sweep.scheduledTrial {
            guard i >= 0, i < sweep.trials else { throw ValidationError("trial \(i) is not one of the sweep's 0..<\(sweep.trials)") }
            let status = runner.run(trial: i, log: { Host.writeError($0) })
            if status != 0 { throw ExitCode(status) }
            return
        }
        let failed = runner.runAll(jobs: jobs, log: { Host.writeError($0) })
        if Interrupt.sigtermReceived { throw ExitCode(ExitStatus.terminated.rawValue) }
        if failed > 0 { throw ExitCode(ExitStatus.failure.rawValue) }
    }
}

struct SweepStatus: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Done, running, failed and pending trials, from the results folder (and squeue).")

    @OptionGroup var sweepFile: SweepFileArgument

    func run() throws {
        let sweep = try sweepFile.load()
        let runner = SweepRunner(sweep: sweep)
        var byState: [SweepRunner.State: [Int]] = [:]
        for i in 0..<sweep.trials { byState[runner.state(i), default: []].append(i) }
        print("\(sweep.trials) trials (\(sweep.configurations) configurations x \(sweep.seeds.count) seeds) in \(sweep.results)")
        for s in [SweepRunner.State.done, .running, .failed, .pending] {
            let list = byState[s] ?? []
            print("  \(s.rawValue): \(list.count)" + (list.isEmpty || s == .done ? "" : "  (\(SweepSlurm.ranges(list)))"))
        }
        if let job = try? String(contentsOfFile: sweep.results + "/slurm_job_id", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
           let queue = Shell.output(["squeue", "-h", "-j", job, "-o", "%i %T"]) {
            let lines = queue.split(separator: "\n")
            print("  slurm job \(job): \(lines.isEmpty ? "no tasks in the queue" : "\(lines.count) in the queue: " + lines.prefix(8).joined(separator: ", ") + (lines.count > 8 ? ", ..." : ""))")
        }
    }
}

struct SweepSummary: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "summary", abstract: "Each configuration's final metrics over seeds (median, interquartile range, min and max), best first; its median curve with the spread as a band.")

    @OptionGroup var sweepFile: SweepFileArgument
    @Option(help: "The metric to sort by and draw (default: the sweep's, else the log's first).") var metric: String?
    @Option(help: "Also write the table as CSV here.") var csv: String?
    @Option(help: "Draw the median curves of the metric, with the interquartile band, to this .png, .svg or .txt file.") var out: String?
    @Flag(help: "Draw the curves in the terminal too.") var plot = false
    @Option(help: "Also rank by the first step at which the metric gets below this value (above it with goal \"max\"), e.g. sequences to 0.1 bits.") var reach: Double?

    func run() throws {
        let sweep = try sweepFile.load()
        let target = metric ?? sweep.metric
        if reach != nil, target == nil { throw ValidationError("--reach needs --metric (or the sweep's metric)") }
        let summary = SweepTable(sweep: sweep, reach: reach.map { (target!, $0) })
        guard summary.doneTrials > 0 else {
            Host.writeError("error: no trial of \(sweepFile.file) is done yet (mnemo sweep status \(sweepFile.file))")
            throw ExitCode(ExitStatus.failure.rawValue)
        }
        let chosen = summary.reachName ?? metric ?? sweep.metric ?? summary.metrics.first
        guard let chosen, summary.metrics.contains(chosen) else {
            throw ValidationError("no metric '\(metric ?? sweep.metric ?? "")' in the trials' logs; they have \(summary.metrics.joined(separator: ", "))")
        }
        print(summary.table(sortedBy: chosen, minimize: sweep.minimize))
        if let csv {
            do { try SafeFile.write(Array(summary.csv(sortedBy: chosen, minimize: sweep.minimize).utf8), to: csv) } catch {
                Host.writeError("error: \(error)"); throw ExitCode(ExitStatus.ioError.rawValue)
            }
        }
        if out != nil || plot {
            let figure = try summary.curves(of: target ?? chosen)
            if plot { print(TerminalRenderer.standardOutput.render(figure)) }
            if let out {
                do { try figure.save(to: out) } catch {
                    Host.writeError("error: \(error)"); throw ExitCode(ExitStatus.ioError.rawValue)
                }
            }
        }
    }
}

/// The finished trials of a sweep, grouped by configuration.
struct SweepTable {
    let sweep: SweepFile
    /// Per configuration: its trials' final metrics.
    var finals: [Int: [[String: Double]]] = [:]
    var metrics: [String] = []
    var doneTrials = 0
    /// The name of the derived metric "first step reaching a value", when asked for.
    var reachName: String?

    /// `reach`: also the first logged step at which `metric` reaches `value`.
    init(sweep: SweepFile, reach: (metric: String, value: Double)? = nil) {
        self.sweep = sweep
        let runner = SweepRunner(sweep: sweep)
        if let reach { reachName = "step \(reach.metric) \(sweep.minimize ? "<" : ">") \(SweepFile.Setting.number(reach.value).text)" }
        for i in 0..<sweep.trials {
            guard let summary = runner.json(sweep.folder(i) + "/summary.json") else { continue }
            var row: [String: Double] = [:]
            for (k, v) in (summary["final"] as? [String: Any]) ?? [:] { if let n = v as? NSNumber { row[k] = n.doubleValue } }
            if let reach, let name = reachName, let log = try? MetricsLog(path: sweep.folder(i) + "/metrics.jsonl"), let ys = log.columns[reach.metric] {
                let xs = log.columns["step"] ?? (1...max(1, log.rows)).map(Double.init)
                let hit = zip(xs, ys).first { $0.1.isFinite && (sweep.minimize ? $0.1 < reach.value : $0.1 > reach.value) }
                row[name] = hit?.0 ?? .nan
            }
            finals[sweep.trial(i).configuration, default: []].append(row)
            for k in row.keys.sorted() where k != "step" && !metrics.contains(k) { metrics.append(k) }
            if let name = reachName, !metrics.contains(name) { metrics.insert(name, at: 0) }
            doneTrials += 1
        }
    }

    /// Quantile by linear interpolation between order statistics (NumPy's default).
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let x = q * Double(sorted.count - 1), i = Int(x), f = x - Double(i)
        return i + 1 < sorted.count ? sorted[i] + (sorted[i + 1] - sorted[i]) * f : sorted[i]
    }

    struct Stats { let n: Int, median: Double, q1: Double, q3: Double, min: Double, max: Double }

    func stats(_ configuration: Int, _ metric: String) -> Stats? {
        let values = (finals[configuration] ?? []).compactMap { $0[metric] }.filter { $0.isFinite }.sorted()
        guard let low = values.first, let high = values.last else { return nil }
        return Stats(n: values.count, median: SweepTable.quantile(values, 0.5), q1: SweepTable.quantile(values, 0.25),
                     q3: SweepTable.quantile(values, 0.75), min: low, max: high)
    }

    func order(by metric: String, minimize: Bool) -> [Int] {
        finals.keys.sorted { a, b in
            let x = stats(a, metric)?.median ?? .nan, y = stats(b, metric)?.median ?? .nan
            if x.isNaN != y.isNaN { return !x.isNaN }
            if x != y, !x.isNaN { return minimize ? x < y : x > y }
            return a < b
        }
    }

    func name(_ configuration: Int) -> String {
        let text = sweep.trial(configuration * sweep.seeds.count).configText
        return text.isEmpty ? "(one configuration)" : text
    }

    static func number(_ d: Double) -> String {
        guard d.isFinite else { return "-" }
        if d == d.rounded(), abs(d) < 1e9 { return String(Int(d)) }
        if d != 0, abs(d) < 1e-3 || abs(d) >= 1e6 { return String(format: "%.3e", d) }
        return String(format: "%.4g", d)
    }

    func table(sortedBy metric: String, minimize: Bool) -> String {
        // Steps to reach a value: fewer is better whatever the goal of the value itself.
        let minimize = metric == reachName ? true : minimize
        let others = metrics.filter { $0 != metric }
        var rows = [["configuration", "seeds", "\(metric) median", "IQR", "min..max"] + others.map { "\($0) median" }]
        for c in order(by: metric, minimize: minimize) {
            let s = stats(c, metric)
            rows.append([name(c), "\(finals[c]?.count ?? 0)/\(sweep.seeds.count)",
                         s.map { SweepTable.number($0.median) } ?? "-",
                         s.map { "\(SweepTable.number($0.q1))..\(SweepTable.number($0.q3))" } ?? "-",
                         s.map { "\(SweepTable.number($0.min))..\(SweepTable.number($0.max))" } ?? "-"]
                        + others.map { m in stats(c, m).map { SweepTable.number($0.median) } ?? "-" })
        }
        let widths = rows[0].indices.map { k in rows.map { $0[k].count }.max() ?? 0 }
        let lines = rows.map { row in row.enumerated().map { k, cell in cell.padding(toLength: widths[k], withPad: " ", startingAt: 0) }.joined(separator: "  ") }
        var heading = "\(doneTrials) of \(sweep.trials) trials done; \(metric) (\(minimize ? "lower" : "higher") is better) over seeds"
        if metric == reachName {
            let missed = finals.values.joined().filter { !($0[metric]?.isFinite ?? false) }.count
            heading += missed == 0 ? "; every trial reached it" : "; \(missed) trials never reached it (left out of the figures)"
        }
        heading += ":"
        return ([heading] + lines).map { $0.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) }.joined(separator: "\n")
    }

    func csv(sortedBy metric: String, minimize: Bool) -> String {
        let minimize = metric == reachName ? true : minimize
        let settings = sweep.trial(0).settings.map(\.0).filter { $0 != "seed" }
        var header = ["configuration"] + settings + ["seeds"]
        for m in metrics { header += ["\(m)_median", "\(m)_q1", "\(m)_q3", "\(m)_min", "\(m)_max"] }
        var lines = [header.map(CSV.field).joined(separator: ",")]
        for c in order(by: metric, minimize: minimize) {
            let trial = sweep.trial(c * sweep.seeds.count)
            var row = [String(c)] + settings.map { s in trial.settings.first { $0.0 == s }?.1.text ?? "" } + [String(finals[c]?.count ?? 0)]
            for m in metrics {
                if let s = stats(c, m) { row += [s.median, s.q1, s.q3, s.min, s.max].map { "\($0)" } } else { row += ["", "", "", "", ""] }
            }
            lines.append(row.map(CSV.field).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Per configuration, the metric's median over seeds at each step, with
    /// its interquartile band; a step logged twice (a trial resumed after a
    /// kill repeats the steps since its checkpoint) counts once, the last time.
    func curves(of metric: String) throws -> Figure {
        var series: [Curves.Series] = []
        for c in finals.keys.sorted() {
            var byStep: [Double: [Double]] = [:]
            for seedIndex in sweep.seeds.indices {
                let i = c * sweep.seeds.count + seedIndex
                guard let log = try? MetricsLog(path: sweep.folder(i) + "/metrics.jsonl"), let ys = log.columns[metric] else { continue }
                let xs = log.columns["step"] ?? (0..<log.rows).map(Double.init)
                var last: [Double: Double] = [:]
                for (x, y) in zip(xs, ys) where x.isFinite && y.isFinite { last[x] = y }
                for (x, y) in last { byStep[x, default: []].append(y) }
            }
            let steps = byStep.keys.sorted()
            guard !steps.isEmpty else { continue }
            let sorted = steps.map { byStep[$0]!.sorted() }
            series.append(Curves.Series(name: name(c), x: steps, y: sorted.map { SweepTable.quantile($0, 0.5) },
                                        band: sorted.map { (SweepTable.quantile($0, 0.25), SweepTable.quantile($0, 0.75)) }))
        }
        guard !series.isEmpty else { throw ValidationError("no trial logged '\(metric)' against its steps") }
        let curves = try Curves(series: Array(series.prefix(Palette.colors.count)))
        return Figure(title: "\((sweep.path as NSString).lastPathComponent): \(metric), median over seeds and interquartile band",
                      panels: [Panel(xLabel: "step", yLabel: metric, content: .curves(curves))])
    }
}

struct SweepSlurm: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "slurm", abstract: "Write and submit a Slurm array job whose tasks run `mnemo sweep run FILE --trial $SLURM_ARRAY_TASK_ID` (the trials not done yet).")

    @OptionGroup var sweepFile: SweepFileArgument
    @Option(help: "Slurm partition.") var partition: String?
    @Option(help: "Time limit per task, as Slurm takes it (e.g. 2:00:00). At the limit Slurm sends SIGTERM: the trial checkpoints and the next submission resumes it.") var time: String?
    @Option(help: "CPUs per task.") var cpusPerTask = 1
    @Option(help: "Tasks running at once (the %M of --array).") var parallel: Int?
    @Option(help: "Memory per task, as Slurm takes it (e.g. 4G).") var mem: String?
    @Flag(help: "Write the job script, but do not submit it.") var dryRun = false

    /// "0-3,7,9-10" for sbatch's --array.
    static func ranges(_ list: [Int]) -> String {
        var parts: [String] = []
        var i = 0
        while i < list.count {
            var j = i
            while j + 1 < list.count, list[j + 1] == list[j] + 1 { j += 1 }
            parts.append(i == j ? "\(list[i])" : "\(list[i])-\(list[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }

    func run() throws {
        let sweep = try sweepFile.load()
        let runner = SweepRunner(sweep: sweep)
        let todo = (0..<sweep.trials).filter { runner.state($0) == .pending || runner.state($0) == .failed }
        guard !todo.isEmpty else { print("every trial of \(sweepFile.file) is done or running"); return }
        let fm = FileManager.default
        func absolute(_ p: String) -> String { p.hasPrefix("/") ? p : fm.currentDirectoryPath + "/" + p }
        let results = absolute(sweep.results)
        try? fm.createDirectory(atPath: results, withIntermediateDirectories: true)
        func quoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        var lines = ["#!/bin/bash", "# Written by mnemo sweep slurm for \(absolute(sweepFile.file)).",
                     "#SBATCH --job-name=mnemo-\((sweepFile.file as NSString).lastPathComponent)",
                     "#SBATCH --array=\(SweepSlurm.ranges(todo))\(parallel.map { "%\($0)" } ?? "")",
                     "#SBATCH --output=\(results)/slurm-%A_%a.out",
                     "#SBATCH --cpus-per-task=\(cpusPerTask)"]
        if let partition { lines.append("#SBATCH --partition=\(partition)") }
        if let time { lines.append("#SBATCH --time=\(time)") }
        if let mem { lines.append("#SBATCH --mem=\(mem)") }
        lines += ["cd \(quoted(fm.currentDirectoryPath))",
                  "exec \(quoted(SampleRunner.currentExecutable)) sweep run \(quoted(absolute(sweepFile.file))) --trial \"$SLURM_ARRAY_TASK_ID\""]
        let script = results + "/slurm.sh"
        do { try SafeFile.write(Array((lines.joined(separator: "\n") + "\n").utf8), to: script) } catch {
            Host.writeError("error: \(error)"); throw ExitCode(ExitStatus.ioError.rawValue)
        }
        if dryRun { print("wrote \(script) (\(todo.count) tasks); submit it with sbatch \(script)"); return }
        guard let submitted = Shell.output(["sbatch", "--parsable", script]) else {
            Host.writeError("error: sbatch failed or is not installed; the job script is \(script)")
            throw ExitCode(ExitStatus.failure.rawValue)
        }
        let job = submitted.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
        try? SafeFile.write(Array((job + "\n").utf8), to: results + "/slurm_job_id")
        print("submitted slurm job \(job): \(todo.count) tasks (\(SweepSlurm.ranges(todo)))")
    }
}
