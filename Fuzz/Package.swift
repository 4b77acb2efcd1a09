// swift-tools-version:6.0
import PackageDescription

// libFuzzer targets for every reader of outside bytes. A package of its own so that the normal
// `swift build` never builds them; scripts/fuzz.sh builds them with
// `-sanitize=fuzzer,address` (and -enable-testing, for the internal entry points) into
// Fuzz/.build and runs them on the seed corpus in Fuzz/Corpus/<target>.
let targets = ["gguf", "safetensors", "safetensors-index", "hf-config", "peft-config",
               "tokenizer-json", "chat-template", "notebook", "dataset", "hub-response"]

let package = Package(
    name: "TuneLabFuzz",
    dependencies: [.package(name: "TuneLab", path: "..")],
    targets: [
        .target(name: "FuzzSupport", path: "Sources/FuzzSupport"),
    ] + targets.map { name in
        .executableTarget(
            name: "fuzz-\(name)",
            dependencies: ["FuzzSupport", .product(name: "TuneLabReaders", package: "TuneLab")],
            path: "Sources/\(name)")
    },
    swiftLanguageModes: [.v5]
)
