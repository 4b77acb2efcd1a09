import ArgumentParser
import Foundation
import Kernels
import Notebook
import Record
import Session

/// Where a one-shot command records its run, and how it prints.
struct RecordFlags: ParsableArguments {
    @Option(name: .long, help: "Experiment record (SQLite).") var db: String = RecordViews.defaultDB
    @Flag(name: .long, help: "Do not record this run (it is kept in memory only and gone when the command ends).")
    var noRecord = false
    @Flag(name: .long, help: "Machine-readable JSON output.") var json = false

    func open() throws -> ExperimentDB {
        if noRecord {
            do { return try ExperimentDB(path: ":memory:") } catch { throw UserError("\(error)") }
        }
        return try openRecord(db)
    }
}

/// Runs a one-shot command's cells (flags → cell parameters), prints the last cell's summary
/// or its facts as JSON, and maps how it ended to an exit code: 2 diverged, 130 interrupted.
func runCells(_ kinds: [CellKind], flags: [String], fixed: [CellKind: [String: ParamValue]] = [:], record: RecordFlags,
              command: String, printSummary: Bool = true, echoPrompts: Bool = true) throws -> [String: Any] {
    let run: CommandRun
    do {
        // The whole command line as typed (record options included), for `tunelab show`.
        run = try CommandRun(kinds: kinds, flags: flags, fixed: fixed,
                             commandLine: (["tunelab"] + CommandLine.arguments.dropFirst().map(shellQuoted)).joined(separator: " "))
    } catch { throw UserError("\(error)") }
    run.quiet = record.json
    run.echoPrompts = echoPrompts
    let db = try record.open()
    Interrupt.install()
    let summary: String
    do {
        summary = try run.run(db: db)
    } catch let e as NotebookSession.CellInterrupted {
        stderr("\(e) (the record" + (kinds.contains(.train) || kinds.contains(.dpo) || kinds.contains(.grpo) ? " and the checkpoint are saved)" : " is saved)"))
        if !record.noRecord, let id = run.session?.runID { stderr("recorded as run \(id) in \(record.db)") }
        throw ExitCode(130)
    } catch let e as TrainingDiverged {
        stderr("error: \(e)")
        throw ExitCode(2)
    } catch {
        throw UserError("\(error)")
    }
    let runID = record.noRecord ? nil : run.session?.runID
    if record.json {
        var facts = run.facts
        if let runID { facts["run"] = runID }
        writeJSON(facts)
    } else {
        if printSummary { print(summary) } else { stderr("[\(summary)]") }
        if let runID { stderr("recorded as run \(runID) in \(record.db)") }
    }
    return run.facts
}

func shellQuoted(_ s: String) -> String {
    s.allSatisfy({ $0.isLetter || $0.isNumber || "-_./:=,@+".contains($0) }) && !s.isEmpty ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// The discussion text of a cell-backed command: its flags, from the schema.
func cellFlagsHelp(_ kinds: [CellKind], fixed: Set<String> = [], intro: String) -> String {
    intro + "\n\n" + CellFlags(kinds: CommandRun.flagOrder(kinds), fixed: fixed).help
}

/// What `tunelab train` trains: which cells run after `load`.
enum TrainMethod: String, ExpressibleByArgument, CaseIterable {
    case sft, dpo, grpo
    var kinds: [CellKind] {
        switch self {
        case .sft: return [.load, .format, .train]
        case .dpo: return [.load, .dpo]
        case .grpo: return [.load, .grpo]
        }
    }
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "LoRA/QLoRA fine-tuning: SFT (a load, a format and a train cell), DPO (a load and a dpo cell) or GRPO (a load and a grpo cell); recorded as a run.",
        discussion: """
            Every flag is a parameter of one of these cells, with the notebook's defaults and checks; \
            `--format-seed` etc. reach a key another cell also has. Writes checkpoints, the PEFT adapter and \
            metrics.jsonl under --out (default runs/run-<id>-cell<n>). Replay it with `tunelab replay RUN`.

            --method sft (default):
            \(CellFlags(kinds: CommandRun.flagOrder(TrainMethod.sft.kinds)).help)

            --method dpo (preference pairs; --adapter starts from an SFT adapter):
            \(CellFlags(kinds: CommandRun.flagOrder(TrainMethod.dpo.kinds)).help)

            --method grpo (prompts; completions sampled, rewarded and recorded; --adapter starts from an SFT adapter):
            \(CellFlags(kinds: CommandRun.flagOrder(TrainMethod.grpo.kinds)).help)
            """)
    @OptionGroup var record: RecordFlags
    @Option(name: .long, help: "sft (supervised, on formatted examples), dpo (on preference pairs) or grpo (on rewarded completions of prompts).") var method: TrainMethod = .sft
    @Argument(parsing: .allUnrecognized, help: "Cell parameters as flags (see below).") var flags: [String] = []

    func run() throws {
        _ = try runCells(method.kinds, flags: flags, record: record, command: "train")
    }
}
