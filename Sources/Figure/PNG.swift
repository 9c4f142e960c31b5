import Foundation
import Tensor

/// An RGB image drawn from a scene, and its PNG encoding (zlib's deflate
/// and CRC; the chunk layout is the PNG specification's, RFC 2083).
public struct Raster {
    public let width: Int
    public let height: Int
    /// Row-major RGB triples.
    public private(set) var pixels: [UInt8]

    public init(_ scene: Scene) {
        width = max(1, scene.width)
        height = max(1, scene.height)
        pixels = [UInt8](repeating: 255, count: width * height * 3)
        for shape in scene.shapes { draw(shape) }
    }

    public func pixel(_ x: Int, _ y: Int) -> RGB {
        let i = (y * width + x) * 3
        return RGB(pixels[i], pixels[i + 1], pixels[i + 2])
    }

    mutating func set(_ x: Int, _ y: Int, _ c: RGB) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = (y * width + x) * 3
        pixels[i] = c.r; pixels[i + 1] = c.g; pixels[i + 2] = c.b
    }

    mutating func draw(_ shape: Scene.Shape) {
        switch shape {
        case let .rect(x, y, w, h, color):
            // A pixel belongs to the rectangle holding its top-left corner, so
            // cells that share an edge neither overlap nor leave a gap.
            let x0 = max(0, Int(x.rounded())), x1 = min(width, Int((x + w).rounded()))
            let y0 = max(0, Int(y.rounded())), y1 = min(height, Int((y + h).rounded()))
            guard x0 < x1, y0 < y1 else { return }
            for py in y0..<y1 { for px in x0..<x1 { set(px, py, color) } }
        case let .line(points, color, width):
            for run in SVG.runs(points) {
                for (a, b) in zip(run, run.dropFirst()) { segment(a, b, color, Int(width.rounded())) }
            }
        case let .text(s, x, y, scale, anchor, color, vertical):
            text(s, x, y, scale, anchor, color, vertical)
        }
    }

    /// A straight segment with a square pen `thickness` pixels wide.
    mutating func segment(_ a: (Double, Double), _ b: (Double, Double), _ color: RGB, _ thickness: Int) {
        // Lines along pixel edges (frames, grids) land on the pixels just inside them.
        let ax = a.0.rounded(.down), ay = a.1.rounded(.down), bx = b.0.rounded(.down), by = b.1.rounded(.down)
        let steps = Int(max(abs(bx - ax), abs(by - ay)).rounded(.up))
        guard steps < 1 << 16, ax.isFinite, ay.isFinite, bx.isFinite, by.isFinite else { return }
        let lo = -(max(1, thickness) - 1) / 2, hi = lo + max(1, thickness) - 1
        for i in 0...steps {
            let t = steps == 0 ? 0 : Double(i) / Double(steps)
            let px = Int((ax + (bx - ax) * t).rounded()), py = Int((ay + (by - ay) * t).rounded())
            for dy in lo...hi { for dx in lo...hi { set(px + dx, py + dy, color) } }
        }
    }

    mutating func text(_ s: String, _ x: Double, _ y: Double, _ scale: Int, _ anchor: Scene.Anchor, _ color: RGB, _ vertical: Bool) {
        let length = Scene.textWidth(s, scale: scale)
        let offset = anchor == .start ? 0 : anchor == .middle ? -length / 2 : -length
        let top = Int(y.rounded()) - Int(Scene.glyphHeight) * scale
        for (k, ch) in s.unicodeScalars.enumerated() {
            let rows = PixelFont.rows(ch)
            let along = Int((offset + Double(k) * Scene.glyphAdvance * Double(scale)).rounded())
            for (r, bits) in rows.enumerated() {
                for c in 0..<5 where bits & (0x10 >> UInt8(c)) != 0 {
                    for sy in 0..<scale {
                        for sx in 0..<scale {
                            let u = along + c * scale + sx, v = r * scale + sy
                            if vertical {
                                // Turned a quarter left about (x, y): along the text is up the page.
                                set(Int(x.rounded()) + v - Int(Scene.glyphHeight) * scale, Int(y.rounded()) - u, color)
                            } else {
                                set(Int(x.rounded()) + u, top + v, color)
                            }
                        }
                    }
                }
            }
        }
    }
}

public enum PNG {
    public static func encode(_ figure: Figure) throws -> [UInt8] {
        let scene = Scene(figure)
        // The picture and its compressed copy, counted before they are made.
        do { try MemoryBudget.check(adding: 2 * 3 * max(1, scene.width) * max(1, scene.height), for: "a \(scene.width) x \(scene.height) picture") }
        catch { throw FigureError("\(error)") }
        return try encode(Raster(scene))
    }

    public static func encode(_ image: Raster) throws -> [UInt8] {
        try encode(width: image.width, height: image.height, channels: 3, samples: image.pixels)
    }

    /// An 8-bit image of 1 (grey), 2 (grey, alpha), 3 (RGB) or 4 (RGBA) channels.
    public static func encode(width: Int, height: Int, channels: Int, samples: [UInt8]) throws -> [UInt8] {
        let colourType: UInt8
        switch channels {
        case 1: colourType = 0
        case 2: colourType = 4
        case 3: colourType = 2
        case 4: colourType = 6
        default: throw FigureError("a PNG image has 1 to 4 channels, not \(channels)")
        }
        guard width > 0, height > 0, width <= maxPixels / height, samples.count == width * height * channels else {
            throw FigureError("a PNG image of \(width) x \(height) x \(channels) needs that many samples, got \(samples.count)")
        }
        // Each row starts with its filter type (0, none); deflate does the rest.
        let stride = width * channels
        var raw = [UInt8]()
        raw.reserveCapacity((stride + 1) * height)
        for y in 0..<height {
            raw.append(0)
            raw += samples[(y * stride)..<((y + 1) * stride)]
        }
        let packed: [UInt8]
        do { packed = try Zlib.compress(raw) } catch { throw FigureError("PNG: \(error)") }

        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var header = bigEndian(UInt32(width)) + bigEndian(UInt32(height))
        header += [8, colourType, 0, 0, 0]  // 8 bits per sample, deflate, adaptive filtering, no interlace
        chunk("IHDR", header, into: &out)
        chunk("IDAT", packed, into: &out)
        chunk("IEND", [], into: &out)
        return out
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }

    static func chunk(_ type: String, _ data: [UInt8], into out: inout [UInt8]) {
        let body = Array(type.utf8) + data
        out += bigEndian(UInt32(data.count)) + body
        out += bigEndian(Zlib.crc32(body))
    }
}

public struct FigureError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Figure {
    /// The figure as the file its path's extension names: .png, .svg, or
    /// .txt (as a terminal without colour shows it).
    /// Writes the figure as its path's extension names, atomically.
    public func save(to path: String) throws { try SafeFile.write(try fileBytes(forPath: path), to: path) }

    public func fileBytes(forPath path: String) throws -> [UInt8] {
        switch (path as NSString).pathExtension.lowercased() {
        case "png": return try PNG.encode(self)
        case "svg": return Array(SVG.document(self).utf8)
        case "txt": return Array((TerminalRenderer(style: .plain, columns: 100).render(self) + "\n").utf8)
        default: throw FigureError("a figure is written as .png, .svg or .txt; '\(path)' has none of these extensions")
        }
    }
}

/// A decoded PNG image: 8-bit grey, grey with alpha, RGB or RGBA, not
/// interlaced (what image tools and browsers write). Each chunk's CRC is
/// checked; every fault is an error, never a trap.
public struct DecodedImage {
    public let width: Int
    public let height: Int
    /// 1 (grey), 2 (grey, alpha), 3 (RGB) or 4 (RGBA).
    public let channels: Int
    /// Row-major samples, `channels` a pixel.
    public let samples: [UInt8]

    public func rgb(_ x: Int, _ y: Int) -> RGB {
        let i = (y * width + x) * channels
        return channels >= 3 ? RGB(samples[i], samples[i + 1], samples[i + 2]) : RGB(samples[i], samples[i], samples[i])
    }
}

extension PNG {
    /// Larger images are refused before anything is allocated.
    public static let maxPixels = 1 << 28

    public static func decode(_ bytes: [UInt8], name: String = "image") throws -> DecodedImage {
        func bad(_ why: String) -> FigureError { FigureError("'\(name)' is not a PNG image Mnemo reads: \(why)") }
        guard bytes.count >= 8, Array(bytes[0..<8]) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] else { throw bad("no PNG signature") }
        func u32(_ i: Int) -> Int { Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3]) }
        var i = 8, width = 0, height = 0, channels = 0
        var packed: [UInt8] = []
        var ended = false
        while i + 12 <= bytes.count, !ended {
            let length = u32(i)
            guard length <= bytes.count - i - 12 else { throw bad("a chunk runs past the end of the file") }
            let body = Array(bytes[(i + 4)..<(i + 8 + length)])
            guard Int(Zlib.crc32(body)) == u32(i + 8 + length) else { throw bad("a chunk's CRC does not match (the file is damaged)") }
            let type = String(decoding: body[0..<4], as: UTF8.self)
            let data = body.dropFirst(4)
            switch type {
            case "IHDR":
                guard data.count == 13 else { throw bad("a header of \(data.count) bytes") }
                let d = Array(data)
                width = Int(d[0]) << 24 | Int(d[1]) << 16 | Int(d[2]) << 8 | Int(d[3])
                height = Int(d[4]) << 24 | Int(d[5]) << 16 | Int(d[6]) << 8 | Int(d[7])
                guard d[8] == 8 else { throw bad("\(d[8])-bit samples (8-bit images are read)") }
                switch d[9] {
                case 0: channels = 1
                case 4: channels = 2
                case 2: channels = 3
                case 6: channels = 4
                default: throw bad("colour type \(d[9]) (grey, grey and alpha, RGB and RGBA are read; not palettes)")
                }
                guard d[12] == 0 else { throw bad("an interlaced image") }
                guard width > 0, height > 0, width <= maxPixels / height else { throw bad("a size of \(width) x \(height)") }
            case "IDAT": packed += data
            case "IEND": ended = true
            default: break
            }
            i += 12 + length
        }
        guard channels > 0, ended else { throw bad("no header or no end") }
        let stride = width * channels
        do { try MemoryBudget.check(adding: 2 * (stride + 1) * height, for: "a \(width) x \(height) image") } catch { throw bad("\(error)") }
        let raw: [UInt8]
        do { raw = try Zlib.uncompress(packed, size: (stride + 1) * height) } catch {
            throw bad("the image data does not inflate to \(width) x \(height) pixels (\(error))")
        }
        var out = [UInt8](repeating: 0, count: stride * height)
        for y in 0..<height {
            let filter = raw[y * (stride + 1)]
            for x in 0..<stride {
                let v = raw[y * (stride + 1) + 1 + x]
                let a = x >= channels ? Int(out[y * stride + x - channels]) : 0
                let b = y > 0 ? Int(out[(y - 1) * stride + x]) : 0
                let c = x >= channels && y > 0 ? Int(out[(y - 1) * stride + x - channels]) : 0
                let predicted: Int
                switch filter {
                case 0: predicted = 0
                case 1: predicted = a
                case 2: predicted = b
                case 3: predicted = (a + b) / 2
                case 4:
                    let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                    predicted = pa <= pb && pa <= pc ? a : pb <= pc ? b : c
                default: throw bad("row filter \(filter)")
                }
                out[y * stride + x] = v &+ UInt8(truncatingIfNeeded: predicted)
            }
        }
        return DecodedImage(width: width, height: height, channels: channels, samples: out)
    }
}
