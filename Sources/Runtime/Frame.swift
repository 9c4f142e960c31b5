import Syntax

// What compiled code runs on: a frame of slots per activation, and the
// closures the compiler makes (`Code` evaluates, `Exec` runs a statement,
// `Store` assigns).

package typealias Code = (Frame) throws -> Value
package typealias Exec = (Frame) throws -> Flow
package typealias Store = (Frame, Value) throws -> Void

package enum Flow { case normal, breakLoop, continueLoop, returned }

/// The slots of one function activation (or of a script's top level).
package final class Frame {
    package var slots: [Value]
    package let captures: [Box]
    /// The value of `return`, or of the last expression of the body.
    package var result: Value = .nil

    package init(slotCount: Int, captures: [Box]) {
        slots = [Value](repeating: .nil, count: slotCount)
        self.captures = captures
    }
}

package final class CompiledFunction {
    package let name: String
    package let parameterNames: [String]
    package let defaults: [Code?]
    package let boxedParameters: [Int]
    package let slotCount: Int
    package let captures: [Capture]
    package let body: Exec
    /// The `fn` as written, for help and the REPL's `:type`.
    package let declaration: FunctionDecl
    /// How calls bind their arguments (when not all positional and complete).
    package let signature: Signature

    package init(name: String, parameterNames: [String], defaults: [Code?], boxedParameters: [Int], slotCount: Int, captures: [Capture], body: @escaping Exec, declaration: FunctionDecl) {
        self.name = name; self.parameterNames = parameterNames; self.defaults = defaults; self.declaration = declaration
        self.boxedParameters = boxedParameters; self.slotCount = slotCount; self.captures = captures; self.body = body
        self.signature = Signature(function: declaration)
    }
}

package final class CompiledScript {
    package let slotCount: Int
    package let body: Exec
    package init(slotCount: Int, body: @escaping Exec) { self.slotCount = slotCount; self.body = body }
}
