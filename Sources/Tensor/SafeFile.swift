#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writing a file so that nothing is damaged: every save in Mnemo (`save`,
/// `save_trace`, `:save`, the REPL's history) goes through here.
///
/// - A regular file is replaced atomically: the bytes go to a temporary file
///   beside it, which takes the target's permissions (and, as root, its
///   owner), is flushed to disk, then renamed over it. A reader never sees
///   half a file, and a 0600 file stays 0600.
/// - A symbolic link is followed: its target is replaced, the link stays.
/// - Anything that is not a regular file (a device such as /dev/null, a FIFO)
///   is written through, never replaced by a file; so is a file with several
///   hard links, which a rename would split from its other names.
/// - A temporary file left by a save that was killed is removed by the next
///   save to the same target (its name holds the process id that wrote it).
public enum SafeFile {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// False while fuzzing: generated scripts must not write anywhere.
    nonisolated(unsafe) public static var writesAllowed = true

    public static func write(_ bytes: [UInt8], to path: String) throws {
        guard writesAllowed else { throw Failure(description: "cannot write '\(path)': writing files is turned off") }
        let target = resolvedPath(path)
        var info = stat()
        let exists = stat(target, &info) == 0
        if exists && ((info.st_mode & S_IFMT) != S_IFREG || info.st_nlink > 1) {
            return try writeThrough(bytes, to: target, shown: path)
        }
        let (folder, name) = split(target)
        removeStaleTemporaries(in: folder, for: name)
        let temporary = folder + "/." + name + ".\(getpid()).mnemo-tmp"
        let mode: mode_t = exists ? info.st_mode & 0o7777 : 0o666
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw failure(path, errno) }
        var ok = writeAll(fd, bytes)
        var code = errno
        if ok && exists {
            // The mode given to open is reduced by the umask: set it exactly, and keep the owner.
            _ = fchmod(fd, info.st_mode & 0o7777)
            if geteuid() == 0 { _ = fchown(fd, info.st_uid, info.st_gid) }
        }
        if ok && fsync(fd) != 0 { ok = false; code = errno }
        close(fd)
        guard ok, rename(temporary, target) == 0 else {
            if ok { code = errno }
            unlink(temporary)
            throw failure(path, code)
        }
    }

    /// Appends one piece of text (the REPL's history, an input at a time; a
    /// log, a record at a time) in one write, so lines from one writer never mix.
    /// `mode` is for a new file (the history is private: 0o600).
    public static func append(_ bytes: [UInt8], to path: String, mode: mode_t = 0o600) throws {
        guard writesAllowed else { throw Failure(description: "cannot write '\(path)': writing files is turned off") }
        let fd = open(resolvedPath(path), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode)
        guard fd >= 0 else { throw failure(path, errno) }
        defer { close(fd) }
        guard writeAll(fd, bytes) else { throw failure(path, errno) }
    }

    private static func writeThrough(_ bytes: [UInt8], to target: String, shown: String) throws {
        let fd = open(target, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard fd >= 0 else { throw failure(shown, errno) }
        defer { close(fd) }
        guard writeAll(fd, bytes) else { throw failure(shown, errno) }
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 { if errno == EINTR { continue }; return false }
                offset += n
            }
            return true
        }
    }

    /// The path with every symbolic link in it followed (as far as they lead).
    static func resolvedPath(_ path: String) -> String {
        var current = path
        for _ in 0..<40 {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(current, &buffer, Int(PATH_MAX))
            guard n > 0 else { return current }
            let link = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            current = link.hasPrefix("/") ? link : split(current).folder + "/" + link
        }
        return current
    }

    static func split(_ path: String) -> (folder: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let folder = String(path[..<slash])
        return (folder.isEmpty ? "/" : folder, String(path[path.index(after: slash)...]))
    }

    /// Removes ".NAME.PID.mnemo-tmp" files whose process is gone.
    static func removeStaleTemporaries(in folder: String, for name: String) {
        guard let dir = opendir(folder) else { return }
        defer { closedir(dir) }
        let prefix = "." + name + ".", suffix = ".mnemo-tmp"
        while let entry = readdir(dir) {
            // The name is read in place: a record is only as long as its name, so
            // copying the whole 256-byte d_name field can run off the end of
            // the directory buffer's last page.
            let namePointer = UnsafeRawPointer(entry) + MemoryLayout<dirent>.offset(of: \dirent.d_name)!
            let entryName = String(cString: namePointer.assumingMemoryBound(to: CChar.self))
            guard entryName.hasPrefix(prefix), entryName.hasSuffix(suffix) else { continue }
            let middle = entryName.dropFirst(prefix.count).dropLast(suffix.count)
            guard let pid = Int32(middle), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlink(folder + "/" + entryName) }
        }
    }

    private static func failure(_ path: String, _ code: Int32) -> Failure {
        Failure(description: "cannot write '\(path)': \(String(cString: strerror(code)))")
    }
}
