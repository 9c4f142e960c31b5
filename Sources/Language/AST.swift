// The syntax tree. Nodes are classes, so that each has an identity: the
// resolver records what it decides about a node (where a name lives) in a
// `Resolution` keyed by node, and writes a function's frame layout into its
// FunctionDecl; the compiler then reads both.

// Every pass (resolver, compiler, formatter) switches over a node's `kind`
// with no default case, so that a new kind of node fails to compile until
// every pass handles it.

/// An expression node.
protocol Expr: AnyObject {
    var range: SourceRange { get }
    var kind: ExprKind { get }
}

/// Every kind of expression.
enum ExprKind {
    case number(NumberExpr), string(StringExpr), literal(LiteralExpr), name(NameExpr)
    case list(ListExpr), tuple(TupleExpr), record(RecordExpr)
    case unary(UnaryExpr), binary(BinaryExpr), logical(LogicalExpr), range(RangeExpr)
    case call(CallExpr), index(IndexExpr), member(MemberExpr)
    case function(FunctionExpr), statement(StatementExpr)
}

/// A statement node.
protocol Stmt: AnyObject {
    var range: SourceRange { get }
    var kind: StmtKind { get }
}

/// Every kind of statement.
enum StmtKind {
    case letStmt(LetStmt), fnStmt(FnStmt), exprStmt(ExprStmt), assignStmt(AssignStmt), returnStmt(ReturnStmt)
    case ifStmt(IfStmt), whileStmt(WhileStmt), forStmt(ForStmt), jumpStmt(JumpStmt), assertStmt(AssertStmt)
    case importStmt(ImportStmt), nogradStmt(NogradStmt)
}

// MARK: Expressions

final class NumberExpr: Expr {
    let range: SourceRange
    var kind: ExprKind { .number(self) }
    let value: Double
    init(_ value: Double, _ r: SourceRange) { self.value = value; self.range = r }
}

final class StringExpr: Expr {
    let range: SourceRange
    var kind: ExprKind { .string(self) }
    enum Part { case text(String), expr(Expr) }
    let parts: [Part]
    init(_ parts: [Part], _ r: SourceRange) { self.parts = parts; self.range = r }
}

final class LiteralExpr: Expr {
    let range: SourceRange
    var kind: ExprKind { .literal(self) }
    enum Literal { case `true`, `false`, `nil` }
    let literal: Literal
    init(_ literal: Literal, _ r: SourceRange) { self.literal = literal; self.range = r }
}

final class NameExpr: Expr {
    let range: SourceRange
    var kind: ExprKind { .name(self) }
    let name: String
    init(_ name: String, _ r: SourceRange) { self.name = name; self.range = r }
}

final class ListExpr: Expr {
    let range: SourceRange
    var kind: ExprKind { .list(self) }
    let items: [Expr]
    init(_ items: [Expr], _ r: SourceRange) { self.items = items; self.range = r }
}

final class TupleExpr: Expr {
    let range: SourceRange
    var kind: ExprKind { .tuple(self) }
    let items: [Expr]
    init(_ items: [Expr], _ r: SourceRange) { self.items = items; self.range = r }
}

final class RecordExpr: Expr {
    let range: SourceRange
    var kind: ExprKind { .record(self) }
    let fields: [(name: String, range: SourceRange, value: Expr)]
    init(_ fields: [(name: String, range: SourceRange, value: Expr)], _ r: SourceRange) { self.fields = fields; self.range = r }
}

enum UnaryOp: String { case negate = "-", not = "not" }

final class UnaryExpr: Expr {
    let range: SourceRange
    var kind: ExprKind { .unary(self) }
    let op: UnaryOp
    let operand: Expr
    init(_ op: UnaryOp, _ operand: Expr, _ r: SourceRange) { self.op = op; self.operand = operand; self.range = r }
}

enum BinaryOp: String {
    case add = "+", subtract = "-", multiply = "*", divide = "/", modulo = "%", matmul = "@", power = "**"
    case equal = "==", notEqual = "!=", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
}

final class BinaryExpr: Expr {
    let range: SourceRange
    var kind: ExprKind { .binary(self) }
    let op: BinaryOp
    let left: Expr, right: Expr
    let opRange: SourceRange
    init(_ op: BinaryOp, _ left: Expr, _ right: Expr, opRange: SourceRange) {
        self.op = op; self.left = left; self.right = right; self.opRange = opRange
        self.range = left.range.to(right.range)
    }
}

final class LogicalExpr: Expr {
    let range: SourceRange
    var kind: ExprKind { .logical(self) }
    let isAnd: Bool
    let left: Expr, right: Expr
    init(isAnd: Bool, _ left: Expr, _ right: Expr) {
        self.isAnd = isAnd; self.left = left; self.right = right
        self.range = left.range.to(right.range)
    }
}

final class RangeExpr: Expr {
    let range: SourceRange
    var kind: ExprKind { .range(self) }
    let lower: Expr, upper: Expr
    let inclusive: Bool
    init(_ lower: Expr, _ upper: Expr, inclusive: Bool) {
        self.lower = lower; self.upper = upper; self.inclusive = inclusive
        self.range = lower.range.to(upper.range)
    }
}

struct Argument {
    let label: String?
    let labelRange: SourceRange?
    let value: Expr
}

final class CallExpr: Expr {
    let range: SourceRange
    var kind: ExprKind { .call(self) }
    let callee: Expr
    let arguments: [Argument]
    init(_ callee: Expr, _ arguments: [Argument], _ r: SourceRange) { self.callee = callee; self.arguments = arguments; self.range = r }
}

enum IndexItem {
    case single(Expr)
    /// Python's start:end:step, any part omitted.
    case slice(Expr?, Expr?, Expr?)
}

final class IndexExpr: Expr {
    let range: SourceRange
    var kind: ExprKind { .index(self) }
    let base: Expr
    let items: [IndexItem]
    init(_ base: Expr, _ items: [IndexItem], _ r: SourceRange) { self.base = base; self.items = items; self.range = r }
}

final class MemberExpr: Expr {
    let range: SourceRange
    var kind: ExprKind { .member(self) }
    let base: Expr
    let name: String
    let nameRange: SourceRange
    init(_ base: Expr, _ name: String, nameRange: SourceRange) {
        self.base = base; self.name = name; self.nameRange = nameRange
        self.range = base.range.to(nameRange)
    }
}

final class FunctionExpr: Expr {
    let range: SourceRange
    var kind: ExprKind { .function(self) }
    let function: FunctionDecl
    init(_ function: FunctionDecl) { self.function = function; self.range = function.range }
}

/// `if` or `nograd` used for its value (`let y = nograd { f(x) }`, or the
/// last statement of a block or function body): the value of its block's last
/// expression.
final class StatementExpr: Expr {
    let range: SourceRange
    var kind: ExprKind { .statement(self) }
    let statement: Stmt
    init(_ statement: Stmt) { self.statement = statement; self.range = statement.range }
}

// MARK: Functions

struct Parameter {
    let name: String
    let range: SourceRange
    let defaultValue: Expr?
}

/// How a closure finds a captured variable when it is created.
struct Capture {
    /// From a slot of the enclosing frame (true) or the enclosing closure's captures (false).
    let fromLocal: Bool
    let index: Int
}

final class FunctionDecl {
    let name: String
    let range: SourceRange
    let parameters: [Parameter]
    let body: [Stmt]
    // Filled in by the resolver.
    var slotCount = 0
    var boxedParameters: [Int] = []
    var captures: [Capture] = []

    init(name: String, range: SourceRange, parameters: [Parameter], body: [Stmt]) {
        self.name = name; self.range = range; self.parameters = parameters; self.body = body
    }
}

// MARK: Statements

indirect enum Pattern {
    case name(String, SourceRange)
    case wildcard(SourceRange)
    case tuple([Pattern], SourceRange)

    var range: SourceRange {
        switch self { case .name(_, let r), .wildcard(let r), .tuple(_, let r): return r }
    }
}

/// The pattern a `let` or `for` binds (a node of its own, so that the
/// resolver can record each name's binding for it).
final class BindingPattern {
    let pattern: Pattern
    init(_ pattern: Pattern) { self.pattern = pattern }
}

final class LetStmt: Stmt {
    let range: SourceRange
    var kind: StmtKind { .letStmt(self) }
    let target: BindingPattern
    let value: Expr?
    let mutable: Bool
    init(_ pattern: Pattern, _ value: Expr?, mutable: Bool, _ r: SourceRange) {
        self.target = BindingPattern(pattern); self.value = value; self.mutable = mutable; self.range = r
    }
}

final class FnStmt: Stmt {
    let range: SourceRange
    var kind: StmtKind { .fnStmt(self) }
    let function: FunctionDecl
    let nameRange: SourceRange
    init(_ function: FunctionDecl, nameRange: SourceRange) { self.function = function; self.nameRange = nameRange; self.range = function.range }
}

final class ExprStmt: Stmt {
    let range: SourceRange
    var kind: StmtKind { .exprStmt(self) }
    let expr: Expr
    init(_ expr: Expr) { self.expr = expr; self.range = expr.range }
}

final class AssignStmt: Stmt {
    let range: SourceRange
    var kind: StmtKind { .assignStmt(self) }
    /// nil for plain `=`, else the operator of `+=` and friends.
    let op: BinaryOp?
    let target: Expr
    let value: Expr
    let opRange: SourceRange
    init(_ op: BinaryOp?, _ target: Expr, _ value: Expr, opRange: SourceRange) {
        self.op = op; self.target = target; self.value = value; self.opRange = opRange
        self.range = target.range.to(value.range)
    }
}

final class ReturnStmt: Stmt {
    let range: SourceRange
    var kind: StmtKind { .returnStmt(self) }
    let value: Expr?
    init(_ value: Expr?, _ r: SourceRange) { self.value = value; self.range = r }
}

final class IfStmt: Stmt {
    let range: SourceRange
    var kind: StmtKind { .ifStmt(self) }
    let condition: Expr
    let then: [Stmt]
    /// Either a block, or a single nested IfStmt for `else if`.
    let otherwise: [Stmt]?
    init(_ condition: Expr, _ then: [Stmt], _ otherwise: [Stmt]?, _ r: SourceRange) {
        self.condition = condition; self.then = then; self.otherwise = otherwise; self.range = r
    }
}

final class WhileStmt: Stmt {
    let range: SourceRange
    var kind: StmtKind { .whileStmt(self) }
    let condition: Expr
    let body: [Stmt]
    init(_ condition: Expr, _ body: [Stmt], _ r: SourceRange) { self.condition = condition; self.body = body; self.range = r }
}

final class ForStmt: Stmt {
    let range: SourceRange
    var kind: StmtKind { .forStmt(self) }
    let target: BindingPattern
    let sequence: Expr
    let body: [Stmt]
    init(_ pattern: Pattern, _ sequence: Expr, _ body: [Stmt], _ r: SourceRange) {
        self.target = BindingPattern(pattern); self.sequence = sequence; self.body = body; self.range = r
    }
}

final class JumpStmt: Stmt {
    let range: SourceRange
    var kind: StmtKind { .jumpStmt(self) }
    let isBreak: Bool
    init(isBreak: Bool, _ r: SourceRange) { self.isBreak = isBreak; self.range = r }
}

final class AssertStmt: Stmt {
    let range: SourceRange
    var kind: StmtKind { .assertStmt(self) }
    let condition: Expr
    let message: Expr?
    init(_ condition: Expr, _ message: Expr?, _ r: SourceRange) { self.condition = condition; self.message = message; self.range = r }
}

final class ImportStmt: Stmt {
    let range: SourceRange
    var kind: StmtKind { .importStmt(self) }
    let module: String
    let alias: String
    let nameRange: SourceRange
    init(_ module: String, alias: String, nameRange: SourceRange, _ r: SourceRange) {
        self.module = module; self.alias = alias; self.nameRange = nameRange; self.range = r
    }
}

final class NogradStmt: Stmt {
    let range: SourceRange
    var kind: StmtKind { .nogradStmt(self) }
    let body: [Stmt]
    init(_ body: [Stmt], _ r: SourceRange) { self.body = body; self.range = r }
}
