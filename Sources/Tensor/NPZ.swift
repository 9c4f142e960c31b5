import Foundation

/// NumPy's `.npz`: a zip archive of `.npy` files, one array each, named
/// NAME.npy (np.savez stores them, np.savez_compressed deflates them; both
/// are read, in the archive's order). Written stored, as np.savez does.
///
/// The zip layout is read here, every size and offset checked against the
/// file before it is used (a damaged or hostile archive is an error, never
/// a read past the end): the end record (or its zip64 form), the central
/// directory with its zip64 extra fields, each entry's local header, then
/// the data, inflated by zlib (`Zlib`) and checked against its CRC-32.
public enum NPZ {
    public static func read(path: String, name: String? = nil) throws -> [(String, Tensor)] {
        let shown = name ?? path
        guard let data = FileManager.default.contents(atPath: path) else { throw NPYError.io("cannot read '\(shown)': no such file or not readable") }
        return try decode(data, name: shown)
    }

    public static func decode(_ data: Data, name: String) throws -> [(String, Tensor)] {
        let b = [UInt8](data)
        return try entries(b, name: name).map { key, bytes in
            (key.hasSuffix(".npy") ? String(key.dropLast(4)) : key, try NPY.decode(bytes, name: "\(name):\(key)"))
        }
    }

    static func u16(_ b: [UInt8], _ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 }
    static func u32(_ b: [UInt8], _ i: Int) -> Int { u16(b, i) | u16(b, i + 2) << 16 }
    static func u64(_ b: [UInt8], _ i: Int) -> Int? {
        let low = u32(b, i), high = u32(b, i + 4)
        return high < 1 << 30 ? low | high << 32 : nil
    }

    /// Each file of the archive with its uncompressed bytes.
    static func entries(_ b: [UInt8], name: String) throws -> [(String, [UInt8])] {
        func bad(_ why: String) -> NPYError { .format("'\(name)' is not a valid .npz file: \(why)") }
        func within(_ start: Int, _ length: Int) -> Bool { start >= 0 && length >= 0 && start <= b.count && length <= b.count - start }
        // The end of central directory record: the last signature in the final 64 KiB.
        guard b.count >= 22 else { throw bad("not a zip archive") }
        var end = -1
        for i in stride(from: b.count - 22, through: max(0, b.count - 22 - 65_535), by: -1) where u32(b, i) == 0x0605_4b50 { end = i; break }
        guard end >= 0 else { throw bad("not a zip archive") }
        var count = u16(b, end + 10), directory = u32(b, end + 16), directorySize = u32(b, end + 12)
        if count == 0xFFFF || directory == 0xFFFF_FFFF || directorySize == 0xFFFF_FFFF {
            // zip64: a locator just before the end record points at the zip64 end record.
            guard end >= 20, u32(b, end - 20) == 0x0706_4b50, let record = u64(b, end - 12), within(record, 56), u32(b, record) == 0x0606_4b50,
                  let c = u64(b, record + 32), let size = u64(b, record + 40), let offset = u64(b, record + 48) else {
                throw bad("a damaged zip64 end record")
            }
            (count, directorySize, directory) = (c, size, offset)
        }
        guard within(directory, directorySize), count <= 100_000 else { throw bad("the central directory lies outside the file") }
        var out: [(String, [UInt8])] = []
        var p = directory
        for _ in 0..<count {
            guard within(p, 46), u32(b, p) == 0x0201_4b50 else { throw bad("a damaged central directory entry") }
            let method = u16(b, p + 10), crc = UInt32(u32(b, p + 16))
            var compressed = u32(b, p + 20), size = u32(b, p + 24), local = u32(b, p + 42)
            let nameLength = u16(b, p + 28), extraLength = u16(b, p + 30), commentLength = u16(b, p + 32)
            guard within(p + 46, nameLength + extraLength + commentLength) else { throw bad("a central directory entry runs past the end") }
            let key = String(decoding: b[(p + 46)..<(p + 46 + nameLength)], as: UTF8.self)
            // zip64 sizes and offset, in that order, for the fields that overflowed.
            var extra = p + 46 + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let id = u16(b, extra), length = u16(b, extra + 2)
                guard extra + 4 + length <= extraEnd else { throw bad("a damaged extra field of '\(key)'") }
                if id == 0x0001 {
                    var q = extra + 4
                    func next() throws -> Int {
                        guard q + 8 <= extra + 4 + length, let v = u64(b, q) else { throw bad("a damaged zip64 field of '\(key)'") }
                        q += 8
                        return v
                    }
                    if size == 0xFFFF_FFFF { size = try next() }
                    if compressed == 0xFFFF_FFFF { compressed = try next() }
                    if local == 0xFFFF_FFFF { local = try next() }
                }
                extra += 4 + length
            }
            p = extraEnd + commentLength
            if key.hasSuffix("/") { continue }  // a folder entry
            guard within(local, 30), u32(b, local) == 0x0403_4b50 else { throw bad("the local header of '\(key)' is missing") }
            let start = local + 30 + u16(b, local + 26) + u16(b, local + 28)
            guard within(start, compressed) else { throw bad("the data of '\(key)' runs past the end of the file") }
            guard size <= Tensor.maxElements * 8 + (1 << 20) else { throw bad("'\(key)' is too large") }
            let stored = Array(b[start..<(start + compressed)])
            let bytes: [UInt8]
            switch method {
            case 0:
                guard compressed == size else { throw bad("'\(key)' is stored with two different sizes") }
                bytes = stored
            case 8:
                try MemoryBudget.check(adding: size, for: "array '\(key)' of '\(name)'")
                do { bytes = try Zlib.inflateRaw(stored, size: size) } catch { throw bad("'\(key)' does not inflate to its \(size) bytes (\(error))") }
            default:
                throw bad("'\(key)' uses compression method \(method) (stored and deflated entries are read)")
            }
            let actual = Zlib.crc32(bytes)
            guard actual == crc else { throw bad("'\(key)' fails its CRC-32 check (the file is damaged)") }
            out.append((key, bytes))
        }
        return out
    }

    /// Writes the arrays as NAME.npy entries, stored, atomically.
    public static func write(_ arrays: [(String, Tensor)], path: String) throws {
        do { try SafeFile.write(try encode(arrays), to: path) } catch let e as NPYError { throw e } catch { throw NPYError.io("\(error)") }
    }

    public static func encode(_ arrays: [(String, Tensor)]) throws -> [UInt8] {
        var seen = Set<String>()
        for (key, _) in arrays where !seen.insert(key).inserted { throw NPYError.format("two arrays named '\(key)' in one .npz file") }
        func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8 & 0xff)] }
        func le32(_ v: Int) -> [UInt8] { le16(v & 0xffff) + le16(v >> 16 & 0xffff) }
        var out: [UInt8] = [], directory: [UInt8] = []
        for (key, t) in arrays {
            let data = NPY.encode(t), fileName = Array((key + ".npy").utf8)
            guard data.count < 0xFFFF_FFFF, out.count < 0xFFFF_FFFF, fileName.count < 0xFFFF else {
                throw NPYError.format("'\(key)' is too large for an .npz file written without zip64")
            }
            let crc = Int(Zlib.crc32(data))
            // version 2.0, no flags, stored, no time (1980-01-01), crc, sizes, name, no extra
            let common = le16(20) + le16(0) + le16(0) + le16(0) + le16(0x21) + le32(crc) + le32(data.count) + le32(data.count) + le16(fileName.count) + le16(0)
            directory += le32(0x0201_4b50) + le16(20) + common + le16(0) + le16(0) + le16(0) + le32(0) + le32(out.count) + fileName
            out += le32(0x0403_4b50) + common + fileName + data
        }
        let directoryOffset = out.count
        out += directory
        out += le32(0x0605_4b50) + le16(0) + le16(0) + le16(arrays.count) + le16(arrays.count) + le32(directory.count) + le32(directoryOffset) + le16(0)
        return out
    }
}
