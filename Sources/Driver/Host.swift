import Builtins
import Foundation
import Runtime
import Syntax
import Tensor

/// Exit codes, as in sysexits.h.
public enum ExitStatus: Int32 {
    case ok = 0, failure = 1, usage = 64, compileError = 65, runtimeError = 70, ioError = 74
    /// Stopped by SIGTERM (EX_TEMPFAIL: run it again to resume).
    case terminated = 75
}

/// Shared by the commands: reading a script, running it, reporting errors.
enum Host {
    /// SIGTERM (what Slurm and Kubernetes send at a time limit) asks the
    /// script to stop: at once, or after a checkpointed loop's current step.
    static func handleTermination() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in Interrupt.terminate() }
        sigemptyset(&action.sa_mask)
        sigaction(SIGTERM, &action, nil)
        unblockTermination()
    }

    /// A process inherits the signal mask of the thread that started it, and
    /// Dispatch's worker threads block SIGTERM: a trial started from one would
    /// never see its scheduler's SIGTERM. Unblocked in the parent's thread
    /// before it starts a child, and in the child as it starts.
    static func unblockTermination() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    static func writeError(_ text: String) {
        FileHandle.standardError.write((text + "\n").data(using: .utf8)!)
    }

    /// Reads a script; a missing file is an I/O error (74).
    static func readSource(_ path: String) -> Result<SourceFile, Diagnostic> {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            return .failure(Diagnostic(.io, "cannot open '\(path)': no such file", at: nil))
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            return .failure(Diagnostic(.io, "cannot read '\(path)' as UTF-8 text", at: nil))
        }
        return .success(SourceFile(name: path, text: text, path: path))
    }

    /// Renders any error a run can end with, and the exit status it means.
    static func report(_ error: Error) -> (text: String, status: ExitStatus) {
        switch error {
        case let e as CompileErrors: return (e.render(), .compileError)
        case let d as Diagnostic:
            switch d.kind {
            case .compile: return (d.render(), .compileError)
            case .runtime: return (d.render(), d.message == Interpreter.terminatedMessage ? .terminated : .runtimeError)
            case .io: return (d.render(), .ioError)
            }
        default: return ("error: \(error)", .runtimeError)
        }
    }
}

/// Other programs the commands call (sbatch, squeue).
public enum Shell {
    /// Runs a command found on PATH; its standard output, or nil when it cannot run or fails.
    public static func output(_ arguments: [String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return process.terminationStatus == 0 ? text : nil
    }
}
