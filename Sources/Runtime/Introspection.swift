import Foundation
import Graph
import Syntax
import Tensor

// What a host (the REPL) asks about code and values without running anything:
// is an input complete, what names exist, what a name is and does.

extension Interpreter {
    /// The language's keywords, for completion.
    public static var keywords: [String] { TokenKind.keywords.keys.sorted() }

    /// True when `text` ends in the middle of a construct (an open bracket,
    /// a trailing operator): the REPL should read another line.
    public static func isIncomplete(_ text: String) -> Bool {
        var parser = Parser(file: SourceFile(name: "<repl>", text: text))
        _ = parser.parseProgram()
        return !parser.diagnostics.isEmpty && parser.endedEarly
    }

    /// True when the input's last token is `;`: the REPL does not print its value.
    public static func endsWithSemicolon(_ text: String) -> Bool {
        var lexer = Lexer(file: SourceFile(name: "<repl>", text: text))
        return lexer.tokenize().last { $0.kind != .newline && $0.kind != .eof }?.kind == .semicolon
    }

    /// True when `text` is one expression (not a definition or statement).
    public static func isSingleExpression(_ text: String) -> Bool {
        var parser = Parser(file: SourceFile(name: "<repl>", text: text))
        let statements = parser.parseProgram()
        return parser.diagnostics.isEmpty && statements.count == 1 && statements[0] is ExprStmt
    }

    /// True when `name` occurs in `text` as a name (not inside a string or comment).
    public static func mentions(_ name: String, in text: String) -> Bool {
        var lexer = Lexer(file: SourceFile(name: "<repl>", text: text))
        return lexer.tokenize().contains { $0.kind == .identifier && $0.text == name }
    }

    /// `text` with each occurrence of the name `name` replaced by `replacement`.
    public static func renaming(_ name: String, to replacement: String, in text: String) -> String {
        var lexer = Lexer(file: SourceFile(name: "<repl>", text: text))
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var copied = 0
        for t in lexer.tokenize() where t.kind == .identifier && t.text == name {
            out += bytes[copied..<t.start]
            out += Array(replacement.utf8)
            copied = t.end
        }
        out += bytes[copied...]
        return String(decoding: out, as: UTF8.self)
    }

    /// Names of the stdlib's modules (the `.mn` files `import` finds there).
    public var stdlibModuleNames: [String] {
        guard let dir = loader.stdlibDirectory,
              let files = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        return files.filter { $0.hasSuffix(".mn") }.map { String($0.dropLast(3)) }.sorted()
    }

    /// The value a dotted name such as `ntm.NTM` or `mem.read` stands for in
    /// the session, found without calling anything; nil when unknown.
    public func lookup(_ dottedName: String) -> Value? {
        let parts = dottedName.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let first = parts.first, !first.isEmpty else { return nil }
        var value: Value
        if let v = globals.value(of: first) { value = v }
        else if let b = builtins[first] { value = .builtin(b) }
        else { return nil }
        for name in parts.dropFirst() {
            guard let next = member(of: value, name) else { return nil }
            value = next
        }
        return value
    }

    /// The names after `value.` (a module's names, a record's fields, an object's members).
    public func memberNames(of value: Value) -> [String] {
        switch value {
        case .module(let m): return m.globals.visibleNames.filter { m.globals.value(of: $0) != nil }
        case .record(let r): return r.names
        case .object(let o): return o.memberNames
        default: return []
        }
    }

    /// The member `name` of a module or record value (objects: see `NativeObject.methodNames`).
    public func lookup(_ value: Value, member name: String) -> Value? { member(of: value, name) }

    private func member(of value: Value, _ name: String) -> Value? {
        switch value {
        case .module(let m): return m.globals.value(of: name)
        case .record(let r): return r[name]
        case .object(let o): return (try? o.member(name, self)) ?? nil
        default: return nil
        }
    }

    /// Help for a name: a builtin's signature and doc, a function's signature
    /// and the comment above its definition, a module's names, or what a
    /// value is. Nil when the name means nothing here.
    public func help(for dottedName: String) -> String? {
        guard let value = lookup(dottedName) else { return nil }
        switch value {
        case .builtin(let b):
            let former = builtins.formerNames[dottedName].map { "(\(dottedName) is \($0)'s name before 0.7, accepted until 0.8)\n" } ?? ""
            return former + b.signature.description + "\n  " + b.doc
        case .function(let c):
            let doc = c.doc
            return "fn " + c.signature + "    (defined at \(c.definedAt))" + (doc.isEmpty ? "" : "\n  " + doc.replacingOccurrences(of: "\n", with: "\n  "))
        case .module(let m):
            let names = memberNames(of: value)
            return "module \(m.name) (\(m.path)): \(names.count) names\n  " + names.joined(separator: ", ")
        default:
            return "\(dottedName): " + Formatter.typeDescription(value)
        }
    }
}

extension Closure {
    /// The parameter list as written: "name(a, b = 1)".
    public var signature: String {
        let decl = function.declaration
        return decl.name + "(" + decl.parameters.map { p in
            p.defaultValue.map { "\(p.name) = \($0.range.text)" } ?? p.name
        }.joined(separator: ", ") + ")"
    }

    /// "file.mn:12:1"
    public var definedAt: String { function.declaration.range.position }

    /// The `#` comment lines just above the definition, without the `#`.
    public var doc: String {
        let range = function.declaration.range
        var line = range.file.location(of: range.start).line - 1
        var lines: [String] = []
        while line >= 1 {
            let text = range.file.line(line).trimmingCharacters(in: .whitespaces)
            guard text.hasPrefix("#") else { break }
            lines.insert(String(text.dropFirst()).trimmingCharacters(in: .whitespaces), at: 0)
            line -= 1
        }
        return lines.joined(separator: "\n")
    }
}

extension Formatter {
    /// A value's kind with its shape or size, for the REPL's `:type` and `:vars`:
    /// "tensor [2, 3]", "list of 4", "fn f(a, b)".
    public static func typeDescription(_ v: Value) -> String {
        switch v {
        case .tensor(let t):
            let role = t.isParameter ? ", parameter" : (t.requiresGrad ? ", recorded" : "")
            return "tensor [" + t.value.shape.map(String.init).joined(separator: ", ") + "]" + role
        case .list(let l): return "list of \(l.items.count)"
        case .tuple(let t): return "tuple of \(t.count)"
        case .record(let r): return "record {" + r.names.joined(separator: ", ") + "}"
        case .string(let s): return "string of \(s.count)"
        case .function(let c): return "fn " + c.signature
        case .builtin(let b): return "builtin " + b.signature.description
        case .module(let m): return "module \(m.name)"
        case .object(let o): return o.summary
        case .cell(let b): return typeDescription(b.value)
        default: return v.kindName
        }
    }
}
