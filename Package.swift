// swift-tools-version:5.9
import PackageDescription

// Layers, each importing only the ones below it:
// Tensor <- Graph <- Language <- Driver <- mnemo (executable).
let package = Package(
    name: "Mnemo",
    products: [
        .executable(name: "mnemo", targets: ["mnemo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .target(name: "Tensor"),
        .target(name: "Graph", dependencies: ["Tensor"]),
        // Frames and globals are class-held arrays read on every step of a
        // script; dynamic exclusivity checks on them cost a third of a loop.
        .target(name: "Language", dependencies: ["Tensor", "Graph"],
                swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])]),
        .target(name: "Driver", dependencies: [
            "Language",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "mnemo", dependencies: ["Driver"]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor"]),
        .testTarget(name: "GraphTests", dependencies: ["Graph", "Tensor"]),
        .testTarget(name: "LanguageTests", dependencies: ["Language", "Driver"]),
    ]
)
