import ArgumentParser
import Foundation

@main
struct TuneLab: ParsableCommand {
    static let version = "0.1.0"
    static let configuration = CommandConfiguration(
        commandName: "tunelab",
        abstract: "Fine-tune small open LLMs with LoRA on the CPU, as a reproducible experiment notebook.",
        version: version,
        subcommands: [Open.self, RunNotebook.self, Replay.self, Tokenize.self, Generate.self, Score.self, Info.self, Train.self, Merge.self, ExportGGUF.self, ExportLoRA.self, Runs.self, Show.self, Diff.self, PlotRuns.self, Bench.self, DebugMetricsWriter.self],
        defaultSubcommand: Open.self)
}

/// Options every model command shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "'default' (SmolLM2-135M-Instruct Q4_1), a .gguf file, or a Hugging Face model folder.")
    var model: String = "default"

    @Option(name: .long, help: "Worker threads for matrix products and kernels (default: all cores).")
    var threads: Int?

    @Flag(name: .long, help: "Machine-readable JSON output.")
    var json = false
}

/// Errors a user can act on: printed as one line, exit code 1.
struct UserError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

func writeJSON(_ value: Any) {
    let data = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write("\n".data(using: .utf8)!)
}

func stderr(_ s: String) {
    FileHandle.standardError.write((s + "\n").data(using: .utf8)!)
}
