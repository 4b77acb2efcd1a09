// swift-tools-version:6.0
import PackageDescription

// Hot numeric loops (`fast`): without -target-cpu the SIMD `addingProduct` and Float16
// conversions become library calls (30–50× slower, see shared notes), and -Ounchecked drops
// bounds and overflow checks. Everything that reads bytes from outside (model files, tokenizer,
// templates, notebooks, data, hub replies) is compiled `checked`: there an out-of-bounds index
// or an overflow traps instead of corrupting memory, and the readers turn bad input into errors
// before the unchecked code sees it.
let fast: [SwiftSetting] = [
    .unsafeFlags(["-target-cpu", "haswell"]),
    .unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
]
// The same for code run only after a run-time check that the CPU has AVX-512.
let wide: [SwiftSetting] = [
    .unsafeFlags(["-target-cpu", "skylake-avx512"]),
    .unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
]
let checked: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]

let package = Package(
    name: "TuneLab",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tunelab", targets: ["tunelab"]),
        // The readers of outside bytes, for the fuzz targets in Fuzz/ (a package of its own,
        // built only by scripts/fuzz.sh).
        .library(name: "TuneLabReaders", targets: ["ModelFiles", "Tokenization", "ChatTemplate", "Dataset", "Notebook", "Hub",
                                                  "Transformer", "Training"]),
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
        // ggml element types and block formats: dequantise / quantise loops.
        .target(name: "Quantization", dependencies: ["Kernels"], swiftSettings: fast),
        // Readers and writers of GGUF, safetensors (+ shard index), HF config.json and PEFT's
        // adapter_config.json (re-exports Quantization).
        .target(name: "ModelFiles", dependencies: ["Kernels", "Quantization"], swiftSettings: checked),
        // Byte-level BPE, pre-tokenizers, streaming decode.
        .target(name: "Tokenization", dependencies: ["ModelFiles"], swiftSettings: checked),
        // Jinja-subset chat templates.
        .target(name: "ChatTemplate", swiftSettings: checked),
        // QuantDot's batched row dots in 16-lane registers (same bits, half the fused multiply-adds),
        // chosen at run time on CPUs with AVX-512 (`CPUFeatures.avx512`).
        .target(name: "QuantDot512", dependencies: ["Kernels", "Quantization"], swiftSettings: wide),
        // Llama / Qwen2 forward pass, KV cache, sampling, generation.
        .target(name: "Transformer", dependencies: ["Kernels", "QuantDot512", "ModelFiles", "Tokenization", "ChatTemplate"], swiftSettings: fast),
        // Training data: loaders, prompt templates, loss masks, packing, splits.
        .target(name: "Dataset", dependencies: ["Tokenization"], swiftSettings: checked),
        // LoRA fine-tuning: backward pass, AdamW, schedules, checkpoints.
        .target(name: "Training", dependencies: ["Kernels", "ModelFiles", "Tokenization", "Transformer", "Dataset"], swiftSettings: fast),
        // PNG line charts with a built-in bitmap font.
        .target(name: "Plot", dependencies: ["CPNG"], swiftSettings: checked),
        // SQLite experiment record.
        .target(name: "Record", dependencies: ["CSQLite3", "Kernels"], swiftSettings: checked),
        // Hugging Face hub downloads (models, datasets) into a local cache.
        .target(name: "Hub", dependencies: ["Kernels"], swiftSettings: checked),
        // Text metrics (BLEU-4 / ROUGE as LLaMA-Factory, jieba segmenter, think format, choice accuracy) with metric cards.
        .target(name: "Metrics", swiftSettings: checked),
        // Markdown notebooks: cells of `key = value` parameters, schemas, defaults.
        // (The schema's choices come from the Training and Dataset enums the cells parse into.)
        .target(name: "Notebook", dependencies: ["Training", "Dataset", "Metrics"], swiftSettings: checked),
        // The interactive shell: line editing (libedit), completion, history, commands.
        .target(name: "REPL", dependencies: ["CEditLine", "Notebook", "Kernels"], swiftSettings: checked),
        // What the cells and commands do: prepare data, train, infer, record, replay, plot.
        .target(name: "Session", dependencies: ["Kernels", "ModelFiles", "Tokenization", "ChatTemplate", "Transformer", "Dataset", "Metrics",
                                                "Training", "Record", "Plot", "Notebook", "REPL", "Hub"], swiftSettings: checked),

        .executableTarget(
            name: "tunelab",
            dependencies: [
                "Kernels", "ModelFiles", "Tokenization", "ChatTemplate", "Transformer", "Dataset", "Training", "Plot", "Record",
                "Hub", "Notebook", "REPL", "Session", "Metrics",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/TuneLabCLI", swiftSettings: checked),

        .testTarget(name: "KernelsTests", dependencies: ["Kernels"], swiftSettings: checked),
        .testTarget(name: "ModelFilesTests", dependencies: ["ModelFiles"], swiftSettings: checked),
        .testTarget(name: "TokenizationTests", dependencies: ["Tokenization"], swiftSettings: checked),
        .testTarget(name: "ChatTemplateTests", dependencies: ["ChatTemplate"], swiftSettings: checked),
        .testTarget(name: "TransformerTests", dependencies: ["Transformer", "QuantDot512", "Kernels"], swiftSettings: checked),
        .testTarget(name: "DatasetTests", dependencies: ["Dataset", "Tokenization", "ModelFiles"], swiftSettings: checked),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Transformer", "Tokenization", "ModelFiles", "Kernels", "Dataset"], swiftSettings: checked),
        .testTarget(name: "PlotTests", dependencies: ["Plot"], swiftSettings: checked),
        .testTarget(name: "RecordTests", dependencies: ["Record", "Kernels"], swiftSettings: checked),
        .testTarget(name: "HubTests", dependencies: ["Hub", "Kernels"], swiftSettings: checked),
        .testTarget(name: "MetricsTests", dependencies: ["Metrics", "Kernels"], swiftSettings: checked),
        .testTarget(name: "NotebookTests", dependencies: ["Notebook"], swiftSettings: checked),
        .testTarget(name: "REPLTests", dependencies: ["REPL", "Notebook"], swiftSettings: checked),
        .testTarget(name: "SessionTests", dependencies: ["Session", "Tokenization", "Transformer"], swiftSettings: checked),
        // Drives the built `tunelab` binary as a user (and a crash) would.
        // (FakeHub.swift and LocalHTTPServer.swift are links to the HubTests ones: hub inputs pinned in runs.)
        .testTarget(name: "TuneLabCLITests", dependencies: ["tunelab", "Record", "Hub", "Kernels"], swiftSettings: checked),
    ],
    swiftLanguageModes: [.v5]
)
