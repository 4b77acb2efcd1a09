import Foundation
import Notebook
import Record
import Training

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
    case .grpo: return try GRPOCell(p, state: state)
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

/// The adapter a preference or RL cell (dpo, grpo) starts from, and its LoRA shape.
enum StartingAdapter {
    /// LoRA keys the cell sets to non-default values (they must agree with a starting adapter's).
    static func explicitLoRA(_ p: ResolvedParams) -> [String: String] {
        var lora: [String: String] = [:]
        // Set to other than the default (a replay passes every recorded value, defaults included).
        for k in ["r", "lora_alpha", "targets", "use_rslora"]
        where p.explicitKeys.contains(k) && p.values[k] != CellSchema.spec(p.kind, k)?.defaultValue { lora[k] = p.values[k]!.text }
        return lora
    }

    /// The starting adapter (nil: a fresh one) and `train` with its LoRA shape (and the cell's dropout).
    static func resolve(_ choice: AdapterChoice, explicitLoRA: [String: String], train: TrainConfig, state: SessionState,
                        params: ResolvedParams) throws -> (LoRAAdapter?, TrainConfig) {
        let lm = try state.requireModel()
        let a: LoRAAdapter?
        switch choice {
        case .none: a = nil
        case .session:
            guard let s = state.adapter else {
                throw params.error("adapter", "\"auto\" is this session's adapter, and no train cell has made one; run one first, or give a folder or \"none\"")
            }
            a = s
        case .folder(let dir): a = try LoRAAdapter.load(directory: dir, model: lm.config)
        }
        var c = train
        guard let a else { return (nil, c) }
        let shape = ["r": "\(a.config.rank)", "lora_alpha": ParamValue.double(a.config.alpha).text,
                     "targets": ParamValue.array(a.config.targets.map { .string($0.rawValue) }).text,
                     "use_rslora": "\(a.config.useRSLoRA)"]
        for (k, v) in explicitLoRA.sorted(by: { $0.key < $1.key }) where shape[k] != v {
            throw params.error(k, "is \(v), but the starting adapter has \(k) = \(shape[k]!); leave it unset (the adapter's shape is used)")
        }
        var lora = a.config
        lora.dropout = c.lora.dropout
        c.lora = lora
        var start = a
        start.config = lora
        return (start, c)
    }
}
