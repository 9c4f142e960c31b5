import Foundation
import Language
import XCTest

/// Gradient checks generated over the builtin table: every builtin declares
/// the examples its gradient is checked at, or why no gradient flows through
/// it; each example's marked inputs are checked against central finite
/// differences (`gradcheck`), so a new op cannot drop a gradient unnoticed.
final class GradientTableTests: XCTestCase {
    /// An example with its `$(expr)` inputs taken out: the expressions, and
    /// the call with each replaced by a parameter name.
    func split(_ example: String) -> (inputs: [String], call: String) {
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
                    let (inputs, call) = split(example)
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
