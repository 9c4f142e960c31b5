import Foundation
import Syntax

/// Finds and loads `import`ed files: beside the importing file first, then in
/// the standard library. Each file is loaded once.
public final class ModuleLoader {
    public let stdlibDirectory: String?
    /// The interpreter that owns this loader (not counted: it outlives it).
    unowned(unsafe) var interpreter: Interpreter?
    private var modules: [String: Module] = [:]
    private var loading: [String] = []

    package init(stdlibDirectory: String?) { self.stdlibDirectory = stdlibDirectory }

    /// The folders of $MNEMO_PATH, in order.
    package static var searchPath: [String] {
        (ProcessInfo.processInfo.environment["MNEMO_PATH"] ?? "").split(separator: ":").map(String.init).filter { !$0.isEmpty }
    }

    /// The stdlib: $MNEMO_STDLIB, else a `stdlib` folder found by walking up
    /// from the executable (a build tree, or an install made by `mnemo
    /// install PREFIX`: PREFIX/share/mnemo/stdlib), else the source tree.
    public static func findStdlib() -> String? {
        let fm = FileManager.default
        if let env = ProcessInfo.processInfo.environment["MNEMO_STDLIB"], fm.fileExists(atPath: env) { return env }
        let executable = (try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments.first ?? "."
        var dir = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            for candidate in ["stdlib", "share/mnemo/stdlib"] {
                let path = dir.appendingPathComponent(candidate).path
                if fm.fileExists(atPath: path + "/nn.mn") { return path }
            }
            dir.deleteLastPathComponent()
        }
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = source.appendingPathComponent("stdlib").path
        return fm.fileExists(atPath: path) ? path : nil
    }

    package func load(_ name: String, from importer: SourceFile, at range: SourceRange) throws -> Module {
        let fm = FileManager.default
        var candidates: [(path: String, display: String)] = []
        let importerDirectory = importer.path.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path } ?? fm.currentDirectoryPath
        let displayDirectory = (importer.name as NSString).deletingLastPathComponent
        candidates.append((importerDirectory + "/\(name).mn", displayDirectory.isEmpty ? "\(name).mn" : displayDirectory + "/\(name).mn"))
        // MNEMO_PATH: more folders of modules, colon-separated, searched before the stdlib.
        for folder in ModuleLoader.searchPath { candidates.append((folder + "/\(name).mn", folder + "/\(name).mn")) }
        if let stdlib = stdlibDirectory { candidates.append((stdlib + "/\(name).mn", "stdlib/\(name).mn")) }
        guard let found = candidates.first(where: { fm.fileExists(atPath: $0.path) }) else {
            var message = "no module named '\(name)'"
            let known = stdlibDirectory.flatMap { try? fm.contentsOfDirectory(atPath: $0) }?.filter { $0.hasSuffix(".mn") }.map { String($0.dropLast(3)) } ?? []
            if let s = Suggest.closest(to: name, among: known) { message += "; did you mean '\(s)'?" }
            throw Diagnostic(.compile, message, at: range,
                             notes: ["looked for \(candidates.map(\.display).joined(separator: " and "))"])
        }
        let key = URL(fileURLWithPath: found.path).standardizedFileURL.path
        if let m = modules[key] { return m }
        // A module of the script's own (an nn.mn beside it) hiding the standard one is said once.
        if let stdlib = stdlibDirectory, URL(fileURLWithPath: stdlib + "/\(name).mn").standardizedFileURL.path != key,
           fm.fileExists(atPath: stdlib + "/\(name).mn"),
           !loading.contains(key), let interpreter {
            interpreter.warn("note: 'import \(name)' uses \(found.display), which shadows the standard library's \(name)")
        }
        if loading.contains(key) {
            var notes: [String] = []
            // A script named like a stdlib module finds itself first.
            if let stdlib = candidates.last, stdlib.path != found.path, fm.fileExists(atPath: stdlib.path) {
                notes.append("\(found.display) is found before \(stdlib.display); rename it to import the standard '\(name)'")
            }
            throw Diagnostic(.compile, "import cycle: '\(name)' imports itself through \(loading.map { ($0 as NSString).lastPathComponent }.joined(separator: " -> "))",
                             at: range, notes: notes)
        }
        guard let text = try? String(contentsOfFile: found.path, encoding: .utf8) else {
            throw Diagnostic(.io, "cannot read module '\(name)' at \(found.display)", at: range)
        }
        guard let interpreter else { throw Diagnostic(.compile, "internal: no interpreter for imports", at: range) }
        loading.append(key)
        defer { loading.removeLast() }
        let module = Module(name: name, path: key, globals: Globals())
        module.body = try interpreter.compile(SourceFile(name: found.display, text: text, path: found.path),
                                              globals: module.globals, allowRedefinition: false)
        modules[key] = module
        return module
    }

    /// Empties every loaded module's names (see `Interpreter.deinit`).
    package func releaseModules() {
        for module in modules.values {
            module.globals.releaseValues()
            module.body = nil
        }
        modules = [:]
    }
}
