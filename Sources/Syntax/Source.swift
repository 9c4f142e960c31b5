/// A script's text, with the line table that diagnostics need.
public final class SourceFile {
    /// The name diagnostics show: a path as the user gave it, or "<repl>".
    public let name: String
    public let text: String
    /// The file on disk, when there is one: imports are looked up beside it.
    public let path: String?
    package let bytes: [UInt8]
    private let lineStarts: [Int]

    public init(name: String, text: String, path: String? = nil) {
        self.name = name
        self.path = path
        self.text = text
        self.bytes = Array(text.utf8)
        var starts = [0]
        for (i, b) in bytes.enumerated() where b == UInt8(ascii: "\n") { starts.append(i + 1) }
        self.lineStarts = starts
    }

    /// 1-based line and column (in characters) of a byte offset.
    public func location(of offset: Int) -> (line: Int, column: Int) {
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= offset { lo = mid } else { hi = mid - 1 }
        }
        let start = lineStarts[lo]
        let prefix = bytes[start..<min(max(offset, start), bytes.count)]
        return (lo + 1, String(decoding: prefix, as: UTF8.self).count + 1)
    }

    /// The text of a 1-based line, without its newline.
    public func line(_ number: Int) -> String {
        guard number >= 1, number <= lineStarts.count else { return "" }
        let start = lineStarts[number - 1]
        var end = number < lineStarts.count ? lineStarts[number] - 1 : bytes.count
        if end > start && bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        return String(decoding: bytes[start..<max(start, end)], as: UTF8.self)
    }

    package func slice(_ start: Int, _ end: Int) -> String {
        String(decoding: bytes[max(0, start)..<min(end, bytes.count)], as: UTF8.self)
    }
}

/// A span of a source file, in byte offsets.
public struct SourceRange {
    public let file: SourceFile
    public let start: Int
    public let end: Int

    public init(_ file: SourceFile, _ start: Int, _ end: Int) {
        self.file = file
        self.start = start
        self.end = max(start, end)
    }

    public func to(_ other: SourceRange) -> SourceRange { SourceRange(file, start, max(end, other.end)) }

    /// "file.mn:3:7", where the range starts.
    public var place: String {
        let (line, column) = file.location(of: start)
        return "\(file.name):\(line):\(column)"
    }

    /// The source text the range covers.
    public var text: String { String(decoding: file.bytes[min(start, file.bytes.count)..<min(end, file.bytes.count)], as: UTF8.self) }

    /// "file.mn:3:7"
    public var position: String {
        let (line, column) = file.location(of: start)
        return "\(file.name):\(line):\(column)"
    }
}
