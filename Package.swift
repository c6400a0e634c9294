// swift-tools-version:6.0
import PackageDescription

/// A section per function in the Linux release build, so the linker can order Vigil's own functions
/// one by one too (see the `vigil` target), as it does the standard library's.
let functionSections: [SwiftSetting] = [
    .unsafeFlags(["-Xfrontend", "-function-sections"], .when(platforms: [.linux], configuration: .release))
]

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
        .target(name: "VigilCore", dependencies: ["CVigil"], swiftSettings: functionSections),
        // The command line: option declarations, the parser, the help; a library so tests can call it.
        .target(name: "VigilCLI", dependencies: ["VigilCore"], swiftSettings: functionSections),
        // Released on Linux, linked by lld with the functions in scripts/link-order.txt first (what an
        // attempt runs once under way, then what a whole run runs): code that runs together shares
        // pages, so the resident code after vigil gives start-up's back is small (docs/design.md,
        // "Footprint"; scripts/link-order writes the file).
        .executableTarget(
            name: "vigil", dependencies: ["VigilCore", "VigilCLI"], swiftSettings: functionSections,
            linkerSettings: [
                .unsafeFlags(
                    [
                        "-use-ld=lld",
                        "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/scripts/link-order.txt",
                        "-Xlinker", "--no-warn-symbol-ordering",
                    ], .when(platforms: [.linux], configuration: .release))
            ]),
        // Micro-benchmarks run by scripts/bench; not shipped, not tested.
        .executableTarget(name: "vigil-bench", dependencies: ["VigilCore"]),
        .testTarget(
            name: "VigilCoreTests",
            dependencies: ["VigilCore", "VigilCLI", "vigil"]
        ),
    ]
)
