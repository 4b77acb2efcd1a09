import Foundation
import Notebook
import Record

/// One kind of cell: built once from its resolved parameters (every check of the kind's keys
/// and of their combinations happens in `init`, with errors naming the key where it was set),
/// then run against the session's state and the run's recorder.
protocol SessionCell {
    /// The seed recorded with the cell (nil when the cell draws no random numbers).
    var seed: UInt64? { get }
    /// Files (and pinned hub inputs) the cell reads, hashed into the record before it runs.
    func inputs(_ state: SessionState, _ recorder: RunRecorder) throws -> [CellInput]
    func run(_ state: SessionState, _ ctx: CellContext) throws -> CellResult
}

extension SessionCell {
    var seed: UInt64? { nil }
    func inputs(_ state: SessionState, _ recorder: RunRecorder) throws -> [CellInput] { [] }
}

/// Where a running cell records what it produces.
struct CellContext {
    let recorder: RunRecorder
    let runID: Int64
    let cellID: Int64
    /// The cell's position (1-based) in its notebook or session.
    let index: Int
    let params: ResolvedParams
    var db: ExperimentDB { recorder.db }
}

struct CellResult {
    var summary: String
    var interrupted = false
    /// Facts for `--json` output of the one-shot commands (JSON-compatible values).
    var facts: [String: Any] = [:]
}

/// The typed cell for resolved parameters (`params.kind` picks the type).
func makeCell(_ p: ResolvedParams, state: SessionState) throws -> SessionCell {
    switch p.kind {
    case .load: return try LoadCell(p)
    case .format: return try FormatCell(p, state: state)
    case .train: return try TrainCell(p, state: state)
    case .infer: return try InferCell(p, state: state)
    case .eval: return try EvalCell(p, state: state)
    case .score: return try ScoreCell(p, state: state)
    case .export: return try ExportCell(p, state: state)
    case .dpo: return try DPOCell(p, state: state)
    }
}

/// The `adapter` key of infer, score and export: the session's adapter, none, or a folder.
enum AdapterChoice: Equatable {
    case session, none, folder(String)

    init(_ p: ResolvedParams, state: SessionState, allowNone: Bool = true) throws {
        switch p.string("adapter") {
        case "auto": self = .session
        case "none":
            guard allowNone else { throw p.error("adapter", "an export needs an adapter: \"auto\" or an adapter folder") }
            self = .none
        case let path:
            let resolved = state.inputPath(path)
            guard FileManager.default.fileExists(atPath: resolved + "/adapter_config.json") else {
                throw p.error("adapter", "\(path): not an adapter folder (no adapter_config.json there); \"auto\", \"none\" or a folder PEFT saved")
            }
            self = .folder(resolved)
        }
    }

    var input: [CellInput] {
        if case .folder(let f) = self { return [.file(f)] }
        return []
    }
}

import Hub

/// `hf:org/name…` → "org/name" (nil for anything else).
enum HubSpecName {
    static func repo(of spec: String) -> String? { HubClient.parse(spec)?.repo }
}
