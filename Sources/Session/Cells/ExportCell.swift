import Foundation
import Notebook
import Training
import Transformer

/// `export`: the adapter as a PEFT folder, or merged into the base weights as a Hugging Face
/// model folder.
final class ExportCell: SessionCell {
    let adapter: AdapterChoice
    let out: String
    let merge: Bool
    let dtype: MergeDType

    init(_ p: ResolvedParams, state: SessionState) throws {
        adapter = try AdapterChoice(p, state: state, allowNone: false)
        out = p.string("out")
        merge = p.bool("merge")
        dtype = MergeDType(rawValue: p.string("dtype")) ?? .f32   // the schema's choices are the enum's cases
        if !out.isEmpty, FileManager.default.fileExists(atPath: out) {
            throw p.error("out", "\(out) already exists: choose a new folder (nothing is overwritten)")
        }
    }

    func inputs(_ state: SessionState, _ recorder: RunRecorder) throws -> [CellInput] { adapter.input }

    func run(_ state: SessionState, _ ctx: CellContext) throws -> CellResult {
        let lm = try state.requireModel()
        let a: LoRAAdapter
        switch adapter {
        case .session:
            guard let s = state.adapter else {
                throw ctx.params.error("adapter", "this session has no adapter: run a train cell first, or name an adapter folder")
            }
            a = s
        case .folder(let dir): a = try LoRAAdapter.load(directory: dir, model: lm.config)
        case .none: throw ctx.params.error("adapter", "nothing to export")
        }
        let out = self.out.isEmpty ? "runs/run-\(ctx.runID)-cell\(ctx.index)-export" : self.out
        if merge {
            try mergeAdapter(model: lm, adapter: a, outputDirectory: out, dtype: dtype)
            try ctx.recorder.artifact(ctx.cellID, out + "/model.safetensors", kind: "merged-model")
            try ctx.recorder.artifact(ctx.cellID, out + "/config.json", kind: "merged-config")
            let bytes = (try? FileManager.default.attributesOfItem(atPath: out + "/model.safetensors")[.size] as? Int) ?? 0
            return CellResult(summary: String(format: "merged r=%d adapter (%@) into the base (%@, %.1f MB) → %@", a.config.rank,
                                              a.config.targets.map(\.moduleName).joined(separator: ","), dtype.rawValue, Double(bytes) / 1e6, out),
                              facts: ["out": out, "dtype": dtype.rawValue, "rank": a.config.rank, "alpha": a.config.alpha,
                                      "targets": a.config.targets.map(\.moduleName), "model_bytes": bytes])
        }
        try a.save(directory: out, baseModel: state.baseModelName)
        try ctx.recorder.artifact(ctx.cellID, out + "/adapter_model.safetensors", kind: "adapter")
        try ctx.recorder.artifact(ctx.cellID, out + "/adapter_config.json", kind: "adapter-config")
        return CellResult(summary: "adapter → \(out)", facts: ["out": out, "rank": a.config.rank, "alpha": a.config.alpha])
    }
}
