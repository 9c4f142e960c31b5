import Tensor

/// Recursive descent with one function per precedence level. On a syntax
/// error it records a diagnostic and skips to the next statement (panic mode),
/// so one run reports several errors.
struct Parser {
    let file: SourceFile
    private var tokens: [Token]
    private var p = 0
    private(set) var diagnostics: [Diagnostic] = []
    /// True when an error happened at the end of input: the REPL reads another line.
    private(set) var endedEarly = false
    private var depth = 0
    static let maxDepth = 200
    /// Operators, calls and `else if`s chained one after another, counted
    /// along the path from the root: each link is one more level of the tree
    /// that every later pass (and its release) walks recursively.
    private var chain = 0
    static let maxChain = 10_000
    static let maxErrors = 20

    private struct Abort: Error {}

    init(file: SourceFile, start: Int = 0, end: Int? = nil) {
        self.file = file
        var lexer = Lexer(file: file, start: start, end: end)
        tokens = lexer.tokenize()
    }

    // MARK: Entry points

    mutating func parseProgram() -> [Stmt] {
        var statements: [Stmt] = []
        skipNewlines()
        while !at(.eof) && diagnostics.count < Parser.maxErrors {
            do {
                statements.append(try statement())
                try endStatement()
            } catch {
                synchronize()
            }
            skipNewlines()
        }
        return statements
    }

    /// One expression filling the whole range (an interpolation inside a string).
    mutating func parseLoneExpression() -> Expr? {
        do {
            let e = try expression()
            if !at(.eof) { throw fail("unexpected \(describe(peek)) in interpolation") }
            return e
        } catch { return nil }
    }

    // MARK: Token helpers

    private var peek: Token { tokens[p] }
    private func at(_ k: TokenKind) -> Bool { tokens[p].kind == k }
    private func range(_ t: Token) -> SourceRange { SourceRange(file, t.start, t.end) }
    private var previousRange: SourceRange { range(tokens[max(p - 1, 0)]) }

    @discardableResult
    private mutating func advance() -> Token {
        let t = tokens[p]
        if t.kind != .eof { p += 1 }
        return t
    }

    private mutating func match(_ k: TokenKind) -> Bool {
        if at(k) { advance(); return true }
        return false
    }

    @discardableResult
    private mutating func expect(_ k: TokenKind, _ what: String) throws -> Token {
        if at(k) { return advance() }
        throw fail("expected \(what), found \(describe(peek))")
    }

    private mutating func skipNewlines() { while at(.newline) || at(.semicolon) { advance() } }

    private func describe(_ t: Token) -> String {
        switch t.kind {
        case .eof: return "end of input"
        case .newline: return "end of line"
        case .identifier: return "'\(t.text)'"
        case .number: return "number"
        case .string: return "string"
        case .error: return "'\(file.slice(t.start, t.end))'"
        default: return "'\(file.slice(t.start, t.end))'"
        }
    }

    private mutating func fail(_ message: String, at r: SourceRange? = nil) -> Error {
        let t = peek
        if t.kind == .error {
            diagnostics.append(Diagnostic(.compile, t.text, at: range(t)))
        } else {
            if t.kind == .eof { endedEarly = true }
            diagnostics.append(Diagnostic(.compile, message, at: r ?? range(t)))
        }
        return Abort()
    }

    /// Skips to the start of the next statement, keeping braces balanced.
    private mutating func synchronize() {
        var braces = 0
        let statementStarts: [TokenKind] = [.kLet, .kVar, .kFn, .kIf, .kWhile, .kFor, .kReturn, .kImport, .kAssert]
        while !at(.eof) {
            // A statement keyword at the start of a line begins the next statement.
            if braces == 0, statementStarts.contains(peek.kind), p > 0, tokens[p - 1].kind == .newline { return }
            switch peek.kind {
            case .leftBrace: braces += 1
            case .rightBrace:
                if braces == 0 { return }
                braces -= 1
            case .newline, .semicolon:
                if braces == 0 { advance(); return }
            default: break
            }
            advance()
        }
    }

    private mutating func endStatement() throws {
        if at(.newline) || at(.semicolon) || at(.eof) || at(.rightBrace) { return }
        throw fail("expected end of line after statement, found \(describe(peek))")
    }

    // MARK: Statements

    private mutating func statement() throws -> Stmt {
        let start = peek
        switch start.kind {
        case .kLet, .kVar:
            advance()
            let pattern = try parsePattern()
            var value: Expr? = nil
            if match(.assign) { skipNewlines(); value = try expression() }
            else if start.kind == .kLet { throw fail("'let' needs a value: let name = ...") }
            return LetStmt(pattern, value, mutable: start.kind == .kVar, range(start).to(previousRange))
        case .kFn where tokens[p + 1].kind == .identifier:
            advance()
            let name = advance()
            let decl = try functionRest(name: name.text, start: start)
            return FnStmt(decl, nameRange: range(name))
        case .kReturn:
            advance()
            var value: Expr? = nil
            if !(at(.newline) || at(.semicolon) || at(.rightBrace) || at(.eof)) { value = try expression() }
            return ReturnStmt(value, range(start).to(previousRange))
        case .kIf:
            return try ifStatement()
        case .kWhile:
            advance()
            let condition = try expression()
            let body = try block()
            return WhileStmt(condition, body, range(start).to(previousRange))
        case .kFor:
            advance()
            let pattern = try parsePattern()
            try expect(.kIn, "'in' after the loop variable")
            let sequence = try expression()
            let body = try block()
            return ForStmt(pattern, sequence, body, range(start).to(previousRange))
        case .kBreak, .kContinue:
            advance()
            return JumpStmt(isBreak: start.kind == .kBreak, range(start))
        case .kAssert:
            advance()
            let condition = try expression()
            var message: Expr? = nil
            if match(.comma) { message = try expression() }
            return AssertStmt(condition, message, range(start).to(previousRange))
        case .kImport:
            advance()
            let name = try expect(.identifier, "a module name after 'import'")
            var alias = name
            if match(.kAs) { alias = try expect(.identifier, "a name after 'as'") }
            return ImportStmt(name.text, alias: alias.text, nameRange: range(alias), range(start).to(previousRange))
        case .kNograd:
            advance()
            let body = try block()
            return NogradStmt(body, range(start).to(previousRange))
        default:
            let target = try expression()
            let assignOps: [TokenKind: BinaryOp?] = [.assign: nil, .plusAssign: .add, .minusAssign: .subtract,
                                                     .starAssign: .multiply, .slashAssign: .divide]
            if let op = assignOps[peek.kind] {
                let opToken = advance()
                guard target is NameExpr || target is MemberExpr || target is IndexExpr else {
                    throw fail("cannot assign to this expression", at: target.range)
                }
                skipNewlines()
                let value = try expression()
                return AssignStmt(op, target, value, opRange: range(opToken))
            }
            if let e = target as? StatementExpr { return e.statement }
            return ExprStmt(target)
        }
    }

    private mutating func ifStatement() throws -> IfStmt {
        let start = advance()
        let condition = try expression()
        let then = try block()
        var otherwise: [Stmt]? = nil
        // `else` may start the next line.
        var look = p
        while tokens[look].kind == .newline { look += 1 }
        if tokens[look].kind == .kElse {
            p = look
            advance()
            if at(.kIf) {
                let chainAtStart = chain
                defer { chain = chainAtStart }
                try link()
                otherwise = [try ifStatement()]
            } else {
                otherwise = try block()
            }
        }
        return IfStmt(condition, then, otherwise, range(start).to(previousRange))
    }

    private mutating func block() throws -> [Stmt] {
        try nested { try $0.blockBody() }
    }

    private mutating func blockBody() throws -> [Stmt] {
        try expect(.leftBrace, "'{' to start a block")
        var statements: [Stmt] = []
        skipNewlines()
        while !at(.rightBrace) {
            if at(.eof) { throw fail("expected '}' to close the block") }
            do {
                statements.append(try statement())
                try endStatement()
            } catch {
                if diagnostics.count >= Parser.maxErrors || at(.eof) { throw error }
                synchronize()
            }
            skipNewlines()
        }
        advance()
        return statements
    }

    private mutating func parsePattern() throws -> Pattern {
        let t = peek
        if t.kind == .identifier {
            advance()
            return t.text == "_" ? .wildcard(range(t)) : .name(t.text, range(t))
        }
        if t.kind == .leftParen {
            advance()
            var items: [Pattern] = []
            while !at(.rightParen) {
                items.append(try parsePattern())
                if !match(.comma) { break }
            }
            try expect(.rightParen, "')' to close the pattern")
            return .tuple(items, range(t).to(previousRange))
        }
        throw fail("expected a name or a (tuple, pattern), found \(describe(t))")
    }

    private mutating func functionRest(name: String, start: Token) throws -> FunctionDecl {
        try expect(.leftParen, "'(' to start the parameter list")
        var parameters: [Parameter] = []
        var names = Set<String>()
        while !at(.rightParen) {
            let t = try expect(.identifier, "a parameter name")
            if !names.insert(t.text).inserted { throw fail("duplicate parameter '\(t.text)'", at: range(t)) }
            var defaultValue: Expr? = nil
            if match(.assign) { defaultValue = try expression() }
            else if parameters.last?.defaultValue != nil {
                throw fail("parameter '\(t.text)' needs a default value, as the ones before it have", at: range(t))
            }
            parameters.append(Parameter(name: t.text, range: range(t), defaultValue: defaultValue))
            if !match(.comma) { break }
        }
        try expect(.rightParen, "')' to close the parameter list")
        let body: [Stmt]
        if match(.arrow) {
            let e = try expression()
            body = [ExprStmt(e)]
        } else {
            body = try block()
        }
        return FunctionDecl(name: name, range: range(start).to(previousRange), parameters: parameters, body: body)
    }

    // MARK: Expressions, lowest precedence first

    mutating func expression() throws -> Expr {
        try nested { try $0.orExpr() }
    }

    /// One more link of a chain (see `chain`); the caller restores the count when its chain ends.
    private mutating func link() throws {
        chain += 1
        if chain > Parser.maxChain { throw fail("expression too long: more than \(Parser.maxChain) operations in a row") }
    }

    private mutating func orExpr() throws -> Expr {
        let chainAtStart = chain
        defer { chain = chainAtStart }
        var e = try andExpr()
        while match(.kOr) { try link(); skipNewlines(); e = LogicalExpr(isAnd: false, e, try andExpr()) }
        return e
    }

    private mutating func andExpr() throws -> Expr {
        let chainAtStart = chain
        defer { chain = chainAtStart }
        var e = try notExpr()
        while match(.kAnd) { try link(); skipNewlines(); e = LogicalExpr(isAnd: true, e, try notExpr()) }
        return e
    }

    private mutating func notExpr() throws -> Expr {
        if at(.kNot) {
            let t = advance()
            let operand = try nested { try $0.notExpr() }
            return UnaryExpr(.not, operand, range(t).to(operand.range))
        }
        return try comparison()
    }

    private mutating func comparison() throws -> Expr {
        let chainAtStart = chain
        defer { chain = chainAtStart }
        let ops: [TokenKind: BinaryOp] = [.equal: .equal, .notEqual: .notEqual, .less: .less,
                                          .lessEqual: .lessEqual, .greater: .greater, .greaterEqual: .greaterEqual]
        var e = try rangeExpr()
        while let op = ops[peek.kind] {
            try link()
            let t = advance(); skipNewlines()
            e = BinaryExpr(op, e, try rangeExpr(), opRange: range(t))
        }
        return e
    }

    private mutating func rangeExpr() throws -> Expr {
        let e = try additive()
        if at(.rangeExclusive) || at(.rangeInclusive) {
            let inclusive = advance().kind == .rangeInclusive
            skipNewlines()
            return RangeExpr(e, try additive(), inclusive: inclusive)
        }
        return e
    }

    private mutating func additive() throws -> Expr {
        let chainAtStart = chain
        defer { chain = chainAtStart }
        var e = try multiplicative()
        while at(.plus) || at(.minus) {
            try link()
            let t = advance(); skipNewlines()
            e = BinaryExpr(t.kind == .plus ? .add : .subtract, e, try multiplicative(), opRange: range(t))
        }
        return e
    }

    private mutating func multiplicative() throws -> Expr {
        let chainAtStart = chain
        defer { chain = chainAtStart }
        let ops: [TokenKind: BinaryOp] = [.star: .multiply, .slash: .divide, .percent: .modulo, .at: .matmul]
        var e = try unary()
        while let op = ops[peek.kind] {
            try link()
            let t = advance(); skipNewlines()
            e = BinaryExpr(op, e, try unary(), opRange: range(t))
        }
        return e
    }

    private mutating func unary() throws -> Expr {
        if at(.minus) {
            let t = advance()
            let operand = try nested { try $0.unary() }
            return UnaryExpr(.negate, operand, range(t).to(operand.range))
        }
        return try power()
    }

    /// `**` binds tighter than unary minus on its left and is right-associative.
    private mutating func power() throws -> Expr {
        let base = try postfix()
        if at(.power) {
            let t = advance(); skipNewlines()
            let exponent = try nested { try $0.unary() }
            return BinaryExpr(.power, base, exponent, opRange: range(t))
        }
        return base
    }

    private mutating func nested<T>(_ body: (inout Parser) throws -> T) throws -> T {
        depth += 1
        defer { depth -= 1 }
        if depth > Parser.maxDepth { throw fail("expression nested too deeply (more than \(Parser.maxDepth) levels)") }
        if !StackGuard.hasMargin { throw fail("expression nested too deeply for the stack") }
        return try body(&self)
    }

    private mutating func postfix() throws -> Expr {
        let chainAtStart = chain
        defer { chain = chainAtStart }
        var e = try primary()
        while true {
            if at(.leftParen) || at(.leftBracket) || at(.dot) { try link() }
            if at(.leftParen) {
                advance()
                var arguments: [Argument] = []
                while !at(.rightParen) {
                    if at(.identifier) && tokens[p + 1].kind == .colon {
                        let label = advance()
                        advance()
                        arguments.append(Argument(label: label.text, labelRange: range(label), value: try expression()))
                    } else {
                        if arguments.last?.label != nil { throw fail("positional argument after a labelled one") }
                        arguments.append(Argument(label: nil, labelRange: nil, value: try expression()))
                    }
                    if !match(.comma) { break }
                }
                try expect(.rightParen, "')' to close the argument list")
                e = CallExpr(e, arguments, e.range.to(previousRange))
            } else if at(.leftBracket) {
                advance()
                var items: [IndexItem] = []
                repeat {
                    if at(.rightBracket) { break }
                    items.append(try indexItem())
                } while match(.comma)
                try expect(.rightBracket, "']' to close the index")
                if items.isEmpty { throw fail("empty index", at: previousRange) }
                e = IndexExpr(e, items, e.range.to(previousRange))
            } else if at(.dot) {
                advance()
                let name = try expect(.identifier, "a field name after '.'")
                e = MemberExpr(e, name.text, nameRange: range(name))
            } else {
                return e
            }
        }
    }

    private mutating func indexItem() throws -> IndexItem {
        var start: Expr? = nil
        if !at(.colon) {
            start = try expression()
            if !at(.colon) { return .single(start!) }
        }
        advance()
        var end: Expr? = nil, step: Expr? = nil
        if !(at(.colon) || at(.comma) || at(.rightBracket)) { end = try expression() }
        if match(.colon), !(at(.comma) || at(.rightBracket)) { step = try expression() }
        return .slice(start, end, step)
    }

    private mutating func primary() throws -> Expr {
        let t = peek
        switch t.kind {
        case .number:
            advance()
            return NumberExpr(t.number, range(t))
        case .string:
            advance()
            return try stringExpr(t)
        case .kTrue, .kFalse, .kNil:
            advance()
            return LiteralExpr(t.kind == .kTrue ? .true : t.kind == .kFalse ? .false : .nil, range(t))
        case .identifier:
            advance()
            return NameExpr(t.text, range(t))
        case .leftParen:
            advance()
            if match(.rightParen) { return TupleExpr([], range(t).to(previousRange)) }
            let first = try expression()
            if match(.rightParen) { return first }
            var items = [first]
            while match(.comma) {
                if at(.rightParen) { break }
                items.append(try expression())
            }
            try expect(.rightParen, "')' or ','")
            return TupleExpr(items, range(t).to(previousRange))
        case .leftBracket:
            advance()
            var items: [Expr] = []
            while !at(.rightBracket) {
                items.append(try expression())
                if !match(.comma) { break }
            }
            try expect(.rightBracket, "']' or ','")
            return ListExpr(items, range(t).to(previousRange))
        case .leftBrace:
            return try record()
        case .kFn:
            advance()
            return FunctionExpr(try functionRest(name: "<anonymous>", start: t))
        case .kIf:
            return StatementExpr(try ifStatement())
        case .kNograd:
            advance()
            let body = try block()
            return StatementExpr(NogradStmt(body, range(t).to(previousRange)))
        default:
            // After a trailing operator the error belongs to the operator's line.
            var back = p - 1
            while back > 0 && tokens[back].kind == .newline { back -= 1 }
            if back >= 0, tokens[back].kind.continuesLine {
                let op = tokens[back]
                throw fail("expected an expression after '\(file.slice(op.start, op.end))', found \(describe(t))", at: range(op))
            }
            throw fail("expected an expression, found \(describe(t))")
        }
    }

    /// `{name: value, ...}`; `{W, b}` is short for `{W: W, b: b}`.
    private mutating func record() throws -> Expr {
        let open = advance()
        skipNewlines()
        var fields: [(name: String, range: SourceRange, value: Expr)] = []
        var seen = Set<String>()
        while !at(.rightBrace) {
            let name = try expect(.identifier, "a field name in the record")
            if !seen.insert(name.text).inserted { throw fail("duplicate field '\(name.text)'", at: range(name)) }
            if match(.colon) {
                skipNewlines()
                fields.append((name.text, range(name), try expression()))
            } else {
                fields.append((name.text, range(name), NameExpr(name.text, range(name))))
            }
            skipNewlines()
            if !match(.comma) { break }
            skipNewlines()
        }
        skipNewlines()
        try expect(.rightBrace, "'}' to close the record")
        return RecordExpr(fields, range(open).to(previousRange))
    }

    private mutating func stringExpr(_ t: Token) throws -> Expr {
        var parts: [StringExpr.Part] = []
        for piece in t.pieces {
            switch piece {
            case .text(let s): parts.append(.text(s))
            case let .code(start, end):
                var sub = Parser(file: file, start: start, end: end)
                sub.depth = depth
                let e = sub.parseLoneExpression()
                diagnostics += sub.diagnostics
                guard let e else { throw Abort() }
                parts.append(.expr(e))
            }
        }
        return StringExpr(parts, range(t))
    }
}
