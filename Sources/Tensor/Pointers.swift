/// Raw float pointers for kernels, in one style: `reading` lends pointers to
/// several arrays at once and `filling` makes new arrays through pointers,
/// so that a kernel needs one or two closures instead of a nest of
/// withUnsafeBufferPointer calls.
public typealias Floats = UnsafePointer<Float>
public typealias MutableFloats = UnsafeMutablePointer<Float>

/// A pointer to the elements of an array, for reading while it stays alive
/// and unchanged, valid only inside `body`. (An empty array gives a pointer
/// that must not be read.)
@inlinable @inline(__always)
public func reading<R>(_ a: [Float], _ body: (Floats) throws -> R) rethrows -> R {
    try a.withUnsafeBufferPointer { try body($0.baseAddress ?? Floats(emptyFloats)) }
}

/// The same for two arrays: one pointer each, no allocation.
@inlinable @inline(__always)
public func reading<R>(_ a: [Float], _ b: [Float], _ body: (Floats, Floats) throws -> R) rethrows -> R {
    try a.withUnsafeBufferPointer { pa in
        try b.withUnsafeBufferPointer { try body(pa.baseAddress ?? Floats(emptyFloats), $0.baseAddress ?? Floats(emptyFloats)) }
    }
}

/// The same for three arrays.
@inlinable @inline(__always)
public func reading<R>(_ a: [Float], _ b: [Float], _ c: [Float], _ body: (Floats, Floats, Floats) throws -> R) rethrows -> R {
    try reading(a, b) { pa, pb in try reading(c) { try body(pa, pb, $0) } }
}

/// The same for any number of arrays, as a list of pointers in order.
@inlinable
public func reading<R>(list arrays: [Float]..., body: ([Floats]) throws -> R) rethrows -> R {
    var pointers: [Floats] = []
    pointers.reserveCapacity(arrays.count)
    func next(_ i: Int) throws -> R {
        if i == arrays.count { return try body(pointers) }
        return try arrays[i].withUnsafeBufferPointer { p in
            pointers.append(p.baseAddress ?? Floats(emptyFloats))
            return try next(i + 1)
        }
    }
    return try next(0)
}

/// A new array of `count` zeros that `body` fills through a pointer.
@inlinable
public func filling(_ count: Int, _ body: (MutableFloats) throws -> Void) rethrows -> [Float] {
    var out = [Float](repeating: 0, count: count)
    try out.withUnsafeMutableBufferPointer { try body($0.baseAddress ?? emptyFloats) }
    return out
}

/// A new array of `count` floats that `body` writes in full, through a
/// pointer, without zeros first (a kernel that sets every element).
@inlinable
public func writing(_ count: Int, _ body: (MutableFloats) throws -> Void) rethrows -> [Float] {
    try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
        try body(buffer.baseAddress ?? emptyFloats)
        initialized = count
    }
}

/// New arrays of zeros, one per count, that `body` fills through pointers.
@inlinable
public func filling(counts: [Int], _ body: ([MutableFloats]) throws -> Void) rethrows -> [[Float]] {
    try changing(counts.map { .zeros($0) }, body)
}

/// New arrays, each starting as a copy of its `initial` array (or as
/// zeros), that `body` changes through pointers.
@inlinable
public func changing(_ initial: [ArrayStart], _ body: ([MutableFloats]) throws -> Void) rethrows -> [[Float]] {
    var pointers: [MutableFloats] = []
    pointers.reserveCapacity(initial.count)
    // Each array is made inside the previous one's initializer, so that every pointer is valid while body runs.
    func make(_ i: Int) throws -> [[Float]] {
        if i == initial.count { try body(pointers); return [] }
        var rest: [[Float]] = []
        let count: Int
        switch initial[i] {
        case .zeros(let n), .written(let n): count = n
        case .copy(let source): count = source.count
        }
        let array = try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            switch initial[i] {
            case .zeros: buffer.initialize(repeating: 0)
            case .copy(let source): _ = buffer.initialize(from: source)
            case .written: break
            }
            initialized = count
            pointers.append(buffer.baseAddress ?? emptyFloats)
            rest = try make(i + 1)
        }
        return [array] + rest
    }
    return try make(0)
}

/// How an array that `changing` makes starts.
public enum ArrayStart {
    case zeros(Int)
    case copy([Float])
    /// Not set: `body` writes every element (as `writing`).
    case written(Int)
}

/// Stands in for the storage of an empty array; never read or written.
public let emptyFloats = MutableFloats.allocate(capacity: 1)
