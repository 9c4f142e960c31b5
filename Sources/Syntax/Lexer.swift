/// The kinds of token. Keywords and punctuation are their own kinds.
public enum TokenKind: Equatable {
    case identifier, number, string, newline, eof, error
    // keywords
    case kLet, kVar, kFn, kReturn, kIf, kElse, kWhile, kFor, kIn, kBreak, kContinue
    case kAssert, kImport, kAs, kNograd, kTrue, kFalse, kNil, kAnd, kOr, kNot
    // punctuation
    case leftParen, rightParen, leftBracket, rightBracket, leftBrace, rightBrace
    case comma, dot, colon, semicolon, arrow
    case assign, plusAssign, minusAssign, starAssign, slashAssign
    case plus, minus, star, slash, percent, at, power
    case equal, notEqual, less, lessEqual, greater, greaterEqual
    case rangeExclusive, rangeInclusive

    package static let keywords: [String: TokenKind] = [
        "let": .kLet, "var": .kVar, "fn": .kFn, "return": .kReturn, "if": .kIf, "else": .kElse,
        "while": .kWhile, "for": .kFor, "in": .kIn, "break": .kBreak, "continue": .kContinue,
        "assert": .kAssert, "import": .kImport, "as": .kAs, "nograd": .kNograd,
        "true": .kTrue, "false": .kFalse, "nil": .kNil, "and": .kAnd, "or": .kOr, "not": .kNot,
    ]

    /// Operators after which a line break does not end the statement.
    package var continuesLine: Bool {
        switch self {
        case .plus, .minus, .star, .slash, .percent, .at, .power, .equal, .notEqual, .less, .lessEqual,
             .greater, .greaterEqual, .kAnd, .kOr, .kNot, .assign, .plusAssign, .minusAssign, .starAssign,
             .slashAssign, .comma, .dot, .rangeExclusive, .rangeInclusive, .arrow, .colon:
            return true
        default: return false
        }
    }
}

/// A piece of a string literal: text, or the source range of an interpolated `\(expr)`.
public enum StringPiece {
    case text(String)
    case code(start: Int, end: Int)
}

public struct Token {
    public var kind: TokenKind
    public var start: Int
    public var end: Int
    public var number: Double = 0
    public var pieces: [StringPiece] = []
    /// For identifiers, the name; for errors, the message.
    public var text: String = ""
}

/// Turns source bytes into tokens. It never throws: a bad character becomes an
/// error token that the parser reports. Newlines are tokens, except inside
/// parentheses and brackets, where a statement cannot end.
package struct Lexer {
    package let file: SourceFile
    private let b: [UInt8]
    private var i: Int
    private let end: Int
    private var brackets: [UInt8] = []

    package init(file: SourceFile, start: Int = 0, end: Int? = nil) {
        self.file = file
        self.b = file.bytes
        self.i = start
        self.end = end ?? file.bytes.count
    }

    package mutating func tokenize() -> [Token] {
        var tokens: [Token] = []
        while true {
            let t = next()
            // Collapse runs of newlines into one.
            if t.kind == .newline, tokens.last?.kind == .newline || tokens.isEmpty { continue }
            tokens.append(t)
            if t.kind == .eof { return tokens }
        }
    }

    private func peek(_ k: Int = 0) -> UInt8 { i + k < end ? b[i + k] : 0 }

    private mutating func next() -> Token {
        skipSpaceAndComments()
        let start = i
        guard i < end else { return Token(kind: .eof, start: end, end: end) }
        let c = b[i]
        func make(_ kind: TokenKind, _ length: Int) -> Token {
            i += length
            return Token(kind: kind, start: start, end: i)
        }
        switch c {
        case UInt8(ascii: "\n"):
            return make(.newline, 1)
        case UInt8(ascii: "0")...UInt8(ascii: "9"):
            return number()
        case UInt8(ascii: "\""):
            return string()
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "_"):
            while i < end, isIdentifierByte(b[i]) { i += 1 }
            let name = file.slice(start, i)
            if let k = TokenKind.keywords[name] { return Token(kind: k, start: start, end: i) }
            return Token(kind: .identifier, start: start, end: i, text: name)
        case UInt8(ascii: "("), UInt8(ascii: "["), UInt8(ascii: "{"):
            brackets.append(c)
            return make(c == UInt8(ascii: "(") ? .leftParen : c == UInt8(ascii: "[") ? .leftBracket : .leftBrace, 1)
        case UInt8(ascii: ")"), UInt8(ascii: "]"), UInt8(ascii: "}"):
            if !brackets.isEmpty { brackets.removeLast() }
            return make(c == UInt8(ascii: ")") ? .rightParen : c == UInt8(ascii: "]") ? .rightBracket : .rightBrace, 1)
        case UInt8(ascii: ","): return make(.comma, 1)
        case UInt8(ascii: ":"): return make(.colon, 1)
        case UInt8(ascii: ";"): return make(.semicolon, 1)
        case UInt8(ascii: "@"): return make(.at, 1)
        case UInt8(ascii: "%"): return make(.percent, 1)
        case UInt8(ascii: "."):
            if peek(1) == UInt8(ascii: "."), peek(2) == UInt8(ascii: "<") { return make(.rangeExclusive, 3) }
            if peek(1) == UInt8(ascii: "."), peek(2) == UInt8(ascii: ".") { return make(.rangeInclusive, 3) }
            return make(.dot, 1)
        case UInt8(ascii: "+"): return peek(1) == UInt8(ascii: "=") ? make(.plusAssign, 2) : make(.plus, 1)
        case UInt8(ascii: "-"): return peek(1) == UInt8(ascii: "=") ? make(.minusAssign, 2) : make(.minus, 1)
        case UInt8(ascii: "*"):
            if peek(1) == UInt8(ascii: "*") { return make(.power, 2) }
            return peek(1) == UInt8(ascii: "=") ? make(.starAssign, 2) : make(.star, 1)
        case UInt8(ascii: "/"): return peek(1) == UInt8(ascii: "=") ? make(.slashAssign, 2) : make(.slash, 1)
        case UInt8(ascii: "="):
            if peek(1) == UInt8(ascii: "=") { return make(.equal, 2) }
            if peek(1) == UInt8(ascii: ">") { return make(.arrow, 2) }
            return make(.assign, 1)
        case UInt8(ascii: "!"):
            if peek(1) == UInt8(ascii: "=") { return make(.notEqual, 2) }
            return error(start, 1, "unexpected '!'; use 'not' for negation")
        case UInt8(ascii: "<"): return peek(1) == UInt8(ascii: "=") ? make(.lessEqual, 2) : make(.less, 1)
        case UInt8(ascii: ">"): return peek(1) == UInt8(ascii: "=") ? make(.greaterEqual, 2) : make(.greater, 1)
        default:
            // Skip a whole UTF-8 sequence so the caret covers one character.
            var length = 1
            while i + length < end, b[i + length] & 0xC0 == 0x80 { length += 1 }
            return error(start, length, "unexpected character '\(file.slice(start, start + length))'")
        }
    }

    private func isIdentifierByte(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "_")
    }

    private mutating func error(_ start: Int, _ length: Int, _ message: String) -> Token {
        i = start + length
        return Token(kind: .error, start: start, end: i, text: message)
    }

    /// Words that only ever begin a statement, never continue an expression.
    private static let statementOnlyWords: Set<String> = ["let", "var", "for", "while", "return", "import", "assert"]

    /// Whether the line starting at j begins with a statement-only word.
    private func lineStartsStatement(after start: Int) -> Bool {
        var j = start
        while j < end, b[j] == UInt8(ascii: " ") || b[j] == UInt8(ascii: "\t") || b[j] == UInt8(ascii: "\r") { j += 1 }
        let wordStart = j
        while j < end, isIdentifierByte(b[j]) { j += 1 }
        return j > wordStart && Lexer.statementOnlyWords.contains(file.slice(wordStart, j))
    }

    private mutating func skipSpaceAndComments() {
        while i < end {
            let c = b[i]
            if c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") || c == UInt8(ascii: "\r") {
                i += 1
            } else if c == UInt8(ascii: "#") {
                while i < end, b[i] != UInt8(ascii: "\n") { i += 1 }
            } else if c == UInt8(ascii: "\n"), let top = brackets.last, top != UInt8(ascii: "{") {
                if lineStartsStatement(after: i + 1) {
                    // Such a line cannot continue an expression: the brackets
                    // before it were never closed. Ending them here lets the
                    // parser report that and carry on with this statement.
                    while let open = brackets.last, open != UInt8(ascii: "{") { brackets.removeLast() }
                    return
                }
                i += 1
            } else if c == UInt8(ascii: "\\"), peek(1) == UInt8(ascii: "\n") {
                i += 2  // an explicit line continuation
            } else {
                return
            }
        }
    }

    private mutating func number() -> Token {
        let start = i
        func digits() { while i < end, (b[i] >= UInt8(ascii: "0") && b[i] <= UInt8(ascii: "9")) || b[i] == UInt8(ascii: "_") { i += 1 } }
        digits()
        // "1..<3" is a range, not the number "1."
        if peek() == UInt8(ascii: "."), peek(1) >= UInt8(ascii: "0"), peek(1) <= UInt8(ascii: "9") {
            i += 1
            digits()
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            let save = i
            i += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { i += 1 }
            if peek() >= UInt8(ascii: "0"), peek() <= UInt8(ascii: "9") { digits() } else { i = save }
        }
        let text = file.slice(start, i).replacingOccurrences(of: "_", with: "")
        guard let value = Double(text) else { return error(start, i - start, "malformed number '\(file.slice(start, i))'") }
        return Token(kind: .number, start: start, end: i, number: value)
    }

    private mutating func string() -> Token {
        let start = i
        i += 1
        var pieces: [StringPiece] = []
        var text: [UInt8] = []
        while i < end {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                if !text.isEmpty || pieces.isEmpty { pieces.append(.text(String(decoding: text, as: UTF8.self))) }
                return Token(kind: .string, start: start, end: i, pieces: pieces)
            }
            if c == UInt8(ascii: "\n") { break }
            if c == UInt8(ascii: "\\") {
                let e = peek(1)
                switch e {
                case UInt8(ascii: "n"): text.append(UInt8(ascii: "\n")); i += 2
                case UInt8(ascii: "t"): text.append(UInt8(ascii: "\t")); i += 2
                case UInt8(ascii: "r"): text.append(UInt8(ascii: "\r")); i += 2
                case UInt8(ascii: "0"): text.append(0); i += 2
                case UInt8(ascii: "u"):
                    // \u{1F600}: one to eight hex digits naming a Unicode scalar.
                    guard peek(2) == UInt8(ascii: "{") else { return error(i, 2, "'\\u' must be followed by {hex digits}, as in \\u{2588}") }
                    var j = i + 3
                    while j < end, j - (i + 3) <= 8, b[j] != UInt8(ascii: "}"), b[j] != UInt8(ascii: "\""), b[j] != UInt8(ascii: "\n") { j += 1 }
                    let digits = String(decoding: b[(i + 3)..<min(j, end)], as: UTF8.self)
                    guard j < end, b[j] == UInt8(ascii: "}"), (1...8).contains(digits.count), let value = UInt32(digits, radix: 16) else {
                        return error(i, max(2, min(j, end) - i), "'\\u{...}' needs one to eight hex digits and a closing brace")
                    }
                    guard let scalar = Unicode.Scalar(value) else {
                        return error(i, j + 1 - i, "'\\u{\(digits)}' is not a Unicode scalar value")
                    }
                    text += Array(String(Character(scalar)).utf8)
                    i = j + 1
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): text.append(e); i += 2
                case UInt8(ascii: "("):
                    if !text.isEmpty { pieces.append(.text(String(decoding: text, as: UTF8.self))); text = [] }
                    let codeStart = i + 2
                    var depth = 1, j = codeStart
                    while j < end, depth > 0, b[j] != UInt8(ascii: "\n") {
                        if b[j] == UInt8(ascii: "(") { depth += 1 } else if b[j] == UInt8(ascii: ")") { depth -= 1 }
                        if depth > 0 { j += 1 }
                    }
                    guard depth == 0 else { return error(i, j - i, "unterminated interpolation '\\(' in string") }
                    pieces.append(.code(start: codeStart, end: j))
                    i = j + 1
                default:
                    return error(i, 2, "unknown escape '\\\(String(decoding: [e], as: UTF8.self))' in string")
                }
                continue
            }
            text.append(c)
            i += 1
        }
        return error(start, i - start, "unterminated string")
    }
}
