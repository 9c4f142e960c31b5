import Driver
import Foundation
import Tensor
import XCTest

/// Sweeps as a user relies on them: trial i is the file and i alone; a local
/// run records every trial and skips the done ones; SIGTERM checkpoints a
/// trial that then resumes to the same bits.
final class SweepTests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "mnemo-sweep-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // A small model trained under a checkpointed loop; OUT receives its final parameters.
        try """
        import nn
        let t = trial()
        seed(if t.seed == nil { 1 } else { t.seed })
        let net = nn.MLP([4, hparam("width", 8), 1])
        let opt = adam(params(net), lr: hparam("lr", 0.01))
        for step in checkpointed(1...number(args()[0]), {model: net, opt: opt}, every: 100) {
          let x = randn(8, 4)
          let loss = mse(net.forward(x), sum(x, axis: 1, keepdims: true))
          opt.step(loss)
          log_metrics(t.log, {step: step, loss: loss})
        }
        if env("OUT") != nil { checkpoint(env("OUT"), {model: net}) }
        print("trained", hparam("width", 8), hparam("lr", 0.01))
        """.write(toFile: folder + "/train.mn", atomically: true, encoding: .utf8)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: folder) }

    func write(_ name: String, _ text: String) throws -> String {
        try text.write(toFile: folder + "/" + name, atomically: true, encoding: .utf8)
        return folder + "/" + name
    }

    func mnemo(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String, error: String) {
        try runMnemoProcess(arguments, environment: ["MNEMO_BLAS": "none"].merging(environment) { $1 })
    }

    func testTrialsAreTheFileAndTheirIndex() throws {
        let record = try write("grid.mn", """
        # a record sweep
        {script: "train.mn", args: ["{steps}", "w{width}"], seeds: [5, 9], grid: {width: [4, 8], steps: [10]},
         random: {lr: {low: 1e-4, high: 1e-1, log: true}, act: ["tanh", "relu"]}, samples: 3, seed: 7}
        """)
        let json = try write("grid.json", """
        {"script": "train.mn", "args": ["{steps}", "w{width}"], "seeds": [5, 9], "grid": {"width": [4, 8], "steps": [10]},
         "random": {"lr": {"low": 1e-4, "high": 1e-1, "log": true}, "act": ["tanh", "relu"]}, "samples": 3, "seed": 7}
        """)
        let a = try SweepFileProbe(record), b = try SweepFileProbe(json), again = try SweepFileProbe(record)
        XCTAssertEqual(a.trials.count, 2 * 1 * 3 * 2)
        XCTAssertEqual(a.trials, again.trials, "the same file gives the same trials")
        XCTAssertEqual(a.trials.map(\.seed), b.trials.map(\.seed))
        XCTAssertEqual(a.trials.map(\.args), b.trials.map(\.args), "record and JSON forms agree")
        XCTAssertEqual(a.trials[0].seed, 5)
        XCTAssertEqual(a.trials[1].seed, 9, "seeds vary fastest")
        XCTAssertEqual(a.trials[0].args, ["10", "w4"])
        XCTAssertEqual(a.trials[6].args, ["10", "w8"], "then random samples, then the grid")
        let lrs = a.trials.compactMap(\.lr)
        XCTAssertEqual(lrs.count, a.trials.count)
        XCTAssertTrue(lrs.allSatisfy { $0 >= 1e-4 && $0 <= 1e-1 })
        XCTAssertEqual(Set(lrs).count, 6, "one draw per configuration, shared by its seeds")
        // Mistakes in a sweep file are named.
        for (text, fragment) in [("{script: \"train.mn\", sedes: 3}", "unknown field 'sedes'"),
                                 ("{script: \"train.mn\", args: [\"{lr}\"]}", "args use {lr}"),
                                 ("{script: \"train.mn\", seeds: 0}", "seeds must be a count"),
                                 ("{script: \"train.mn\", random: {lr: {low: 0, high: 1, log: true}}}", "low must be positive"),
                                 ("{seeds: 2}", "script must name")] {
            let path = try write("bad.mn", text)
            let r = try mnemo(["sweep", "status", path])
            XCTAssertEqual(r.status, 65, text)
            XCTAssertTrue(r.error.contains(fragment), "\(r.error) lacks \(fragment)")
        }
    }

    func testLocalRunRecordsSkipsAndSummarizes() throws {
        let sweep = try write("local.mn", "{script: \"train.mn\", args: [\"60\"], seeds: 2, grid: {lr: [0.01, 0.001]}, metric: \"loss\"}")
        let run = try mnemo(["sweep", "run", sweep, "--jobs", "2"])
        XCTAssertEqual(run.status, 0, run.error)
        XCTAssertTrue(run.error.contains("4/4 done, 0 failed"), run.error)
        let results = folder + "/local.results"
        for i in 0..<4 {
            for file in ["config.json", "summary.json", "metrics.jsonl", "output.txt", "checkpoint.safetensors"] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: "\(results)/\(i)/\(file)"), "trial \(i) lacks \(file)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: "\(results)/\(i)/running.json"))
        }
        XCTAssertTrue(try String(contentsOfFile: results + "/2/output.txt", encoding: .utf8).contains("trained 8 0.001"))
        let before = try FileManager.default.attributesOfItem(atPath: results + "/0/summary.json")[.modificationDate] as? Date
        let again = try mnemo(["sweep", "run", sweep])
        XCTAssertEqual(again.status, 0)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: results + "/0/summary.json")[.modificationDate] as? Date, before, "a done trial is not run again")
        let status = try mnemo(["sweep", "status", sweep])
        XCTAssertTrue(status.output.contains("done: 4"), status.output)
        let summary = try mnemo(["sweep", "summary", sweep, "--csv", folder + "/s.csv", "--out", folder + "/s.svg"])
        XCTAssertEqual(summary.status, 0, summary.error)
        XCTAssertTrue(summary.output.contains("lr=0.01") && summary.output.contains("2/2"), summary.output)
        let csv = try String(contentsOfFile: folder + "/s.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.count, 3)
        XCTAssertTrue(csv[0].hasPrefix("configuration,lr,seeds,loss_median,loss_q1,loss_q3,loss_min,loss_max"), String(csv[0]))
        XCTAssertTrue(try String(contentsOfFile: folder + "/s.svg", encoding: .utf8).contains("<polyline"))
        // An indexed job's scheduler names the trial in the environment.
        let indexed = try write("indexed.mn", "{script: \"train.mn\", args: [\"20\"], seeds: 3}")
        let one = try mnemo(["sweep", "run", indexed], environment: ["JOB_COMPLETION_INDEX": "2"])
        XCTAssertEqual(one.status, 0, one.error)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder + "/indexed.results"), ["2"])
        let slurm = try mnemo(["sweep", "run", indexed], environment: ["SLURM_ARRAY_TASK_ID": "0"])
        XCTAssertEqual(slurm.status, 0, slurm.error)
        XCTAssertTrue(try mnemo(["sweep", "status", indexed]).output.contains("done: 2"))
        // A failing trial is recorded as failed and run again next time.
        let failing = try write("failing.mn", "{script: \"train.mn\", args: [\"not a number\"], seeds: 1}")
        let failed = try mnemo(["sweep", "run", failing])
        XCTAssertEqual(failed.status, 1)
        XCTAssertTrue(try mnemo(["sweep", "status", failing]).output.contains("failed: 1"))
    }

    /// SIGTERM to `mnemo sweep run --trial I` (what Slurm sends at a time
    /// limit): the trial checkpoints and exits 75, is not done, and a second
    /// run resumes it to the same parameters as a run never stopped.
    func testTerminatedTrialResumesToTheSameBits() throws {
        let steps = "200000"
        let straight = folder + "/straight.safetensors", resumed = folder + "/resumed.safetensors"
        let sweep = try write("long.mn", "{script: \"train.mn\", args: [\"{steps}\"], grid: {steps: [\(steps)]}}")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: mnemoExecutable)
        process.arguments = ["sweep", "run", sweep, "--trial", "0"]
        process.environment = ProcessInfo.processInfo.environment.merging(["MNEMO_BLAS": "none", "OUT": resumed]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let log = folder + "/long.results/0/metrics.jsonl"
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, (try? String(contentsOfFile: log, encoding: .utf8).count) ?? 0 < 20_000 { usleep(20_000) }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 75, "a trial stopped by SIGTERM exits 75")
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/long.results/0/checkpoint.safetensors"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/long.results/0/summary.json"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/long.results/0/failed.json"), "stopped is not failed")
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").count
        XCTAssertLessThan(lines, 200000, "it was stopped before the end")
        let rest = try mnemo(["sweep", "run", sweep, "--trial", "0"], environment: ["OUT": resumed])
        XCTAssertEqual(rest.status, 0, rest.error)
        let full = try mnemo([folder + "/train.mn", steps], environment: ["OUT": straight])
        XCTAssertEqual(full.status, 0)
        let a = try SafeTensors.read(path: straight), b = try SafeTensors.read(path: resumed)
        XCTAssertEqual(a.entries.map { $0.tensor.data.map(\.bitPattern) }, b.entries.map { $0.tensor.data.map(\.bitPattern) },
                       "the resumed trial ends with the same parameters as a run never stopped")
        let steps2 = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").count
        XCTAssertEqual(steps2, 200000, "the log goes on where it stopped, without gaps or repeats")
    }

    /// SIGTERM to a sweep running several trials at once reaches every
    /// trial (each started from a worker thread): all checkpoint and stop,
    /// none counts as failed, and the next run finishes them.
    func testTerminatedSweepStopsEveryTrial() throws {
        let sweep = try write("both.mn", "{script: \"train.mn\", args: [\"2000000\"], seeds: 2}")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: mnemoExecutable)
        process.arguments = ["sweep", "run", sweep, "--jobs", "2"]
        process.environment = ProcessInfo.processInfo.environment.merging(["MNEMO_BLAS": "none"]) { $1 }
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        try process.run()
        let logs = (0..<2).map { folder + "/both.results/\($0)/metrics.jsonl" }
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, logs.contains(where: { (try? String(contentsOfFile: $0, encoding: .utf8).count) ?? 0 < 5_000 }) { usleep(20_000) }
        kill(process.processIdentifier, SIGTERM)
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 75, text)
        XCTAssertTrue(text.contains("2 stopped"), text)
        let status = try mnemo(["sweep", "status", sweep])
        XCTAssertTrue(status.output.contains("pending: 2"), status.output)
        for i in 0..<2 { XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/both.results/\(i)/checkpoint.safetensors")) }
    }
}

/// A sweep file's trials as `mnemo sweep run` runs them.
struct SweepFileProbe {
    struct Trial: Equatable { let seed: Int; let args: [String]; let lr: Double? }
    let trials: [Trial]
    init(_ path: String) throws {
        trials = try SweepPlan.trials(path).map { Trial(seed: $0.seed, args: $0.arguments, lr: $0.settings["lr"].flatMap(Double.init)) }
    }
}
