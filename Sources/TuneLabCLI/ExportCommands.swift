import ArgumentParser
import Foundation
import Notebook
import Session

/// `tunelab merge --format gguf` under its own name: a load and an export cell (recorded).
struct ExportGGUF: ParsableCommand {
    static let kinds: [CellKind] = [.load, .export]
    static let fixed: [CellKind: [String: ParamValue]] = [.export: ["merge": .bool(true), "format": .string("gguf")]]
    static let configuration = CommandConfiguration(
        commandName: "export-gguf",
        abstract: "Write the model (with a LoRA adapter merged) as a GGUF file llama.cpp and Ollama load; the same as `tunelab merge --format gguf`.",
        discussion: cellFlagsHelp(kinds, fixed: ["export.merge", "export.format"], intro: """
            Matrices in --quant (f16, q8_0, q4_0; f32 for a lossless file); norms and biases stay F32. The \
            tokenizer, chat template and special-token ids travel with the file; an Ollama Modelfile is written \
            next to it (ChatML and Llama-3 chat templates; --no-modelfile otherwise). The file is read back and \
            checked. Written to a temporary file and renamed; an existing output is refused unless --force.
            """))
    @OptionGroup var record: RecordFlags
    @Argument(parsing: .allUnrecognized, help: "Cell parameters as flags (see below).") var flags: [String] = []

    func run() throws {
        _ = try runCells(Self.kinds, flags: flags, fixed: Self.fixed, record: record, command: "export-gguf")
    }
}

/// The adapter alone: a PEFT folder, or with --format gguf a GGUF LoRA (recorded).
struct ExportLoRA: ParsableCommand {
    static let kinds: [CellKind] = [.load, .export]
    static let fixed: [CellKind: [String: ParamValue]] = [.export: ["merge": .bool(false)]]
    static let configuration = CommandConfiguration(
        commandName: "export-lora",
        abstract: "Write a LoRA adapter as a PEFT folder, or with --format gguf as a GGUF LoRA that llama.cpp's --lora loads on the base model.",
        discussion: cellFlagsHelp(kinds, fixed: ["export.merge"], intro: """
            e.g. `tunelab export-lora --adapter runs/x/adapter --format gguf --out x-lora.gguf`. The GGUF LoRA holds \
            A and B in F32 (B's Q/K rows in llama.cpp's order for Llama) and adapter.lora.alpha; it is read back \
            and compared tensor by tensor.
            """))
    @OptionGroup var record: RecordFlags
    @Argument(parsing: .allUnrecognized, help: "Cell parameters as flags (see below).") var flags: [String] = []

    func run() throws {
        _ = try runCells(Self.kinds, flags: flags, fixed: Self.fixed, record: record, command: "export-lora")
    }
}
