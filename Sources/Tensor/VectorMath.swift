// exp, sigmoid and tanh eight lanes at a time. The LSTM cell and the unary
// ops spend much of their time in these; libm's scalar calls cost several
// times more. The scalar forms below run the same code on one lane, so that a
// fused kernel and the same equation built from basic ops agree exactly.
//
// exp: the classic range reduction x = n ln2 + r, |r| <= ln2/2, with Cephes's
// degree-6 polynomial for e^r (Moshier, Cephes Math Library, expf.c) and 2^n
// built in the exponent bits; within 2 ulp of the true value. tanh: Cephes's
// odd polynomial for |x| < 0.625 (tanhf.c), keeping small arguments exact to
// relative precision, else 1 - 2 / (e^{2|x|} + 1).

import CSupport
#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

public enum VectorMath {
    public typealias Lanes = SIMD8<Float>

    @inlinable @inline(__always)
    public static func exp(_ x: Lanes) -> Lanes {
        let high: Float = 88.72283, low: Float = -87.33654
        let number = x.replacing(with: 0, where: x .!= x)
        let clamped = clamp(number, low, high)
        // n = round(x / ln2): adding 1.5 * 2^23 rounds to an integer (to
        // nearest even) and leaves it in the low bits, without a conversion
        // instruction Swift would not emit for SIMD here.
        let magic: Float = 12582912
        let shifted = clamped * 1.44269504088896341 + magic
        let n = shifted - magic
        // r = x - n ln2, with ln2 split in two so that n * ln2_hi is exact.
        let r = clamped - n * 0.693359375 + n * 2.12194440e-4
        var p = Lanes(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        let er = p * r * r + r + 1
        // 2^n as 2^(n/2) 2^(n - n/2): n lies in [-126, 128], and each factor's
        // exponent field stays in range where 2^n alone would not at the ends.
        let whole = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000
        let half = whole &>> 1
        var y = er * powerOfTwo(half) * powerOfTwo(whole &- half)
        y.replace(with: .infinity, where: x .> high)
        y.replace(with: 0, where: x .< low)
        y.replace(with: x, where: x .!= x)  // NaN stays NaN
        return y
    }

    /// 1 / (1 + e^-x): 0 and 1 at the extremes, never NaN for a number.
    @inlinable @inline(__always)
    public static func sigmoid(_ x: Lanes) -> Lanes { 1 / (1 + exp(-x)) }

    @inlinable @inline(__always)
    public static func tanh(_ x: Lanes) -> Lanes {
        let a = abs(x)
        let z = x * x
        var p = Lanes(repeating: -5.70498872745e-3)
        p = p * z + 2.06390887954e-2
        p = p * z - 5.37397155531e-2
        p = p * z + 1.33314422036e-1
        p = p * z - 3.33332819422e-1
        let small = p * z * x + x
        var large = 1 - 2 / (exp(a + a) + 1)
        large.replace(with: -large, where: x .< 0)
        var y = large
        y.replace(with: small, where: a .< 0.625)
        return y
    }

    /// The square root of each lane, correctly rounded as the scalar one is.
    /// Swift's `squareRoot()` on SIMD types compiles to one call per lane;
    /// on x86-64 this is two SSE instructions.
    @inlinable @inline(__always)
    public static func squareRoot(_ x: Lanes) -> Lanes {
        #if arch(x86_64)
        let low = _mm_sqrt_ps(x.lowHalf), high = _mm_sqrt_ps(x.highHalf)
        return Lanes(lowHalf: low, highHalf: high)
        #else
        return x.squareRoot()
        #endif
    }

    /// Each lane limited to [low, high] (NaN left as it is). Swift's
    /// `clamped` compiles to calls here; this stays inline.
    @inlinable @inline(__always)
    public static func clamp(_ x: Lanes, _ low: Float, _ high: Float) -> Lanes {
        x.replacing(with: low, where: x .< low).replacing(with: high, where: x .> high)
    }

    /// 2^k for k in [-126, 127], built in the exponent bits.
    @usableFromInline @inline(__always)
    static func powerOfTwo(_ k: SIMD8<Int32>) -> Lanes {
        unsafeBitCast((k &+ 127) &<< 23, to: Lanes.self)
    }

    @usableFromInline @inline(__always)
    static func abs(_ x: Lanes) -> Lanes {
        unsafeBitCast(unsafeBitCast(x, to: SIMD8<UInt32>.self) & 0x7fff_ffff, to: Lanes.self)
    }

    // One value at a time, through the same code.
    @inlinable @inline(__always) public static func exp(_ x: Float) -> Float { exp(Lanes(repeating: x))[0] }
    @inlinable @inline(__always) public static func sigmoid(_ x: Float) -> Float { sigmoid(Lanes(repeating: x))[0] }
    @inlinable @inline(__always) public static func tanh(_ x: Float) -> Float { tanh(Lanes(repeating: x))[0] }

    /// Eight floats from p, or the n < 8 that remain (the other lanes zero).
    @inlinable @inline(__always)
    public static func load(_ p: UnsafePointer<Float>, _ n: Int) -> Lanes {
        if n >= 8 { return UnsafeRawPointer(p).loadUnaligned(as: Lanes.self) }
        var v = Lanes()
        for j in 0..<n { v[j] = p[j] }
        return v
    }

    /// The sum of n floats in eight lanes (lane l takes l, l + 8, ...), the
    /// lanes added in order, then the last n % 8: `dot`'s order.
    @inlinable @inline(__always)
    public static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = Lanes()
        var j = 0
        while j + 8 <= n { acc += UnsafeRawPointer(p + j).loadUnaligned(as: Lanes.self); j += 8 }
        var s = acc.sum()
        while j < n { s += p[j]; j += 1 }
        return s
    }

    /// Stores eight lanes at p, or the first n < 8.
    @inlinable @inline(__always)
    public static func store(_ v: Lanes, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
        if n >= 8 { UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lanes.self); return }
        for j in 0..<n { p[j] = v[j] }
    }

    /// y[i] = f(x[i]) for n floats (x and y may be the same buffer).
    @inlinable @inline(__always)
    public static func apply(_ f: (Lanes) -> Lanes, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: Lanes.self)
            UnsafeMutableRawPointer(y + i).storeBytes(of: f(v), as: Lanes.self)
            i += 8
        }
        if i < n {
            var v = Lanes()
            for j in 0..<(n - i) { v[j] = x[i + j] }
            let r = f(v)
            for j in 0..<(n - i) { y[i + j] = r[j] }
        }
    }
}

extension VectorMath {
    /// exp, sigmoid and tanh as the C kernels run them (vmath.h, at the
    /// widest vectors the CPU has): the same bits as the lanes above.
    public enum Activation: Int32 {
        case exp = 0, sigmoid = 1, tanh = 2

        /// y = f(x) over n floats (x and y may be the same buffer).
        public func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
            mnemo_activations(OwnKernels.level, rawValue, x, y, n)
        }

        /// Its derivative from its output y: exp's y, sigmoid's y (1 - y), tanh's 1 - y^2.
        @inline(__always) public func slope(output y: Float) -> Float {
            switch self {
            case .exp: return y
            case .sigmoid: return Scalar.sigmoidSlope(output: y)
            case .tanh: return Scalar.tanhSlope(output: y)
            }
        }

        /// The function on every element of a tensor.
        public func map(_ t: Tensor) -> Tensor {
            let out = filling(t.count) { y in reading(t.data) { apply($0, y, t.count) } }
            return Tensor(shape: t.shape, data: out)
        }
    }
}

extension VectorMath {
    /// Whether every value is finite (no NaN, no infinity), eight lanes at a time.
    public static func allFinite(_ values: [Float]) -> Bool {
        values.withUnsafeBufferPointer { allFinite($0) }
    }

    /// The same for a buffer.
    public static func allFinite(_ p: UnsafeBufferPointer<Float>) -> Bool {
        let n = p.count
        var j = 0
        // x - x is 0 for finite x and NaN otherwise; NaN spreads through the sum.
        var acc = SIMD8<Float>()
        while j + 8 <= n {
            let v = UnsafeRawPointer(p.baseAddress! + j).loadUnaligned(as: SIMD8<Float>.self)
            acc += v - v
            j += 8
        }
        var rest: Float = acc.sum()
        while j < n { rest += p[j] - p[j]; j += 1 }
        return rest == 0
    }
}
