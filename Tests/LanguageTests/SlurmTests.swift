import Driver
import Foundation
import Tensor
import XCTest

/// `mnemo sweep slurm` on a real scheduler: a single-node Slurm cluster
/// (Tests/slurm/cluster.sh start, which CI runs). One task is cancelled
/// midway; the trial keeps its checkpoint, the next submission runs only it,
/// and it ends with the same parameters as a run never stopped. Skips where
/// no cluster answers.
final class SlurmTests: XCTestCase {
    func shell(_ arguments: [String]) -> String? { Shell.output(arguments) }

    func waitForEmptyQueue(_ job: String, timeout: Double = 180) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            // Polled: sbatch --wait backs off to 32 s between looks.
            if let q = shell(["squeue", "-h", "-j", job]), q.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return true }
            usleep(300_000)
        }
        return false
    }

    func testArrayJobCancelledTaskResumes() throws {
        guard let nodes = shell(["sinfo", "-h", "-o", "%T"]), nodes.contains("idle") || nodes.contains("mixed") else {
            throw XCTSkip("no Slurm cluster answers (start one with Tests/slurm/cluster.sh start and export SLURM_CONF)")
        }
        let folder = NSTemporaryDirectory() + "mnemo-slurm-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try """
        import nn
        let t = trial()
        seed(t.seed)
        let net = nn.MLP([4, 8, 1])
        let opt = adam(params(net), lr: 0.01)
        for step in checkpointed(1...number(args()[0]), {model: net, opt: opt}, every: 1000) {
          let x = randn(8, 4)
          opt.step(mse(net.forward(x), sum(x, axis: 1, keepdims: true)))
          log_metrics(t.log, {step: step})
        }
        """.write(toFile: folder + "/train.mn", atomically: true, encoding: .utf8)
        let steps = 300_000
        let sweep = folder + "/s.mn"
        try "{script: \"train.mn\", args: [\"\(steps)\"], seeds: 3}".write(toFile: sweep, atomically: true, encoding: .utf8)
        let environment = ["MNEMO_BLAS": "none"]
        let submitted = try runMnemoProcess(["sweep", "slurm", sweep, "--parallel", "3"], environment: environment)
        XCTAssertEqual(submitted.status, 0, submitted.error)
        let job = try String(contentsOfFile: folder + "/s.results/slurm_job_id", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        // Cancel task 1 once it has logged a good part of its steps.
        let log = folder + "/s.results/1/metrics.jsonl"
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, (try? String(contentsOfFile: log, encoding: .utf8).count) ?? 0 < 200_000 { usleep(50_000) }
        XCTAssertNotNil(shell(["scancel", "\(job)_1"]), "scancel")
        XCTAssertTrue(waitForEmptyQueue(job), "the array job did not finish")
        let status = try runMnemoProcess(["sweep", "status", sweep])
        XCTAssertTrue(status.output.contains("done: 2") && status.output.contains("pending: 1"), status.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/s.results/1/checkpoint.safetensors"), "the cancelled trial checkpointed")
        let partial = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").count
        XCTAssertLessThan(partial, steps)
        // Submitting again runs only the cancelled trial, which resumes.
        let again = try runMnemoProcess(["sweep", "slurm", sweep], environment: environment)
        XCTAssertEqual(again.status, 0, again.error)
        XCTAssertTrue(again.output.contains("1 tasks (1)"), again.output)
        let job2 = try String(contentsOfFile: folder + "/s.results/slurm_job_id", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(waitForEmptyQueue(job2), "the second job did not finish")
        XCTAssertTrue(try runMnemoProcess(["sweep", "status", sweep]).output.contains("done: 3"))
        XCTAssertEqual(try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").count, steps, "the log goes on without gaps or repeats")
        // The same trial run here, never stopped, ends with the same bits.
        try "{script: \"train.mn\", args: [\"\(steps)\"], seeds: 3, results: \"local.results\"}".write(toFile: folder + "/local.mn", atomically: true, encoding: .utf8)
        let local = try runMnemoProcess(["sweep", "run", folder + "/local.mn", "--trial", "1"], environment: environment)
        XCTAssertEqual(local.status, 0, local.error)
        let a = try SafeTensors.read(path: folder + "/s.results/1/checkpoint.safetensors")
        let b = try SafeTensors.read(path: folder + "/local.results/1/checkpoint.safetensors")
        XCTAssertEqual(a.entries.map(\.name), b.entries.map(\.name))
        XCTAssertEqual(a.entries.map { $0.tensor.data.map(\.bitPattern) }, b.entries.map { $0.tensor.data.map(\.bitPattern) })
    }
}
