import Foundation
import Kernels
import Notebook
import Plot
import Record
import REPL
import Training

/// Runs cells for the REPL, `tunelab run`, the one-shot commands (`tunelab train`, `generate`,
/// `score`, `merge`) and replays: resolves nothing itself (it receives resolved parameters),
/// builds the typed cell (all checks), records the cell's inputs, runs it, records how it ended.
/// One session is one recorded run.
public final class NotebookSession: CellExecutor {
    public let recorder: RunRecorder
    public let state: SessionState
    public var db: ExperimentDB { recorder.db }
    public var notebook: Notebook? { state.notebook }
    public var runID: Int64? { recorder.runID }
    public private(set) var lastCellID: Int64?
    /// What the last cell reported for `--json` output (JSON-compatible values).
    public private(set) var lastFacts: [String: Any] = [:]
    /// Quiet: no progress lines or streamed generations (tests, replays print their own).
    public var quiet: Bool {
        get { state.quiet }
        set { state.quiet = newValue }
    }

    public init(db: ExperimentDB, notebook: Notebook?, runKind: RunKind, parentRunID: Int64? = nil, commandLine: String? = nil) {
        recorder = RunRecorder(db: db, notebook: notebook, kind: runKind, parentRunID: parentRunID, commandLine: commandLine)
        state = SessionState(notebook: notebook)
    }

    public func finish(interrupted: Bool) { recorder.finish(interrupted: interrupted) }

    /// A cell stopped by Ctrl-C at a safe point (a checkpoint written, the cell recorded).
    public struct CellInterrupted: Error, CustomStringConvertible {
        public let summary: String
        public var description: String { "interrupted: \(summary)" }
    }

    public func execute(_ cell: Cell, params: ResolvedParams, changes: [String: String]) throws -> String {
        let run = try recorder.ensureRun()
        // Checked before anything is recorded: a cell with bad parameters leaves no execution.
        let typed: SessionCell
        do { typed = try makeCell(params, state: state) } catch {
            recorder.noteFailure(error)
            throw error
        }
        let files = try recorder.files(try typed.inputs(state, recorder))
        let cellID = try db.startCell(runID: run, cellIndex: cell.index, kind: cell.kind.rawValue, params: params.recorded,
                                      changes: changes, seed: typed.seed, files: files)
        lastCellID = cellID
        let start = Date()
        do {
            let ctx = CellContext(recorder: recorder, runID: run, cellID: cellID, index: cell.index, params: params)
            let result = try typed.run(state, ctx)
            lastFacts = result.facts
            try db.finishCell(cellID, outcome: result.interrupted ? .interrupted : .ok, durationSeconds: Date().timeIntervalSince(start))
            if result.interrupted { throw CellInterrupted(summary: result.summary) }
            return result.summary
        } catch let e as CellInterrupted {
            throw e
        } catch {
            recorder.noteFailure(error)
            try? db.finishCell(cellID, outcome: .error, error: "\(error)", durationSeconds: Date().timeIntervalSince(start))
            throw error
        }
    }

    public func command(_ name: String, arguments: [String]) throws -> Bool {
        try RecordCommands.run(name, arguments: arguments, db: db, out: { print($0) })
    }
}

/// Loss curves (train, and eval where measured) of one training run as a PNG.
public func plotHistory(_ h: [StepMetrics], path: String, title: String) throws {
    var series = [Series(name: "train loss", steps: h.map { ($0.step, $0.loss) })]
    let ev = h.compactMap { m in m.evalLoss.map { (m.step, $0) } }
    if !ev.isEmpty { series.append(Series(name: "eval loss", steps: ev, markers: true)) }
    let img = renderLineChart(series: series, options: ChartOptions(title: title, yLabel: "loss", smoothing: h.count > 20 ? 0.6 : 0))
    try img.writePNG(path: path)
}

