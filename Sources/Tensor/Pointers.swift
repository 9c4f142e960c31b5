/// Raw float pointers for kernels, in one style: `reading` lends pointers to
/// several arrays at once and `filling` makes new arrays through pointers,
/// so that a kernel needs one or two closures instead of a nest of
/// withUnsafeBufferPointer calls.
public typealias Floats = UnsafePointer<Float>
public typealias MutableFloats = UnsafeMutablePointer<Float>

/// Pointers to the elements of several arrays at once, for reading while
/// they stay alive and unchanged, valid only inside `body`. (An empty array
/// gives a pointer that must not be read.)
@inlinable
public func reading<R>(_ arrays: [Float]..., body: ([Floats]) throws -> R) rethrows -> R {
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

/// New arrays of zeros, one per count, that `body` fills through pointers.
@inlinable
public func filling(counts: [Int], _ body: ([MutableFloats]) throws -> Void) rethrows -> [[Float]] {
    var pointers: [MutableFloats] = []
    pointers.reserveCapacity(counts.count)
    // Each array is made inside the previous one's initializer, so that every pointer is valid while body runs.
    func make(_ i: Int) throws -> [[Float]] {
        if i == counts.count { try body(pointers); return [] }
        var rest: [[Float]] = []
        let array = try [Float](unsafeUninitializedCapacity: counts[i]) { buffer, initialized in
            buffer.initialize(repeating: 0)
            initialized = counts[i]
            pointers.append(buffer.baseAddress ?? emptyFloats)
            rest = try make(i + 1)
        }
        return [array] + rest
    }
    return try make(0)
}

/// Stands in for the storage of an empty array; never read or written.
public let emptyFloats = MutableFloats.allocate(capacity: 1)
