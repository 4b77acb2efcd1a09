// swift-tools-version:6.0
import PackageDescription

// Hot numeric code: without -target-cpu the SIMD `addingProduct` and Float16
// conversions become library calls (30–50× slower, see shared notes).
let fast: [SwiftSetting] = [
    .unsafeFlags(["-target-cpu", "haswell"]),
    .unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
]
let cpu: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]

let package = Package(
    name: "TuneLab",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tunelab", targets: ["tunelab"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C libraries through system-library targets (Debian -dev packages).
        .systemLibrary(name: "COpenBLAS", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .systemLibrary(name: "CSQLite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CEditLine", providers: [.apt(["libedit-dev"])]),
        .systemLibrary(name: "CPNG", providers: [.apt(["libpng-dev"])]),

        // Matrix products (OpenBLAS in fp32, oneDNN in bf16), SIMD vector ops, threading.
        .target(name: "Kernels", dependencies: ["COpenBLAS", "CDNNL"], swiftSettings: fast),
        // GGUF / safetensors readers, dequantisation, HF config.
        .target(name: "ModelFiles", dependencies: ["Kernels"], swiftSettings: fast),
        // Byte-level BPE, pre-tokenizers, streaming decode.
        .target(name: "Tokenization", dependencies: ["ModelFiles"], swiftSettings: cpu),
        // Jinja-subset chat templates.
        .target(name: "ChatTemplate", swiftSettings: cpu),
        // Llama / Qwen2 forward pass, KV cache, sampling, generation.
        .target(name: "Transformer", dependencies: ["Kernels", "ModelFiles", "Tokenization", "ChatTemplate"], swiftSettings: fast),
        // Training data: loaders, prompt templates, loss masks, packing, splits.
        .target(name: "Dataset", dependencies: ["Tokenization"], swiftSettings: cpu),
        // LoRA fine-tuning: backward pass, AdamW, schedules, checkpoints.
        .target(name: "Training", dependencies: ["Kernels", "ModelFiles", "Tokenization", "Transformer", "Dataset"], swiftSettings: fast),
        // PNG line charts with a built-in bitmap font.
        .target(name: "Plot", dependencies: ["CPNG"], swiftSettings: cpu),
        // SQLite experiment record.
        .target(name: "Record", dependencies: ["CSQLite3", "Kernels"], swiftSettings: cpu),
        // Hugging Face hub downloads (models, datasets) into a local cache.
        .target(name: "Hub", dependencies: ["Kernels"], swiftSettings: cpu),
        // Text metrics (BLEU-4 / ROUGE as LLaMA-Factory, jieba segmenter, think format, choice accuracy) with metric cards.
        .target(name: "Metrics", swiftSettings: cpu),
        // Markdown notebooks: cells of `key = value` parameters, schemas, defaults.
        // (The schema's choices come from the Training and Dataset enums the cells parse into.)
        .target(name: "Notebook", dependencies: ["Training", "Dataset", "Metrics"], swiftSettings: cpu),
        // The interactive shell: line editing (libedit), completion, history, commands.
        .target(name: "REPL", dependencies: ["CEditLine", "Notebook", "Kernels"], swiftSettings: cpu),
        // What the cells and commands do: prepare data, train, infer, record, replay, plot.
        .target(name: "Session", dependencies: ["Kernels", "ModelFiles", "Tokenization", "ChatTemplate", "Transformer", "Dataset", "Metrics",
                                                "Training", "Record", "Plot", "Notebook", "REPL", "Hub"], swiftSettings: cpu),

        .executableTarget(
            name: "tunelab",
            dependencies: [
                "Kernels", "ModelFiles", "Tokenization", "ChatTemplate", "Transformer", "Dataset", "Training", "Plot", "Record",
                "Hub", "Notebook", "REPL", "Session", "Metrics",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/TuneLabCLI", swiftSettings: cpu),

        .testTarget(name: "KernelsTests", dependencies: ["Kernels"], swiftSettings: cpu),
        .testTarget(name: "ModelFilesTests", dependencies: ["ModelFiles"], swiftSettings: cpu),
        .testTarget(name: "TokenizationTests", dependencies: ["Tokenization"], swiftSettings: cpu),
        .testTarget(name: "ChatTemplateTests", dependencies: ["ChatTemplate"], swiftSettings: cpu),
        .testTarget(name: "TransformerTests", dependencies: ["Transformer"], swiftSettings: cpu),
        .testTarget(name: "DatasetTests", dependencies: ["Dataset", "Tokenization", "ModelFiles"], swiftSettings: cpu),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Transformer", "Tokenization", "ModelFiles", "Kernels", "Dataset"], swiftSettings: cpu),
        .testTarget(name: "PlotTests", dependencies: ["Plot"], swiftSettings: cpu),
        .testTarget(name: "RecordTests", dependencies: ["Record", "Kernels"], swiftSettings: cpu),
        .testTarget(name: "HubTests", dependencies: ["Hub", "Kernels"], swiftSettings: cpu),
        .testTarget(name: "MetricsTests", dependencies: ["Metrics", "Kernels"], swiftSettings: cpu),
        .testTarget(name: "NotebookTests", dependencies: ["Notebook"], swiftSettings: cpu),
        .testTarget(name: "REPLTests", dependencies: ["REPL", "Notebook"], swiftSettings: cpu),
        .testTarget(name: "SessionTests", dependencies: ["Session", "Tokenization", "Transformer"], swiftSettings: cpu),
        // Drives the built `tunelab` binary as a user (and a crash) would.
        // (FakeHub.swift and LocalHTTPServer.swift are links to the HubTests ones: hub inputs pinned in runs.)
        .testTarget(name: "TuneLabCLITests", dependencies: ["tunelab", "Record", "Hub", "Kernels"], swiftSettings: cpu),
    ],
    swiftLanguageModes: [.v5]
)
