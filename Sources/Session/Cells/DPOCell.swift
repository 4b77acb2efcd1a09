import Foundation
import Dataset
import Hub
import Kernels
import Notebook
import Plot
import Training

/// `dpo`: Direct Preference Optimisation of a LoRA adapter on preference pairs, as TRL v0.28's
/// `DPOTrainer` (see `DPOLoss`); starts from a fresh adapter, the session's (after a train
/// cell: SFT → DPO) or an adapter folder. Per-step loss, rewards (chosen, rejected, margins,
/// accuracies), log-probs, grad norm and lr are recorded under TRL's names; checkpoints, the
/// adapter and the curves PNGs are artifacts.
final class DPOCell: SessionCell {
    /// Settings before the starting adapter is known (its LoRA shape replaces r/alpha/targets).
    let config: DPOConfig
    let data: PreferenceDataConfig
    let adapter: AdapterChoice
    /// LoRA keys the cell sets to non-default values (they must agree with a starting adapter's).
    let explicitLoRA: [String: String]
    let out: String
    let resume: String
    let plot: Bool
    private var dataPath: String?

    var seed: UInt64? { config.train.seed }

    init(_ p: ResolvedParams, state: SessionState) throws {
        let train = try TrainCell.trainConfig(p)
        let loss = DPOLoss(beta: p.double("beta"), type: DPOLossType(rawValue: p.string("loss_type")) ?? .sigmoid,
                           labelSmoothing: p.double("label_smoothing"))
        do { try loss.validate() } catch {
            let text = "\(error)", key = text.split(separator: ":").first.map(String.init) ?? "beta"
            throw p.error(CellSchema.spec(.dpo, key) != nil ? key : "beta", String(text.drop { $0 != ":" }.dropFirst().drop { $0 == " " }))
        }
        let reference = ReferenceModel(rawValue: p.string("reference")) ?? .base
        config = DPOConfig(train: train, loss: loss, reference: reference)
        adapter = try AdapterChoice(p, state: state)
        if reference == .adapter && adapter == .none {
            throw p.error("reference", "\"adapter\" is the starting adapter, frozen: set adapter = \"auto\" or an adapter folder, or use reference = \"base\"")
        }
        explicitLoRA = StartingAdapter.explicitLoRA(p)

        let d = p.string("data")
        if d.isEmpty { throw p.error("data", "empty: give a JSON/JSONL file of prompt/chosen/rejected rows or hf:org/name/file") }
        do { _ = try HubClient.parseChecked(d) } catch { throw p.error("data", "\(error)") }
        let split = p.string("split")
        if !split.isEmpty {
            do { _ = try Dataset.sliceRange(split, count: 1 << 40) } catch { throw p.error("split", "\(error)") }
        }
        let chat = p.bool("chat_template"), template = p.string("template")
        if chat && !template.isEmpty {
            throw p.error("template", "a prompt template is used only with chat_template = false (chat_template is true: the model's own template formats the prompt)")
        }
        if !chat {
            if template.isEmpty { throw p.error("template", "empty: with chat_template = false, give a prompt template file") }
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: state.inputPath(template), isDirectory: &isDir), !isDir.boolValue else {
                throw p.error("template", "\(template): no such template file")
            }
        }
        let maxLength = p.int("max_length")
        var maxPrompt = p.int("max_prompt_length")
        if maxPrompt >= maxLength {
            // Left at its default (512) under a shorter max_length: half of it, TRL's old ratio.
            guard !p.explicitKeys.contains("max_prompt_length") else {
                throw p.error("max_prompt_length", "must be smaller than max_length (\(maxLength)) to leave room for the completions")
            }
            maxPrompt = maxLength / 2
        }
        data = PreferenceDataConfig(data: state.inputPath(d), layout: PreferenceLayout(rawValue: p.string("layout")) ?? .auto,
                                    split: split, chatTemplate: chat, template: chat ? "" : state.inputPath(template),
                                    maxLength: maxLength, maxPromptLength: maxPrompt > 0 ? maxPrompt : nil,
                                    valFraction: p.double("val_fraction"), seed: UInt64(p.int("seed")))
        out = p.string("out")
        if !out.isEmpty, let why = outputFolderProblem(out) { throw p.error("out", why) }
        let r = p.string("resume")
        resume = r.isEmpty ? "" : state.inputPath(r)
        if !r.isEmpty, let why = incompleteCheckpointReason(resume) { throw p.error("resume", why) }
        if !r.isEmpty, !FileManager.default.fileExists(atPath: resume + "/dpo_state.json") {
            throw p.error("resume", "\(r): not a DPO checkpoint folder (no dpo_state.json there)")
        }
        plot = p.bool("plot")
    }

    func localDataPath() throws -> String {
        if let dataPath { return dataPath }
        let p = try resolveDataPath(data.data)
        dataPath = p
        return p
    }

    func inputs(_ state: SessionState, _ recorder: RunRecorder) throws -> [CellInput] {
        var out: [CellInput] = []
        let path = try localDataPath()
        if let pin = try HubPin.make(data.data, localPath: path, recorder: recorder) { out.append(.hub(pin)) } else { out.append(.file(path)) }
        if !data.chatTemplate { out.append(.file(data.template)) }
        out += adapter.input
        if !resume.isEmpty { out.append(.file(resume)) }
        return out
    }

    /// The starting adapter and the run's settings with its LoRA shape (the cell's dropout).
    private func start(_ state: SessionState, _ ctx: CellContext) throws -> (LoRAAdapter?, DPOConfig) {
        var c = config
        let (a, train) = try StartingAdapter.resolve(adapter, explicitLoRA: explicitLoRA, train: c.train, state: state, params: ctx.params)
        c.train = train
        return (a, c)
    }

    func run(_ state: SessionState, _ ctx: CellContext) throws -> CellResult {
        let lm = try state.requireModel()
        let (initial, config) = try start(state, ctx)
        let prepared = try preparePreferences(data, model: lm, dataPath: try localDataPath())
        if !state.quiet { FileHandle.standardError.write(Data((prepared.summary + "\n").utf8)) }
        let out = self.out.isEmpty ? "runs/run-\(ctx.runID)-cell\(ctx.index)" : self.out
        // A micro-batch holds batch_size pairs, each as two sequences (prompt + chosen, prompt + rejected).
        let longest = (prepared.train + prepared.validation).map { max($0.chosen.ids.count, $0.rejected.ids.count) }.max() ?? 0
        try checkTrainingMemory(lm.weights.config, lora: config.train.lora, longest: longest, sequencesPerBatch: 2 * config.train.batchSize,
                                gradientCheckpointing: config.train.gradientCheckpointing, sequenceKey: "max_length")
        let trainer: DPOTrainer
        if !resume.isEmpty {
            trainer = try DPOTrainer.resume(from: resume, weights: lm.weights, train: prepared.train, validation: prepared.validation,
                                            config: config, outputDirectory: out, baseModelName: state.baseModelName)
        } else {
            trainer = try DPOTrainer(weights: lm.weights, train: prepared.train, validation: prepared.validation, config: config,
                                     outputDirectory: out, baseModelName: state.baseModelName, initialAdapter: initial)
        }
        let writer = ctx.db.metricWriter(runID: ctx.runID, cellID: ctx.cellID)
        let first = trainer.step
        if !state.quiet {
            print("DPO (\(config.loss.type.rawValue), β \(config.loss.beta), reference \(config.reference.rawValue)) of \(trainer.parameterCount) LoRA parameters for \(trainer.totalSteps) steps\(first > 0 ? ", resuming at step \(first)" : ""); output → \(out)")
        }
        var checkpoints: [String] = []
        let start = Date()
        Interrupt.clear()
        let outcome: TrainOutcome
        do {
            outcome = try trainer.run(onStep: { m in
                for (name, value) in m.named { try writer.add(step: m.step, name: name, value: value) }
                // Committed before the step's progress line: a step the user saw is in the record.
                try writer.flush()
                if !state.quiet { Self.progress(m, total: trainer.totalSteps) }
            }, onCheckpoint: {
                checkpoints.append($0)
                try ctx.recorder.artifact(ctx.cellID, $0, kind: "checkpoint")
            })
        } catch {
            throw TrainError(stoppedMessage(error, step: trainer.step, total: trainer.totalSteps,
                                            lastCheckpoint: checkpoints.last ?? (resume.isEmpty ? nil : resume)))
        }
        try writer.close()
        let seconds = Date().timeIntervalSince(start)
        var details = prepared.details
        let adapterPath = outcome == .completed ? out + "/adapter" : checkpoints.last
        state.adapter = trainer.adapter
        state.adapterPath = adapterPath
        if let a = adapterPath { try ctx.recorder.artifact(ctx.cellID, a + "/adapter_model.safetensors", kind: "adapter") }
        try ctx.recorder.artifact(ctx.cellID, out + "/metrics.jsonl", kind: "metrics")
        let history = Array(trainer.history.dropFirst(first))
        if plot, !trainer.history.isEmpty {
            for (file, chart) in try Self.charts(trainer.history, title: "run \(ctx.runID)") {
                try chart.writePNG(path: out + "/" + file)
                try ctx.recorder.artifact(ctx.cellID, out + "/" + file, kind: "plot")
            }
        }
        if case .diverged(let why) = outcome {
            details["diverged"] = why.json
            try ctx.db.setCellDetails(ctx.cellID, details)
            throw TrainingDiverged(description: "training diverged: \(why)")
        }
        try ctx.db.setCellDetails(ctx.cellID, details)
        var summary: String
        switch outcome {
        case .completed: summary = "DPO trained \(trainer.step) steps"
        case .interrupted: summary = "DPO interrupted at step \(trainer.step)"
        case .diverged(let why): summary = "diverged: \(why)"
        }
        if let last = history.last {
            summary += String(format: ", loss %.4f, reward margin %.4f, accuracy %.2f", last.loss, last.train.rewardsMargins,
                              last.train.rewardsAccuracies)
            if let e = trainer.history.last(where: { $0.eval != nil })?.eval {
                summary += String(format: "; eval loss %.4f, margin %.4f, accuracy %.2f", e.loss, e.rewardsMargins, e.rewardsAccuracies)
            }
        }
        let toks = history.reduce(0) { $0 + $1.tokens }, secs = history.reduce(0) { $0 + $1.seconds }
        if secs > 0 { summary += String(format: ", %.0f tok/s", Double(toks) / secs) }
        summary += " in \(formatDuration(seconds))"
        if let adapterPath { summary += "; adapter → \(adapterPath)" }
        let facts: [String: Any] = ["outcome": "\(outcome)", "steps": trainer.step, "adapter": adapterPath ?? "",
                                    "checkpoints": checkpoints, "loss": history.map(\.loss),
                                    "rewards_margins": history.map(\.train.rewardsMargins),
                                    "rewards_accuracies": history.map(\.train.rewardsAccuracies),
                                    "eval_loss": history.compactMap(\.eval?.loss), "seconds": seconds, "out": out,
                                    "tokens": toks, "tokens_per_s": secs > 0 ? Double(toks) / secs : 0,
                                    "data": prepared.details]
        return CellResult(summary: summary, interrupted: outcome == .interrupted, facts: facts)
    }

    /// One line per step (the DPO numbers a user watches: loss, margin, accuracy).
    static func progress(_ m: DPOStepMetrics, total: Int) {
        var s = String(format: "step %d/%d  loss %.4f  margin %.4f  acc %.2f  grad %.3f  lr %.2e  %.0f tok/s",
                       m.step, total, m.loss, m.train.rewardsMargins, m.train.rewardsAccuracies, m.gradNorm, m.lr, m.tokensPerSecond)
        if let e = m.eval { s += String(format: "  eval loss %.4f margin %.4f acc %.2f", e.loss, e.rewardsMargins, e.rewardsAccuracies) }
        print(s)
        fflush(stdout)
    }

    /// `curves.png` (train and eval loss) and `rewards.png` (chosen, rejected, margins).
    static func charts(_ h: [DPOStepMetrics], title: String) throws -> [(String, Image)] {
        var loss = [Series(name: "train loss", steps: h.map { ($0.step, $0.loss) })]
        let ev = h.compactMap { m in m.eval.map { (m.step, $0.loss) } }
        if !ev.isEmpty { loss.append(Series(name: "eval loss", steps: ev, markers: true)) }
        let smooth = h.count > 20 ? 0.6 : 0
        let rewards = [Series(name: "rewards/chosen", steps: h.map { ($0.step, $0.train.rewardsChosen) }),
                       Series(name: "rewards/rejected", steps: h.map { ($0.step, $0.train.rewardsRejected) }),
                       Series(name: "rewards/margins", steps: h.map { ($0.step, $0.train.rewardsMargins) })]
        return [("curves.png", renderLineChart(series: loss, options: ChartOptions(title: title + ": DPO loss", yLabel: "loss", smoothing: smooth))),
                ("rewards.png", renderLineChart(series: rewards, options: ChartOptions(title: title + ": rewards (β × log-ratio)", yLabel: "reward", smoothing: smooth)))]
    }
}
