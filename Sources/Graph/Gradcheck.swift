import Foundation
import Tensor

/// Compares the graph's gradients with central finite differences.
///
/// A function with a non-scalar result is reduced to a scalar by a fixed
/// random projection, so every output element takes part. The forward runs in
/// float32, so the step and tolerances are sized for it: a wrong rule (a
/// missing factor, a sign) is far outside them.
public enum Gradcheck {
    public struct Result {
        public let input: Int
        public let maxAbsoluteError: Double
        public let maxRelativeError: Double
        public let worstAnalytic: Double
        public let worstNumeric: Double
        public let ok: Bool
    }

    public static func check(inputs: [Tensor], step: Double = 1e-2, rtol: Double = 2e-2, atol: Double = 2e-3,
                             seed: UInt64 = 7, _ f: ([Variable]) throws -> Variable) throws -> [Result] {
        let variables = inputs.map(Variable.parameter)
        let output = try f(variables)
        let rng = RandomGenerator(seed: seed)
        let projection = try Tensor.randn(output.shape, rng)
        let loss = try Op.sum(try Op.mul(output, Variable(projection)), axis: nil)
        // Zeros for an input the function does not depend on (a second
        // derivative of a linear op): the finite differences check them.
        let analytic = try Graph.gradients(of: loss, wrt: variables, unused: .zeros)

        func projected(_ values: [Tensor]) throws -> Double {
            // The inputs stay parameters and recording stays on, so that a function
            // that takes a gradient inside (a second derivative) works here too.
            let y = try f(values.map(Variable.parameter))
            guard y.shape == projection.shape else { throw TensorError("gradcheck: the function's output shape changed between calls") }
            var s: Double = 0
            for (a, b) in zip(y.value.data, projection.data) { s += Double(a) * Double(b) }
            return s
        }

        var results: [Result] = []
        for (i, x) in inputs.enumerated() {
            var maxAbs = 0.0, maxRel = 0.0, worstA = 0.0, worstN = 0.0, ok = true
            for j in 0..<x.count {
                var values = inputs
                let h = step * Swift.max(1, Swift.abs(Double(x.data[j])))
                values[i].data[j] = Float(Double(x.data[j]) + h)
                let hPlus = Double(values[i].data[j]) - Double(x.data[j])
                let up = try projected(values)
                values[i].data[j] = Float(Double(x.data[j]) - h)
                let hMinus = Double(x.data[j]) - Double(values[i].data[j])
                let down = try projected(values)
                let numeric = (up - down) / (hPlus + hMinus)
                let a = Double(analytic[i].data[j])
                let err = Swift.abs(a - numeric)
                let rel = err / Swift.max(Swift.abs(a), Swift.abs(numeric), 1e-12)
                if !(err <= atol + rtol * Swift.max(Swift.abs(a), Swift.abs(numeric))) { ok = false }
                if err > maxAbs || err.isNaN { maxAbs = err; worstA = a; worstN = numeric }
                maxRel = Swift.max(maxRel, rel)
            }
            results.append(Result(input: i, maxAbsoluteError: maxAbs, maxRelativeError: maxRel,
                                  worstAnalytic: worstA, worstNumeric: worstN, ok: ok))
        }
        return results
    }
}
