import Foundation
import XCTest

/// Runs a program on a pseudo-terminal, as a person at a terminal would:
/// it is its session's leader with the terminal as its controlling terminal,
/// so Ctrl-C (byte 3) raises SIGINT. `screen` is everything it printed, with
/// terminal escape sequences and carriage returns removed.
final class PseudoTerminal {
    private let master: Int32
    private let pid: pid_t
    private var raw: [UInt8] = []
    /// Where the last `expect` matched: the next one searches after it.
    private var searchFrom: String.Index?

    // Swift's Glibc module leaves out the pseudo-terminal calls (they need
    // _XOPEN_SOURCE), so they are looked up by name.
    private static func function<T>(_ name: String, as type: T.Type) -> T? {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
        return unsafeBitCast(symbol, to: type)
    }
    private typealias OpenPT = @convention(c) (Int32) -> Int32
    private typealias PTName = @convention(c) (Int32) -> UnsafeMutablePointer<CChar>?
    /// glibc's POSIX_SPAWN_SETSID.
    private static let spawnSetSID: Int32 = 0x80

    init(_ executable: String, arguments: [String] = [], environment: [String: String]) throws {
        guard let openpt = Self.function("posix_openpt", as: OpenPT.self), let grantpt = Self.function("grantpt", as: OpenPT.self),
              let unlockpt = Self.function("unlockpt", as: OpenPT.self), let ptsname = Self.function("ptsname", as: PTName.self) else {
            throw XCTSkip("no pseudo-terminal functions in this C library")
        }
        master = openpt(O_RDWR | O_NOCTTY)
        guard master >= 0, grantpt(master) == 0, unlockpt(master) == 0, let name = ptsname(master) else {
            throw XCTSkip("no pseudo-terminals on this machine")
        }
        let slavePath = String(cString: name)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // Opened after setsid, the terminal becomes the controlling terminal.
        posix_spawn_file_actions_addopen(&actions, 0, slavePath, O_RDWR, 0)
        posix_spawn_file_actions_adddup2(&actions, 0, 1)
        posix_spawn_file_actions_adddup2(&actions, 0, 2)
        posix_spawn_file_actions_addclose(&actions, master)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(Self.spawnSetSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var defaults = sigset_t(), empty = sigset_t()
        sigfillset(&defaults)
        sigemptyset(&empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var child: pid_t = 0
        let status = posix_spawn(&child, executable, &actions, &attributes, argv, envp)
        guard status == 0 else { throw NSError(domain: "posix_spawn", code: Int(status)) }
        pid = child
    }

    deinit {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        close(master)
    }

    /// Types keys: "\t" is Tab, "\u{3}" Ctrl-C, "\u{4}" Ctrl-D, "\r" Enter.
    func type(_ keys: String) {
        for byte in Array(keys.utf8) {
            var b = byte
            _ = write(master, &b, 1)
            usleep(2_000)
        }
    }

    var screen: String {
        let text = String(decoding: raw, as: UTF8.self)
        return text.replacingOccurrences(of: "\u{1B}\\[[0-9;?]*[A-Za-z]", with: "", options: .regularExpression)
            .replacingOccurrences(of: "\u{1B}[=>]", with: "", options: .regularExpression)
            .replacingOccurrences(of: "\r", with: "")
            .replacingOccurrences(of: "\u{7}", with: "")
    }

    /// Waits until `text` appears on the screen after the previous match.
    @discardableResult
    func expect(_ text: String, timeout: Double = 10, file: StaticString = #filePath, line: UInt = #line) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let s = screen
            let from = searchFrom.map { min($0, s.endIndex) } ?? s.startIndex
            if let r = s.range(of: text, range: from..<s.endIndex) {
                searchFrom = r.upperBound
                return true
            }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 || !readSome(timeout: left) {
                XCTFail("expected \(text.debugDescription) on the screen; it shows:\n\(String(s[from...]))", file: file, line: line)
                return false
            }
        }
    }

    /// Waits for the program to end; its exit status, or nil on timeout.
    func exitStatus(timeout: Double = 10) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { return (status >> 8) & 0xff }
            _ = readSome(timeout: 0.05)
        }
        return nil
    }

    private func readSome(timeout: Double) -> Bool {
        var descriptor = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, Int32(max(1, timeout * 1000))) > 0 else { return false }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = read(master, &buffer, buffer.count)
        guard n > 0 else { return false }
        raw += buffer[0..<n]
        return true
    }
}
