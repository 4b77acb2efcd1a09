import ArgumentParser
import Foundation
import Notebook
import Session

struct Merge: ParsableCommand {
    static let kinds: [CellKind] = [.load, .export]
    static let fixed: [CellKind: [String: ParamValue]] = [.export: ["merge": .bool(true)]]
    static let configuration = CommandConfiguration(
        abstract: "Merge a LoRA adapter (PEFT folder) into its base model: a Hugging Face model folder, or with --format gguf a GGUF file for llama.cpp and Ollama (a load and an export cell; recorded).",
        discussion: cellFlagsHelp(kinds, fixed: ["export.merge"], intro: """
            W' = W + scaling·B·A for every adapted projection (quantised GGUF weights are dequantised). The output \
            folder (config.json, model.safetensors, generation_config.json, tokenizer) loads in transformers and \
            in `tunelab --model <out>`. `--format gguf --quant f16|q8_0|q4_0|f32 --out F.gguf` writes GGUF v3 with \
            the tokenizer, chat template and special ids, an Ollama Modelfile next to it (--no-modelfile to skip), \
            reads it back and compares logits and greedy tokens with the base + adapter (--no-check to skip). \
            Files are written under a temporary name and renamed; an existing output is refused (GGUF: unless --force).
            """))
    @OptionGroup var record: RecordFlags
    @Argument(parsing: .allUnrecognized, help: "Cell parameters as flags (see below).") var flags: [String] = []

    func run() throws {
        _ = try runCells(Self.kinds, flags: flags, fixed: Self.fixed, record: record, command: "merge")
    }
}
