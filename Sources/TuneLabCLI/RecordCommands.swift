import ArgumentParser
import Foundation
import Plot
import Record
import Session

/// `--db PATH`, shared by the commands that read the experiment record.
struct RecordOptions: ParsableArguments {
    @Option(name: .long, help: "Experiment record (SQLite).")
    var db: String = RecordViews.defaultDB
}

struct Runs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs", abstract: "List recorded runs: id, notebook, status, started, steps, final loss, key parameters.")

    @OptionGroup var record: RecordOptions

    @Option(name: .long, help: "Show at most this many runs (newest first).")
    var limit = 50

    @Flag(name: .long, help: "Machine-readable JSON output.")
    var json = false

    func run() throws {
        let db = try RecordViews.open(record.db)
        let runs = try db.listRuns(limit: limit)
        if json {
            let rows: [[String: Any]] = runs.map { r in
                var d: [String: Any] = ["id": r.id, "kind": r.kind.rawValue, "status": r.status.rawValue,
                                        "started": r.startedAt.timeIntervalSince1970, "params": r.params]
                if let nb = r.notebookPath { d["notebook"] = nb }
                if let c = r.command { d["command"] = c }
                if let p = r.parentRunID { d["parent_run"] = p }
                if let s = r.lastStep { d["last_step"] = s }
                if let l = r.finalLoss, l.isFinite { d["final_loss"] = l }
                if let l = r.finalEvalLoss, l.isFinite { d["final_eval_loss"] = l }
                if let e = r.endedAt { d["ended"] = e.timeIntervalSince1970 }
                return d
            }
            printJSON(rows)
        } else {
            print(RecordViews.runsTable(runs))
        }
    }
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Everything recorded about a run: parameters, seeds, file hashes, environment, metrics, artifacts.")

    @OptionGroup var record: RecordOptions

    @Argument(help: "Run id (see `tunelab runs`).")
    var id: Int64

    @Flag(name: .long, help: "Everything as one JSON object (cells, metrics, generations, artifacts).")
    var json = false

    func run() throws {
        let db = try RecordViews.open(record.db)
        let d = try RecordViews.detail(db, id)
        print(json ? RecordViews.jsonText(try RecordViews.json(d, db: db)) : try RecordViews.describe(d, db: db))
    }
}

struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff", abstract: "The parameters and results that differ between two runs.")

    @OptionGroup var record: RecordOptions

    @Argument(help: "First run id.")
    var a: Int64

    @Argument(help: "Second run id.")
    var b: Int64

    @Flag(name: .long, help: "Machine-readable JSON output.")
    var json = false

    func run() throws {
        let db = try RecordViews.open(record.db)
        let da = try RecordViews.detail(db, a), dbb = try RecordViews.detail(db, b)
        print(json ? RecordViews.jsonText(RecordViews.diffJSON(da, dbb, db: db)) : RecordViews.diffText(da, dbb, db: db))
    }
}

struct ExportRecord: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-record",
        abstract: "A run's record as JSON (one object) or CSV (section,cell,kind,key,step,value rows): parameters, environment, input hashes, metrics, generations.")

    enum Format: String, ExpressibleByArgument, CaseIterable { case json, csv }

    @OptionGroup var record: RecordOptions

    @Argument(help: "Run id (see `tunelab runs`).")
    var id: Int64

    @Option(name: .long, help: "json or csv.")
    var format: Format = .json

    @Option(name: [.short, .long], help: "Write to this file instead of stdout.")
    var output: String?

    func run() throws {
        let db = try RecordViews.open(record.db)
        let d = try RecordViews.detail(db, id)
        let text = format == .json ? RecordViews.jsonText(try RecordViews.json(d, db: db)) + "\n" : try RecordViews.csv(d, db: db)
        if let output {
            do { try Data(text.utf8).write(to: URL(fileURLWithPath: output), options: .atomic) } catch {
                throw UserError("\(output): cannot write: \(error.localizedDescription)")
            }
            print("wrote \(output)")
        } else {
            FileHandle.standardOutput.write(Data(text.utf8))
        }
    }
}

/// `tunelab plot` (named PlotRuns so it does not shadow the Plot module).
struct PlotRuns: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot", abstract: "Draw runs' metric curves into a PNG; the legend names the parameters that differ.")

    @OptionGroup var record: RecordOptions

    @Argument(help: "Run ids.")
    var runs: [Int64] = []

    @Option(name: .long, help: "Metric: loss, eval_loss, grad_norm, lr, ...")
    var metric = "loss"

    @Option(name: [.short, .long], help: "Output PNG (default: plot-<ids>-<metric>.png).")
    var output: String?

    @Flag(name: .long, help: "Smooth the curves (EMA, weight 0.6; the raw curve stays faint behind).")
    var smooth = false

    @Option(name: .long, help: "EMA smoothing weight in 0..<1 (implies --smooth).")
    var smoothing: Double?

    @Flag(name: .customLong("log-y"), help: "Logarithmic y axis.")
    var logY = false

    @Option(name: .long, help: "Image width in pixels.")
    var width = 1000

    @Option(name: .long, help: "Image height in pixels.")
    var height = 600

    func validate() throws {
        if runs.isEmpty { throw ValidationError("give one or more run ids, e.g. `tunelab plot 7 9 --metric loss`") }
        if let w = smoothing, !(w >= 0 && w < 1) { throw ValidationError("--smoothing must be in 0..<1, got \(w)") }
        if width < 200 || width > 8192 || height < 150 || height > 8192 {
            throw ValidationError("--width must be 200...8192 and --height 150...8192")
        }
    }

    func run() throws {
        let db = try RecordViews.open(record.db)
        let weight = smoothing ?? (smooth ? 0.6 : 0)
        let image = try RecordViews.chart(db: db, runIDs: runs, metric: metric, smoothing: weight, logY: logY, width: width, height: height)
        let path = output ?? "plot-\(runs.map(String.init).joined(separator: "-"))-\(metric).png"
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent()
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try image.writePNG(path: path)
        print("wrote \(path)")
    }
}

private func printJSON(_ value: Any) {
    print(RecordViews.jsonText(value))
}
