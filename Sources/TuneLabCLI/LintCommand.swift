import ArgumentParser
import Foundation
import Dataset
import Notebook
import Record
import Session
import Tokenization

struct Lint: ParsableCommand {
    static let kinds: [CellKind] = [.load, .format]
    static let configuration = CommandConfiguration(
        abstract: "Check a data set before training (a load and a format cell, not recorded): EOS trained, <think> or answers cut by max_seq_length, rows with nothing to train, empty placeholders, train/validation duplicates, token lengths.",
        discussion: cellFlagsHelp(kinds, intro: """
            Exit status 1 when the lint found errors (a train cell would refuse them unless ignore_lint). \
            --show ROW prints one training row's tokens marked by whether they carry loss (green on a \
            terminal, ⟦…⟧ otherwise). --histogram FILE writes the token-length histogram as PNG.
            """))
    @Option(name: .long, help: "Print this source row's tokens, marked by whether they carry loss.") var show: Int?
    @Option(name: .long, help: "Write the token-length histogram (PNG) here.") var histogram: String?
    @Flag(name: .long, help: "Machine-readable JSON output (findings and length percentiles).") var json = false
    @Argument(parsing: .allUnrecognized, help: "Cell parameters as flags (see below).") var flags: [String] = []

    func run() throws {
        let run: CommandRun
        do { run = try CommandRun(kinds: Self.kinds, flags: flags, commandLine: "tunelab lint") } catch { throw UserError("\(error)") }
        run.quiet = true
        let report: LintReport, inspections: [String: [RowInspection]], tokenizer: Tokenization.Tokenizer
        do {
            try run.run(db: try ExperimentDB(path: ":memory:"))   // an inspection, not an experiment
            guard let state = run.session?.state, let data = state.preparedData, let lm = state.loadedModel else {
                throw UserError("lint: the format cell produced no data")
            }
            tokenizer = lm.tokenizer
            (report, inspections) = data.lintDetails()
        } catch let e as UserError { throw e } catch { throw UserError("\(error)") }
        if let histogram {
            do { try plotLengthHistogram(report, path: histogram, title: "tokens per example") } catch { throw UserError("\(histogram): \(error)") }
        }
        if json {
            var splits: [String: Any] = [:]
            for (name, l) in report.lengths {
                let s = LengthStats(l)
                splits[name] = ["rows": s.count, "p50": s.p50, "p90": s.p90, "p99": s.p99, "max": s.max]
            }
            let findings = report.findings.map { ["severity": $0.severity.rawValue, "code": $0.code, "split": $0.split,
                                                  "rows": $0.rows, "message": $0.message] as [String: Any] }
            writeJSON(["lengths": splits, "findings": findings, "errors": report.errors.count, "warnings": report.warnings.count])
        } else {
            print(report.text)
        }
        if let show {
            let all = (inspections["train"] ?? []) + (inspections["validation"] ?? [])
            guard let r = all.first(where: { $0.row == show }) else {
                throw UserError("--show \(show): no such row (rows 0…\(max(0, all.count - 1)) of the data after format.split)")
            }
            print(showRowTokens(r, tokenizer: tokenizer, color: isatty(1) != 0))
        }
        if !report.errors.isEmpty { throw ExitCode(1) }
    }
}
