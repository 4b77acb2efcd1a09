import Foundation
import Kernels
import Notebook
import Training

/// `train`: LoRA/QLoRA fine-tuning on the session's data; per-step metrics, checkpoints, the
/// PEFT adapter and the curves PNG are recorded.
final class TrainCell: SessionCell {
    let config: TrainConfig
    /// Output folder ("" = runs/run-<id>-cell<n>).
    let out: String
    /// Checkpoint folder to resume from ("" = none).
    let resume: String
    let plot: Bool
    /// Train even when the format cell's lint found errors.
    let ignoreLint: Bool

    var seed: UInt64? { config.seed }

    init(_ p: ResolvedParams, state: SessionState) throws {
        config = try Self.trainConfig(p)
        out = p.string("out")
        let r = p.string("resume")
        resume = r.isEmpty ? "" : state.inputPath(r)
        if !r.isEmpty, !FileManager.default.fileExists(atPath: resume + "/adapter_model.safetensors") {
            throw p.error("resume", "\(r): not a checkpoint folder (no adapter_model.safetensors there)")
        }
        plot = p.bool("plot")
        ignoreLint = p.bool("ignore_lint")
    }

    /// The optimisation settings from the keys `train` defines (`dpo` shares them), checked.
    static func trainConfig(_ p: ResolvedParams) throws -> TrainConfig {
        var targets: [LoRATarget] = []
        for n in p.strings("targets") {
            guard let t = LoRATarget(name: n) else { throw p.error("targets", "unknown projection \"\(n)\"") }
            if targets.contains(t) { throw p.error("targets", "\"\(n)\" is listed twice") }
            targets.append(t)
        }
        if targets.isEmpty { throw p.error("targets", "empty: name at least one projection (\(LoRATarget.allCases.map(\.rawValue).joined(separator: ", ")))") }
        // Every field from the schema's keys (TrainConfig has no defaults of its own); enum
        // keys' choices are the enums' cases.
        var c = TrainConfig(
            lora: LoRAConfig(rank: p.int("r"), alpha: p.double("lora_alpha"), dropout: p.double("lora_dropout"),
                             targets: targets, useRSLoRA: p.bool("use_rslora")),
            batchSize: p.int("batch_size"), gradAccum: p.int("grad_accum"), lr: p.double("lr"),
            scheduler: LRSchedule.Kind(rawValue: p.string("scheduler")) ?? .linear,
            warmupSteps: p.int("warmup_steps"), warmupRatio: p.double("warmup_ratio"),
            maxSteps: p.int("max_steps"), epochs: p.int("epochs"), weightDecay: p.double("weight_decay"),
            maxGradNorm: p.double("max_grad_norm"), seed: UInt64(p.int("seed")),
            evalEvery: p.int("eval_every"), saveEvery: p.int("save_every"),
            gradientCheckpointing: p.bool("gradient_checkpointing"),
            computeDType: ComputeDType(rawValue: p.string("compute_dtype")) ?? .fp32)
        if c.computeDType == .bf16 {
            if let why = BF16.unavailableReason { throw p.error("compute_dtype", "bf16 is not available here: \(why); use fp32") }
            if !BF16.isNative { warn("\(BF16.backend): bf16 products will be slower than fp32 here") }
        }
        // What the schema's per-key ranges cannot see (combinations of keys).
        do { try c.validate() } catch {
            let text = "\(error)"
            let key = text.split(separator: ":").first.map(String.init) ?? "train"
            throw p.error(CellSchema.spec(p.kind, key) != nil ? key : "lr", String(text.drop { $0 != ":" }.dropFirst().drop { $0 == " " }))
        }
        return c
    }

    func inputs(_ state: SessionState, _ recorder: RunRecorder) throws -> [CellInput] {
        resume.isEmpty ? [] : [.file(resume)]
    }

    func run(_ state: SessionState, _ ctx: CellContext) throws -> CellResult {
        let lm = try state.requireModel()
        let data = try state.requireData(for: .train)
        if !data.lint.errors.isEmpty && !ignoreLint {
            throw ctx.params.error("ignore_lint", "the format cell's lint found errors; fix the data or set ignore_lint = true:\n"
                                   + data.lint.errors.map(\.line).joined(separator: "\n"))
        }
        let out = self.out.isEmpty ? "runs/run-\(ctx.runID)-cell\(ctx.index)" : self.out
        let writer = ctx.db.metricWriter(runID: ctx.runID, cellID: ctx.cellID)
        let (trainer, report) = try runTraining(weights: lm.weights, data: data, config: config, outputDirectory: out,
                                                baseModelName: state.baseModelName, resume: resume, branching: state.branching,
                                                quiet: state.quiet) { m in
            try writer.add(step: m.step, ["loss": m.loss, "grad_norm": m.gradNorm, "lr": m.lr,
                                          "tokens_per_s": m.tokensPerSecond, "trained_tokens": Double(m.trainedTokens)])
            if let e = m.evalLoss { try writer.add(step: m.step, name: "eval_loss", value: e) }
        }
        try writer.close()
        state.adapter = trainer.adapter
        state.adapterPath = report.adapterPath
        if let a = report.adapterPath { try ctx.recorder.artifact(ctx.cellID, a + "/adapter_model.safetensors", kind: "adapter") }
        for c in report.checkpoints { try ctx.recorder.artifact(ctx.cellID, c, kind: "checkpoint") }
        try ctx.recorder.artifact(ctx.cellID, out + "/metrics.jsonl", kind: "metrics")
        if plot, !trainer.history.isEmpty {
            let png = out + "/curves.png"
            try plotHistory(trainer.history, path: png, title: "run \(ctx.runID): loss")
            try ctx.recorder.artifact(ctx.cellID, png, kind: "plot")
        }
        if case .diverged(let why) = report.outcome {
            try ctx.db.setCellDetails(ctx.cellID, ["diverged": why.json])
            throw TrainingDiverged(description: "training diverged: \(why)")
        }
        let facts: [String: Any] = ["outcome": "\(report.outcome)", "steps": report.steps, "adapter": report.adapterPath ?? "",
                                    "checkpoints": report.checkpoints, "loss": report.history.map(\.loss),
                                    "eval_loss": report.history.compactMap(\.evalLoss), "seconds": report.seconds, "out": out]
        return CellResult(summary: report.summary, interrupted: report.outcome == .interrupted, facts: facts)
    }
}

/// A train cell that stopped on a non-finite loss or gradient (its checkpoint is kept).
public struct TrainingDiverged: Error, CustomStringConvertible {
    public let description: String
}

/// A warning on stderr (settings that work but not as well as the user may expect).
func warn(_ message: String) {
    FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
}

extension SessionState {
    /// What an adapter names as its base (`base_model_name_or_path`): the hub repo for `hf:`
    /// models, else the model's resolved path (never the word "default").
    var baseModelName: String {
        if let s = HubSpecName.repo(of: modelSpec) { return s }
        return modelPath.isEmpty ? modelSpec : modelPath
    }
}
