import CSupport
import Foundation

/// The real limits every recursive pass and every allocation of a script
/// answers to: the stack actually left on this thread, and a memory budget.
/// Both turn what would be a crash into an error that says what was asked.
public enum StackGuard {
    /// Bytes of stack left on the calling thread.
    @inline(__always) public static var remaining: Int { mnemo_stack_remaining() }

    /// Whether at least `bytes` of stack are left.
    @inline(__always) public static func hasRoom(_ bytes: Int) -> Bool { mnemo_stack_remaining() > bytes }

    /// Whether a sixteenth of this thread's stack (at most 16 MiB, at least
    /// 256 KiB) is still free: the margin a recursive pass keeps so that the
    /// work between two of its checks always fits.
    @inline(__always) public static var hasMargin: Bool { mnemo_stack_has_margin() != 0 }

    public static var margin: Int { max(256 << 10, min(16 << 20, mnemo_stack_size() / 16)) }
}

/// Ctrl-C, as a flag that long loops check: the interpreter's loops and
/// calls, and long kernels (a large matrix product stops between blocks of
/// rows). The REPL's signal handler sets it.
public enum Interrupt {
    nonisolated(unsafe) public static var requested = false
    /// SIGTERM arrived (a scheduler's time limit): the run stops with a
    /// distinct status, after a checkpointed loop has saved its state.
    nonisolated(unsafe) public static var terminationRequested = false
    /// Checkpointed loops running: while any is, SIGTERM waits for the
    /// current step to end instead of stopping the run at once.
    nonisolated(unsafe) public static var terminationDeferred = 0

    /// What the SIGTERM handler does (only plain stores: it runs in a signal handler).
    public static func terminate() {
        mnemo_note_sigterm()
        terminationRequested = true
        if terminationDeferred == 0 { requested = true }
    }

    /// Whether SIGTERM arrived, read so that a thread polling in a loop sees
    /// the handler's store (the Swift flag may be kept in a register there).
    public static var sigtermReceived: Bool { mnemo_sigterm_received() != 0 }
}

/// A budget on the memory a script's values hold (tensors, lists, strings),
/// checked before large allocations and as loops run. The process's resident
/// memory is the measure, so every kind of storage counts.
/// Default: half the machine's (or the container's, or ulimit's) memory;
/// `MNEMO_MAX_MEMORY` or `--max-memory` set it (`8G`, `500M`, bytes).
public enum MemoryBudget {
    nonisolated(unsafe) public static var limit: Int = defaultLimit

    /// Allocations below this size are not checked one by one, only each time
    /// such allocations add up to it (and loops check now and then).
    public static let checkedSize = 16 << 20

    public static var defaultLimit: Int {
        if let text = ProcessInfo.processInfo.environment["MNEMO_MAX_MEMORY"], let bytes = parseSize(text) { return bytes }
        var physical = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        // A container's limit (cgroup v2, then v1) is the real one when smaller.
        for path in ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"] {
            if let text = try? String(contentsOfFile: path, encoding: .utf8),
               let bytes = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), bytes > 0 {
                physical = min(physical, bytes)
            }
        }
        // So is an address-space or data limit (ulimit -v, -d).
        for resource in [RLIMIT_AS, RLIMIT_DATA] {
            var limit = rlimit()
            if getrlimit(__rlimit_resource_t(resource.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max {
                physical = min(physical, Int(clamping: limit.rlim_cur))
            }
        }
        return max(physical / 2, 64 << 20)
    }

    /// "8G", "512M", "100k" or a number of bytes; nil if it is none of these.
    public static func parseSize(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces).uppercased()
        let units: [(String, Double)] = [("TB", 0x1p40), ("GB", 0x1p30), ("MB", 0x1p20), ("KB", 0x1p10),
                                         ("T", 0x1p40), ("G", 0x1p30), ("M", 0x1p20), ("K", 0x1p10), ("B", 1)]
        var number = Substring(t), scale = 1.0
        for (suffix, value) in units where t.hasSuffix(suffix) {
            number = t.dropLast(suffix.count)
            scale = value
            break
        }
        guard let value = Double(number.trimmingCharacters(in: .whitespaces)), value.isFinite, value > 0 else { return nil }
        let bytes = value * scale
        return bytes < 0x1p62 ? Int(bytes) : nil
    }

    /// Bytes in use now.
    public static var inUse: Int { mnemo_heap_in_use() }

    /// Bytes asked for through `reserve` since the last look at the process.
    nonisolated(unsafe) static var sinceCheck = 0

    /// Throws if `bytes` more would take the process past the budget; `what`
    /// says what they were for. Small requests pass without a look until
    /// they add up to `checkedSize` (a look costs a few system calls).
    @inline(__always)
    public static func reserve(_ bytes: Int, for what: @autoclosure () -> String) throws {
        sinceCheck &+= bytes
        if bytes < checkedSize && sinceCheck < checkedSize { return }
        sinceCheck = 0
        try check(adding: bytes, for: what())
    }

    /// The same check whatever the size (loops call it now and then with 0).
    public static func check(adding bytes: Int, for what: @autoclosure () -> String) throws {
        let used = inUse
        let (total, overflow) = used.addingReportingOverflow(bytes)
        if overflow || total > limit {
            let request = bytes > 0 ? "\(what()) (\(format(bytes))) does not fit in" : "\(what()) filled"
            throw TensorError("out of memory: \(request) the memory budget of \(format(limit)) (raise it with --max-memory or MNEMO_MAX_MEMORY)")
        }
    }

    public static func format(_ bytes: Int) -> String {
        let b = Double(bytes)
        if b >= 0x1p30 { return String(format: "%.1f GiB", b / 0x1p30) }
        if b >= 0x1p20 { return String(format: "%.1f MiB", b / 0x1p20) }
        if b >= 0x1p10 { return String(format: "%.1f KiB", b / 0x1p10) }
        return "\(bytes) bytes"
    }
}
