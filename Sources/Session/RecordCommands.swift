import Foundation
import Record

/// The REPL's record commands (`:runs`, `:show-run`, `:diff`, `:plot`, `:replay`), parsed here
/// from their words; the same views `tunelab runs/show/diff/plot/replay` print.
public enum RecordCommands {
    public static let help: [(name: String, help: String)] = [
        ("runs", "runs [--limit N]: list recorded runs"),
        ("show-run", "show-run ID [--json]: parameters, environment and results of a run"),
        ("diff", "diff ID ID [--json]: what differs between two runs"),
        ("plot", "plot ID… [--metric loss|eval_loss|grad_norm|lr] [--smooth W] [--log-y] [-o FILE]"),
        ("replay", "replay ID: run a recorded run again and compare"),
    ]

    /// Runs `name` with `arguments`; false when `name` is not a record command.
    public static func run(_ name: String, arguments: [String], db: ExperimentDB, out: (String) -> Void) throws -> Bool {
        var args = Args(arguments, command: name)
        switch name {
        case "runs":
            let limit = try args.int("--limit") ?? 50
            try args.done()
            out(RecordViews.runsTable(try db.listRuns(limit: limit)))
        case "show-run":
            let json = args.flag("--json")
            let id = try args.runID()
            try args.done()
            let d = try RecordViews.detail(db, id)
            out(json ? RecordViews.jsonText(try RecordViews.json(d, db: db)) : try RecordViews.describe(d, db: db))
        case "diff":
            let json = args.flag("--json")
            let a = try args.runID(), b = try args.runID()
            try args.done()
            let da = try RecordViews.detail(db, a), dbb = try RecordViews.detail(db, b)
            out(json ? RecordViews.jsonText(RecordViews.diffJSON(da, dbb, db: db)) : RecordViews.diffText(da, dbb, db: db))
        case "plot":
            let metric = try args.string("--metric") ?? "loss"
            let output = try args.string("-o") ?? args.string("--output")
            let smoothing = try args.double("--smooth") ?? 0
            let logY = args.flag("--log-y")
            var ids: [Int64] = []
            while !args.rest.isEmpty { ids.append(try args.runID()) }
            guard !ids.isEmpty else { throw RecordViewError(":plot: give one or more run ids, e.g. :plot 7 9 --metric loss") }
            guard smoothing >= 0 && smoothing < 1 else { throw RecordViewError(":plot: --smooth must be in 0..<1, got \(smoothing)") }
            let image = try RecordViews.chart(db: db, runIDs: ids, metric: metric, smoothing: smoothing, logY: logY)
            let path = output ?? "plot-\(ids.map(String.init).joined(separator: "-"))-\(metric).png"
            try? FileManager.default.createDirectory(at: URL(fileURLWithPath: path).deletingLastPathComponent(), withIntermediateDirectories: true)
            try image.writePNG(path: path)
            out("wrote \(path)")
        case "replay":
            let id = try args.runID()
            try args.done()
            out(try replayRun(id, db: db).summary)
        default:
            return false
        }
        return true
    }

    /// Words of a command: `--name value` options and flags taken out first, positionals left.
    struct Args {
        var rest: [String]
        let command: String
        init(_ words: [String], command: String) { rest = words; self.command = command }

        mutating func flag(_ name: String) -> Bool {
            guard let i = rest.firstIndex(of: name) else { return false }
            rest.remove(at: i)
            return true
        }
        mutating func string(_ name: String) throws -> String? {
            guard let i = rest.firstIndex(of: name) else { return nil }
            guard i + 1 < rest.count else { throw RecordViewError(":\(command): \(name) needs a value") }
            let v = rest[i + 1]
            rest.removeSubrange(i...(i + 1))
            return v
        }
        mutating func int(_ name: String) throws -> Int? {
            guard let s = try string(name) else { return nil }
            guard let v = Int(s) else { throw RecordViewError(":\(command): \(name) expects an integer, got '\(s)'") }
            return v
        }
        mutating func double(_ name: String) throws -> Double? {
            guard let s = try string(name) else { return nil }
            guard let v = Double(s) else { throw RecordViewError(":\(command): \(name) expects a number, got '\(s)'") }
            return v
        }
        mutating func runID() throws -> Int64 {
            guard let first = rest.first else { throw RecordViewError(":\(command): missing run id (`:runs` lists them)") }
            guard let id = Int64(first) else {
                throw RecordViewError(":\(command): '\(first)' is not a run id" + (first.hasPrefix("-") ? " (unknown option \(first))" : ""))
            }
            rest.removeFirst()
            return id
        }
        func done() throws {
            if let extra = rest.first { throw RecordViewError(":\(command): unexpected '\(extra)'") }
        }
    }
}
