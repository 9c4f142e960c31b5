import Foundation

/// A seeded generator (xoshiro256**, seeded through splitmix64) that gives the
/// same numbers on every run and every machine, so experiments reproduce.
public final class RandomGenerator {
    private var s: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private var spareNormal: Double?

    public init(seed: UInt64) { reseed(seed) }

    public func reseed(_ seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitmix(), splitmix(), splitmix(), splitmix())
        spareNormal = nil
    }

    /// The whole state, so that a resumed run draws the same numbers: the
    /// four words of the generator, then the spare normal's bits (or 0 and
    /// a flag of 0 when there is none).
    public var state: [UInt64] {
        get { [s.0, s.1, s.2, s.3, spareNormal?.bitPattern ?? 0, spareNormal == nil ? 0 : 1] }
    }

    public func restore(_ words: [UInt64]) throws {
        guard words.count == 6, words[0] | words[1] | words[2] | words[3] != 0 else {
            throw TensorError("a random generator state is six words, not all of the first four zero")
        }
        s = (words[0], words[1], words[2], words[3])
        spareNormal = words[5] != 0 ? Double(bitPattern: words[4]) : nil
    }

    public func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = (s.3 << 45) | (s.3 >> 19)
        return result
    }

    /// Uniform in [0, 1).
    public func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform integer in lo...hi.
    public func int(_ lo: Int, _ hi: Int) -> Int {
        let span = UInt64(bitPattern: Int64(hi) &- Int64(lo)) &+ 1
        if span == 0 { return Int(truncatingIfNeeded: next()) }
        return lo &+ Int(truncatingIfNeeded: next() % span)
    }

    /// Standard normal, by the Box-Muller transform.
    public func normal() -> Double {
        if let spare = spareNormal { spareNormal = nil; return spare }
        var u = uniform()
        while u <= Double.leastNormalMagnitude { u = uniform() }
        let v = uniform()
        let r = (-2 * Foundation.log(u)).squareRoot()
        spareNormal = r * Foundation.sin(2 * Double.pi * v)
        return r * Foundation.cos(2 * Double.pi * v)
    }

    /// Fisher-Yates shuffle of 0..<n.
    public func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        if n > 1 { for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, int(0, i)) } }
        return p
    }
}

extension Tensor {
    public static func randn(_ shape: [Int], _ rng: RandomGenerator, mean: Double = 0, std: Double = 1) throws -> Tensor {
        let n = try allocationCount(shape)
        return Tensor(shape: shape, data: (0..<n).map { _ in Float(mean + std * rng.normal()) })
    }

    public static func uniform(_ shape: [Int], _ rng: RandomGenerator, low: Double = 0, high: Double = 1) throws -> Tensor {
        let n = try allocationCount(shape)
        return Tensor(shape: shape, data: (0..<n).map { _ in Float(low + (high - low) * rng.uniform()) })
    }

    /// Glorot (Xavier) uniform: U(-l, l) with l = sqrt(6 / (fanIn + fanOut)),
    /// taking the last two axes as (fanIn, fanOut) as for a weight used as x @ W.
    public static func glorot(_ shape: [Int], _ rng: RandomGenerator) throws -> Tensor {
        let fanIn = shape.count >= 2 ? shape[shape.count - 2] : (shape.first ?? 1)
        let fanOut = shape.last ?? 1
        let limit = (6.0 / Double(max(fanIn + fanOut, 1))).squareRoot()
        return try uniform(shape, rng, low: -limit, high: limit)
    }
}
