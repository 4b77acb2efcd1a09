import Foundation
import Notebook
import Record
import Training

/// A one-shot command (`tunelab train`, `generate`, `score`, `merge`) as what it is: a short
/// run of cells built from the same schema as a notebook's, its flags overrides of their keys,
/// recorded like any run (kind `command`, with its command line) unless the record is an
/// in-memory one (`--no-record`).
public final class CommandRun {
    public let kinds: [CellKind]
    let parsed: CellFlags.Parsed
    let fixed: [CellKind: [String: ParamValue]]
    let commandLine: String
    public var quiet = false
    public var echoPrompts = true
    public private(set) var session: NotebookSession?

    /// `kinds`: the cells in order; `flags`: the command's cell flags; `fixed`: keys the command
    /// itself sets (`export.merge = true` for `merge`). Every cell is resolved and built here, so
    /// a bad flag or combination is reported before anything runs or is recorded.
    public init(kinds: [CellKind], flags: [String], fixed: [CellKind: [String: ParamValue]] = [:], commandLine: String) throws {
        self.kinds = kinds
        let fixedKeys = Set(fixed.flatMap { kind, kv in kv.keys.map { "\(kind.rawValue).\($0)" } })
        parsed = try CellFlags(kinds: Self.flagOrder(kinds), fixed: fixedKeys).parse(flags)
        self.fixed = fixed
        self.commandLine = commandLine
        let state = SessionState(notebook: nil)
        for (i, kind) in kinds.enumerated() { _ = try makeCell(try resolved(kind, index: i + 1).1, state: state) }
    }

    /// The command's own kind (the last cell) owns the bare flags first (`--seed` is train.seed).
    public static func flagOrder(_ kinds: [CellKind]) -> [CellKind] { Array(kinds.reversed()) }

    func resolved(_ kind: CellKind, index: Int) throws -> (Cell, ResolvedParams) {
        let cell = Cell(index: index, kind: kind, params: [], source: "command line")
        let overrides = (parsed.overrides[kind] ?? [:]).merging(fixed[kind] ?? [:]) { _, f in f }
        return (cell, try cell.resolve(overrides: overrides, flags: parsed.flags[kind] ?? [:]))
    }

    /// Runs every cell, recording into `db`; the last one's summary. Stops (throwing) at the
    /// first failure; the run is finished either way.
    @discardableResult
    public func run(db: ExperimentDB) throws -> String {
        let session = NotebookSession(db: db, notebook: nil, runKind: .command, commandLine: commandLine)
        session.quiet = quiet
        session.state.echoPrompts = echoPrompts
        self.session = session
        var summary = ""
        var interrupted = false
        defer { session.finish(interrupted: interrupted) }
        for (i, kind) in kinds.enumerated() {
            let (cell, params) = try resolved(kind, index: i + 1)
            let changes = (parsed.overrides[kind] ?? [:]).mapValues(\.text)
            do {
                summary = try session.execute(cell, params: params, changes: changes)
            } catch let e as NotebookSession.CellInterrupted {
                interrupted = true
                throw e
            }
            // Earlier cells' summaries are progress (stderr): stdout is the command's result.
            if !quiet && i < kinds.count - 1 { FileHandle.standardError.write(Data((summary + "\n").utf8)) }
        }
        return summary
    }

    public var facts: [String: Any] { session?.lastFacts ?? [:] }
}

/// Typed configurations built by the cells from the schema (for commands that run a trainer
/// or data preparation outside a session: `tunelab bench train`).
public enum CellConfigs {
    public static func train(_ overrides: [String: ParamValue], flags: [String: String] = [:]) throws -> TrainConfig {
        let cell = Cell(index: 1, kind: .train, params: [], source: "")
        return try TrainCell(try cell.resolve(overrides: overrides, flags: flags), state: SessionState(notebook: nil)).config
    }

    public static func format(_ overrides: [String: ParamValue], flags: [String: String] = [:]) throws -> FormatConfig {
        let cell = Cell(index: 1, kind: .format, params: [], source: "")
        return try FormatCell(try cell.resolve(overrides: overrides, flags: flags), state: SessionState(notebook: nil)).config
    }
}
