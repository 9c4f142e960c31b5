// swift-tools-version:5.9
import Foundation
import PackageDescription

// Layers, each importing only the ones below it:
// Tensor <- Graph <- Memory <- Runtime <- Builtins <- Driver <- mnemo (executable);
// Syntax (source, lexer, parser, syntax tree, diagnostics) sits on Tensor
// (for its limits) below Runtime, and knows nothing of values or running;
// Figure (pictures of tensors) sits on Tensor, beside Graph, below Runtime.
// Driver also links the system's GNU readline (CReadline), the one system
// library the build needs; zlib (PNG, .npz) and a BLAS are found at run time.
let package = Package(
    name: "Mnemo",
    products: [
        .executable(name: "mnemo", targets: ["mnemo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Matrix products use a system BLAS when one is found at run time
        // (dlopen), so nothing beyond the toolchain is needed to build.
        // Kernels compiled for AVX, chosen at run time on CPUs that have it.
        .target(name: "CSupport", cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off", "-fno-math-errno", "-Wno-psabi"])]),
        // Settings read on every op (recording, nograd scopes, debug_nans, the
        // memory budget) are static variables: dynamic exclusivity checks on
        // them would cost more than the ops' bookkeeping.
        .target(name: "Tensor", dependencies: ["CSupport"], swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])]),
        .target(name: "Graph", dependencies: ["CSupport", "Tensor"], swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])]),
        .target(name: "Memory", dependencies: ["CSupport", "Tensor", "Graph"], swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])]),
        .target(name: "Figure", dependencies: ["Tensor"]),
        .target(name: "Syntax", dependencies: ["Tensor"]),
        // Values, scopes, the resolver, compiler and interpreter, and the
        // Builtin type; frames and globals are class-held arrays read on every
        // step of a script: dynamic exclusivity checks on them cost a third of a loop.
        .target(name: "Runtime", dependencies: ["Syntax", "Tensor", "Graph", "Memory", "Figure"],
                swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])]),
        // The standard library of builtins.
        .target(name: "Builtins", dependencies: ["Runtime", "Syntax", "Tensor", "Graph", "Memory", "Figure"],
                swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])]),
        // GNU readline for the REPL's line editing, history and completion.
        .systemLibrary(name: "CReadline", providers: [.apt(["libreadline-dev"])]),
        .target(name: "Driver", dependencies: [
            "Builtins", "Runtime", "Syntax", "Figure", "CReadline",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "mnemo", dependencies: ["Driver"]),
        .testTarget(name: "TensorTests", dependencies: ["CSupport", "Tensor"]),
        .testTarget(name: "GraphTests", dependencies: ["Graph", "Tensor"]),
        .testTarget(name: "MemoryTests", dependencies: ["Memory", "Graph", "Tensor"]),
        .testTarget(name: "FigureTests", dependencies: ["Figure", "Tensor"]),
        // A counting malloc for the tests (allocations per compiled step).
        .target(name: "MallocCounter", path: "Tests/MallocCounter"),
        .testTarget(name: "LanguageTests", dependencies: ["Builtins", "Runtime", "Syntax", "Driver", "MallocCounter"]),
    ]
)

// The fuzz target, outside the normal build: `MNEMO_FUZZ=1 swift build
// --product mnemo-fuzz ...` (Fuzz/README.md gives the whole command).
if ProcessInfo.processInfo.environment["MNEMO_FUZZ"] != nil {
    package.targets.append(.executableTarget(name: "mnemo-fuzz", dependencies: ["Driver"],
                                             path: "Fuzz/Sources/mnemo-fuzz"))
    package.products.append(.executable(name: "mnemo-fuzz", targets: ["mnemo-fuzz"]))
}
