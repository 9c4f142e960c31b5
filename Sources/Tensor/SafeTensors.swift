import Foundation

/// The safetensors format (Hugging Face's): an 8-byte little-endian header
/// length, a JSON header mapping each name to its dtype, shape and
/// [begin, end) byte offsets into the data that follows, with optional
/// string metadata under "__metadata__"; then the raw little-endian data.
/// PyTorch, JAX and NumPy read it with the `safetensors` package. Mnemo
/// writes float32; it reads float32, float64, float16, bfloat16, integers
/// and bools, converted to float32 (`Entry.dtype` says what the file held).
public enum SafeTensors {
    public struct Entry {
        public let name: String
        public let dtype: String
        public let tensor: Tensor
    }

    public struct File {
        /// In the order of their data in the file.
        public let entries: [Entry]
        public let metadata: [String: String]
        public func entry(_ name: String) -> Entry? { entries.first { $0.name == name } }
    }

    /// Bytes of a file holding `tensors` (in this order) and `metadata`.
    public static func encode(_ tensors: [(String, Tensor)], metadata: [String: String] = [:]) throws -> [UInt8] {
        var seen = Set<String>()
        for (name, _) in tensors where !seen.insert(name).inserted { throw TensorError("two tensors named '\(name)' in one safetensors file") }
        var fields: [String] = []
        if !metadata.isEmpty {
            fields.append("\"__metadata__\":{" + metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }.joined(separator: ",") + "}")
        }
        var offset = 0
        for (name, t) in tensors {
            let size = t.count * 4
            fields.append("\(jsonString(name)):{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + size)]}")
            offset += size
        }
        var header = Array(("{" + fields.joined(separator: ",") + "}").utf8)
        // The data starts 8-byte aligned (the format allows padding the header with spaces).
        while (8 + header.count) % 8 != 0 { header.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out += $0 }
        out += header
        for (_, t) in tensors {
            t.data.withUnsafeBufferPointer { p in
                for v in p { withUnsafeBytes(of: v.bitPattern.littleEndian) { out += $0 } }
            }
        }
        return out
    }

    public static func write(_ tensors: [(String, Tensor)], metadata: [String: String] = [:], path: String) throws {
        try SafeFile.write(try encode(tensors, metadata: metadata), to: path)
    }

    public static func read(path: String, name: String? = nil) throws -> File {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TensorError("cannot read '\(name ?? path)': no such file or not readable")
        }
        return try decode([UInt8](data), name: name ?? path)
    }

    /// Every fault of a damaged or hand-made file is an error naming it:
    /// a header longer than the file, JSON that is not an object of entries,
    /// an unknown dtype, offsets out of range or not matching the shape,
    /// tensors that overlap.
    public static func decode(_ b: [UInt8], name: String) throws -> File {
        func bad(_ why: String) -> TensorError { TensorError("'\(name)' is not a valid safetensors file: \(why)") }
        guard b.count >= 8 else { throw bad("it is \(b.count) bytes long, shorter than the 8-byte header length") }
        var length: UInt64 = 0
        for i in 0..<8 { length |= UInt64(b[i]) << (8 * UInt64(i)) }
        guard length <= UInt64(b.count - 8) else { throw bad("the header claims \(length) bytes but the file has \(b.count - 8) after the length") }
        let headerEnd = 8 + Int(length)
        guard JSONDepth.within(b[8..<headerEnd], 16) else { throw bad("the header nests deeper than a safetensors header does") }
        guard let object = try? JSONSerialization.jsonObject(with: Data(b[8..<headerEnd])), let header = object as? [String: Any] else {
            throw bad("the header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        if let m = header["__metadata__"] {
            guard let dict = m as? [String: Any] else { throw bad("__metadata__ is not an object of strings") }
            for (k, v) in dict {
                guard let s = v as? String else { throw bad("__metadata__ value '\(k)' is not a string") }
                metadata[k] = s
            }
        }
        let dataLength = b.count - headerEnd
        var entries: [(begin: Int, end: Int, entry: Entry)] = []
        for (key, value) in header where key != "__metadata__" {
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                  let shapeValues = info["shape"] as? [Any], let offsets = info["data_offsets"] as? [Any], offsets.count == 2 else {
                throw bad("entry '\(key)' lacks dtype, shape or data_offsets")
            }
            var shape: [Int] = []
            for d in shapeValues {
                guard let n = (d as? NSNumber).flatMap({ Int(exactly: $0.doubleValue) }), n >= 0 else { throw bad("entry '\(key)' has a bad shape") }
                shape.append(n)
            }
            guard let begin = (offsets[0] as? NSNumber).flatMap({ Int(exactly: $0.doubleValue) }),
                  let end = (offsets[1] as? NSNumber).flatMap({ Int(exactly: $0.doubleValue) }),
                  begin >= 0, begin <= end, end <= dataLength else {
                throw bad("entry '\(key)' has data offsets outside the \(dataLength) bytes of data")
            }
            guard let type = DType(dtype) else { throw bad("entry '\(key)' has dtype \(dtype), which Mnemo does not read (F32, F64, F16, BF16, integers, BOOL)") }
            let count: Int
            do { count = try Tensor.allocationCount(shape) } catch { throw bad("entry '\(key)': \(error)") }
            guard end - begin == count * type.size else {
                throw bad("entry '\(key)' of shape \(Tensor.shapeText(shape)) and dtype \(dtype) needs \(count * type.size) bytes, its offsets span \(end - begin)")
            }
            let start = headerEnd + begin
            let values = (0..<count).map { type.value(b, start + $0 * type.size) }
            entries.append((begin, end, Entry(name: key, dtype: dtype, tensor: Tensor(shape: shape, data: values))))
        }
        entries.sort { ($0.begin, $0.end, $0.entry.name) < ($1.begin, $1.end, $1.entry.name) }
        for (a, b) in zip(entries, entries.dropFirst()) where b.begin < a.end && b.end > b.begin {
            throw bad("entries '\(a.entry.name)' and '\(b.entry.name)' overlap")
        }
        return File(entries: entries.map(\.entry), metadata: metadata)
    }

    public static func jsonString(_ s: String) -> String {
        let inner = escaped(s) { u in
            switch u {
            case "\"": return "\\\""
            case "\\": return "\\\\"
            case _ where u.value < 0x20: return String(format: "\\u%04x", u.value)
            default: return nil
            }
        }
        return "\"" + inner + "\""
    }

    /// The element types of safetensors, read as float32.
    struct DType {
        let size: Int
        let value: ([UInt8], Int) -> Float

        init?(_ name: String) {
            func bits(_ b: [UInt8], _ at: Int, _ n: Int) -> UInt64 {
                var v: UInt64 = 0
                for i in 0..<n { v |= UInt64(b[at + i]) << (8 * UInt64(i)) }
                return v
            }
            switch name {
            case "F32": size = 4; value = { Float(bitPattern: UInt32(bits($0, $1, 4))) }
            case "F64": size = 8; value = { Float(Double(bitPattern: bits($0, $1, 8))) }
            case "F16": size = 2; value = { Half.float(UInt16(bits($0, $1, 2))) }
            case "BF16": size = 2; value = { Float(bitPattern: UInt32(bits($0, $1, 2)) << 16) }
            case "I64": size = 8; value = { Float(Int64(bitPattern: bits($0, $1, 8))) }
            case "I32": size = 4; value = { Float(Int32(truncatingIfNeeded: bits($0, $1, 4))) }
            case "I16": size = 2; value = { Float(Int16(truncatingIfNeeded: bits($0, $1, 2))) }
            case "I8": size = 1; value = { Float(Int8(truncatingIfNeeded: bits($0, $1, 1))) }
            case "U64": size = 8; value = { Float(bits($0, $1, 8)) }
            case "U32": size = 4; value = { Float(bits($0, $1, 4)) }
            case "U16": size = 2; value = { Float(bits($0, $1, 2)) }
            case "U8": size = 1; value = { Float(bits($0, $1, 1)) }
            case "BOOL": size = 1; value = { $0[$1] != 0 ? 1 : 0 }
            default: return nil
            }
        }
    }
}

/// IEEE half precision, converted by its bits (exact: every half is a float).
public enum Half {
    public static func float(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int(h >> 10 & 0x1f), mantissa = UInt32(h & 0x3ff)
        switch exponent {
        case 0:
            // Zero or subnormal: mantissa x 2^-24.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign != 0 ? -magnitude : magnitude
        case 31:
            return Float(bitPattern: sign | 0x7f80_0000 | mantissa << 13)
        default:
            return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | mantissa << 13)
        }
    }
}
