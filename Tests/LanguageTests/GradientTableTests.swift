import Builtins
import Foundation
import Runtime
import Syntax
import XCTest

/// Gradient checks generated over the builtin table: every builtin declares
/// the examples its gradient is checked at, or why no gradient flows through
/// it; each example's marked inputs are checked against central finite
/// differences (`gradcheck`), so a new op cannot drop a gradient unnoticed.
/// An example with its `$(expr)` inputs taken out: the expressions, and
/// the call with each replaced by a parameter name.
func splitExample(_ example: String) -> (inputs: [String], call: String) {
    var inputs: [String] = [], call = ""
    var chars = Array(example)[...]
    while let c = chars.first {
        if c == "$", chars.dropFirst().first == "(" {
            chars = chars.dropFirst(2)
            var depth = 1, expr = ""
            while let d = chars.first {
                chars = chars.dropFirst()
                if d == "(" { depth += 1 }
                if d == ")" { depth -= 1; if depth == 0 { break } }
                expr.append(d)
            }
            call += "x\(inputs.count)"
            inputs.append(expr)
        } else {
            call.append(c)
            chars = chars.dropFirst()
        }
    }
    return (inputs, call)
}

final class GradientTableTests: XCTestCase {
    func testEveryBuiltinDeclaresItsGradientsAndTheyAreRight() {
        let registry = BuiltinRegistry.standard()
        var checked = 0
        for builtin in registry.all {
            switch builtin.gradients {
            case .undeclared:
                XCTFail("builtin '\(builtin.name)' declares neither the examples its gradient is checked at (.checked) nor why it has none (.notDifferentiable)")
            case .none:
                continue
            case .checked(let examples):
                XCTAssertFalse(examples.isEmpty, builtin.name)
                for example in examples {
                    let (inputs, call) = splitExample(example)
                    XCTAssertFalse(inputs.isEmpty, "\(builtin.name): the example \(example) marks no input with $(...)")
                    let parameters = inputs.indices.map { "x\($0)" }.joined(separator: ", ")
                    var script = "seed(11)\n"
                    for (i, input) in inputs.enumerated() { script += "let input\(i) = \(input)\n" }
                    script += "gradcheck(fn(\(parameters)) => \(call), [\(inputs.indices.map { "input\($0)" }.joined(separator: ", "))])\n"
                    let (output, error) = runMnemo(script, name: "\(builtin.name).mn")
                    XCTAssertNil(error, "\(builtin.name): \(example) failed: \(String(describing: error))")
                    XCTAssertFalse(output.contains("MISMATCH"), "\(builtin.name): \(example)\n\(output)")
                    XCTAssertEqual(output.components(separatedBy: ": OK").count - 1, inputs.count, "\(builtin.name): \(example)\n\(output)")
                    checked += 1
                }
            }
        }
        XCTAssertGreaterThan(checked, 60)
    }
}

/// Second and third derivatives, generated over the same table: for every
/// example, the gradient taken with create_graph: true is itself
/// gradient-checked (a second derivative against finite differences of the
/// first), and once more for the third. An op that cannot be differentiated
/// twice must say so; the elementwise functions, arithmetic, sums, shapes
/// and matrix products must pass.
final class HigherOrderGradientTests: XCTestCase {
    static let mustDifferentiateTwice: Set<String> = [
        "exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "softplus", "pow", "maximum", "minimum", "clip",
        "sum", "mean", "matmul", "transpose", "reshape", "flatten", "unsqueeze", "squeeze", "outer",
        "linear", "softmax", "logsumexp", "mse", "cross_entropy", "concat", "stack", "split", "chunk", "slice",
        "max", "min", "gather", "lstm_cell", "usage_update", "write_weighting", "link_update", "read_weighting",
    ]

    func script(_ example: String, order: Int) -> String {
        let (inputs, example) = splitExample(example)
        let names = inputs.indices.map { "x\($0)" }.joined(separator: ", ")
        var s = "seed(5)\n"
        for (i, input) in inputs.enumerated() { s += "let input\(i) = \(input)\n" }
        let all = inputs.indices.map { "input\($0)" }.joined(separator: ", ")
        // Several outputs (a tuple) are taken together as one vector.
        s += "fn map_flat(gs) { let out = []\n for g in gs { out.append(flatten(g)) }\n out }\n"
        s += "fn joined(out) { if type(out) == \"tensor\" { out } else { concat(map_flat(out)) } }\n"
        let call = "joined(\(example))"
        s += "let example = fn(\(names)) => \(call)\n"
        s += "let w = randn(shape(example(\(all))))\n"
        // The first derivative as a function of the inputs, flattened into one vector.
        var body = "sum((\(call)) * w)"
        for k in 1..<order {
            s += "let w\(k) = randn(\(inputs.indices.map { "size(input\($0))" }.joined(separator: " + ")))\n"
            body = "sum(concat(map_flat(grad(\(body), [\(names)], allow_unused: true, create_graph: true))) * w\(k))"
        }
        // allow_unused: the derivative of a linear op does not depend on its input at all.
        s += "let recorded = fn(\(names)) => concat(map_flat(grad(\(body), [\(names)], allow_unused: true, create_graph: true)))\n"
        s += "let plain = fn(\(names)) => concat(map_flat(grad(\(body), [\(names)], allow_unused: true)))\n"
        // The recorded gradient has the values of the first-order one (which the table checks),
        // at the first level (each op's second-order product, recomposed or not, gives the same
        // gradient as its kernel) and at this order...
        let parameters = inputs.indices.map { "param(input\($0))" }.joined(separator: ", ")
        s += "let first_recorded = fn(\(names)) => concat(map_flat(grad(sum((\(call)) * w), [\(names)], allow_unused: true, create_graph: true)))\n"
        s += "let first_plain = fn(\(names)) => concat(map_flat(grad(sum((\(call)) * w), [\(names)], allow_unused: true)))\n"
        s += "assert allclose(first_recorded(\(parameters)), first_plain(\(parameters)), rtol: 1e-4, atol: 1e-5), \"recorded first derivative differs from the kernel's\"\n"
        s += "assert allclose(recorded(\(parameters)), plain(\(parameters)), rtol: 1e-4, atol: 1e-5), \"recorded gradient differs from the first-order one\"\n"
        // ...and its own gradient matches finite differences of it.
        s += "gradcheck(recorded, [\(all)])\n"
        return s
    }

    func testSecondAndThirdDerivativesOverTheTable() {
        var passedTwice = Set<String>(), checked = 0
        for builtin in BuiltinRegistry.standard().all {
            guard case .checked(let examples) = builtin.gradients else { continue }
            for example in examples {
                for order in [2, 3] {
                    let text = script(example, order: order)
                    let (output, error) = runMnemo(text, name: "\(builtin.name).mn")
                    if let error {
                        let message = "\(error)"
                        XCTAssertTrue(message.contains("cannot be differentiated twice"), "\(builtin.name) order \(order): \(example)\n\(message)\n\(text)")
                        continue
                    }
                    XCTAssertFalse(output.contains("MISMATCH"), "\(builtin.name) order \(order): \(example)\n\(output)\n\(text)")
                    if order == 2 && !output.contains("MISMATCH") { passedTwice.insert(builtin.name) }
                    checked += 1
                }
            }
        }
        XCTAssertTrue(HigherOrderGradientTests.mustDifferentiateTwice.isSubset(of: passedTwice),
                      "not differentiable twice: \(HigherOrderGradientTests.mustDifferentiateTwice.subtracting(passedTwice).sorted())")
        XCTAssertGreaterThan(checked, 30)
    }
}
