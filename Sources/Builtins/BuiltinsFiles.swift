import Figure
import Foundation
import Graph
import Runtime
import Syntax
import Tensor

/// Reading and writing data, by the file's extension: NumPy's .npy and
/// .npz, safetensors, PNG images, and figures.
enum FileBuiltins {
    /// Tensors of a value with their paths: a tensor alone is `alone`; a
    /// record's fields by name, a list's items by index, nested ("a.b[0]").
    static func namedTensors(_ v: Value, alone: String) throws -> [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        func walk(_ v: Value, _ path: String, depth: Int) throws {
            guard depth < 64 else { throw RuntimeError("save: the value is nested too deeply") }
            switch v {
            case .tensor(let t): out.append((path.isEmpty ? alone : path, t.value))
            case .number, .bool: out.append((path.isEmpty ? alone : path, try Convert.tensor(v)))
            case .record(let r): for (k, item) in zip(r.names, r.values) { try walk(item, path.isEmpty ? k : "\(path).\(k)", depth: depth + 1) }
            case .list(let l): for (i, item) in l.items.enumerated() { try walk(item, path.isEmpty ? "arr_\(i)" : "\(path)[\(i)]", depth: depth + 1) }
            case .tuple(let t): for (i, item) in t.enumerated() { try walk(item, path.isEmpty ? "arr_\(i)" : "\(path)[\(i)]", depth: depth + 1) }
            default: throw RuntimeError("save: \(path.isEmpty ? "the value" : "'\(path)'") is a \(v.kindName); an archive holds tensors and numbers")
            }
        }
        try walk(v, "", depth: 0)
        guard !out.isEmpty else { throw RuntimeError("save: nothing to write (no tensors in the value)") }
        return out
    }

    static func record(_ tensors: [(String, Tensor)]) -> Value {
        .record(Record(names: tensors.map(\.0), values: tensors.map { .tensor(Variable($0.1)) }))
    }

    static func fileError(_ e: Error) -> RuntimeError { (e as? RuntimeError) ?? RuntimeError("\(e)") }

    static let all: [Builtin] = [
        Builtin("load", "path",
                "Reads data by the file's extension: .npy (float16/32/64, integers, bools) as a float32 tensor; .npz and .safetensors as a record of tensors by name (r[\"layer.W\"]; float16 and bfloat16 widened); .png as a tensor of values in [0, 1], [H, W] for grey or [H, W, C] with colour or alpha. A relative path is tried from the working directory, then beside the script.") { a in
            let path = try a.string("path")
            let resolved = a.interpreter.resolvePath(path)
            do {
                switch (path as NSString).pathExtension.lowercased() {
                case "npz": return record(try NPZ.read(path: resolved, name: path))
                case "safetensors": return record(try SafeTensors.read(path: resolved, name: path).entries.map { ($0.name, $0.tensor) })
                case "png":
                    guard let data = FileManager.default.contents(atPath: resolved) else { throw RuntimeError("cannot read '\(path)': no such file or not readable") }
                    let image = try PNG.decode([UInt8](data), name: path)
                    let shape = image.channels == 1 ? [image.height, image.width] : [image.height, image.width, image.channels]
                    return .tensor(Variable(Tensor(shape: shape, data: image.samples.map { Float($0) / 255 })))
                default: return .tensor(Variable(try NPY.read(path: resolved, name: path)))
                }
            } catch { throw fileError(error) }
        }.notDifferentiable("read from a file"),
        Builtin("save", "path, x",
                "Writes by the path's extension, atomically (a reader never sees half a file): .npy a tensor (float32); .npz or .safetensors a tensor, or a record or list of them (nested names as a.b[0]); .png a tensor of values in [0, 1], [H, W] grey or [H, W, C] with C from 1 to 4; a figure as .png, .svg or .txt.") { a in
            let path = try a.string("path")
            let ext = (path as NSString).pathExtension.lowercased()
            do {
                if case .object(let f as FigureObject) = try a["x"] {
                    do { try f.figure.save(to: path) } catch { throw RuntimeError("save: \(error)") }
                    return .nil
                }
                switch ext {
                case "npz": try NPZ.write(try namedTensors(try a["x"], alone: "arr_0"), path: path)
                case "safetensors": try SafeTensors.write(try namedTensors(try a["x"], alone: "tensor"), path: path)
                case "png":
                    let t = try a.tensor("x").value
                    guard t.rank == 2 || (t.rank == 3 && (1...4).contains(t.shape[2])), t.count > 0 else {
                        throw RuntimeError("save: an image is [H, W] or [H, W, C] with C from 1 to 4, got \(Tensor.shapeText(t.shape))")
                    }
                    let samples = t.data.map { v -> UInt8 in v.isNaN ? 0 : UInt8((min(1, max(0, v)) * 255).rounded()) }
                    let bytes = try PNG.encode(width: t.shape[1], height: t.shape[0], channels: t.rank == 3 ? t.shape[2] : 1, samples: samples)
                    try SafeFile.write(bytes, to: path)
                default: try NPY.write(try a.tensor("x").value, path: path)
                }
            } catch { throw fileError(error) }
            return .nil
        }.notDifferentiable("writes a file"),
    ]
}
