import ArgumentParser
import Foundation
import Notebook
import Session

struct Merge: ParsableCommand {
    static let kinds: [CellKind] = [.load, .export]
    static let fixed: [CellKind: [String: ParamValue]] = [.export: ["merge": .bool(true)]]
    static let configuration = CommandConfiguration(
        abstract: "Merge a LoRA adapter (PEFT folder) into its base model and write a Hugging Face model folder (a load and an export cell; recorded).",
        discussion: cellFlagsHelp(kinds, fixed: ["export.merge"], intro: """
            W' = W + scaling·B·A for every adapted projection (quantised GGUF weights are dequantised). The output \
            folder (config.json, model.safetensors, generation_config.json, tokenizer) loads in transformers and \
            in `tunelab --model <out>`. It is written to <out>.tmp and renamed when complete; an existing --out is refused.
            """))
    @OptionGroup var record: RecordFlags
    @Argument(parsing: .allUnrecognized, help: "Cell parameters as flags (see below).") var flags: [String] = []

    func run() throws {
        _ = try runCells(Self.kinds, flags: flags, fixed: Self.fixed, record: record, command: "merge")
    }
}
