import Builtins
import CReadline
import Foundation
import Runtime
import Syntax
import Tensor

/// What reading one line gave.
public enum LineInput: Equatable {
    case line(String)
    /// Ctrl-C at the prompt: the input so far is dropped.
    case interrupt
    /// Ctrl-D on an empty line, or the end of piped input.
    case end
}

/// Where the REPL's lines come from: GNU readline on a terminal, plain
/// line reading otherwise.
public protocol LineEditor: AnyObject {
    var completer: REPLCompleter? { get set }
    func read(prompt: String) -> LineInput
    func addHistory(_ entry: String)
}

/// Ctrl-C. While code runs it asks the interpreter to stop at its next loop
/// iteration or call; at the prompt it clears the line. The signal may land
/// on any thread, so besides setting flags it writes a byte to a pipe that
/// the prompt's poll() watches (the self-pipe trick).
enum Interrupts {
    nonisolated(unsafe) private static var pending: sig_atomic_t = 0
    /// The pipe's ends; the read end is readable after a Ctrl-C, until `take()`.
    nonisolated(unsafe) private(set) static var wakeDescriptor: Int32 = -1
    nonisolated(unsafe) private static var wakeWriter: Int32 = -1

    static func install() {
        if wakeDescriptor < 0 {
            var ends: [Int32] = [-1, -1]
            if pipe(&ends) == 0 {
                for fd in ends { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
                (wakeDescriptor, wakeWriter) = (ends[0], ends[1])
            }
        }
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in
            Interrupts.pending = 1
            Interpreter.interruptRequested = true
            var byte: UInt8 = 1
            _ = write(Interrupts.wakeWriter, &byte, 1)
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        sigaction(SIGINT, &action, nil)
    }

    /// True once per Ctrl-C (or several pressed together).
    static func take() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 64)
        while wakeDescriptor >= 0, read(wakeDescriptor, &buffer, buffer.count) > 0 {}
        guard pending != 0 else { return false }
        pending = 0
        Interpreter.interruptRequested = false
        return true
    }
}

/// Piped input: no prompts, no editing, no history.
final class PlainLineEditor: LineEditor {
    var completer: REPLCompleter?

    func read(prompt: String) -> LineInput {
        _ = Interrupts.take()
        if let line = readLine() { return .line(line) }
        return Interrupts.take() ? .interrupt : .end
    }

    func addHistory(_ entry: String) {}
}

/// The history file: one entry per line, a multi-line entry kept as one
/// (newlines and backslashes escaped), the newest last, capped.
struct HistoryFile {
    let path: String
    static let capacity = 1000

    /// $MNEMO_HISTORY, else ~/.mnemo_history; an empty $MNEMO_HISTORY turns history off.
    static func standard() -> HistoryFile? {
        let env = ProcessInfo.processInfo.environment
        if let path = env["MNEMO_HISTORY"] { return path.isEmpty ? nil : HistoryFile(path: path) }
        guard let home = env["HOME"], !home.isEmpty else { return nil }
        return HistoryFile(path: (home as NSString).appendingPathComponent(".mnemo_history"))
    }

    func load() -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map { HistoryFile.unescape(String($0)) }
    }

    /// Adds one entry at the end of the file, as readline's append_history
    /// does: cheap enough for every input of a paste, and two sessions sharing
    /// the file keep each other's entries.
    func append(_ entry: String) {
        try? SafeFile.append(Array((HistoryFile.escape(entry) + "\n").utf8), to: path)
    }

    /// At the end of a session: the file cut to the newest `capacity` entries
    /// (its own and those other sessions appended), written atomically.
    func trim() {
        let entries = load()
        guard entries.count > HistoryFile.capacity else { return }
        let text = entries.suffix(HistoryFile.capacity).map(HistoryFile.escape).joined(separator: "\n") + "\n"
        try? REPLCommands.writeAtomically(text, to: path)
    }

    static func escape(_ entry: String) -> String {
        entry.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func unescape(_ line: String) -> String {
        var out = "", escaping = false
        for c in line {
            if escaping { out.append(c == "n" ? "\n" : c); escaping = false }
            else if c == "\\" { escaping = true }
            else { out.append(c) }
        }
        return out
    }
}

/// GNU readline through its callback interface, so that Ctrl-C at the prompt
/// can clear the line without leaving readline in a half state. Readline's
/// own settings (~/.inputrc, `$if mnemo`) apply.
final class ReadlineEditor: LineEditor {
    var completer: REPLCompleter? {
        get { ReadlineEditor.activeCompleter }
        set { ReadlineEditor.activeCompleter = newValue }
    }
    private let historyFile: HistoryFile?
    private var entries: [String]

    // Readline calls back through C function pointers, which capture nothing:
    // what they need is kept here. There is one terminal, so one editor.
    nonisolated(unsafe) private static var activeCompleter: REPLCompleter?
    nonisolated(unsafe) private static var received: LineInput?
    nonisolated(unsafe) private static var matches: [String] = []
    nonisolated(unsafe) private static var nextMatch = 0

    init(history: HistoryFile?) {
        historyFile = history
        entries = history?.load() ?? []
        rl_readline_name = UnsafePointer(strdup("mnemo"))
        rl_catch_signals = 0
        // Words for completion break at operators and brackets (so `f(a, cos<TAB>`
        // completes `cos`), and at `.` and `:` (members, commands).
        let breaks = strdup(" \t\n\"'`@$><=;|&{}()[],+-*/%!^.:#")
        rl_basic_word_break_characters = UnsafePointer(breaks)
        rl_completer_word_break_characters = UnsafePointer(breaks)
        rl_attempted_completion_function = { text, start, _ in
            rl_attempted_completion_over = 1
            return ReadlineEditor.completions(text, start: Int(start))
        }
        using_history()
        stifle_history(Int32(HistoryFile.capacity))
        for e in entries { add_history(e) }
    }

    func read(prompt: String) -> LineInput {
        _ = Interrupts.take()
        ReadlineEditor.received = nil
        rl_callback_handler_install(prompt) { line in
            ReadlineEditor.received = line.map { .line(String(cString: $0)) } ?? .end
            free(line)
            // Removing the handler here keeps readline from drawing the next
            // prompt before the input has run.
            rl_callback_handler_remove()
        }
        while true {
            if Interrupts.take() {
                rl_callback_sigcleanup()
                rl_replace_line("", 0)
                rl_callback_handler_remove()
                fputs("^C\n", stdout)
                fflush(stdout)
                return .interrupt
            }
            var descriptors = [pollfd(fd: 0, events: Int16(POLLIN), revents: 0),
                               pollfd(fd: Interrupts.wakeDescriptor, events: Int16(POLLIN), revents: 0)]
            if poll(&descriptors, 2, -1) < 0 {
                if errno == EINTR { continue }
                rl_callback_handler_remove()
                return .end
            }
            if descriptors[0].revents == 0 { continue }
            rl_callback_read_char()
            if let result = ReadlineEditor.received {
                if result == .end { fputs("\n", stdout); fflush(stdout) }
                return result
            }
        }
    }

    func addHistory(_ entry: String) {
        guard entries.last != entry else { return }
        entries.append(entry)
        add_history(entry)
        if entries.count > 2 * HistoryFile.capacity { entries.removeFirst(entries.count - HistoryFile.capacity) }
        historyFile?.append(entry)
    }

    deinit { historyFile?.trim() }


    /// Readline's matches for the word at `start`: the completer's candidates,
    /// cut to the part of the line readline replaces.
    private static func completions(_ text: UnsafePointer<CChar>?, start: Int) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? {
        rl_completion_append_character = 0
        guard let completer = activeCompleter, let buffer = rl_line_buffer else { return nil }
        let line = Array(UnsafeBufferPointer(start: UnsafeRawPointer(buffer).assumingMemoryBound(to: UInt8.self), count: Int(rl_point)))
        let completion = completer.complete(String(decoding: line, as: UTF8.self))
        matches = completion.candidates.compactMap { candidate in
            let bytes = Array(candidate.utf8)
            if completion.start <= start {
                let cut = start - completion.start
                return cut <= bytes.count ? String(decoding: bytes[cut...], as: UTF8.self) : nil
            }
            return String(decoding: line[start..<completion.start], as: UTF8.self) + candidate
        }
        guard !matches.isEmpty else { return nil }
        nextMatch = 0
        return rl_completion_matches(text ?? UnsafePointer(strdup(""))) { _, _ in
            guard ReadlineEditor.nextMatch < ReadlineEditor.matches.count else { return nil }
            defer { ReadlineEditor.nextMatch += 1 }
            return strdup(ReadlineEditor.matches[ReadlineEditor.nextMatch])
        }
    }
}
