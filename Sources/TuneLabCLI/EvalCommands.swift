import ArgumentParser
import Foundation
import Metrics
import Notebook
import Record
import Session

struct Eval: ParsableCommand {
    static let kinds: [CellKind] = [.load, .format, .eval]
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a model (or --adapter) on held-out rows: loss, and scores of generated answers (a load, a format and an eval cell; recorded).",
        discussion: cellFlagsHelp(kinds, intro: """
            e.g. `tunelab eval --data ../shared/data/medical_o1_en_160.json --adapter runs/x/adapter \
            --metrics bleu4,rouge1,rouge2,rougeL,think_format,stops_on_eos,accuracy --max-rows 16`. Each answer is \
            recorded with its row and per-row scores; every score with its metric card. `tunelab compare A B` \
            shows two runs' answers side by side.
            """))
    @OptionGroup var record: RecordFlags
    @Argument(parsing: .allUnrecognized, help: "Cell parameters as flags (see below).") var flags: [String] = []

    func run() throws {
        _ = try runCells(Self.kinds, flags: flags, record: record, command: "eval")
    }
}

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Two runs' generated answers side by side, row by row, with their scores (e.g. base against adapter).")
    @OptionGroup var record: RecordOptions
    @Argument(help: "First run id.") var a: Int64
    @Argument(help: "Second run id.") var b: Int64
    @Option(name: .long, help: "Characters of each answer shown (0 = whole answers).") var width = 70

    func run() throws {
        let db = try RecordViews.open(record.db)
        do {
            print(try RecordViews.compareText(try RecordViews.detail(db, a), try RecordViews.detail(db, b), db: db, width: width))
        } catch let e as UserError { throw e } catch { throw UserError("\(error)") }
    }
}
