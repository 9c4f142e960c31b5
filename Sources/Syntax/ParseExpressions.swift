import Tensor

// Expressions, by precedence climbing.
extension Parser {
    // MARK: Expressions, lowest precedence first

    package mutating func expression() throws -> Expr {
        try nested { try $0.orExpr() }
    }

    /// One more link of a chain (see `chain`); the caller restores the count when its chain ends.
    package mutating func link() throws {
        chain += 1
        if chain > Parser.maxChain { throw fail("expression too long: more than \(Parser.maxChain) operations in a row") }
    }

    /// `and` or `or` (`keyword`) joining operands from the next level up.
    package mutating func logical(_ keyword: TokenKind, _ operand: (inout Parser) throws -> Expr) throws -> Expr {
        let chainAtStart = chain
        defer { chain = chainAtStart }
        var e = try operand(&self)
        while match(keyword) { try link(); skipNewlines(); e = LogicalExpr(isAnd: keyword == .kAnd, e, try operand(&self)) }
        return e
    }

    package mutating func orExpr() throws -> Expr { try logical(.kOr) { try $0.andExpr() } }

    package mutating func andExpr() throws -> Expr { try logical(.kAnd) { try $0.notExpr() } }

    /// A prefix operator (`token`, as `op`) on an operand of the same level
    /// (`operand`), or else the next level (`next`).
    package mutating func prefixed(_ token: TokenKind, _ op: UnaryOp, _ operand: (inout Parser) throws -> Expr,
                           else next: (inout Parser) throws -> Expr) throws -> Expr {
        guard at(token) else { return try next(&self) }
        let t = advance()
        let value = try nested { try operand(&$0) }
        return UnaryExpr(op, value, range(t).to(value.range))
    }

    package mutating func notExpr() throws -> Expr { try prefixed(.kNot, .not, { try $0.notExpr() }, else: { try $0.comparison() }) }

    /// One level of left-associative binary operators: operands from
    /// `operand` (the next level up) joined by the operators of `ops`.
    package mutating func leftAssociative(_ ops: [TokenKind: BinaryOp], _ operand: (inout Parser) throws -> Expr) throws -> Expr {
        let chainAtStart = chain
        defer { chain = chainAtStart }
        var e = try operand(&self)
        while let op = ops[peek.kind] {
            try link()
            let t = advance(); skipNewlines()
            e = BinaryExpr(op, e, try operand(&self), opRange: range(t))
        }
        return e
    }

    package static let comparisons: [TokenKind: BinaryOp] = [.equal: .equal, .notEqual: .notEqual, .less: .less,
                                                     .lessEqual: .lessEqual, .greater: .greater, .greaterEqual: .greaterEqual]
    package static let additions: [TokenKind: BinaryOp] = [.plus: .add, .minus: .subtract]
    package static let multiplications: [TokenKind: BinaryOp] = [.star: .multiply, .slash: .divide, .percent: .modulo, .at: .matmul]

    package mutating func comparison() throws -> Expr { try leftAssociative(Parser.comparisons) { try $0.rangeExpr() } }

    package mutating func rangeExpr() throws -> Expr {
        let e = try additive()
        if at(.rangeExclusive) || at(.rangeInclusive) {
            let inclusive = advance().kind == .rangeInclusive
            skipNewlines()
            return RangeExpr(e, try additive(), inclusive: inclusive)
        }
        return e
    }

    package mutating func additive() throws -> Expr { try leftAssociative(Parser.additions) { try $0.multiplicative() } }

    package mutating func multiplicative() throws -> Expr { try leftAssociative(Parser.multiplications) { try $0.unary() } }

    package mutating func unary() throws -> Expr { try prefixed(.minus, .negate, { try $0.unary() }, else: { try $0.power() }) }

    /// `**` binds tighter than unary minus on its left and is right-associative.
    package mutating func power() throws -> Expr {
        let base = try postfix()
        if at(.power) {
            let t = advance(); skipNewlines()
            let exponent = try nested { try $0.unary() }
            return BinaryExpr(.power, base, exponent, opRange: range(t))
        }
        return base
    }

    /// Items separated by commas (a trailing one allowed) up to `closer`, which is left for the caller.
    package mutating func commaSeparated<T>(until closer: TokenKind, _ item: (inout Parser) throws -> T) throws -> [T] {
        var items: [T] = []
        while !at(closer) {
            items.append(try item(&self))
            if !match(.comma) { break }
        }
        return items
    }

    package mutating func nested<T>(_ body: (inout Parser) throws -> T) throws -> T {
        depth += 1
        defer { depth -= 1 }
        if depth > Parser.maxDepth { throw fail("expression nested too deeply (more than \(Parser.maxDepth) levels)") }
        if !StackGuard.hasMargin { throw fail("expression nested too deeply for the stack") }
        return try body(&self)
    }

    package mutating func postfix() throws -> Expr {
        let chainAtStart = chain
        defer { chain = chainAtStart }
        var e = try primary()
        while true {
            if at(.leftParen) || at(.leftBracket) || at(.dot) { try link() }
            if at(.leftParen) {
                advance()
                var arguments: [CallArgument] = []
                while !at(.rightParen) {
                    if at(.identifier) && tokens[p + 1].kind == .colon {
                        let label = advance()
                        advance()
                        arguments.append(CallArgument(label: label.text, labelRange: range(label), value: try expression()))
                    } else {
                        if arguments.last?.label != nil { throw fail("positional argument after a labelled one") }
                        arguments.append(CallArgument(label: nil, labelRange: nil, value: try expression()))
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

    package mutating func indexItem() throws -> IndexItem {
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

    package mutating func primary() throws -> Expr {
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
            let items = try commaSeparated(until: .rightBracket) { try $0.expression() }
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
    package mutating func record() throws -> Expr {
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

    package mutating func stringExpr(_ t: Token) throws -> Expr {
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
