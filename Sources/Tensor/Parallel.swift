import CSupport
import Dispatch
import Foundation
import Synchronization

/// Work split among threads (`threads(n)`, `MNEMO_THREADS`, `mnemo run
/// --threads N`). A kernel splits its outputs, never the order of any sum,
/// so the bits are the same for any number of threads.
public enum Parallel {
    nonisolated(unsafe) public static var threads = Parallel.fromEnvironment()

    /// Below this many floating-point operations per thread, one thread is faster (tests lower it).
    nonisolated(unsafe) public static var minimumWork = 1 << 15

    static func fromEnvironment() -> Int {
        guard let text = getenv("MNEMO_THREADS").map({ String(cString: $0) }), let n = Int(text), n >= 1 else { return 1 }
        return min(n, 64)
    }

    /// Runs `body` on `count` items split into contiguous ranges, one per
    /// thread (as many as `threads` allows and `work` justifies). The calling
    /// thread takes the first range; the others go to helper threads that
    /// wait spinning between kernels (a training step hands them work every
    /// few tens of microseconds, faster than waking a sleeping thread).
    public static func forEach(_ count: Int, work: Int, _ body: (Range<Int>) -> Void) {
        let used = min(threads, count, max(1, work / minimumWork))
        if used <= 1 || !WorkerPool.shared.begin() { body(0..<count); return }
        defer { WorkerPool.shared.end() }
        withoutActuallyEscaping(body) { body in
            WorkerPool.shared.run(helpers: used - 1) { t in body((count * t / used)..<(count * (t + 1) / used)) }
        }
    }
}

/// Helper threads for `Parallel.forEach`. Each helper spins for a while
/// after its last job, then sleeps on a semaphore until the next.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()

    private final class Helper: @unchecked Sendable {
        /// Jobs posted and jobs finished: equal when the helper is idle.
        let posted = Atomic<Int>(0)
        let finished = Atomic<Int>(0)
        let sleeping = Atomic<Bool>(false)
        let wake = DispatchSemaphore(value: 0)
        /// The job, set before `posted` is raised; given the helper's part.
        var job: ((Int) -> Void)?
        var part = 0

        func loop() {
            var seen = 0
            while true {
                var spins = 0
                while posted.load(ordering: .acquiring) == seen {
                    mnemo_spin_pause()
                    spins += 1
                    if spins < 5_000_000 { continue }
                    // Long idle: sleep until woken (checking again after saying so).
                    sleeping.store(true, ordering: .sequentiallyConsistent)
                    if posted.load(ordering: .sequentiallyConsistent) != seen {
                        // Work came in between: if the poster saw us asleep, it signalled; take that signal.
                        if !sleeping.exchange(false, ordering: .sequentiallyConsistent) { wake.wait() }
                        break
                    }
                    wake.wait()
                    spins = 0
                }
                seen = posted.load(ordering: .acquiring)
                job?(part)
                job = nil
                finished.store(seen, ordering: .releasing)
            }
        }
    }

    private var helpers: [Helper] = []
    /// True while a `forEach` runs: a nested one (from inside a job) runs on its own thread.
    private let busy = Atomic<Bool>(false)

    func begin() -> Bool { busy.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged }
    func end() { busy.store(false, ordering: .releasing) }

    /// Runs job(0) here and job(1...helpers) on helper threads, and returns when all are done.
    func run(helpers count: Int, _ job: @escaping (Int) -> Void) {
        while helpers.count < count {
            let helper = Helper()
            let thread = Thread { helper.loop() }
            thread.name = "mnemo-worker-\(helpers.count + 1)"
            thread.start()
            helpers.append(helper)
        }
        for (i, helper) in helpers.prefix(count).enumerated() {
            helper.job = job
            helper.part = i + 1
            helper.posted.add(1, ordering: .sequentiallyConsistent)
            if helper.sleeping.exchange(false, ordering: .sequentiallyConsistent) { helper.wake.signal() }
        }
        job(0)
        for helper in helpers.prefix(count) {
            let target = helper.posted.load(ordering: .relaxed)
            while helper.finished.load(ordering: .acquiring) != target { mnemo_spin_pause() }
        }
    }
}
