import Foundation
import ModelFiles
import Notebook
import Training
import Transformer

/// `export`: the adapter as a PEFT folder or a GGUF LoRA; or merged into the base weights as a
/// Hugging Face model folder or a GGUF model (with an Ollama Modelfile). GGUF files are read back
/// and checked (`check`); every file is recorded with its sha256.
final class ExportCell: SessionCell {
    let adapter: AdapterChoice
    let out: String
    let merge: Bool
    let format: ExportFormat
    let dtype: MergeDType
    let quant: GGUFQuant
    let modelfile: Bool
    let check: Bool
    let force: Bool

    init(_ p: ResolvedParams, state: SessionState) throws {
        adapter = try AdapterChoice(p, state: state, allowNone: false)
        out = p.string("out")
        merge = p.bool("merge")
        // The schema's choices are the enums' cases.
        format = ExportFormat(rawValue: p.string("format")) ?? .safetensors
        dtype = MergeDType(rawValue: p.string("dtype")) ?? .f32
        quant = GGUFQuant(rawValue: p.string("quant")) ?? .f16
        modelfile = p.bool("modelfile")
        check = p.bool("check")
        force = p.bool("force")
        if format == .gguf, !out.isEmpty, !out.hasSuffix(".gguf") {
            throw p.error("out", "\(out): a GGUF export is one file; name it *.gguf")
        }
        if !out.isEmpty, FileManager.default.fileExists(atPath: out) {
            if format == .safetensors {
                throw p.error("out", "\(out) already exists: choose a new folder (nothing is overwritten)")
            } else if !force {
                throw p.error("out", "\(out) already exists: choose another file, or set force = true (--force) to replace it")
            }
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
        let stem = "runs/run-\(ctx.runID)-cell\(ctx.index)-export"
        switch (format, merge) {
        case (.safetensors, true):
            let out = self.out.isEmpty ? stem : self.out
            try mergeAdapter(model: lm, adapter: a, outputDirectory: out, dtype: dtype)
            try ctx.recorder.artifact(ctx.cellID, out + "/model.safetensors", kind: "merged-model")
            try ctx.recorder.artifact(ctx.cellID, out + "/config.json", kind: "merged-config")
            let bytes = (try? FileManager.default.attributesOfItem(atPath: out + "/model.safetensors")[.size] as? Int) ?? 0
            return CellResult(summary: String(format: "merged r=%d adapter (%@) into the base (%@, %.1f MB) → %@", a.config.rank,
                                              a.config.targets.map(\.moduleName).joined(separator: ","), dtype.rawValue, Double(bytes) / 1e6, out),
                              facts: ["out": out, "dtype": dtype.rawValue, "rank": a.config.rank, "alpha": a.config.alpha,
                                      "targets": a.config.targets.map(\.moduleName), "model_bytes": bytes])
        case (.safetensors, false):
            let out = self.out.isEmpty ? stem : self.out
            try a.save(directory: out, baseModel: state.baseModelName)
            try ctx.recorder.artifact(ctx.cellID, out + "/adapter_model.safetensors", kind: "adapter")
            try ctx.recorder.artifact(ctx.cellID, out + "/adapter_config.json", kind: "adapter-config")
            return CellResult(summary: "adapter → \(out)", facts: ["out": out, "rank": a.config.rank, "alpha": a.config.alpha])
        case (.gguf, true):
            let out = self.out.isEmpty ? stem + ".gguf" : self.out
            let files = try exportGGUF(model: lm, adapter: a, to: out, options: GGUFExportOptions(quant: quant, force: force, modelfile: modelfile))
            for (i, f) in files.enumerated() { try ctx.recorder.artifact(ctx.cellID, f.path, kind: i == 0 ? "gguf-model" : "modelfile") }
            let report = check ? try checkMergedGGUF(at: out, base: lm, adapter: a, quant: quant) : nil
            return try result(files, report, ctx, what: "merged r=\(a.config.rank) adapter into a \(quant.rawValue) GGUF")
        case (.gguf, false):
            let out = self.out.isEmpty ? stem + ".gguf" : self.out
            let file = try exportLoRAGGUF(adapter: a, model: lm, to: out, force: force)
            try ctx.recorder.artifact(ctx.cellID, file.path, kind: "gguf-lora")
            let report = check ? try checkLoRAGGUF(at: out, adapter: a, model: lm) : nil
            return try result([file], report, ctx, what: "r=\(a.config.rank) adapter as a GGUF LoRA")
        }
    }

    /// The summary and facts of a GGUF export; the round trip's numbers go to the record as
    /// metrics, and a failed check fails the cell (the files stay, recorded, for inspection).
    private func result(_ files: [WrittenFile], _ report: RoundTripReport?, _ ctx: CellContext, what: String) throws -> CellResult {
        var facts: [String: Any] = ["out": files[0].path, "sha256": files[0].sha256, "bytes": files[0].bytes,
                                    "files": files.map { ["path": $0.path, "sha256": $0.sha256, "bytes": $0.bytes] as [String: Any] }]
        var summary = String(format: "%@ → %@ (%.1f MB, sha256 %@…)", what, files[0].path, Double(files[0].bytes) / 1e6,
                             String(files[0].sha256.prefix(12)))
        if files.count > 1 { summary += " and \(files[1].path)" }
        if let r = report {
            if merge {
                let w = ctx.db.metricWriter(runID: ctx.runID, cellID: ctx.cellID)
                try w.add(step: 0, name: "roundtrip_file_max_abs_logit", value: Double(r.fileMaxAbs))
                try w.add(step: 0, name: "export_vs_adapter_max_abs_logit", value: Double(r.maxAbs))
                try w.add(step: 0, name: "export_vs_adapter_mean_abs_logit", value: r.meanAbs)
                try w.add(step: 0, name: "export_vs_adapter_greedy_same", value: r.greedySame ? 1 : 0)
                try w.close()
            }
            try ctx.db.setCellDetails(ctx.cellID, ["roundtrip": r.summary])
            facts["roundtrip"] = r.summary
            guard r.passed else { throw SessionError("export: \(files[0].path): \(r.summary)") }
            summary += "; " + r.summary
        }
        return CellResult(summary: summary, facts: facts)
    }
}
