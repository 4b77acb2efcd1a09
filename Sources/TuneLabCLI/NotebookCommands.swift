import ArgumentParser
import Foundation
import Kernels
import Notebook
import Record
import REPL
import Session

/// Opens the experiment record, marking runs left `running` by a dead process as interrupted.
func openRecord(_ path: String) throws -> ExperimentDB {
    let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    do {
        let db = try ExperimentDB(path: path)
        _ = try? db.markInterruptedRuns()
        return db
    } catch { throw UserError("\(error)") }
}

func loadNotebook(_ path: String) throws -> Notebook {
    do { return try Notebook(path: path) } catch { throw UserError("\(error)") }
}

func parseOverrides(_ sets: [String]) throws -> [Override] {
    try sets.map { s in
        do { return try Override(parsing: s) } catch { throw UserError("--set \(s): \(error)") }
    }
}

/// A session whose REPL commands (`:runs`, `:plot`, `:replay` …) act on the same record.
func makeSession(db: ExperimentDB, dbPath: String, notebook: Notebook?, kind: RunKind) -> NotebookSession {
    let s = NotebookSession(db: db, notebook: notebook, runKind: kind)
    s.commandHandler = { name, args in
        if name == "replay" {
            guard let a = args.first, let id = Int64(a) else { throw UserError(":replay RUN_ID") }
            print(try replayRun(id, db: db).summary)
            return true
        }
        return try RecordViews.replCommand(name, arguments: args, db: dbPath)
    }
    return s
}

struct Open: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "open",
        abstract: "The notebook REPL (the default command): step through a notebook's cells or type cells; every run is recorded.")
    @Argument(help: "A notebook (Markdown with load/format/train/infer/eval/export cells); none = an empty session.")
    var notebook: String?
    @Option(name: .long, help: "Experiment record (SQLite).") var db: String = RecordViews.defaultDB
    @Option(name: .customLong("set"), help: "Override a parameter, e.g. --set train.lr=1e-4 (repeatable).") var sets: [String] = []

    func run() throws {
        let nb = try notebook.map(loadNotebook)
        let overrides = try parseOverrides(sets)
        let record = try openRecord(db)
        let session = makeSession(db: record, dbPath: db, notebook: nb, kind: .repl)
        let repl = Repl(notebook: nb, executor: session, reader: makeLineReader(), overrides: overrides)
        repl.run()
    }
}

struct RunNotebook: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a notebook top to bottom without a terminal, recording every cell.")
    @Argument(help: "The notebook file.") var notebook: String
    @Option(name: .long, help: "Experiment record (SQLite).") var db: String = RecordViews.defaultDB
    @Option(name: .customLong("set"), help: "Override a parameter, e.g. --set train.max_steps=30 (repeatable).") var sets: [String] = []

    func run() throws {
        let nb = try loadNotebook(notebook)
        let overrides = try parseOverrides(sets)
        let record = try openRecord(db)
        let session = makeSession(db: record, dbPath: db, notebook: nb, kind: .run)
        let repl = Repl(notebook: nb, executor: session, reader: PipeLineReader(), overrides: overrides)
        Interrupt.install()
        let ok = repl.runAll()
        session.finish(interrupted: repl.states.contains(.interrupted))
        if let id = session.runID { print("recorded as run \(id) in \(db)") }
        if !ok { throw ExitCode(1) }
    }
}

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-run a recorded run with its parameters, seeds and thread count; report bit-identical curves or the first step that differs.")
    @Argument(help: "Run id (see `tunelab runs`).") var id: Int64
    @Option(name: .long, help: "Experiment record (SQLite).") var db: String = RecordViews.defaultDB
    @Flag(name: .long, help: "Show the cells' progress.") var verbose = false

    func run() throws {
        let record = try openRecord(db)
        Interrupt.install()
        let report: ReplayReport
        do { report = try replayRun(id, db: record, quiet: !verbose) } catch { throw UserError("\(error)") }
        print(report.summary)
        if !report.identical { throw ExitCode(3) }
    }
}
