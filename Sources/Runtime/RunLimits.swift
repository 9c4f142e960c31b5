import Dispatch
import Foundation
import Graph
import Syntax
import Tensor

/// What keeps a run in bounds and tells where it went wrong: Ctrl-C and
/// SIGTERM, the work, time and memory limits checked from loops and calls,
/// debug_nans, and a thread with a large stack for deep recursion.
extension Interpreter {
    /// For fuzzing and tests: a run stops with an error after this many loop
    /// iterations and calls, or after this many seconds (nil: no limit).
    nonisolated(unsafe) public static var workLimit: Int? = nil
    nonisolated(unsafe) public static var timeLimit: Double? = nil
    package nonisolated(unsafe) static var deadline: UInt64 = .max

    /// With `debug_nans(true)`: runs one op (a builtin or an operator on
    /// tensors), naming it for the nodes it records, and stops at the first
    /// NaN or infinity in its result.
    @inline(never)
    package func checkingNonFinite(_ name: String, _ range: SourceRange, inputs: [Value], _ body: () throws -> Value) throws -> Value {
        let saved = Graph.origin
        Graph.origin = "'\(name)' at \(range.place)"
        defer { Graph.origin = saved }
        let result = try body()
        if Interpreter.hasNonFinite(result) {
            let cause = inputs.contains(where: Interpreter.hasNonFinite)
                ? "; an input already had them (from outside the graph: a file, a constant)" : " from finite inputs"
            throw Diagnostic(.runtime, "debug_nans: '\(name)' produced NaN or infinite values\(cause)", at: range)
        }
        return result
    }

    /// A tensor or number with a NaN or infinity, directly or as an item of a list or tuple.
    package static func hasNonFinite(_ v: Value) -> Bool {
        switch v {
        case .number(let d): return !d.isFinite
        case .tensor(let t): return !VectorMath.allFinite(t.value.data)
        case .list(let l): return l.items.contains { if case .tensor(let t) = $0 { return !VectorMath.allFinite(t.value.data) } else { return false } }
        case .tuple(let items): return items.contains { if case .tensor(let t) = $0 { return !VectorMath.allFinite(t.value.data) } else { return false } }
        default: return false
        }
    }

    /// Loops call this on every iteration: Ctrl-C, and now and then the memory budget.
    @inline(__always)
    package func loopCheck(at range: SourceRange) throws {
        if Interpreter.interruptRequested { throw interruption(at: range) }
        Interpreter.loopTicks &+= 1
        if Interpreter.loopTicks & 1023 == 0 { try periodicCheck(at: range) }
    }
    package nonisolated(unsafe) static var loopTicks = 0

    /// Every 1024 iterations and calls: the work and time limits if set, and
    /// every 64th time the memory budget (a look costs a few system calls;
    /// what a loop appends in 65,536 iterations is small).
    @inline(never)
    package func periodicCheck(at range: SourceRange) throws {
        if Interpreter.loopTicks & 0xffff == 0 {
            do { try MemoryBudget.check(adding: 0, for: "the values this script holds") } catch let e as TensorError { throw Diagnostic(.runtime, e.message, at: range) }
        }
        if let limit = Interpreter.workLimit, Interpreter.loopTicks - workStart > limit {
            throw Diagnostic(.runtime, "work limit reached: more than \(limit) loop iterations and calls", at: range)
        }
        if Interpreter.deadline != .max && DispatchTime.now().uptimeNanoseconds > Interpreter.deadline {
            throw Diagnostic(.runtime, "time limit reached", at: range)
        }
    }

    package func interruption(at range: SourceRange) -> Diagnostic {
        Interpreter.interruptRequested = false
        if Interrupt.terminationRequested { return Diagnostic(.runtime, Interpreter.terminatedMessage, at: range) }
        return Diagnostic(.runtime, "interrupted", at: range)
    }

    /// The message a run stopped by SIGTERM ends with (the command line exits with status 75 on it).
    public static let terminatedMessage = "stopped by SIGTERM"
}

extension Interpreter {
    /// Runs `body` on a thread with a large stack, so that deep (but bounded)
    /// recursion in scripts and in the parser cannot overflow it.
    public static func onLargeStack<T>(_ body: @escaping () -> T) -> T {
        let slot = ResultSlot(body)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            slot.value = slot.body()
            done.signal()
        }
        thread.stackSize = 1 << 29
        thread.start()
        done.wait()
        return slot.value!
    }
}

/// Carries a result back from the large-stack thread.
private final class ResultSlot<T>: @unchecked Sendable {
    var value: T?
    let body: () -> T
    init(_ body: @escaping () -> T) { self.body = body }
}
