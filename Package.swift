// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "vigil",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "vigil", targets: ["vigil"]),
        .library(name: "VigilCore", targets: ["VigilCore"]),
    ],
    targets: [
        // posix_spawn with an empty signal mask, default dispositions and its own process group,
        // plus an async-signal-safe handler; see docs/design.md ("Why not Foundation.Process").
        .target(name: "CVigil"),
        .target(name: "VigilCore", dependencies: ["CVigil"]),
        // The command line: option declarations, the parser, the help; a library so tests can call it.
        .target(name: "VigilCLI", dependencies: ["VigilCore"]),
        .executableTarget(name: "vigil", dependencies: ["VigilCore", "VigilCLI"]),
        // Micro-benchmarks run by scripts/bench; not shipped, not tested.
        .executableTarget(name: "vigil-bench", dependencies: ["VigilCore"]),
        .testTarget(
            name: "VigilCoreTests",
            dependencies: ["VigilCore", "VigilCLI", "vigil"]
        ),
    ]
)
