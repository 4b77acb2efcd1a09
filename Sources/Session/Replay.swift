import Foundation
import Hub
import Kernels
import Notebook
import Record
import Training

/// The verdict of re-running a recorded run.
public struct ReplayReport: Sendable {
    public enum Divergence: Sendable, Equatable {
        /// A metric's value at a step (nil: missing on that side).
        case metric(cell: Int, name: String, step: Int, recorded: Double?, replayed: Double?)
        /// A generation's token at a position (nil: that side ended earlier; ids nil for records
        /// made before token ids were kept, then the texts differ).
        case generation(cell: Int, index: Int, token: Int, recorded: Int?, replayed: Int?)
        /// A GRPO completion's token at a position (nil: that side ended earlier or has no such
        /// completion); token nil when the ids agree but the text, seed, rewards or advantage differ.
        case completion(cell: Int, index: Int, token: Int?, recorded: Int?, replayed: Int?)
        /// A cell that ran in the original but not in the replay (or the reverse).
        case cellCount(recorded: Int, replayed: Int)

        var cell: Int {
            switch self {
            case .metric(let c, _, _, _, _), .generation(let c, _, _, _, _), .completion(let c, _, _, _, _): return c
            case .cellCount: return Int.max
            }
        }
    }
    public let originalRunID: Int64
    public let replayRunID: Int64?
    /// Metrics compared: (cell index, metric name, steps compared).
    public let compared: [(cell: Int, metric: String, steps: Int)]
    /// Generations compared and their tokens.
    public let generations: Int
    public let generationTokens: Int
    /// GRPO completions compared (tokens, text, seed, rewards, advantage) and their tokens.
    public var completions = 0
    public var completionTokens = 0
    /// The earliest difference: the first cell that differs, and in it the first step or token.
    public let firstDivergence: Divergence?
    /// Largest |recorded − replayed| per metric over all steps.
    public let maxAbsDelta: [String: Double]
    /// Why a difference is expected (another kernel set, CPU); empty when the replay ran on the
    /// same kernels and must be bit-identical.
    public let expectedBecause: [String]

    public var identical: Bool { firstDivergence == nil }
    /// A difference that is a failure (not explained by a recorded change of kernels).
    public var failed: Bool { firstDivergence != nil && expectedBecause.isEmpty }

    public var summary: String {
        let steps = compared.reduce(0) { $0 + $1.steps }
        let head = "replay of run \(originalRunID) (as run \(replayRunID.map(String.init) ?? "-")): "
        guard let d = firstDivergence else {
            var s = head + "bit-identical — \(compared.count) metric curves, \(steps) values compared (\(Set(compared.map(\.metric)).sorted().joined(separator: ", ")))"
            if generations > 0 { s += ", \(generations) generations (\(generationTokens) tokens)" }
            if completions > 0 { s += ", \(completions) completions (\(completionTokens) tokens, rewards and advantages)" }
            if !expectedBecause.isEmpty { s += "; even though \(expectedBecause.joined(separator: "; "))" }
            return s
        }
        func show(_ v: Double?) -> String { v.map { String($0) } ?? "missing" }
        func showID(_ v: Int?) -> String { v.map { String($0) } ?? "end" }
        var what: String
        switch d {
        case .metric(let c, let name, let step, let a, let b):
            what = "at cell \(c) step \(step), metric \(name): recorded \(show(a)), replayed \(show(b))"
        case .generation(let c, let i, let t, let a, let b):
            what = "at cell \(c), generation \(i + 1), token \(t + 1): recorded \(showID(a)), replayed \(showID(b))"
        case .completion(let c, let i, let t, let a, let b):
            if let t {
                what = "at cell \(c), completion \(i + 1), token \(t + 1): recorded \(showID(a)), replayed \(showID(b))"
            } else {
                what = "at cell \(c), completion \(i + 1): same tokens, but its text, seed, rewards or advantage differ"
            }
        case .cellCount(let a, let b):
            what = "in the cells run: \(a) recorded, \(b) replayed"
        }
        let deltas = maxAbsDelta.keys.sorted().filter { maxAbsDelta[$0]! > 0 }.map { "\($0) \(maxAbsDelta[$0]!)" }.joined(separator: ", ")
        if !deltas.isEmpty { what += "; max |Δ|: \(deltas)" }
        if !expectedBecause.isEmpty {
            return head + "differs, as expected (\(expectedBecause.joined(separator: "; "))) — first " + what
        }
        return head + "DIVERGES " + what
    }
}

/// Metrics that are measurements of time, not results (never compared).
let timingMetrics: Set<String> = Set(["tokens_per_s"]).union(grpoTimingMetrics)

/// A replay that cannot start (changed inputs, other kernels without consent).
public struct ReplayRefused: Error, CustomStringConvertible {
    public let description: String
}

/// Re-executes run `runID` cell by cell with its recorded parameters and seeds, refusing if an
/// input file changed (local files by sha256, hub inputs at their recorded commit), records it
/// as a child run (kind `replay`), and compares every recorded metric step by step and every
/// generation token by token, bit for bit. Results do not depend on the thread count, so
/// `threads` may differ from the original's; other kernels (another CPU) make a difference
/// expected: refused unless `allowDifferentKernels`, then reported as expected.
public func replayRun(_ runID: Int64, db: ExperimentDB, quiet: Bool = true, threads: Int? = nil,
                      allowDifferentKernels: Bool = false, announce: (String) -> Void = { _ in }) throws -> ReplayReport {
    guard let detail = try db.run(runID) else { throw SessionError("no run \(runID) in \(db.path)") }
    let cells = detail.cells.filter { $0.outcome == .ok || $0.outcome == .interrupted }
    guard !cells.isEmpty else { throw SessionError("run \(runID) has no completed cell to replay") }

    // Same machine code? (Recorded since schema v3; older runs are assumed to match.)
    var expected: [String] = []
    if let recorded = ExecutionFingerprint(recorded: detail.environment.extra) {
        let diffs = ExecutionFingerprint.current.differences(from: recorded)
        if !diffs.isEmpty {
            let why = "run \(runID) ran on other kernels: \(diffs.joined(separator: "; "))"
            guard allowDifferentKernels else {
                throw ReplayRefused(description: "replay refused: \(why); its numbers cannot be bit-identical here. Run anyway with --allow-different-kernels (the differences are then reported as expected)")
            }
            expected.append(why)
            announce("note: \(why); differences will be reported as expected")
        }
    }

    // Refuse when an input changed: the replay would not be the same experiment.
    let checker = RunRecorder(db: db, notebook: nil, kind: .replay)
    var pinnedSpecs: [Int64: [String: String]] = [:]   // cell id → param key → pinned hf spec
    for c in cells {
        for (key, recordedSHA) in c.files.sorted(by: { $0.key < $1.key }) {
            let now: String
            if let spec = HubClient.parse(key), let file = spec.path {
                var pinned = spec; pinned.path = nil
                let local: String
                do {
                    if c.kind == "load" {
                        local = try HubClient().downloadModel(repo: spec.repo, file: nil, revision: spec.revision) + "/" + file
                    } else {
                        local = try HubClient().resolveDataset(key)
                    }
                } catch {
                    throw ReplayRefused(description: "replay refused: \(key) (read by cell \(c.index) \(c.kind)) cannot be fetched at its recorded commit: \(error)")
                }
                now = try checker.hash(local)
                let param = c.kind == "load" ? "model" : "data"
                if let written = c.params[param], let w = HubClient.parse(written) {
                    var p = w; p.revision = spec.revision
                    pinnedSpecs[c.id, default: [:]][param] = p.description
                }
            } else {
                guard FileManager.default.fileExists(atPath: key) else {
                    throw ReplayRefused(description: "replay refused: \(key) (read by cell \(c.index) \(c.kind)) no longer exists")
                }
                now = try checker.hash(key)
            }
            guard now == recordedSHA else {
                throw ReplayRefused(description: "replay refused: \(key) (read by cell \(c.index) \(c.kind)) changed since run \(runID): sha256 \(recordedSHA.prefix(12))… → \(now.prefix(12))…")
            }
        }
    }

    var nb: Notebook? = nil
    if let text = try db.notebookContent(runID: runID), let path = detail.summary.notebookPath {
        nb = try? Notebook(text: text, path: path)
    }
    let session = NotebookSession(db: db, notebook: nb, runKind: .replay, parentRunID: runID)
    session.quiet = quiet
    var replayCells: [(orig: CellRecord, newID: Int64)] = []
    var interrupted = false
    do {
        for c in cells {
            guard let kind = CellKind(rawValue: c.kind) else { throw SessionError("run \(runID): unknown cell kind \(c.kind)") }
            var values = recordedValues(c, kind: kind)
            for (k, pinned) in pinnedSpecs[c.id] ?? [:] { values[k] = .string(pinned) }
            if kind == .load, let threads { values["threads"] = .int(threads) }
            else if kind == .load, values["threads"] == nil || values["threads"] == .int(0), let t = detail.environment.threads {
                values["threads"] = .int(t)
            }
            // Fresh output folders, so the original run's artifacts stay untouched.
            if kind == .train || kind == .dpo || kind == .grpo || kind == .export {
                let gguf = kind == .export && values["format"] == .string(ExportFormat.gguf.rawValue)   // one file, not a folder
                values["out"] = .string("runs/replay-\(session.recorder.ensureRunIDText())-of-\(runID)-cell\(c.index)" + (gguf ? ".gguf" : ""))
            }
            let cell = Cell(index: c.index, kind: kind, params: [], source: "replay of run \(runID) cell \(c.index)")
            do {
                _ = try session.execute(cell, params: try cell.resolve(overrides: values), changes: [:])
            } catch is NotebookSession.CellInterrupted {
                interrupted = true
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
    var nGen = 0, nTok = 0, nComp = 0, nCompTok = 0
    func note(_ d: ReplayReport.Divergence) { if first == nil || d.cell < first!.cell { first = d } }
    if replayCells.count != cells.count { note(.cellCount(recorded: cells.count, replayed: replayCells.count)) }
    for (orig, newID) in replayCells {
        let names = Set(try db.metricNames(cellID: orig.id) + db.metricNames(cellID: newID)).subtracting(timingMetrics).sorted()
        var cellFirst: ReplayReport.Divergence? = nil
        for name in names {
            let a = try db.metrics(cellID: orig.id, name: name), b = try db.metrics(cellID: newID, name: name)
            let ma = Dictionary(a.map { ($0.step, $0.value) }, uniquingKeysWith: { x, _ in x })
            let mb = Dictionary(b.map { ($0.step, $0.value) }, uniquingKeysWith: { x, _ in x })
            let steps = Set(ma.keys).union(mb.keys).sorted()
            compared.append((orig.index, name, steps.count))
            for s in steps {
                let x = ma[s], y = mb[s]
                let same = x.map { $0.bitPattern } == y.map { $0.bitPattern } || (x?.isNaN == true && y?.isNaN == true)
                if let x, let y, x.isFinite, y.isFinite { maxDelta[name] = max(maxDelta[name] ?? 0, abs(x - y)) }
                if !same {
                    let d = ReplayReport.Divergence.metric(cell: orig.index, name: name, step: s, recorded: x, replayed: y)
                    if case .metric(_, _, let fs, _, _) = cellFirst, fs <= s {} else { cellFirst = d }
                }
            }
        }
        let ga = try db.generations(cellID: orig.id), gb = try db.generations(cellID: newID)
        for i in 0..<max(ga.count, gb.count) where cellFirst == nil {
            guard i < ga.count, i < gb.count else {
                cellFirst = .generation(cell: orig.index, index: i, token: 0, recorded: i < ga.count ? ga[i].outputIDs?.first : nil,
                                        replayed: i < gb.count ? gb[i].outputIDs?.first : nil)
                break
            }
            nGen += 1
            if let x = ga[i].outputIDs, let y = gb[i].outputIDs {
                nTok += x.count
                if x != y {
                    let t = (0..<min(x.count, y.count)).first { x[$0] != y[$0] } ?? min(x.count, y.count)
                    cellFirst = .generation(cell: orig.index, index: i, token: t, recorded: t < x.count ? x[t] : nil,
                                            replayed: t < y.count ? y[t] : nil)
                }
            } else if ga[i].output != gb[i].output {
                cellFirst = .generation(cell: orig.index, index: i, token: 0, recorded: nil, replayed: nil)
            }
        }
        let ca = try db.completions(cellID: orig.id), cb = try db.completions(cellID: newID)
        for i in 0..<max(ca.count, cb.count) where cellFirst == nil {
            guard i < ca.count, i < cb.count else {
                cellFirst = .completion(cell: orig.index, index: i, token: 0, recorded: i < ca.count ? ca[i].completionIDs.first : nil,
                                        replayed: i < cb.count ? cb[i].completionIDs.first : nil)
                break
            }
            nComp += 1
            nCompTok += ca[i].completionIDs.count
            let x = ca[i].completionIDs, y = cb[i].completionIDs
            if x != y {
                let t = (0..<min(x.count, y.count)).first { x[$0] != y[$0] } ?? min(x.count, y.count)
                cellFirst = .completion(cell: orig.index, index: i, token: t, recorded: t < x.count ? x[t] : nil, replayed: t < y.count ? y[t] : nil)
            } else if ca[i] != cb[i] {
                var a = ca[i], b = cb[i]
                a.cellID = 0; b.cellID = 0
                if a != b { cellFirst = .completion(cell: orig.index, index: i, token: nil, recorded: nil, replayed: nil) }
            }
        }
        if let d = cellFirst { note(d) }
    }
    var report = ReplayReport(originalRunID: runID, replayRunID: session.runID, compared: compared.map { (cell: $0.0, metric: $0.1, steps: $0.2) },
                        generations: nGen, generationTokens: nTok, firstDivergence: first, maxAbsDelta: maxDelta,
                        expectedBecause: expected)
    report.completions = nComp
    report.completionTokens = nCompTok
    return report
}

extension RunRecorder {
    /// The run id as text, creating the run if needed (for output folder names).
    func ensureRunIDText() -> String { (try? ensureRun()).map(String.init) ?? "new" }
}

/// A recorded cell's parameters as values again (canonical text → typed by the schema); keys
/// this version no longer has are dropped.
func recordedValues(_ c: CellRecord, kind: CellKind) -> [String: ParamValue] {
    var values: [String: ParamValue] = [:]
    for (k, text) in c.params {
        guard let spec = CellSchema.spec(kind, k) else { continue }
        values[k] = spec.type == .string ? .string(text) : ParamValue.parseLoose(text)
    }
    return values
}
