import Tensor

/// Recursive descent with one function per precedence level. On a syntax
/// error it records a diagnostic and skips to the next statement (panic mode),
/// so one run reports several errors.
package struct Parser {
    package let file: SourceFile
    package var tokens: [Token]
    package var p = 0
    package var diagnostics: [Diagnostic] = []
    /// True when an error happened at the end of input: the REPL reads another line.
    package var endedEarly = false
    package var depth = 0
    package static let maxDepth = 200
    /// Operators, calls and `else if`s chained one after another, counted
    /// along the path from the root: each link is one more level of the tree
    /// that every later pass (and its release) walks recursively.
    package var chain = 0
    package static let maxChain = 10_000
    package static let maxErrors = 20

    package struct Abort: Error {}

    package init(file: SourceFile, start: Int = 0, end: Int? = nil) {
        self.file = file
        var lexer = Lexer(file: file, start: start, end: end)
        tokens = lexer.tokenize()
    }

    // MARK: Entry points

    package mutating func parseProgram() -> [Stmt] {
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
    package mutating func parseLoneExpression() -> Expr? {
        do {
            let e = try expression()
            if !at(.eof) { throw fail("unexpected \(describe(peek)) in interpolation") }
            return e
        } catch { return nil }
    }

    // MARK: Token helpers

    package var peek: Token { tokens[p] }
    package func at(_ k: TokenKind) -> Bool { tokens[p].kind == k }
    package func range(_ t: Token) -> SourceRange { SourceRange(file, t.start, t.end) }
    package var previousRange: SourceRange { range(tokens[max(p - 1, 0)]) }

    @discardableResult
    package mutating func advance() -> Token {
        let t = tokens[p]
        if t.kind != .eof { p += 1 }
        return t
    }

    package mutating func match(_ k: TokenKind) -> Bool {
        if at(k) { advance(); return true }
        return false
    }

    @discardableResult
    package mutating func expect(_ k: TokenKind, _ what: String) throws -> Token {
        if at(k) { return advance() }
        throw fail("expected \(what), found \(describe(peek))")
    }

    package mutating func skipNewlines() { while at(.newline) || at(.semicolon) { advance() } }

    package func describe(_ t: Token) -> String {
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

    package mutating func fail(_ message: String, at r: SourceRange? = nil) -> Error {
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
    package mutating func synchronize() {
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

    package mutating func endStatement() throws {
        if at(.newline) || at(.semicolon) || at(.eof) || at(.rightBrace) { return }
        throw fail("expected end of line after statement, found \(describe(peek))")
    }

    // MARK: Statements

    package mutating func statement() throws -> Stmt {
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

    package mutating func ifStatement() throws -> IfStmt {
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

    package mutating func block() throws -> [Stmt] {
        try nested { try $0.blockBody() }
    }

    package mutating func blockBody() throws -> [Stmt] {
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

    package mutating func parsePattern() throws -> Pattern {
        let t = peek
        if t.kind == .identifier {
            advance()
            return t.text == "_" ? .wildcard(range(t)) : .name(t.text, range(t))
        }
        if t.kind == .leftParen {
            advance()
            let items = try commaSeparated(until: .rightParen) { try $0.parsePattern() }
            try expect(.rightParen, "')' to close the pattern")
            return .tuple(items, range(t).to(previousRange))
        }
        throw fail("expected a name or a (tuple, pattern), found \(describe(t))")
    }

    package mutating func functionRest(name: String, start: Token) throws -> FunctionDecl {
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
}
