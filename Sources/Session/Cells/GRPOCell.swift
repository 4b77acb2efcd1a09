import Foundation
import Dataset
import Hub
import Kernels
import Metrics
import Notebook
import Plot
import Record
import Training
import Transformer

/// `grpo`: Group Relative Policy Optimisation of a LoRA adapter, as TRL v1.9.0's `GRPOTrainer`
/// (see `GRPOTrainer`, `GRPOLoss`): for each prompt a group of completions is sampled (each with
/// a recorded seed), rewarded (built-in rewards and a user's program), normalised within the
/// group, and trained on with the clipped surrogate. Every completion is recorded with its
/// rewards and advantage (table `completions`) as soon as it is scored; per-step metrics under
/// TRL's names (reward means and stds per function, the share of zero-std groups, KL, clip
/// ratios, completion lengths, generation and training time); checkpoints, the adapter and the
/// curves PNGs are artifacts.
final class GRPOCell: SessionCell {
    /// Settings before the starting adapter is known (its LoRA shape replaces r/alpha/targets).
    let config: GRPOConfig
    let prompts: GRPOPromptConfig
    let rewards: GRPORewards
    let adapter: AdapterChoice
    let explicitLoRA: [String: String]
    let out: String
    let resume: String
    let plot: Bool
    private var dataPath: String?

    var seed: UInt64? { config.train.seed }

    init(_ p: ResolvedParams, state: SessionState) throws {
        let train = try TrainCell.trainConfig(p)
        let epsHigh = p.double("epsilon_high")
        let loss = GRPOLoss(type: GRPOLossType(rawValue: p.string("loss_type")) ?? .dapo, epsilon: p.double("epsilon"),
                            epsilonHigh: epsHigh > 0 ? epsHigh : nil, beta: p.double("beta"))
        // Built-in rewards, then the command's.
        var builtins: [BuiltinReward] = []
        for n in p.strings("rewards") {
            guard let r = BuiltinReward(rawValue: n) else { throw p.error("rewards", "unknown reward \"\(n)\"") }
            if builtins.contains(r) { throw p.error("rewards", "\"\(n)\" is listed twice") }
            builtins.append(r)
        }
        let commandText = p.string("reward_command").trimmingCharacters(in: .whitespaces)
        var command: RewardCommand? = nil
        if !commandText.isEmpty {
            do { command = try RewardCommand(commandText, timeout: p.double("reward_timeout"), resolve: state.inputPath) } catch {
                throw p.error("reward_command", "\(error)")
            }
        }
        if builtins.isEmpty && command == nil {
            throw p.error("rewards", "empty, and no reward_command: name a built-in reward (\(BuiltinReward.allCases.map(\.rawValue).joined(separator: ", "))) or give a reward command")
        }
        rewards = GRPORewards(builtins: builtins, builtinWeights: builtins.map { p.double($0.rawValue + "_weight") }, command: command,
                              commandWeight: p.double("command_weight"), answerMode: AnswerMatch(rawValue: p.string("answer_mode")) ?? .choice,
                              answerColumn: p.string("answer_column"), optionsColumn: p.string("options_column"),
                              lengthTarget: p.int("length_target"), lengthCache: p.int("length_cache"))
        let sampling = SamplingParams(temperature: Float(p.double("temperature")), topK: p.int("top_k"), topP: Float(p.double("top_p")))
        config = GRPOConfig(train: train, loss: loss, reference: ReferenceModel(rawValue: p.string("reference")) ?? .base,
                            numGenerations: p.int("num_generations"), numIterations: p.int("num_iterations"),
                            maxCompletionLength: p.int("max_completion_length"), sampling: sampling,
                            generationBatch: p.int("generation_batch"), rewardNames: rewards.names, rewardWeights: rewards.weights)
        do { try config.validate() } catch {
            let text = "\(error)", key = text.split(separator: ":").first.map(String.init) ?? "num_generations"
            throw p.error(CellSchema.spec(.grpo, key) != nil ? key : "num_generations", String(text.drop { $0 != ":" }.dropFirst().drop { $0 == " " }))
        }
        adapter = try AdapterChoice(p, state: state)
        if config.reference == .adapter && adapter == .none {
            throw p.error("reference", "\"adapter\" is the starting adapter, frozen: set adapter = \"auto\" or an adapter folder, or use reference = \"base\"")
        }
        explicitLoRA = StartingAdapter.explicitLoRA(p)

        let d = p.string("data")
        if d.isEmpty { throw p.error("data", "empty: give a JSON/JSONL file of prompt rows or hf:org/name/file") }
        do { _ = try HubClient.parseChecked(d) } catch { throw p.error("data", "\(error)") }
        let split = p.string("split")
        if !split.isEmpty {
            do { _ = try Dataset.sliceRange(split, count: 1 << 40) } catch { throw p.error("split", "\(error)") }
        }
        let template: PromptTemplate
        do { template = try PromptTemplate(p.string("prompt"), responseColumns: [], source: "grpo.prompt") } catch {
            throw p.error("prompt", "\(error)")
        }
        if template.placeholders.isEmpty { throw p.error("prompt", "has no {column} placeholder: every row would ask the same question") }
        prompts = GRPOPromptConfig(data: state.inputPath(d), split: split, template: template, system: p.string("system"),
                                   chatTemplate: p.bool("chat_template"), maxPromptLength: p.int("max_prompt_length"))
        if !prompts.chatTemplate && !prompts.system.isEmpty {
            throw p.error("system", "a system message needs chat_template = true (without it, write it into the prompt)")
        }
        out = p.string("out")
        let r = p.string("resume")
        resume = r.isEmpty ? "" : state.inputPath(r)
        if !r.isEmpty, !FileManager.default.fileExists(atPath: resume + "/grpo_state.json") {
            throw p.error("resume", "\(r): not a GRPO checkpoint folder (no grpo_state.json there)")
        }
        plot = p.bool("plot")
    }

    func localDataPath() throws -> String {
        if let dataPath { return dataPath }
        let p = try resolveDataPath(prompts.data)
        dataPath = p
        return p
    }

    func inputs(_ state: SessionState, _ recorder: RunRecorder) throws -> [CellInput] {
        var out: [CellInput] = []
        let path = try localDataPath()
        if let pin = try HubPin.make(prompts.data, localPath: path, recorder: recorder) { out.append(.hub(pin)) } else { out.append(.file(path)) }
        out += adapter.input
        out += (rewards.command?.files ?? []).map { .file($0) }
        if !resume.isEmpty { out.append(.file(resume)) }
        return out
    }

    func run(_ state: SessionState, _ ctx: CellContext) throws -> CellResult {
        let lm = try state.requireModel()
        var config = self.config
        let initial: LoRAAdapter?
        (initial, config.train) = try StartingAdapter.resolve(adapter, explicitLoRA: explicitLoRA, train: config.train, state: state, params: ctx.params)
        let path = try localDataPath()
        let prepared = try preparePrompts(prompts, model: lm, dataPath: path, params: ctx.params)
        try rewards.check(prepared.rows, source: path, params: ctx.params)
        if !state.quiet { FileHandle.standardError.write(Data((prepared.summary + "\n").utf8)) }
        let out = self.out.isEmpty ? "runs/run-\(ctx.runID)-cell\(ctx.index)" : self.out
        let scorer = rewards.scorer(rows: prepared.rows)
        let trainer: GRPOTrainer
        if !resume.isEmpty {
            trainer = try GRPOTrainer.resume(from: resume, model: lm, prompts: prepared.prompts, config: config, scorer: scorer,
                                             outputDirectory: out, baseModelName: state.baseModelName)
        } else {
            trainer = try GRPOTrainer(model: lm, prompts: prepared.prompts, config: config, scorer: scorer, outputDirectory: out,
                                      baseModelName: state.baseModelName, initialAdapter: initial)
        }
        let writer = ctx.db.metricWriter(runID: ctx.runID, cellID: ctx.cellID)
        let first = trainer.step
        if !state.quiet {
            print("GRPO (\(config.loss.type.rawValue), \(config.numGenerations) completions per prompt, \(config.promptsPerStep) prompts per step, rewards \(rewards.names.joined(separator: " + "))) of \(trainer.parameterCount) LoRA parameters for \(trainer.totalSteps) steps\(first > 0 ? ", resuming at step \(first)" : ""); output → \(out)")
        }
        var checkpoints: [String] = []
        var recorded = 0
        let start = Date()
        Interrupt.clear()
        let outcome: TrainOutcome
        do {
            outcome = try trainer.run(onCompletions: { cs in
                // Recorded before they are trained on: a failure later keeps them.
                try ctx.db.addCompletions(cs.map { c in
                    CompletionRecord(cellID: ctx.cellID, step: c.step, row: c.row, generation: c.generation, seed: c.seed,
                                     prompt: prepared.prompts[c.prompt].text, completion: c.text, completionIDs: c.ids,
                                     stoppedOnEOS: c.stoppedOnEOS, rewards: Dictionary(uniqueKeysWithValues: zip(rewards.names, c.rewards)),
                                     reward: c.reward, advantage: c.advantage)
                })
                recorded += cs.count
            }, onStep: { m in
                if !state.quiet { Self.progress(m, total: trainer.totalSteps, names: self.rewards.names) }
                for (name, value) in m.named(rewardNames: self.rewards.names) { try writer.add(step: m.step, name: name, value: value) }
            }, onCheckpoint: { checkpoints.append($0) })
        } catch {
            try? writer.close()
            for c in checkpoints { try? ctx.recorder.artifact(ctx.cellID, c, kind: "checkpoint") }
            try? ctx.db.setCellDetails(ctx.cellID, prepared.details.merging(["completions": "\(recorded)"]) { _, n in n })
            throw error
        }
        try writer.close()
        let seconds = Date().timeIntervalSince(start)
        var details = prepared.details
        details["completions"] = "\(recorded)"
        let adapterPath = outcome == .completed ? out + "/adapter" : checkpoints.last
        state.adapter = trainer.adapter
        state.adapterPath = adapterPath
        if let a = adapterPath { try ctx.recorder.artifact(ctx.cellID, a + "/adapter_model.safetensors", kind: "adapter") }
        for c in checkpoints { try ctx.recorder.artifact(ctx.cellID, c, kind: "checkpoint") }
        try ctx.recorder.artifact(ctx.cellID, out + "/metrics.jsonl", kind: "metrics")
        let history = Array(trainer.history.dropFirst(first))
        if plot, !trainer.history.isEmpty {
            for (file, chart) in Self.charts(trainer.history, names: rewards.names, title: "run \(ctx.runID)") {
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
        case .completed: summary = "GRPO trained \(trainer.step) steps"
        case .interrupted: summary = "GRPO interrupted at step \(trainer.step)"
        case .diverged(let why): summary = "diverged: \(why)"
        }
        let gens = history.compactMap(\.generation)
        if let a = gens.first, let b = gens.last {
            summary += String(format: ", reward %.3f → %.3f, groups with zero std %.2f → %.2f", a.reward, b.reward, a.fractionZeroStd, b.fractionZeroStd)
        }
        let gen = history.reduce(0) { $0 + $1.generationSeconds }, trn = history.reduce(0) { $0 + $1.trainingSeconds }
        if !history.isEmpty {
            summary += String(format: "; per step %.1f s generating, %.1f s training", gen / Double(history.count), trn / Double(history.count))
        }
        summary += "; \(recorded) completions recorded in \(formatDuration(seconds))"
        if let adapterPath { summary += "; adapter → \(adapterPath)" }
        let facts: [String: Any] = ["outcome": "\(outcome)", "steps": trainer.step, "adapter": adapterPath ?? "",
                                    "checkpoints": checkpoints, "loss": history.map(\.loss),
                                    "reward": gens.map(\.reward), "frac_reward_zero_std": gens.map(\.fractionZeroStd),
                                    "completions": recorded, "training_seconds": trn,
                                    "sampling_seconds": gens.reduce(0) { $0 + $1.generationSeconds },
                                    "reward_seconds": gens.reduce(0) { $0 + $1.rewardSeconds },
                                    "generated_tokens": gens.reduce(0) { $0 + $1.generatedTokens },
                                    "seconds": seconds, "out": out, "data": details]
        return CellResult(summary: summary, interrupted: outcome == .interrupted, facts: facts)
    }

    /// One line per step: reward, zero-std share, loss, and where the time went.
    static func progress(_ m: GRPOStepMetrics, total: Int, names: [String]) {
        var s = String(format: "step %d/%d  loss %.4f  grad %.3f  lr %.2e", m.step, total, m.loss, m.gradNorm, m.lr)
        if let g = m.generation {
            s += String(format: "  reward %.3f ± %.3f", g.reward, g.rewardStd)
            for (n, v) in zip(names, g.functionMeans) { s += " (\(n) " + String(format: "%.2f", v) + ")" }
            s += String(format: "  zero-std %.2f  len %.0f  gen %.1f s", g.fractionZeroStd, g.meanLength, g.generationSeconds + g.rewardSeconds)
        }
        if let kl = m.kl { s += String(format: "  kl %.4f", kl) }
        s += String(format: "  train %.1f s", m.trainingSeconds)
        print(s)
        fflush(stdout)
    }

    /// `rewards.png` (each reward function's mean and the weighted reward, per generation) and
    /// `curves.png` (the loss, and the share of zero-std groups).
    static func charts(_ h: [GRPOStepMetrics], names: [String], title: String) -> [(String, Image)] {
        let gens = h.compactMap { m in m.generation.map { (m.step, $0) } }
        let smooth = gens.count > 20 ? 0.6 : 0
        var rewards = [Series(name: "reward (weighted)", steps: gens.map { ($0.0, $0.1.reward) })]
        for (i, n) in names.enumerated() { rewards.append(Series(name: "rewards/\(n)/mean", steps: gens.map { ($0.0, $0.1.functionMeans[i]) })) }
        let curves = [Series(name: "loss", steps: h.map { ($0.step, $0.loss) }),
                      Series(name: "frac_reward_zero_std", steps: gens.map { ($0.0, $0.1.fractionZeroStd) })]
        return [("rewards.png", renderLineChart(series: rewards, options: ChartOptions(title: title + ": GRPO rewards", yLabel: "reward", smoothing: smooth))),
                ("curves.png", renderLineChart(series: curves, options: ChartOptions(title: title + ": GRPO loss", yLabel: "loss / share", smoothing: smooth)))]
    }
}
