import Foundation

/// NumPy's `.npy` format, so data and results move to and from NumPy and
/// PyTorch. Reads float32/float64 and the common integer and bool types (as
/// float32), either byte order, C or Fortran order; writes float32.
public enum NPY {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// `name` is how errors refer to the file (the path as the user wrote it).
    public static func read(path: String, name: String? = nil) throws -> Tensor {
        guard let bytes = FileManager.default.contents(atPath: path) else {
            throw NPYError.io("cannot read '\(name ?? path)': no such file or not readable")
        }
        return try decode([UInt8](bytes), name: name ?? path)
    }

    public static func decode(_ b: [UInt8], name: String) throws -> Tensor {
        func bad(_ why: String) -> NPYError { .format("'\(name)' is not a valid .npy file: \(why)") }
        guard b.count >= 10, Array(b[0..<6]) == magic else { throw bad("missing the \\x93NUMPY signature") }
        let major = b[6]
        let headerLength: Int, start: Int
        switch major {
        case 1: headerLength = Int(b[8]) | Int(b[9]) << 8; start = 10
        case 2, 3:
            guard b.count >= 12 else { throw bad("truncated header") }
            headerLength = Int(b[8]) | Int(b[9]) << 8 | Int(b[10]) << 16 | Int(b[11]) << 24; start = 12
        default: throw bad("unsupported format version \(major)")
        }
        guard start + headerLength <= b.count,
              let header = String(bytes: b[start..<(start + headerLength)], encoding: .utf8) else {
            throw bad("truncated header")
        }
        guard let descr = field("descr", in: header)?.trimmingCharacters(in: CharacterSet(charactersIn: "'\"")),
              let fortranText = field("fortran_order", in: header),
              let shapeText = field("shape", in: header) else {
            throw bad("header lacks descr, fortran_order or shape")
        }
        let dims = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "() "))
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var shape: [Int] = []
        for d in dims {
            guard let v = Int(d), v >= 0 else { throw bad("bad shape \(shapeText)") }
            shape.append(v)
        }
        let count: Int
        do { count = try Tensor.allocationCount(shape) } catch { throw bad("\(error)") }
        guard let type = ElementType(descr) else { throw bad("unsupported dtype '\(descr)' (float16, float32, float64, integer and bool arrays are supported)") }
        let dataStart = start + headerLength
        guard b.count - dataStart >= count * type.size else {
            throw bad("expected \(count * type.size) bytes of data for shape \(Tensor.shapeText(shape)), found \(b.count - dataStart)")
        }
        var values = [Float](repeating: 0, count: count)
        for i in 0..<count { values[i] = type.value(b, dataStart + i * type.size) }
        var t = Tensor(shape: shape, data: values)
        if fortranText.hasPrefix("True") {
            t = try Tensor(shape: shape.reversed(), data: values).permuted(Array((0..<shape.count).reversed()))
        }
        return t
    }

    /// Writes float32, atomically (see SafeFile): a reader never sees half a file.
    public static func write(_ t: Tensor, path: String) throws {
        do { try SafeFile.write(encode(t), to: path) } catch { throw NPYError.io("\(error)") }
    }

    /// The bytes of a float32 .npy file.
    public static func encode(_ t: Tensor) -> [UInt8] {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': ("
        header += t.shape.map(String.init).joined(separator: ", ") + (t.rank == 1 ? ",), }" : "), }")
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out = magic + [1, 0, UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)]
        out += Array(header.utf8)
        out.reserveCapacity(out.count + 4 * t.count)
        for v in t.data { withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 } }
        return out
    }

    /// The text after `'key':` up to the next top-level comma.
    static func field(_ key: String, in header: String) -> String? {
        guard let r = header.range(of: "'\(key)'") ?? header.range(of: "\"\(key)\"") else { return nil }
        var rest = header[r.upperBound...].drop { $0 == " " || $0 == ":" }
        var depth = 0, end = rest.startIndex
        while end < rest.endIndex {
            let c = rest[end]
            if c == "(" { depth += 1 } else if c == ")" { depth -= 1 }
            if (c == "," && depth == 0) || c == "}" { break }
            end = rest.index(after: end)
        }
        rest = rest[..<end]
        return rest.trimmingCharacters(in: .whitespaces)
    }

    struct ElementType {
        enum Kind { case float, signed, unsigned, bool }
        let kind: Kind, size: Int, bigEndian: Bool

        init?(_ descr: String) {
            guard descr.count >= 3, let order = descr.first, let code = descr.dropFirst().first else { return nil }
            guard let size = Int(descr.dropFirst(2)), [1, 2, 4, 8].contains(size) else { return nil }
            switch code {
            case "f" where size == 2 || size == 4 || size == 8: kind = .float
            case "i": kind = .signed
            case "u": kind = .unsigned
            case "b" where size == 1: kind = .bool
            default: return nil
            }
            guard "<>|=".contains(order) else { return nil }
            self.size = size
            bigEndian = order == ">"
        }

        func value(_ b: [UInt8], _ at: Int) -> Float {
            var bits: UInt64 = 0
            for k in 0..<size {
                let byte = UInt64(b[at + (bigEndian ? size - 1 - k : k)])
                bits |= byte << (8 * UInt64(k))
            }
            switch kind {
            case .float:
                switch size {
                case 2: return Half.float(UInt16(truncatingIfNeeded: bits))
                case 4: return Float(bitPattern: UInt32(truncatingIfNeeded: bits))
                default: return Float(Double(bitPattern: bits))
                }
            case .unsigned, .bool: return Float(bits)
            case .signed:
                let shift = UInt64(64 - 8 * size)
                return Float(Int64(bitPattern: bits << shift) >> Int64(shift))
            }
        }
    }
}

public enum NPYError: Error, CustomStringConvertible {
    case io(String), format(String)
    public var description: String { switch self { case .io(let m), .format(let m): return m } }
}
