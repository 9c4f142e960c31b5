import Builtins
import Foundation
import Runtime
import Syntax

/// Tab completion for the REPL, independent of readline so it can be tested
/// directly: given the text before the cursor, where the word being
/// completed starts (a UTF-8 offset) and what it may become.
public struct REPLCompleter {
    unowned let repl: REPL

    public struct Completion: Equatable {
        /// UTF-8 offset in the line where the replaced text starts.
        public let start: Int
        public let candidates: [String]
    }

    func complete(_ before: String) -> Completion {
        let bytes = Array(before.utf8)
        let leading = bytes.prefix { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }.count
        if leading < bytes.count, bytes[leading] == UInt8(ascii: ":") {
            return command(bytes, from: leading)
        }
        return code(bytes, from: 0, suffixes: true)
    }

    // MARK: Commands

    private func command(_ bytes: [UInt8], from colon: Int) -> Completion {
        var i = colon + 1
        while i < bytes.count, isWordByte(bytes[i]) { i += 1 }
        let word = String(decoding: bytes[(colon + 1)..<i], as: UTF8.self)
        if i == bytes.count {
            return Completion(start: colon, candidates: REPLCommands.all.filter { $0.name.hasPrefix(word) }.map { ":" + $0.name })
        }
        guard case .success(let c) = REPLCommands.match(word) else { return Completion(start: bytes.count, candidates: []) }
        var argStart = i
        while argStart < bytes.count, bytes[argStart] == UInt8(ascii: " ") { argStart += 1 }
        switch c.argument {
        case .file:
            if argStart < bytes.count, bytes[argStart] == UInt8(ascii: "\"") { argStart += 1 }
            return files(bytes, from: argStart)
        case .name: return code(bytes, from: argStart, suffixes: false)
        case .expression: return code(bytes, from: argStart, suffixes: true)
        case .none, .number: return Completion(start: bytes.count, candidates: [])
        }
    }

    // MARK: Code

    private func code(_ bytes: [UInt8], from start: Int, suffixes: Bool) -> Completion {
        // Inside a string literal: a file name (load("data/x.npy"), save paths).
        if let quote = openStringStart(bytes, from: start) { return files(bytes, from: quote + 1) }
        var wordStart = bytes.count
        while wordStart > start, isWordByte(bytes[wordStart - 1]) || bytes[wordStart - 1] == UInt8(ascii: ".") { wordStart -= 1 }
        let word = String(decoding: bytes[wordStart...], as: UTF8.self)
        if let first = word.unicodeScalars.first, CharacterSet.decimalDigits.contains(first) {
            return Completion(start: bytes.count, candidates: [])
        }
        let interpreter = repl.interpreter
        let before = String(decoding: bytes[start..<wordStart], as: UTF8.self)
        if before.trimmingCharacters(in: .whitespaces) == "import" || before.hasSuffix("\nimport ") {
            var modules = Set(interpreter.stdlibModuleNames)
            let here = (try? FileManager.default.contentsOfDirectory(atPath: ".")) ?? []
            modules.formUnion(here.filter { $0.hasSuffix(".mn") }.map { String($0.dropLast(3)) })
            return Completion(start: wordStart, candidates: modules.filter { $0.hasPrefix(word) }.sorted())
        }
        if let dot = word.lastIndex(of: ".") {
            let base = String(word[..<dot]), prefix = String(word[word.index(after: dot)...])
            guard let value = interpreter.lookup(base) else { return Completion(start: wordStart, candidates: []) }
            let names = interpreter.memberNames(of: value).filter { $0.hasPrefix(prefix) }
            return Completion(start: wordStart, candidates: names.map { name in
                base + "." + name + (suffixes ? memberSuffix(value, name) : "")
            }.sorted())
        }
        var names = Set(Interpreter.keywords)
        names.formUnion(interpreter.builtins.names)
        names.formUnion(interpreter.globals.visibleNames)
        return Completion(start: wordStart, candidates: names.filter { $0.hasPrefix(word) }.sorted().map { name in
            name + (suffixes ? suffix(interpreter.lookup(name)) : "")
        })
    }

    /// Functions complete with "(", modules with ".", as the next thing typed usually is.
    private func suffix(_ value: Value?) -> String {
        switch value {
        case .function?, .builtin?: return "("
        case .module?: return "."
        default: return ""
        }
    }

    /// An object's members are not evaluated to find their kind (a memory's
    /// `trace` builds tensors): its methods say which are functions.
    private func memberSuffix(_ parent: Value, _ name: String) -> String {
        if case .object(let o) = parent { return o.methodNames.contains(name) ? "(" : "" }
        return suffix(repl.interpreter.lookup(parent, member: name))
    }

    /// The offset of the `"` that opens a string still open at the end, if any.
    private func openStringStart(_ bytes: [UInt8], from start: Int) -> Int? {
        var open: Int?
        var i = start
        while i < bytes.count {
            let b = bytes[i]
            if open != nil {
                if b == UInt8(ascii: "\\") { i += 1 } else if b == UInt8(ascii: "\"") { open = nil }
            } else if b == UInt8(ascii: "\"") {
                open = i
            } else if b == UInt8(ascii: "#") {
                return nil
            }
            i += 1
        }
        return open
    }

    // MARK: Files

    private func files(_ bytes: [UInt8], from start: Int) -> Completion {
        let typed = String(decoding: bytes[start...], as: UTF8.self)
        let slash = typed.lastIndex(of: "/")
        let folderPart = slash.map { String(typed[...$0]) } ?? ""
        let prefix = slash.map { String(typed[typed.index(after: $0)...]) } ?? typed
        let folder = folderPart.isEmpty ? "." : (folderPart as NSString).expandingTildeInPath
        let fm = FileManager.default
        guard let entries = try? fm.contentsOfDirectory(atPath: folder) else { return Completion(start: start, candidates: []) }
        let candidates = entries.filter { $0.hasPrefix(prefix) && (prefix.hasPrefix(".") || !$0.hasPrefix(".")) }.map { name -> String in
            var isDirectory: ObjCBool = false
            _ = fm.fileExists(atPath: (folder as NSString).appendingPathComponent(name), isDirectory: &isDirectory)
            return folderPart + name + (isDirectory.boolValue ? "/" : "")
        }
        return Completion(start: start, candidates: candidates.sorted())
    }

    private func isWordByte(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
            || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "_") || b >= 0x80
    }
}
