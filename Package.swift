// swift-tools-version:6.0
import Foundation
import PackageDescription

// libclang comes from Debian's libclang-19-dev, which installs the C headers and the library under
// /usr/lib/llvm-19/. gilcheck needs libclang 17 or newer (operator kinds come from the AST); pick the newest
// /usr/lib/llvm-<N> of at least 17 that has clang-c/Index.h. GILCHECK_LLVM_DIR overrides.
func llvmPrefix() -> String {
    let env = ProcessInfo.processInfo.environment
    if let dir = env["GILCHECK_LLVM_DIR"], !dir.isEmpty { return dir }
    let fm = FileManager.default
    let candidates = ((try? fm.contentsOfDirectory(atPath: "/usr/lib")) ?? [])
        .filter { $0.hasPrefix("llvm-") }
        .compactMap { name -> (Int, String)? in
            guard let version = Int(name.dropFirst("llvm-".count)), version >= 17 else { return nil }
            let dir = "/usr/lib/\(name)"
            return fm.fileExists(atPath: dir + "/include/clang-c/Index.h") ? (version, dir) : nil
        }
        .sorted { $0.0 > $1.0 }
    return candidates.first?.1 ?? "/usr/lib/llvm-19"
}

let llvm = llvmPrefix()
let clangFlags: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-I\(llvm)/include"])]
// libclang is not linked: CLibClang loads it with dlopen when gilcheck starts (GILCHECK_LIBCLANG, else this
// build's \(llvm)/lib), so the same binary runs with Debian's libclang or a Python wheel's.
let llvmMajor = Int(URL(fileURLWithPath: llvm).lastPathComponent.replacingOccurrences(of: "llvm-", with: "")) ?? 0
let libclangLoaderFlags: [CSetting] = [
    .unsafeFlags(["-I\(llvm)/include", "-fvisibility=hidden", "-Wall", "-Wextra", "-Werror"]),
    .define("GILCHECK_LLVM_LIBDIR", to: "\"\(llvm)/lib\""),
    .define("GILCHECK_LLVM_MAJOR", to: "\(llvmMajor)"),
]

// MARK: - Tracer targets (gilcheck trace / gilcheck host). Edited by the tracer work only.
let tracerProducts: [Product] = [
    // LD_PRELOADed into the program under `gilcheck trace`: libgilcheck-trace.so next to the gilcheck binary.
    .library(name: "gilcheck-trace", type: .dynamic, targets: ["GILTraceShim"]),
    // The threaded embedding host behind `gilcheck host`.
    .executable(name: "gilcheck-host", targets: ["GILTestHost"]),
]
let tracerTargets: [Target] = [
    // The interposition library: GIL hooks through patched GOT slots, pthread and dlopen hooks, the watchdog.
    .target(
        name: "GILTraceShim",
        dependencies: ["GILTraceFormat"],
        cSettings: [.unsafeFlags(["-O2", "-fvisibility=hidden", "-fno-omit-frame-pointer"])],
        linkerSettings: [
            // Nothing of the Swift runtime is used: no swiftrt.o and only the static archive, so none of it (and no
            // Swift crash reporter) ends up in the programs the library is preloaded into.
            .unsafeFlags(["-nostartfiles", "-static-stdlib"]), .linkedLibrary("dl"), .linkedLibrary("pthread"),
        ]),
    // CPython's embedding API (Debian's python3-embed.pc) for the host.
    .systemLibrary(name: "CPythonEmbed", path: "Sources/CPythonEmbed", pkgConfig: "python3-embed",
                   providers: [.apt(["python3-dev"])]),
    .executableTarget(
        name: "GILTestHost",
        dependencies: ["CPythonEmbed"],
        cSettings: [.unsafeFlags(["-O2", "-g"])],
        // A C program: no Swift runtime (and no Swift crash reporter) in the host's process.
        linkerSettings: [.unsafeFlags(["-nostartfiles", "-static-stdlib"]), .linkedLibrary("dl"),
                         .linkedLibrary("pthread")]),
    // The record layout shared by the trace library (C) and `gilcheck trace` (Swift): header only.
    .target(name: "GILTraceFormat", path: "Sources/GILTraceFormat"),
    // Reads the event logs, analyzes them (findings, lock graph, hangs, statistics) and renders reports.
    .target(name: "TraceReport", dependencies: ["GILTraceFormat", "Diagnostics", "APIModel"]),
]
/// Targets the `gilcheck` executable links for its trace and host subcommands.
let tracerCLIDependencies: [Target.Dependency] = ["TraceReport"]
// MARK: - End of tracer targets

let package = Package(
    name: "gilcheck",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "gilcheck", targets: ["gilcheck"]),
    ] + tracerProducts,
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: tracerTargets + [
        .target(name: "CLibClang", cSettings: libclangLoaderFlags, linkerSettings: [.linkedLibrary("dl")]),
        .target(
            name: "ClangSupport",
            dependencies: ["CLibClang"],
            swiftSettings: clangFlags),
        .target(name: "Diagnostics"),
        // Threads with large stacks and alternate signal stacks, and the record of which file each works on.
        .target(name: "WorkerThreads"),
        // The built-in API model (rules/) is compiled in by the EmbedRules plugin (EmbeddedRules.swift).
        .target(name: "APIModel", dependencies: [.product(name: "Yams", package: "Yams")], plugins: ["EmbedRules"]),
        .executableTarget(name: "EmbedRulesTool"),
        .plugin(name: "EmbedRules", capability: .buildTool(), dependencies: ["EmbedRulesTool"]),
        .target(
            name: "Analysis",
            dependencies: ["ClangSupport", "APIModel", "Diagnostics", "WorkerThreads"],
            swiftSettings: clangFlags),
        .target(
            name: "GILCheckKit",
            dependencies: ["Analysis", "APIModel", "Diagnostics", "ClangSupport", "WorkerThreads"],
            swiftSettings: clangFlags),
        .executableTarget(
            name: "gilcheck",
            dependencies: [
                "GILCheckKit", "ClangSupport", "WorkerThreads",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ] + tracerCLIDependencies,
            swiftSettings: clangFlags),
        .testTarget(
            name: "GILCheckTests",
            dependencies: ["GILCheckKit", "Analysis", "APIModel", "Diagnostics", "ClangSupport", "TraceReport"],
            swiftSettings: clangFlags),
    ]
)
