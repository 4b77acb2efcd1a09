import ArgumentParser
import Foundation
import Kernels
import Notebook
import Session
import Transformer

@main
struct TuneLab: ParsableCommand {
    static let version = TuneLabVersion.current
    static let configuration = CommandConfiguration(
        commandName: "tunelab",
        abstract: "Fine-tune small open LLMs with LoRA on the CPU, as a reproducible experiment notebook.",
        version: version,
        subcommands: [Open.self, RunNotebook.self, Replay.self, Branch.self, Tokenize.self, Generate.self, Score.self, Info.self,
                      Train.self, Merge.self, ExportGGUF.self, ExportLoRA.self, Lint.self, Eval.self, Compare.self, MetricsCommand.self, Runs.self, Show.self, Diff.self, PlotRuns.self,
                      ExportRecord.self, Bench.self, DebugMetricsWriter.self],
        defaultSubcommand: Open.self)

    static func main() {
        // Past a file size limit (`ulimit -f`) a write then fails with EFBIG and is reported as an
        // error naming the file, instead of SIGXFSZ killing the process mid-write.
        signal(SIGXFSZ, SIG_IGN)
        main(nil)
    }
}

/// Options of the commands that load a model outside any cell (`info`, `bench`): the load
/// cell's keys, with the schema's defaults.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(CellSchema.spec(.load, "model")!.help))
    var model: String = CellSchema.spec(.load, "model")!.defaultValue.stringValue!

    @Option(name: .long, help: "Worker threads for matrix products and kernels (default: all cores).")
    var threads: Int?

    @Flag(name: .long, help: "Machine-readable JSON output.")
    var json = false
}

func configureThreads(_ n: Int?) {
    BLAS.setThreads(max(1, n ?? ProcessInfo.processInfo.activeProcessorCount))
}

func loadModel(_ o: ModelOptions) throws -> LanguageModel {
    configureThreads(o.threads)
    do { return try loadLanguageModel(o.model) } catch { throw UserError("\(error)") }
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
