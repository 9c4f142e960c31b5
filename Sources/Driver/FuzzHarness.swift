import Builtins
import Figure
import Foundation
import Graph
import Runtime
import Syntax
import Tensor

/// What the fuzzer runs on each input, shared by the libFuzzer target
/// (Fuzz/Sources/mnemo-fuzz) and the short fuzz pass of the test suite.
/// The first byte of an input picks what is fuzzed, the rest is the payload:
///   0-199    source text through lexer, parser, resolver and interpreter
///   200-239  the file readers: .npy, safetensors, PNG, .npz, on the same bytes
///   240-255  builtin calls with awkward arguments chosen by the payload
/// Runs happen under a small work, time and memory budget, with file writes
/// turned off, so that a slow or greedy input ends in Mnemo's own error
/// rather than being reported, and no input can touch the machine.
public enum FuzzHarness {
    /// The values' budget. Small enough that the fuzzer's process, with
    /// AddressSanitizer's shadow and quarantine on top (the target asks for
    /// 64 MiB of quarantine), stays far below libFuzzer's memory limits.
    public static let budgetBytes = 96 << 20

    /// Sets the budgets for `body` and restores the previous ones after.
    public static func withBudgets<T>(_ body: () throws -> T) rethrows -> T {
        let saved = (MemoryBudget.limit, Interpreter.workLimit, Interpreter.timeLimit, SafeFile.writesAllowed, Graph.debugNonFinite)
        MemoryBudget.limit = budgetBytes
        Interpreter.workLimit = 20_000
        Interpreter.timeLimit = 1
        SafeFile.writesAllowed = false
        defer {
            (MemoryBudget.limit, Interpreter.workLimit, Interpreter.timeLimit, SafeFile.writesAllowed, Graph.debugNonFinite) = saved
        }
        return try body()
    }

    /// Runs one input; any error it ends in is expected. Call it inside `withBudgets`.
    public static func run(_ bytes: [UInt8]) {
        guard let mode = bytes.first else { return }
        let payload = Array(bytes.dropFirst())
        Interpreter.onLargeStack {
            Graph.debugNonFinite = false
            switch mode {
            case 0..<200: runSource(String(decoding: payload, as: UTF8.self))
            case 200..<240:
                _ = try? NPY.decode(payload, name: "fuzz.npy")
                _ = try? SafeTensors.decode(payload, name: "fuzz.safetensors")
                _ = try? PNG.decode(payload, name: "fuzz.png")
                _ = try? NPZ.decode(Data(payload), name: "fuzz.npz")
            default: callBuiltins(payload)
            }
        }
    }

    static func runSource(_ text: String) {
        let interpreter = Interpreter(output: { _ in })
        _ = try? interpreter.run(SourceFile(name: "fuzz.mn", text: text))
    }

    /// Values that break careless code: empty, huge, negative, NaN, wrong kinds.
    static let awkward: [String] = [
        "nil", "true", "0", "-1", "1", "2", "3", "-7", "1e9", "2**31", "2**62", "-2**62", "0.5", "nan_value", "inf_value",
        "-inf_value", "\"\"", "\"x\"", "\"graves\"", "[]", "[0]", "[1, 2, 3]", "[[1, 2], [3]]", "[-1]", "[2**40]", "(1, 2)",
        "{a: 1}", "zeros(0)", "zeros(3, 0)", "zeros(0, 4)", "ones(3)", "ones(2, 3)", "ones(3, 2)", "randn(4, 4)",
        "randn(2, 3, 4)", "tensor(1)", "tensor([1, 0])", "nan_tensor", "inf_tensor", "param(randn(3))", "param(zeros(0))",
        "softmax(randn(5))", "fn(x) => x", "fn() => 1", "print", "memory(4, 3)", "head(memory(4, 3))",
        "memory(2, 2, batch: 2)", "arange(0, 10, 1)", "randn(1, 5)", "softmax(randn(2, 5), 1)",
    ]

    static let builtinNames = BuiltinRegistry.standard().names.sorted()
    static let echo = ProcessInfo.processInfo.environment["MNEMO_FUZZ_ECHO"] != nil

    /// Builtin calls with arguments picked by the payload, each on its own
    /// (an error ends that call, not the others), in one interpreter.
    static func callBuiltins(_ payload: [UInt8]) {
        guard payload.count >= 2 else { return }
        let interpreter = Interpreter(output: { _ in })
        let setup = "let nan_value = 0 / 1 * 0\nlet inf_value = 1e308 * 10\nlet nan_tensor = sqrt(tensor([-1, 1]))\nlet inf_tensor = exp(tensor([1000, 0]))"
        _ = try? interpreter.evaluate(SourceFile(name: "fuzz.mn", text: setup))
        var k = 0
        while k + 1 < payload.count && k < 60 {
            let name = builtinNames[Int(payload[k]) % builtinNames.count]
            let count = Int(payload[k + 1]) % 5
            var arguments: [String] = []
            for j in 0..<count where k + 2 + j < payload.count { arguments.append(awkward[Int(payload[k + 2 + j]) % awkward.count]) }
            let call = "\(name)(\(arguments.joined(separator: ", ")))"
            // MNEMO_FUZZ_ECHO=1 shows each call, to turn a finding into a script.
            if echo { FileHandle.standardError.write(Data((call + "\n").utf8)) }
            _ = try? interpreter.evaluate(SourceFile(name: "fuzz.mn", text: call))
            k += 2 + count
        }
    }
}
