import Graph
import Syntax
import Tensor

/// Host objects with members: optimizers, memories and heads.
public protocol NativeObject: AnyObject {
    var kindName: String { get }
    var memberNames: [String] { get }
    /// The members that are methods (completion adds "(" to these).
    var methodNames: [String] { get }
    /// Its methods, found before `member` is asked (`Operators.member`).
    var methods: Methods { get }
    /// A member that is not a method, nil when it has none of that name.
    func member(_ name: String, _ interpreter: Interpreter) throws -> Value?
    func setMember(_ name: String, _ value: Value) throws -> Bool
    /// Values inside it that may hold parameters (for `params`).
    var children: [Value] { get }
    var summary: String { get }
    /// What `print` shows, when more than the summary (a figure draws itself).
    var display: String? { get }
}

extension NativeObject {
    public func setMember(_ name: String, _ value: Value) throws -> Bool { false }
    public var children: [Value] { [] }
    public var methods: Methods { Methods([]) }
    public var methodNames: [String] { methods.names }
    public var display: String? { nil }
}

/// An object a `for` loop goes through in its own way (a progress bar
/// counts, a checkpointed loop saves between items): `body` is given each
/// item and returns false to stop.
public protocol IterableObject: NativeObject {
    func iterate(_ body: (Value) throws -> Bool) throws
}

/// A line drawn on the terminal below the output and redrawn as it changes
/// (a progress bar): printed lines clear it first, then it is drawn again.
public protocol LiveLine: AnyObject {
    func clearLine()
    func draw(force: Bool)
    func finish()
}

/// A host object's methods, made once per object: a method called in a
/// training loop should not build its builtin (and parse its signature) on
/// every step.
public struct Methods {
    private let byName: [String: Builtin]
    public let names: [String]

    public init(_ list: [Builtin]) {
        byName = Dictionary(uniqueKeysWithValues: list.map { ($0.name, $0) })
        names = list.map(\.name)
    }

    public subscript(name: String) -> Builtin? { byName[name] }
}
