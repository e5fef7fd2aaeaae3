// swift-tools-version:6.0
import PackageDescription

// libmii: a CPU inference engine exported as a C-ABI shared library.
//   MIIKernels  C kernels (per-ISA files + reference.c), thread pool, futex shim
//   MIICore     the Swift engine (formats, tokenizers, models, runtime, generation)
//   MIICExport  the @_cdecl shims behind include/mii.h
//   MIICLI      the `mii` command-line tool (product `mii-cli`, linked to bin/mii)

// Sanitizer builds (scripts/test_tsan.sh) set MII_SANITIZER_BUILD: the sanitizer runtime is not
// linked into shared objects, so `-z defs` would fail there; the release product keeps every flag.
let sanitizerBuild = Context.environment["MII_SANITIZER_BUILD"] != nil
let soFlags: [LinkerSetting] = sanitizerBuild ? [] : [
    .unsafeFlags([
        "-static-stdlib",
        "-Xlinker", "--version-script=\(Context.packageDirectory)/Sources/MIILinkFlags/exports.map",
        "-Xlinker", "-z", "-Xlinker", "defs",
        "-Xlinker", "-soname=libmii.so.1",
    ]),
]

let package = Package(
    name: "libmii",
    products: [
        .library(name: "mii", type: .dynamic, targets: ["MIICExport", "MIILinkFlags"]),
        .executable(name: "mii-cli", targets: ["MIICLI"]),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CNuma", pkgConfig: "numa", providers: [.apt(["libnuma-dev"])]),
        // include/mii.h as a Swift module, so the exports are written against the real C declarations.
        .systemLibrary(name: "CMIIHeader"),
        .target(
            name: "MIIKernels",
            cSettings: [.unsafeFlags(["-O3", "-fno-math-errno", "-Wall", "-Wextra"])],
            linkerSettings: [.linkedLibrary("pthread"), .linkedLibrary("m")]
        ),
        .target(
            name: "MIICore",
            dependencies: ["MIIKernels", "COpenBLAS", "CNuma"],
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])]
        ),
        .target(name: "MIICExport", dependencies: ["MIICore", "CMIIHeader"]),
        .target(name: "MIILinkFlags", linkerSettings: soFlags),
        .executableTarget(name: "MIICLI", dependencies: ["MIICore"], path: "Sources/mii"),
        .testTarget(name: "MIIKernelsTests", dependencies: ["MIIKernels"]),
        .testTarget(name: "MIICoreTests", dependencies: ["MIICore", "MIIKernels"]),
    ],
    swiftLanguageModes: [.v5]
)
