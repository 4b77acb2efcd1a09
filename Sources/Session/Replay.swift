import Foundation
import Kernels
import Notebook
import Record

/// The verdict of re-running a recorded run.
public struct ReplayReport: Sendable {
    public struct Divergence: Sendable, Equatable {
        public let cellIndex: Int
        public let metric: String
        public let step: Int
        public let recorded: Double?
        public let replayed: Double?
    }
    public let originalRunID: Int64
    public let replayRunID: Int64?
    /// Metrics compared: (train cell index, metric name, steps compared).
    public let compared: [(cell: Int, metric: String, steps: Int)]
    /// The earliest step where any metric differs (nil: bit-identical).
    public let firstDivergence: Divergence?
    /// Largest |recorded − replayed| per metric over all steps.
    public let maxAbsDelta: [String: Double]

    public var identical: Bool { firstDivergence == nil }

    public var summary: String {
        let steps = compared.reduce(0) { $0 + $1.steps }
        guard let d = firstDivergence else {
            return "replay of run \(originalRunID) (as run \(replayRunID.map(String.init) ?? "-")): bit-identical — \(compared.count) metric curves, \(steps) values compared (\(Set(compared.map(\.metric)).sorted().joined(separator: ", ")))"
        }
        func show(_ v: Double?) -> String { v.map { String($0) } ?? "missing" }
        let deltas = maxAbsDelta.keys.sorted().map { "\($0) \(maxAbsDelta[$0]!)" }.joined(separator: ", ")
        return "replay of run \(originalRunID) (as run \(replayRunID.map(String.init) ?? "-")): DIVERGES at cell \(d.cellIndex) step \(d.step), metric \(d.metric): recorded \(show(d.recorded)), replayed \(show(d.replayed)); max |Δ|: \(deltas)"
    }
}

/// Metrics whose values must reproduce exactly (timings do not).
let replayedMetrics = ["loss", "grad_norm", "lr", "eval_loss"]

/// Re-executes run `runID` cell by cell with its recorded parameters and seeds on the recorded
/// thread count, refusing if an input file's hash changed, records it as a child run
/// (kind `replay`), and compares every recorded metric step by step, bit for bit.
public func replayRun(_ runID: Int64, db: ExperimentDB, quiet: Bool = true) throws -> ReplayReport {
    guard let detail = try db.run(runID) else { throw SessionError("no run \(runID) in \(db.path)") }
    let cells = detail.cells.filter { $0.outcome == .ok || $0.outcome == .interrupted }
    guard !cells.isEmpty else { throw SessionError("run \(runID) has no completed cell to replay") }
    // Refuse when an input changed: the replay would not be the same experiment.
    for c in cells {
        for (path, recorded) in c.files.sorted(by: { $0.key < $1.key }) {
            guard FileManager.default.fileExists(atPath: path) else {
                throw SessionError("replay refused: \(path) (read by cell \(c.index) \(c.kind)) no longer exists")
            }
            let now = try hashPath(path)
            guard now == recorded else {
                throw SessionError("replay refused: \(path) (read by cell \(c.index) \(c.kind)) changed since run \(runID): sha256 \(recorded.prefix(12))… → \(now.prefix(12))…")
            }
        }
    }
    var nb: Notebook? = nil
    if let text = try db.notebookContent(runID: runID), let path = detail.summary.notebookPath {
        nb = try? Notebook(text: text, path: path)
    }
    let session = NotebookSession(db: db, notebook: nb, runKind: .replay, parentRunID: runID)
    session.quiet = quiet
    let threads = detail.environment.threads ?? 0
    var replayCells: [(orig: CellRecord, newID: Int64)] = []
    var interrupted = false
    do {
        for c in cells {
            guard let kind = CellKind(rawValue: c.kind) else { throw SessionError("run \(runID): unknown cell kind \(c.kind)") }
            var params: [CellParam] = []
            for (k, text) in c.params.sorted(by: { $0.key < $1.key }) {
                guard let spec = CellSchema.spec(kind, k) else { continue }   // a key this version no longer has
                let v: ParamValue
                if case .string = spec.defaultValue { v = .string(text) } else { v = ParamValue.parseLoose(text) }
                params.append(CellParam(key: k, value: v, line: 0))
            }
            // Same thread count (reductions in BLAS depend on it); fresh output folders so the
            // original run's artifacts stay untouched.
            if kind == .load, threads > 0 { params.removeAll { $0.key == "threads" }; params.append(CellParam(key: "threads", value: .int(threads), line: 0)) }
            if kind == .train || kind == .export {
                params.removeAll { $0.key == "out" }
                params.append(CellParam(key: "out", value: .string("runs/replay-of-\(runID)-cell\(c.index)"), line: 0))
            }
            let cell = Cell(index: c.index, kind: kind, params: params, source: "replay of run \(runID) cell \(c.index)")
            do {
                _ = try session.execute(cell, params: try cell.resolve(), changes: [:])
            } catch let e as NotebookSession.CellInterrupted {
                _ = e; interrupted = true
            }
            replayCells.append((c, session.lastCellID!))
            if interrupted { break }
        }
    } catch {
        session.finish(interrupted: false)
        throw error
    }
    session.finish(interrupted: interrupted)

    var compared: [(Int, String, Int)] = []
    var first: ReplayReport.Divergence? = nil
    var maxDelta: [String: Double] = [:]
    for (orig, newID) in replayCells where orig.kind == "train" || orig.kind == "eval" {
        for name in replayedMetrics {
            let a = try db.metrics(cellID: orig.id, name: name), b = try db.metrics(cellID: newID, name: name)
            if a.isEmpty && b.isEmpty { continue }
            let ma = Dictionary(a.map { ($0.step, $0.value) }, uniquingKeysWith: { x, _ in x })
            let mb = Dictionary(b.map { ($0.step, $0.value) }, uniquingKeysWith: { x, _ in x })
            let steps = Set(ma.keys).union(mb.keys).sorted()
            compared.append((orig.index, name, steps.count))
            for s in steps {
                let x = ma[s], y = mb[s]
                let same = x.map { $0.bitPattern } == y.map { $0.bitPattern } || (x?.isNaN == true && y?.isNaN == true)
                if let x, let y, x.isFinite, y.isFinite { maxDelta[name] = max(maxDelta[name] ?? 0, abs(x - y)) }
                if !same, first == nil || s < first!.step {
                    first = .init(cellIndex: orig.index, metric: name, step: s, recorded: x, replayed: y)
                }
            }
        }
    }
    return ReplayReport(originalRunID: runID, replayRunID: session.runID, compared: compared.map { (cell: $0.0, metric: $0.1, steps: $0.2) },
                        firstDivergence: first, maxAbsDelta: maxDelta)
}
