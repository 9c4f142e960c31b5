import Foundation
import ZIPFoundation

/// NumPy's `.npz`: a zip archive of `.npy` files, one array each, named
/// NAME.npy (np.savez, np.savez_compressed). Read in the archive's order;
/// written uncompressed, as np.savez does.
public enum NPZ {
    public static func read(path: String, name: String? = nil) throws -> [(String, Tensor)] {
        let shown = name ?? path
        guard let data = FileManager.default.contents(atPath: path) else { throw NPYError.io("cannot read '\(shown)': no such file or not readable") }
        return try decode(data, name: shown)
    }

    public static func decode(_ data: Data, name: String) throws -> [(String, Tensor)] {
        let archive: Archive
        do { archive = try Archive(data: data, accessMode: .read) } catch {
            throw NPYError.format("'\(name)' is not a valid .npz file: not a zip archive")
        }
        var out: [(String, Tensor)] = []
        for entry in archive where entry.type == .file {
            let key = entry.path.hasSuffix(".npy") ? String(entry.path.dropLast(4)) : entry.path
            guard entry.uncompressedSize <= UInt64(Tensor.maxElements) * 8 + 1 << 20 else {
                throw NPYError.format("'\(name)': array '\(key)' is too large to read")
            }
            try MemoryBudget.check(adding: Int(entry.uncompressedSize), for: "array '\(key)' of '\(name)'")
            var bytes = Data()
            let declared = Int(entry.uncompressedSize)
            struct Overflow: Error {}
            do {
                _ = try archive.extract(entry, skipCRC32: false) { chunk in
                    guard bytes.count + chunk.count <= declared else { throw Overflow() }
                    bytes.append(chunk)
                }
            } catch is Overflow {
                throw NPYError.format("'\(name)': array '\(key)' inflates past the size its entry declares")
            } catch {
                throw NPYError.format("'\(name)': array '\(key)' cannot be read from the archive (\(error))")
            }
            out.append((key, try NPY.decode([UInt8](bytes), name: "\(name):\(entry.path)")))
        }
        return out
    }

    /// Writes the arrays as NAME.npy entries, atomically.
    public static func write(_ arrays: [(String, Tensor)], path: String) throws {
        var seen = Set<String>()
        for (key, _) in arrays where !seen.insert(key).inserted { throw NPYError.format("two arrays named '\(key)' in one .npz file") }
        let archive: Archive
        do { archive = try Archive(data: Data(), accessMode: .create) } catch { throw NPYError.io("cannot make a zip archive: \(error)") }
        for (key, t) in arrays {
            let bytes = Data(NPY.encode(t))
            do {
                try archive.addEntry(with: key + ".npy", type: .file, uncompressedSize: Int64(bytes.count), compressionMethod: .none,
                                     provider: { position, size in bytes.subdata(in: Int(position)..<(Int(position) + size)) })
            } catch { throw NPYError.io("cannot add '\(key)' to the archive: \(error)") }
        }
        guard let data = archive.data else { throw NPYError.io("cannot make a zip archive") }
        do { try SafeFile.write([UInt8](data), to: path) } catch { throw NPYError.io("\(error)") }
    }
}
