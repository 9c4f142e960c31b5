import CSupport
import Foundation

/// zlib's deflate, inflate and CRC-32 for PNG images and .npz archives,
/// loaded at run time (libz.so.1, on every Linux system), so that building
/// Mnemo needs no system library beyond readline.
public enum Zlib {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    static func failure(_ what: String, _ status: Int32) -> Failure {
        Failure(description: status == -6 ? "\(what) needs zlib (libz.so.1), which was not found" : "\(what) failed (zlib status \(status))")
    }

    public static func crc32(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt32 {
        UInt32(truncatingIfNeeded: mnemo_crc32(0, bytes.baseAddress, UInt(bytes.count)))
    }

    public static func crc32(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBufferPointer { crc32($0) } }

    /// A zlib stream (header, deflate data, Adler-32), as PNG's image data is.
    public static func compress(_ bytes: [UInt8], level: Int32 = 6) throws -> [UInt8] {
        var bound = mnemo_compress_bound(UInt(bytes.count))
        var out = [UInt8](repeating: 0, count: Int(bound))
        let status = bytes.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in mnemo_compress(dst.baseAddress, &bound, src.baseAddress, UInt(src.count), level) }
        }
        guard status == 0 else { throw failure("compressing", status) }
        out.removeSubrange(Int(bound)...)
        return out
    }

    /// A zlib stream back to exactly `size` bytes.
    public static func uncompress(_ bytes: [UInt8], size: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size)
        var produced = UInt(size)
        let status = bytes.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in mnemo_uncompress(dst.baseAddress, &produced, src.baseAddress, UInt(src.count)) }
        }
        guard status == 0, Int(produced) == size else { throw failure("inflating \(size) bytes", status == 0 ? -3 : status) }
        return out
    }

    /// Raw deflate data (no zlib header, as zip entries hold it) to exactly `size` bytes.
    public static func inflateRaw(_ bytes: [UInt8], size: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size)
        var produced: UInt = 0
        let status = bytes.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in mnemo_inflate_raw(src.baseAddress, UInt(src.count), dst.baseAddress, UInt(dst.count), &produced) }
        }
        guard status == 1, Int(produced) == size else { throw failure("inflating \(size) bytes", status == 1 ? -3 : status) }
        return out
    }
}
