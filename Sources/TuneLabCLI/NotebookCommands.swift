import ArgumentParser
import Foundation
import Kernels
import Notebook
import Record
import REPL
import Session

/// Opens the experiment record a run will be recorded in (refusing one this process cannot
/// write), marking runs left `running` by a dead process as interrupted.
func openRecord(_ path: String) throws -> ExperimentDB {
    let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    do {
        let db = try ExperimentDB(path: path)
        try db.requireWritable()
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

struct Open: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "open",
        abstract: "The notebook REPL (the default command): step through a notebook's cells or type cells; every run is recorded.")
    @Argument(help: "A notebook (Markdown with load/format/train/infer/eval/score/export cells); none = an empty session.")
    var notebook: String?
    @Option(name: .long, help: "Experiment record (SQLite).") var db: String = RecordViews.defaultDB
    @Option(name: .customLong("set"), help: "Override a parameter, e.g. --set train.lr=1e-4 (repeatable).") var sets: [String] = []

    func run() throws {
        let nb = try notebook.map(loadNotebook)
        let overrides = try parseOverrides(sets)
        let record = try openRecord(db)
        let session = NotebookSession(db: record, notebook: nb, runKind: .repl)
        let repl = Repl(notebook: nb, executor: session, reader: makeLineReader(), overrides: overrides,
                        executorCommands: RecordCommands.help)
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
        let session = NotebookSession(db: record, notebook: nb, runKind: .run)
        let repl = Repl(notebook: nb, executor: session, reader: PipeLineReader(), overrides: overrides,
                        executorCommands: RecordCommands.help)
        Interrupt.install()
        let ok = repl.runAll()
        session.finish(interrupted: repl.states.contains(.interrupted))
        if let id = session.runID { print("recorded as run \(id) in \(db)") }
        if !ok { throw ExitCode(1) }
    }
}

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-run a recorded run with its parameters and seeds; report bit-identical curves and generations, or the first step or token that differs.",
        discussion: """
            Inputs are checked first: a changed model, data or template file (or a hub file whose bytes differ at \
            the recorded commit) refuses the replay, naming the file. Results do not depend on the thread count; \
            another CPU's kernels do: such a replay is refused unless --allow-different-kernels, and its \
            differences are then reported as expected. Exit status: 0 identical (or differing as expected), \
            3 diverged.
            """)
    @Argument(help: "Run id (see `tunelab runs`).") var id: Int64
    @Option(name: .long, help: "Experiment record (SQLite).") var db: String = RecordViews.defaultDB
    @Option(name: .long, help: "Worker threads (default: the recorded run's).") var threads: Int?
    @Flag(name: .long, help: "Run even where the recorded kernels differ from this machine's.") var allowDifferentKernels = false
    @Flag(name: .long, help: "Show the cells' progress.") var verbose = false

    func validate() throws {
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1, got \(t)") }
    }

    func run() throws {
        let record = try openRecord(db)
        Interrupt.install()
        let report: ReplayReport
        do {
            report = try replayRun(id, db: record, quiet: !verbose, threads: threads, allowDifferentKernels: allowDifferentKernels,
                                   announce: { stderr($0) })
        } catch { throw UserError("\(error)") }
        print(report.summary)
        if report.failed { throw ExitCode(3) }
    }
}

struct Branch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start a run from a recorded run's checkpoint with changed train settings (linked to its parent).",
        discussion: """
            Rebuilds the parent's model and data from its recorded load and format cells (inputs are checked \
            like a replay's), then continues its train cell from checkpoint-N with the --set changes, e.g. \
            `tunelab branch 7 --from-step 20 --set train.lr=5e-5 --set train.max_steps=40`. `resume` refuses \
            changed settings; a branch is how to change them (r and targets stay: it is the same adapter).
            """)
    @Argument(help: "The parent run id (see `tunelab runs`).") var id: Int64
    @Option(name: .long, help: "The checkpoint's step (a multiple of the parent's save_every, or its last step).") var fromStep: Int
    @Option(name: .customLong("set"), help: "A changed train setting, e.g. --set train.lr=5e-5 (repeatable).") var sets: [String] = []
    @Option(name: .long, help: "Experiment record (SQLite).") var db: String = RecordViews.defaultDB

    func run() throws {
        let overrides = try parseOverrides(sets)
        let record = try openRecord(db)
        Interrupt.install()
        do {
            let (runID, summary) = try branchRun(id, fromStep: fromStep, overrides: overrides, db: record)
            print(summary)
            if let runID { print("recorded as run \(runID) (branch of run \(id) at step \(fromStep)) in \(db)") }
        } catch { throw UserError("\(error)") }
    }
}
