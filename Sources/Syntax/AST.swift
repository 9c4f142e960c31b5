// The syntax tree. Nodes are classes, so that each has an identity: the
// resolver records what it decides about a node (where a name lives) in a
// `Resolution` keyed by node, and writes a function's frame layout into its
// FunctionDecl; the compiler then reads both.

// Every pass (resolver, compiler, formatter) switches over a node's `kind`
// with no default case, so that a new kind of node fails to compile until
// every pass handles it.

/// An expression node.
package protocol Expr: AnyObject {
    var range: SourceRange { get }
    var kind: ExprKind { get }
}

/// Every kind of expression.
package enum ExprKind {
    case number(NumberExpr), string(StringExpr), literal(LiteralExpr), name(NameExpr)
    case list(ListExpr), tuple(TupleExpr), record(RecordExpr)
    case unary(UnaryExpr), binary(BinaryExpr), logical(LogicalExpr), range(RangeExpr)
    case call(CallExpr), index(IndexExpr), member(MemberExpr)
    case function(FunctionExpr), statement(StatementExpr)
}

/// A statement node.
package protocol Stmt: AnyObject {
    var range: SourceRange { get }
    var kind: StmtKind { get }
}

/// Every kind of statement.
package enum StmtKind {
    case letStmt(LetStmt), fnStmt(FnStmt), exprStmt(ExprStmt), assignStmt(AssignStmt), returnStmt(ReturnStmt)
    case ifStmt(IfStmt), whileStmt(WhileStmt), forStmt(ForStmt), jumpStmt(JumpStmt), assertStmt(AssertStmt)
    case importStmt(ImportStmt), nogradStmt(NogradStmt)
}

// MARK: Expressions

package final class NumberExpr: Expr {
    package let range: SourceRange
    package var kind: ExprKind { .number(self) }
    package let value: Double
    package init(_ value: Double, _ r: SourceRange) { self.value = value; self.range = r }
}

package final class StringExpr: Expr {
    package let range: SourceRange
    package var kind: ExprKind { .string(self) }
    package enum Part { case text(String), expr(Expr) }
    package let parts: [Part]
    package init(_ parts: [Part], _ r: SourceRange) { self.parts = parts; self.range = r }
}

package final class LiteralExpr: Expr {
    package let range: SourceRange
    package var kind: ExprKind { .literal(self) }
    package enum Literal { case `true`, `false`, `nil` }
    package let literal: Literal
    package init(_ literal: Literal, _ r: SourceRange) { self.literal = literal; self.range = r }
}

package final class NameExpr: Expr {
    package let range: SourceRange
    package var kind: ExprKind { .name(self) }
    package let name: String
    package init(_ name: String, _ r: SourceRange) { self.name = name; self.range = r }
}

package final class ListExpr: Expr {
    package let range: SourceRange
    package var kind: ExprKind { .list(self) }
    package let items: [Expr]
    package init(_ items: [Expr], _ r: SourceRange) { self.items = items; self.range = r }
}

package final class TupleExpr: Expr {
    package let range: SourceRange
    package var kind: ExprKind { .tuple(self) }
    package let items: [Expr]
    package init(_ items: [Expr], _ r: SourceRange) { self.items = items; self.range = r }
}

package final class RecordExpr: Expr {
    package let range: SourceRange
    package var kind: ExprKind { .record(self) }
    package let fields: [(name: String, range: SourceRange, value: Expr)]
    package init(_ fields: [(name: String, range: SourceRange, value: Expr)], _ r: SourceRange) { self.fields = fields; self.range = r }
}

package enum UnaryOp: String { case negate = "-", not = "not" }

package final class UnaryExpr: Expr {
    package let range: SourceRange
    package var kind: ExprKind { .unary(self) }
    package let op: UnaryOp
    package let operand: Expr
    package init(_ op: UnaryOp, _ operand: Expr, _ r: SourceRange) { self.op = op; self.operand = operand; self.range = r }
}

package enum BinaryOp: String {
    case add = "+", subtract = "-", multiply = "*", divide = "/", modulo = "%", matmul = "@", power = "**"
    case equal = "==", notEqual = "!=", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
}

package final class BinaryExpr: Expr {
    package let range: SourceRange
    package var kind: ExprKind { .binary(self) }
    package let op: BinaryOp
    package let left: Expr, right: Expr
    package let opRange: SourceRange
    package init(_ op: BinaryOp, _ left: Expr, _ right: Expr, opRange: SourceRange) {
        self.op = op; self.left = left; self.right = right; self.opRange = opRange
        self.range = left.range.to(right.range)
    }
}

package final class LogicalExpr: Expr {
    package let range: SourceRange
    package var kind: ExprKind { .logical(self) }
    package let isAnd: Bool
    package let left: Expr, right: Expr
    package init(isAnd: Bool, _ left: Expr, _ right: Expr) {
        self.isAnd = isAnd; self.left = left; self.right = right
        self.range = left.range.to(right.range)
    }
}

package final class RangeExpr: Expr {
    package let range: SourceRange
    package var kind: ExprKind { .range(self) }
    package let lower: Expr, upper: Expr
    package let inclusive: Bool
    package init(_ lower: Expr, _ upper: Expr, inclusive: Bool) {
        self.lower = lower; self.upper = upper; self.inclusive = inclusive
        self.range = lower.range.to(upper.range)
    }
}

package struct CallArgument {
    package let label: String?
    package let labelRange: SourceRange?
    package let value: Expr
}

package final class CallExpr: Expr {
    package let range: SourceRange
    package var kind: ExprKind { .call(self) }
    package let callee: Expr
    package let arguments: [CallArgument]
    package init(_ callee: Expr, _ arguments: [CallArgument], _ r: SourceRange) { self.callee = callee; self.arguments = arguments; self.range = r }
}

package enum IndexItem {
    case single(Expr)
    /// Python's start:end:step, any part omitted.
    case slice(Expr?, Expr?, Expr?)
}

package final class IndexExpr: Expr {
    package let range: SourceRange
    package var kind: ExprKind { .index(self) }
    package let base: Expr
    package let items: [IndexItem]
    package init(_ base: Expr, _ items: [IndexItem], _ r: SourceRange) { self.base = base; self.items = items; self.range = r }
}

package final class MemberExpr: Expr {
    package let range: SourceRange
    package var kind: ExprKind { .member(self) }
    package let base: Expr
    package let name: String
    package let nameRange: SourceRange
    package init(_ base: Expr, _ name: String, nameRange: SourceRange) {
        self.base = base; self.name = name; self.nameRange = nameRange
        self.range = base.range.to(nameRange)
    }
}

package final class FunctionExpr: Expr {
    package let range: SourceRange
    package var kind: ExprKind { .function(self) }
    package let function: FunctionDecl
    package init(_ function: FunctionDecl) { self.function = function; self.range = function.range }
}

/// `if` or `nograd` used for its value (`let y = nograd { f(x) }`, or the
/// last statement of a block or function body): the value of its block's last
/// expression.
package final class StatementExpr: Expr {
    package let range: SourceRange
    package var kind: ExprKind { .statement(self) }
    package let statement: Stmt
    package init(_ statement: Stmt) { self.statement = statement; self.range = statement.range }
}

// MARK: Functions

package struct Parameter {
    package let name: String
    package let range: SourceRange
    package let defaultValue: Expr?
}

/// How a closure finds a captured variable when it is created.
package struct Capture {
    /// From a slot of the enclosing frame (true) or the enclosing closure's captures (false).
    package let fromLocal: Bool
    package let index: Int
    package init(fromLocal: Bool, index: Int) { self.fromLocal = fromLocal; self.index = index }
}

package final class FunctionDecl {
    package let name: String
    package let range: SourceRange
    package let parameters: [Parameter]
    package let body: [Stmt]
    // Filled in by the resolver.
    package var slotCount = 0
    package var boxedParameters: [Int] = []
    package var captures: [Capture] = []

    package init(name: String, range: SourceRange, parameters: [Parameter], body: [Stmt]) {
        self.name = name; self.range = range; self.parameters = parameters; self.body = body
    }
}

// MARK: Statements

package indirect enum Pattern {
    case name(String, SourceRange)
    case wildcard(SourceRange)
    case tuple([Pattern], SourceRange)

    package var range: SourceRange {
        switch self { case .name(_, let r), .wildcard(let r), .tuple(_, let r): return r }
    }
}

/// The pattern a `let` or `for` binds (a node of its own, so that the
/// resolver can record each name's binding for it).
package final class BindingPattern {
    package let pattern: Pattern
    package init(_ pattern: Pattern) { self.pattern = pattern }
}

package final class LetStmt: Stmt {
    package let range: SourceRange
    package var kind: StmtKind { .letStmt(self) }
    package let target: BindingPattern
    package let value: Expr?
    package let mutable: Bool
    package init(_ pattern: Pattern, _ value: Expr?, mutable: Bool, _ r: SourceRange) {
        self.target = BindingPattern(pattern); self.value = value; self.mutable = mutable; self.range = r
    }
}

package final class FnStmt: Stmt {
    package let range: SourceRange
    package var kind: StmtKind { .fnStmt(self) }
    package let function: FunctionDecl
    package let nameRange: SourceRange
    package init(_ function: FunctionDecl, nameRange: SourceRange) { self.function = function; self.nameRange = nameRange; self.range = function.range }
}

package final class ExprStmt: Stmt {
    package let range: SourceRange
    package var kind: StmtKind { .exprStmt(self) }
    package let expr: Expr
    package init(_ expr: Expr) { self.expr = expr; self.range = expr.range }
}

package final class AssignStmt: Stmt {
    package let range: SourceRange
    package var kind: StmtKind { .assignStmt(self) }
    /// nil for plain `=`, else the operator of `+=` and friends.
    package let op: BinaryOp?
    package let target: Expr
    package let value: Expr
    package let opRange: SourceRange
    package init(_ op: BinaryOp?, _ target: Expr, _ value: Expr, opRange: SourceRange) {
        self.op = op; self.target = target; self.value = value; self.opRange = opRange
        self.range = target.range.to(value.range)
    }
}

package final class ReturnStmt: Stmt {
    package let range: SourceRange
    package var kind: StmtKind { .returnStmt(self) }
    package let value: Expr?
    package init(_ value: Expr?, _ r: SourceRange) { self.value = value; self.range = r }
}

package final class IfStmt: Stmt {
    package let range: SourceRange
    package var kind: StmtKind { .ifStmt(self) }
    package let condition: Expr
    package let then: [Stmt]
    /// Either a block, or a single nested IfStmt for `else if`.
    package let otherwise: [Stmt]?
    package init(_ condition: Expr, _ then: [Stmt], _ otherwise: [Stmt]?, _ r: SourceRange) {
        self.condition = condition; self.then = then; self.otherwise = otherwise; self.range = r
    }
}

package final class WhileStmt: Stmt {
    package let range: SourceRange
    package var kind: StmtKind { .whileStmt(self) }
    package let condition: Expr
    package let body: [Stmt]
    package init(_ condition: Expr, _ body: [Stmt], _ r: SourceRange) { self.condition = condition; self.body = body; self.range = r }
}

package final class ForStmt: Stmt {
    package let range: SourceRange
    package var kind: StmtKind { .forStmt(self) }
    package let target: BindingPattern
    package let sequence: Expr
    package let body: [Stmt]
    package init(_ pattern: Pattern, _ sequence: Expr, _ body: [Stmt], _ r: SourceRange) {
        self.target = BindingPattern(pattern); self.sequence = sequence; self.body = body; self.range = r
    }
}

package final class JumpStmt: Stmt {
    package let range: SourceRange
    package var kind: StmtKind { .jumpStmt(self) }
    package let isBreak: Bool
    package init(isBreak: Bool, _ r: SourceRange) { self.isBreak = isBreak; self.range = r }
}

package final class AssertStmt: Stmt {
    package let range: SourceRange
    package var kind: StmtKind { .assertStmt(self) }
    package let condition: Expr
    package let message: Expr?
    package init(_ condition: Expr, _ message: Expr?, _ r: SourceRange) { self.condition = condition; self.message = message; self.range = r }
}

package final class ImportStmt: Stmt {
    package let range: SourceRange
    package var kind: StmtKind { .importStmt(self) }
    package let module: String
    package let alias: String
    package let nameRange: SourceRange
    package init(_ module: String, alias: String, nameRange: SourceRange, _ r: SourceRange) {
        self.module = module; self.alias = alias; self.nameRange = nameRange; self.range = r
    }
}

package final class NogradStmt: Stmt {
    package let range: SourceRange
    package var kind: StmtKind { .nogradStmt(self) }
    package let body: [Stmt]
    package init(_ body: [Stmt], _ r: SourceRange) { self.body = body; self.range = r }
}
