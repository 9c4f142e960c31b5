// The syntax tree. Nodes are classes so that the resolver can annotate them in
// place (which slot a name lives in, how many slots a function needs); the
// compiler then reads those annotations.

class Expr {
    public let range: SourceRange
    init(_ range: SourceRange) { self.range = range }
}

class Stmt {
    public let range: SourceRange
    init(_ range: SourceRange) { self.range = range }
}

/// Where a name lives, decided by the resolver.
enum Binding {
    /// A slot in the current function's frame.
    case local(LocalVariable)
    /// A captured variable of the enclosing closure.
    case upvalue(Int)
    /// A top-level name of a module (or of the REPL session).
    case global(Globals, Int)
    case builtin(Builtin)
    /// A constant the language provides (`builtins`).
    case value(Value)
}

/// A local variable as the resolver sees it. `boxed` becomes true when a
/// closure captures it; the compiler reads it after resolution is complete.
final class LocalVariable {
    let name: String
    let slot: Int
    let mutable: Bool
    let range: SourceRange
    var boxed = false
    /// Set when bound by `fn`, so calls can be checked.
    var function: FunctionDecl?
    /// The fields of the record a `let` binds, when the resolver can tell
    /// (a record literal, or a call of a function that returns one), so that
    /// a misspelt field is reported before the script runs.
    var fields: [String]?
    init(name: String, slot: Int, mutable: Bool, range: SourceRange) {
        self.name = name; self.slot = slot; self.mutable = mutable; self.range = range
    }
}

// MARK: Expressions

final class NumberExpr: Expr {
    let value: Double
    init(_ value: Double, _ r: SourceRange) { self.value = value; super.init(r) }
}

final class StringExpr: Expr {
    enum Part { case text(String), expr(Expr) }
    let parts: [Part]
    init(_ parts: [Part], _ r: SourceRange) { self.parts = parts; super.init(r) }
}

final class LiteralExpr: Expr {
    enum Kind { case `true`, `false`, `nil` }
    let kind: Kind
    init(_ kind: Kind, _ r: SourceRange) { self.kind = kind; super.init(r) }
}

final class NameExpr: Expr {
    let name: String
    var binding: Binding?
    init(_ name: String, _ r: SourceRange) { self.name = name; super.init(r) }
}

final class ListExpr: Expr {
    let items: [Expr]
    init(_ items: [Expr], _ r: SourceRange) { self.items = items; super.init(r) }
}

final class TupleExpr: Expr {
    let items: [Expr]
    init(_ items: [Expr], _ r: SourceRange) { self.items = items; super.init(r) }
}

final class RecordExpr: Expr {
    let fields: [(name: String, range: SourceRange, value: Expr)]
    init(_ fields: [(name: String, range: SourceRange, value: Expr)], _ r: SourceRange) { self.fields = fields; super.init(r) }
}

enum UnaryOp: String { case negate = "-", not = "not" }

final class UnaryExpr: Expr {
    let op: UnaryOp
    let operand: Expr
    init(_ op: UnaryOp, _ operand: Expr, _ r: SourceRange) { self.op = op; self.operand = operand; super.init(r) }
}

enum BinaryOp: String {
    case add = "+", subtract = "-", multiply = "*", divide = "/", modulo = "%", matmul = "@", power = "**"
    case equal = "==", notEqual = "!=", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
}

final class BinaryExpr: Expr {
    let op: BinaryOp
    let left: Expr, right: Expr
    let opRange: SourceRange
    init(_ op: BinaryOp, _ left: Expr, _ right: Expr, opRange: SourceRange) {
        self.op = op; self.left = left; self.right = right; self.opRange = opRange
        super.init(left.range.to(right.range))
    }
}

final class LogicalExpr: Expr {
    let isAnd: Bool
    let left: Expr, right: Expr
    init(isAnd: Bool, _ left: Expr, _ right: Expr) {
        self.isAnd = isAnd; self.left = left; self.right = right
        super.init(left.range.to(right.range))
    }
}

final class RangeExpr: Expr {
    let lower: Expr, upper: Expr
    let inclusive: Bool
    init(_ lower: Expr, _ upper: Expr, inclusive: Bool) {
        self.lower = lower; self.upper = upper; self.inclusive = inclusive
        super.init(lower.range.to(upper.range))
    }
}

struct Argument {
    let label: String?
    let labelRange: SourceRange?
    let value: Expr
}

final class CallExpr: Expr {
    let callee: Expr
    let arguments: [Argument]
    init(_ callee: Expr, _ arguments: [Argument], _ r: SourceRange) { self.callee = callee; self.arguments = arguments; super.init(r) }
}

enum IndexItem {
    case single(Expr)
    /// Python's start:end:step, any part omitted.
    case slice(Expr?, Expr?, Expr?)
}

final class IndexExpr: Expr {
    let base: Expr
    let items: [IndexItem]
    init(_ base: Expr, _ items: [IndexItem], _ r: SourceRange) { self.base = base; self.items = items; super.init(r) }
}

final class MemberExpr: Expr {
    let base: Expr
    let name: String
    let nameRange: SourceRange
    /// Set by the resolver when `base` is a module: the member's global slot.
    var moduleSlot: (Globals, Int)?
    init(_ base: Expr, _ name: String, nameRange: SourceRange) {
        self.base = base; self.name = name; self.nameRange = nameRange
        super.init(base.range.to(nameRange))
    }
}

final class FunctionExpr: Expr {
    let function: FunctionDecl
    init(_ function: FunctionDecl) { self.function = function; super.init(function.range) }
}

/// `if` or `nograd` used for its value (`let y = nograd { f(x) }`, or the
/// last statement of a block or function body): the value of its block's last
/// expression.
final class StatementExpr: Expr {
    let statement: Stmt
    init(_ statement: Stmt) { self.statement = statement; super.init(statement.range) }
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

/// A pattern with each name's binding, as the resolver decided.
final class BindingPattern {
    let pattern: Pattern
    var bindings: [Binding] = []
    init(_ pattern: Pattern) { self.pattern = pattern }
}

final class LetStmt: Stmt {
    let target: BindingPattern
    let value: Expr?
    let mutable: Bool
    init(_ pattern: Pattern, _ value: Expr?, mutable: Bool, _ r: SourceRange) {
        self.target = BindingPattern(pattern); self.value = value; self.mutable = mutable; super.init(r)
    }
}

final class FnStmt: Stmt {
    let function: FunctionDecl
    let nameRange: SourceRange
    var binding: Binding?
    init(_ function: FunctionDecl, nameRange: SourceRange) { self.function = function; self.nameRange = nameRange; super.init(function.range) }
}

final class ExprStmt: Stmt {
    let expr: Expr
    init(_ expr: Expr) { self.expr = expr; super.init(expr.range) }
}

final class AssignStmt: Stmt {
    /// nil for plain `=`, else the operator of `+=` and friends.
    let op: BinaryOp?
    let target: Expr
    let value: Expr
    let opRange: SourceRange
    init(_ op: BinaryOp?, _ target: Expr, _ value: Expr, opRange: SourceRange) {
        self.op = op; self.target = target; self.value = value; self.opRange = opRange
        super.init(target.range.to(value.range))
    }
}

final class ReturnStmt: Stmt {
    let value: Expr?
    init(_ value: Expr?, _ r: SourceRange) { self.value = value; super.init(r) }
}

final class IfStmt: Stmt {
    let condition: Expr
    let then: [Stmt]
    /// Either a block, or a single nested IfStmt for `else if`.
    let otherwise: [Stmt]?
    init(_ condition: Expr, _ then: [Stmt], _ otherwise: [Stmt]?, _ r: SourceRange) {
        self.condition = condition; self.then = then; self.otherwise = otherwise; super.init(r)
    }
}

final class WhileStmt: Stmt {
    let condition: Expr
    let body: [Stmt]
    init(_ condition: Expr, _ body: [Stmt], _ r: SourceRange) { self.condition = condition; self.body = body; super.init(r) }
}

final class ForStmt: Stmt {
    let target: BindingPattern
    let sequence: Expr
    let body: [Stmt]
    init(_ pattern: Pattern, _ sequence: Expr, _ body: [Stmt], _ r: SourceRange) {
        self.target = BindingPattern(pattern); self.sequence = sequence; self.body = body; super.init(r)
    }
}

final class JumpStmt: Stmt {
    let isBreak: Bool
    init(isBreak: Bool, _ r: SourceRange) { self.isBreak = isBreak; super.init(r) }
}

final class AssertStmt: Stmt {
    let condition: Expr
    let message: Expr?
    init(_ condition: Expr, _ message: Expr?, _ r: SourceRange) { self.condition = condition; self.message = message; super.init(r) }
}

final class ImportStmt: Stmt {
    let module: String
    let alias: String
    let nameRange: SourceRange
    var binding: Binding?
    var loaded: Module?
    init(_ module: String, alias: String, nameRange: SourceRange, _ r: SourceRange) {
        self.module = module; self.alias = alias; self.nameRange = nameRange; super.init(r)
    }
}

final class NogradStmt: Stmt {
    let body: [Stmt]
    init(_ body: [Stmt], _ r: SourceRange) { self.body = body; super.init(r) }
}
