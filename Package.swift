// swift-tools-version:6.0
// mxq: post-training quantization of language models under OCP microscaling (MX) formats.
// No package dependencies: Foundation, Dispatch, Glibc and the toolchain's Synchronization (atomics) only.
import PackageDescription

let v5: [SwiftSetting] = [.swiftLanguageMode(.v5)]

let package = Package(
    name: "mxq",
    products: [
        .executable(name: "mxq", targets: ["mxq"]),
    ],
    targets: [
        // Threading, RNG, progress, hashing, small shared utilities.
        .target(name: "Support", dependencies: ["MXKernelsC"], swiftSettings: v5),
        // MX element formats, E8M0 scales, bit-packed MX tensors, diagnostics.
        .target(name: "MXFormats", dependencies: ["Support"], swiftSettings: v5),
        // Integer MXINT × MXINT kernels with x86 dot-product intrinsics (Swift cannot express
        // per-lane VPDPBUSD; gain measured by `mxq bench kernels`), and the Hessian syrk's exact bf16
        // path (VDPBF16PS; 1.9–2.1× the fp32 syrk in `mxq bench ptq`), and SHA-256 block compression
        // with the SHA extensions for Support's SHA256 (6.2× the Swift code in `mxq bench ptq`). Plain C, no dependencies.
        .target(name: "MXKernelsC", path: "Sources/MXKernelsC"),
        // fp32 GEMM/GEMV and packed-MX dequant-matmul kernels.
        .target(name: "MXKernels", dependencies: ["Support", "MXFormats", "MXKernelsC"], swiftSettings: v5),
        // GGUF and safetensors readers.
        .target(name: "ModelIO", dependencies: ["Support"], swiftSettings: v5),
        // Byte-level BPE tokenizer.
        .target(name: "Tokenization", dependencies: ["Support", "ModelIO"], swiftSettings: v5),
        // Llama forward pass, linear-layer hooks, perplexity.
        .target(name: "Runtime", dependencies: ["Support", "MXFormats", "MXKernels", "ModelIO", "Tokenization"], swiftSettings: v5),
        // RTN, SmoothQuant, AWQ, GPTQ and recipes.
        .target(name: "PTQ", dependencies: ["Support", "MXFormats", "MXKernels", "Runtime"], swiftSettings: v5),
        // Manifests, sweeps, CSV/Markdown/SVG/HTML reports.
        .target(name: "Experiments", dependencies: ["Support", "MXFormats", "ModelIO", "Tokenization", "Runtime", "PTQ"], swiftSettings: v5),
        // The command-line tool: argument parsing only, calls into the libraries.
        .executableTarget(name: "mxq", dependencies: ["Support", "MXFormats", "MXKernels", "ModelIO", "Tokenization", "Runtime", "PTQ", "Experiments"], swiftSettings: v5),

        // Shared test helpers (random tensors, tolerance checks, temp dirs, tiny models).
        .target(name: "TestSupport", dependencies: ["Support"], path: "Tests/TestSupport", swiftSettings: v5),
        .testTarget(name: "SupportTests", dependencies: ["Support", "TestSupport"], swiftSettings: v5),
        .testTarget(name: "MXFormatsTests", dependencies: ["MXFormats", "TestSupport"], swiftSettings: v5),
        .testTarget(name: "MXKernelsTests", dependencies: ["MXKernels", "MXFormats", "TestSupport"], swiftSettings: v5),
        .testTarget(name: "ModelIOTests", dependencies: ["ModelIO", "TestSupport"], swiftSettings: v5),
        .testTarget(name: "TokenizationTests", dependencies: ["Tokenization", "ModelIO", "TestSupport"], swiftSettings: v5),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "ModelIO", "MXFormats", "MXKernels", "TestSupport"], swiftSettings: v5),
        .testTarget(name: "PTQTests", dependencies: ["PTQ", "Runtime", "MXFormats", "TestSupport"], swiftSettings: v5),
        .testTarget(name: "ExperimentsTests", dependencies: ["Experiments", "PTQ", "Runtime", "ModelIO", "Support", "MXFormats", "TestSupport"], swiftSettings: v5),
    ]
)
