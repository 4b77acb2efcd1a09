import Foundation
import Dataset
import Kernels
import Transformer

/// Everything that decides a GRPO run's numbers (stored in every checkpoint, compared on resume).
public struct GRPOConfig: Codable, Equatable, Sendable {
    /// LoRA shape, AdamW, schedule, clipping, seed, checkpoints. `batchSize` counts completions
    /// (TRL's `per_device_train_batch_size`); a step takes `batchSize × gradAccum` completions,
    /// `num_generations` per prompt.
    public var train: TrainConfig
    public var loss: GRPOLoss
    /// The reference of the KL term (used only when β > 0).
    public var reference: ReferenceModel
    /// Completions per prompt (a group; TRL's default 8).
    public var numGenerations: Int
    /// Optimiser steps on each generated batch (TRL's μ, `num_iterations`): with more than one,
    /// the ratio to the policy that generated (π_old) moves away from 1 and clipping acts.
    public var numIterations: Int
    /// Longest completion in tokens (its end token included) — and dr_grpo's normaliser.
    public var maxCompletionLength: Int
    /// Sampling of completions (temperature, top-k, top-p); each completion's seed is drawn from
    /// the run's seed and recorded with it. Log-probs are taken at the same temperature.
    public var sampling: SamplingParams
    /// Completions decoded together (0: all of a step's; 1: one at a time). Results do not
    /// depend on it (batched decoding is bit-identical); only speed does.
    public var generationBatch: Int
    /// Reward functions' names (in the order the scorer returns their values) and weights.
    public var rewardNames: [String]
    public var rewardWeights: [Double]

    /// No defaults: those live in the notebook schema (`CellSchema.grpo`); the grpo cell fills every field.
    public init(train: TrainConfig, loss: GRPOLoss, reference: ReferenceModel, numGenerations: Int, numIterations: Int,
                maxCompletionLength: Int, sampling: SamplingParams, generationBatch: Int, rewardNames: [String], rewardWeights: [Double]) {
        self.train = train; self.loss = loss; self.reference = reference
        self.numGenerations = numGenerations; self.numIterations = numIterations
        self.maxCompletionLength = maxCompletionLength; self.sampling = sampling; self.generationBatch = generationBatch
        self.rewardNames = rewardNames; self.rewardWeights = rewardWeights
    }

    /// Completions per optimiser step.
    public var completionsPerStep: Int { train.batchSize * train.gradAccum }
    /// Prompts per optimiser step (whole groups).
    public var promptsPerStep: Int { completionsPerStep / numGenerations }

    public func validate() throws {
        try train.validate()
        try loss.validate()
        guard numGenerations >= 2 else { throw TrainError("num_generations: must be >= 2 (advantages compare completions of one prompt), got \(numGenerations)") }
        guard completionsPerStep % numGenerations == 0 else {
            throw TrainError("num_generations: \(numGenerations) does not divide the completions of a step, batch_size × grad_accum = \(train.batchSize) × \(train.gradAccum) = \(completionsPerStep) (each prompt's group must be whole, as TRL requires)")
        }
        guard numIterations >= 1 else { throw TrainError("num_iterations: must be >= 1, got \(numIterations)") }
        guard maxCompletionLength >= 1 else { throw TrainError("max_completion_length: must be >= 1, got \(maxCompletionLength)") }
        guard sampling.temperature > 0 else { throw TrainError("temperature: must be > 0 (GRPO needs different completions of one prompt), got \(sampling.temperature)") }
        do { try sampling.validate() } catch { throw TrainError("temperature: \(error)") }
        guard generationBatch >= 0 else { throw TrainError("generation_batch: must be >= 0, got \(generationBatch)") }
        guard !rewardNames.isEmpty, rewardNames.count == rewardWeights.count else {
            throw TrainError("rewards: at least one reward function, with one weight each")
        }
        if loss.beta == 0 && reference == .adapter {
            throw TrainError("reference: with beta = 0 there is no KL term and no reference; set beta > 0 or leave reference = \"base\"")
        }
    }
}

/// A prompt as the policy sees it: its data row, its text and tokens.
public struct GRPOPrompt: Sendable, Equatable {
    public var row: Int
    public var text: String
    public var ids: [Int]
    public init(row: Int, text: String, ids: [Int]) { self.row = row; self.text = text; self.ids = ids }
}

/// One sampled completion, with what it was scored: what the record's `completions` table holds.
public struct GRPOCompletion: Sendable, Equatable, Codable {
    /// The optimiser step (1-based) that generated it.
    public var step: Int
    /// Index into the trainer's prompts, its data row, its place in the group.
    public var prompt: Int
    public var row: Int
    public var generation: Int
    public var seed: UInt64
    /// The completion's tokens as trained on: the sampled tokens and, when it stopped on an
    /// end-of-turn token, that token (transformers' `generate` keeps it; it is scored).
    public var ids: [Int]
    /// The decoded text (special tokens skipped, as TRL's `batch_decode(skip_special_tokens=True)`).
    public var text: String
    public var stoppedOnEOS: Bool
    /// Value of each reward function (`GRPOConfig.rewardNames` order), their weighted sum, and
    /// the group-normalised advantage.
    public var rewards: [Double] = []
    public var reward = 0.0
    public var advantage = 0.0
}

/// The completions of one generation, ready to train on (kept for `num_iterations` steps).
struct GenerationBatch: Codable, Equatable {
    var completions: [GRPOCompletion]
    /// Per completion, per completion token: log π_old (only with num_iterations > 1; else the
    /// policy itself, detached, as TRL) and the reference's log-prob (only with β > 0).
    var oldLogProbs: [[Double]]?
    var refLogProbs: [[Double]]?
    /// Reward statistics of the generation (recorded on the step that generated).
    var stats: GenerationStats
}

/// What TRL logs at generation: reward means and stds (per function and weighted), the share of
/// groups with zero std, completion lengths.
public struct GenerationStats: Codable, Equatable, Sendable {
    public var reward = 0.0, rewardStd = 0.0
    public var functionMeans: [Double] = [], functionStds: [Double] = []
    public var fractionZeroStd = 0.0
    public var meanLength = 0.0, minLength = 0.0, maxLength = 0.0
    /// Share of completions cut at max_completion_length (no end token), and the mean length of the others.
    public var clippedRatio = 0.0, meanTerminatedLength = 0.0
    public var generatedTokens = 0
    public var generationSeconds = 0.0, rewardSeconds = 0.0
}

/// One GRPO optimiser step's numbers.
public struct GRPOStepMetrics: Codable, Equatable, Sendable {
    public var step: Int
    public var loss: Double
    /// Global gradient norm before clipping.
    public var gradNorm: Double
    public var lr: Double
    /// Set on the steps that generated (every `num_iterations`-th).
    public var generation: GenerationStats?
    /// Means over micro-batches of token means, as TRL logs them: the KL (β > 0 only) and the
    /// share of completion tokens whose ratio was clipped below / above / either.
    public var kl: Double?
    public var clipLow = 0.0, clipHigh = 0.0, clipRegion = 0.0
    /// Tokens of the policy's sequences (prompt + completion) and their completion tokens.
    public var tokens: Int
    public var completionTokens: Int
    /// Wall time: generation (sampling + rewards), and training (old/reference log-probs,
    /// forward, backward, optimiser).
    public var generationSeconds: Double
    public var trainingSeconds: Double
    public var seconds: Double { generationSeconds + trainingSeconds }

    /// Everything recorded per step under TRL's names (`/` kept: `tunelab plot --metric reward`
    /// and `rewards/think_format/mean` take them as they are), and timings.
    public func named(rewardNames: [String]) -> [(String, Double)] {
        var out: [(String, Double)] = [("loss", loss), ("grad_norm", gradNorm), ("lr", lr)]
        if let g = generation {
            out += [("reward", g.reward), ("reward_std", g.rewardStd), ("frac_reward_zero_std", g.fractionZeroStd)]
            for (i, n) in rewardNames.enumerated() where i < g.functionMeans.count {
                out += [("rewards/\(n)/mean", g.functionMeans[i]), ("rewards/\(n)/std", g.functionStds[i])]
            }
            out += [("completions/mean_length", g.meanLength), ("completions/min_length", g.minLength),
                    ("completions/max_length", g.maxLength), ("completions/clipped_ratio", g.clippedRatio),
                    ("completions/mean_terminated_length", g.meanTerminatedLength)]
            out += [("time/generation_s", g.generationSeconds), ("time/reward_s", g.rewardSeconds),
                    ("generation_tokens_per_s", g.generationSeconds > 0 ? Double(g.generatedTokens) / g.generationSeconds : 0)]
        }
        if let kl { out.append(("kl", kl)) }
        out += [("clip_ratio/low_mean", clipLow), ("clip_ratio/high_mean", clipHigh), ("clip_ratio/region_mean", clipRegion)]
        out += [("time/training_s", trainingSeconds),
                ("tokens_per_s", trainingSeconds > 0 ? Double(tokens) / trainingSeconds : 0)]
        return out
    }
}

/// The metrics of a step that are measurements of time (a replay does not compare them).
public let grpoTimingMetrics: Set<String> = ["time/generation_s", "time/reward_s", "time/training_s", "generation_tokens_per_s"]

/// Scores completions: for each, one value per reward function (`GRPOConfig.rewardNames` order).
/// Throws to stop training (an error naming the row).
public typealias GRPORewardScorer = ([GRPOCompletion], [GRPOPrompt]) throws -> [[Double]]

/// Group Relative Policy Optimisation of a LoRA adapter (Shao et al. 2024), as TRL v1.9.0's
/// `GRPOTrainer` with its defaults (token-level ratios, `scale_rewards = "group"`,
/// `steps_per_generation = gradient_accumulation_steps`): each generation takes the next
/// `promptsPerStep` prompts, samples `numGenerations` completions of each with the current
/// policy (all decoded as one batch, each with its own recorded seed), scores them, normalises
/// rewards within each group (`GroupAdvantages`), then trains `numIterations` optimiser steps on
/// them, `gradAccum` micro-batches of `batchSize` completions each (in generation order; TRL
/// shuffles first, which changes no loss: every normaliser is per completion or per step). The
/// per-token objective is `GRPOLoss`; its weights per token (`tokenWeight`) make the step's loss.
/// Log-probs are the policy's at the sampling temperature (logits / T); π_old is the policy
/// itself with one iteration (ratio exactly 1) and the policy at generation time with more; the
/// reference (β > 0) is the base with the adapter disabled or the starting adapter.
///
/// Data order, adapter init, dropout and sampling seeds come from the one seed; every piece of
/// state (with a generated batch still in use) is in the checkpoint, so a resume continues the
/// same curve bit for bit.
public final class GRPOTrainer {
    public let config: GRPOConfig
    public let totalSteps: Int
    public internal(set) var step = 0
    public internal(set) var history: [GRPOStepMetrics] = []
    public let outputDirectory: String?
    public let baseModelName: String

    let lm: LanguageModel
    let policy: PolicyModel
    public let prompts: [GRPOPrompt]
    let scorer: GRPORewardScorer
    let schedule: LRSchedule
    var optimizer: AdamW
    var dataRNG: SeededRNG
    var dropoutRNG: SeededRNG
    var samplingRNG: SeededRNG
    var order: [Int] = []
    var cursor = 0
    var epoch = 0
    /// The batch the current iterations train on.
    var buffer: GenerationBatch?

    public init(model lm: LanguageModel, prompts: [GRPOPrompt], config: GRPOConfig, scorer: @escaping GRPORewardScorer,
                outputDirectory: String?, baseModelName: String, initialAdapter: LoRAAdapter? = nil) throws {
        try config.validate()
        guard !prompts.isEmpty else { throw TrainError("no prompts to train on") }
        if let i = prompts.firstIndex(where: \.ids.isEmpty) { throw TrainError("prompt \(i) (row \(prompts[i].row)) has no token") }
        if config.reference == .adapter && initialAdapter == nil {
            throw TrainError("reference: \"adapter\" is the starting adapter; start from one (adapter = …) or use reference = \"base\"")
        }
        self.config = config
        self.lm = lm
        self.prompts = prompts
        self.scorer = scorer
        self.outputDirectory = outputDirectory
        self.baseModelName = baseModelName
        let tc = config.train
        // An epoch is a pass over the prompts; each prompt makes numGenerations completions.
        totalSteps = tc.maxSteps > 0 ? tc.maxSteps
            : max(1, tc.epochs * ((prompts.count + config.promptsPerStep - 1) / config.promptsPerStep) * config.numIterations)
        schedule = try tc.schedule(totalSteps: totalSteps)
        var initRNG = SeededRNG(seed: tc.seed)
        dataRNG = SeededRNG(seed: tc.seed &+ 0x0DA7_A0DE)
        dropoutRNG = SeededRNG(seed: tc.seed &+ 0xD20_90D7)
        samplingRNG = SeededRNG(seed: tc.seed &+ 0x5A_3917)
        let adapter = try initialAdapter ?? LoRAAdapter.initialized(config: tc.lora, model: lm.config, rng: &initRNG)
        guard adapter.config == tc.lora else {
            throw TrainError("the initial adapter's LoRA settings \(adapter.config) differ from the run's \(tc.lora)")
        }
        let model = try LoRAModel(weights: lm.weights, adapter: adapter, gradientCheckpointing: tc.gradientCheckpointing,
                                  computeDType: tc.computeDType)
        policy = PolicyModel(model: model, reference: config.reference)
        optimizer = try AdamW(parameterCounts: model.params.map(\.count),
                              config: AdamWConfig(lr: tc.lr, weightDecay: tc.weightDecay))
        newEpochOrder()
    }

    public var adapter: LoRAAdapter { policy.model.adapter }
    public var parameterCount: Int { policy.model.params.reduce(0) { $0 + $1.count } }
    var model: LoRAModel { policy.model }

    // MARK: data order (as `Trainer`)

    private func newEpochOrder() {
        order = Array(prompts.indices)
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            let j = Int(dataRNG.next() % UInt64(i + 1))
            order.swapAt(i, j)
        }
        cursor = 0
    }

    private func nextPrompt() -> Int {
        if cursor == order.count { epoch += 1; newEpochOrder() }
        defer { cursor += 1 }
        return order[cursor]
    }

    // MARK: generation

    /// Samples the next prompts' groups with the current policy, scores them and computes the
    /// advantages (and π_old / reference log-probs when the objective needs them).
    func generate(forStep stepNumber: Int) throws -> GenerationBatch {
        let t0 = Date()
        let n = config.numGenerations
        let promptIndices = (0..<config.promptsPerStep).map { _ in nextPrompt() }
        var completions: [GRPOCompletion] = []
        var inputs: [[Int]] = [], seeds: [UInt64] = []
        for p in promptIndices {
            for g in 0..<n {
                let seed = samplingRNG.next()
                completions.append(GRPOCompletion(step: stepNumber, prompt: p, row: prompts[p].row, generation: g, seed: seed,
                                                  ids: [], text: "", stoppedOnEOS: false))
                inputs.append(prompts[p].ids); seeds.append(seed)
            }
        }
        let generator = try lm.replacingWeights(try adapter.applied(to: lm.weights))
        let chunk = config.generationBatch == 0 ? inputs.count : config.generationBatch
        var start = 0
        while start < inputs.count {
            let end = min(start + chunk, inputs.count)
            let results = try generator.generateBatch(prompts: Array(inputs[start..<end]), maxNewTokens: config.maxCompletionLength,
                                                      sampling: config.sampling, seeds: Array(seeds[start..<end]))
            for (k, r) in results.enumerated() {
                var c = completions[start + k]
                c.ids = r.ids + (r.endToken.map { [$0] } ?? [])
                c.text = r.text
                c.stoppedOnEOS = r.stop == .endOfTurn
                completions[start + k] = c
            }
            start = end
        }
        var stats = GenerationStats()
        stats.generationSeconds = Date().timeIntervalSince(t0)
        stats.generatedTokens = completions.reduce(0) { $0 + $1.ids.count }

        let t1 = Date()
        let values = try scorer(completions, prompts)
        guard values.count == completions.count else {
            throw TrainError("the reward functions returned \(values.count) rows for \(completions.count) completions")
        }
        for (i, v) in values.enumerated() {
            if let k = v.firstIndex(where: { !$0.isFinite }) {
                let c = completions[i]
                throw TrainError("reward \(config.rewardNames[min(k, config.rewardNames.count - 1)]) of row \(c.row) (generation \(c.generation)) is \(v[k]), not a finite number")
            }
        }
        let adv = try GroupAdvantages.compute(values: values, weights: config.rewardWeights, groupSize: n)
        for i in completions.indices {
            completions[i].rewards = values[i]; completions[i].reward = adv.rewards[i]; completions[i].advantage = adv.advantages[i]
        }
        stats.rewardSeconds = Date().timeIntervalSince(t1)
        (stats.reward, stats.rewardStd) = GroupAdvantages.meanStd(adv.rewards)
        for k in config.rewardNames.indices {
            let (m, s) = GroupAdvantages.meanStd(values.map { $0[k] })
            stats.functionMeans.append(m); stats.functionStds.append(s)
        }
        stats.fractionZeroStd = adv.fractionZeroStd
        let lengths = completions.map { Double($0.ids.count) }
        stats.meanLength = lengths.reduce(0, +) / Double(lengths.count)
        stats.minLength = lengths.min() ?? 0; stats.maxLength = lengths.max() ?? 0
        let terminated = completions.filter(\.stoppedOnEOS).map { Double($0.ids.count) }
        stats.clippedRatio = Double(completions.count - terminated.count) / Double(completions.count)
        stats.meanTerminatedLength = terminated.isEmpty ? 0 : terminated.reduce(0, +) / Double(terminated.count)

        return try trainingBatch(completions, stats: stats)
    }

    /// Scored completions with the log-probs their objective needs: π_old (the policy now, with
    /// num_iterations > 1; unless given, e.g. by a parity test) and the reference's (β > 0).
    func trainingBatch(_ completions: [GRPOCompletion], stats: GenerationStats = GenerationStats(),
                       oldLogProbs: [[Double]]? = nil) throws -> GenerationBatch {
        var batch = GenerationBatch(completions: completions, oldLogProbs: oldLogProbs, refLogProbs: nil, stats: stats)
        let seqs = completions.map { sequence($0) }
        if config.numIterations > 1 && oldLogProbs == nil { batch.oldLogProbs = try completionLogProbs(seqs, ofReference: false) }
        if config.loss.beta != 0 { batch.refLogProbs = try completionLogProbs(seqs, ofReference: true) }
        return batch
    }

    /// prompt + completion, with targets on the completion's tokens.
    func sequence(_ c: GRPOCompletion) -> TrainSequence {
        let p = prompts[c.prompt].ids
        return TrainSequence(ids: p + c.ids, labels: [Int](repeating: ignoreLabel, count: p.count) + c.ids)
    }

    /// The log-probs of each completion's tokens (no gradient), micro-batch by micro-batch.
    private func completionLogProbs(_ seqs: [TrainSequence], ofReference: Bool) throws -> [[Double]] {
        var out: [[Double]] = []
        var i = 0
        while i < seqs.count {
            let mb = Array(seqs[i..<min(i + config.train.batchSize, seqs.count)])
            let lp = try policy.tokenLogProbs(mb, ofReference: ofReference, temperature: config.sampling.temperature)
            for (s, l) in zip(mb, lp) { out.append(Self.completionPart(l, s)) }
            i += config.train.batchSize
        }
        return out
    }

    /// A sequence's per-position values at its trained positions (the completion's tokens), in order.
    static func completionPart<T>(_ perPosition: [T], _ s: TrainSequence) -> [T] {
        s.targets.indices.filter { s.targets[$0] != ignoreLabel }.map { perPosition[$0] }
    }

    // MARK: training

    /// Trains until `totalSteps`, a stop request, or divergence. `onCompletions` sees each
    /// generation's scored completions before they are trained on (to record them).
    public func run(shouldStop: () -> Bool = { Interrupt.requested },
                    onCompletions: ([GRPOCompletion]) throws -> Void = { _ in },
                    onStep: (GRPOStepMetrics) throws -> Void = { _ in },
                    onCheckpoint: (String) throws -> Void = { _ in }) throws -> TrainOutcome {
        while step < totalSteps {
            if shouldStop() {
                if let p = try saveCheckpoint() { try onCheckpoint(p) }
                return .interrupted
            }
            let m: GRPOStepMetrics
            do { m = try trainStep(onCompletions: onCompletions) } catch let e as Trainer.Diverged {
                return .diverged(e.divergence)
            }
            try appendMetrics(m)
            try onStep(m)
            let c = config.train
            if (c.saveEvery > 0 && step % c.saveEvery == 0) || step == totalSteps {
                if let p = try saveCheckpoint() { try onCheckpoint(p) }
            }
        }
        try saveFinalAdapter()
        return .completed
    }

    /// One optimiser step: a new generation every `numIterations` steps, then `gradAccum`
    /// micro-batches of `batchSize` completions.
    func trainStep(onCompletions: ([GRPOCompletion]) throws -> Void = { _ in }) throws -> GRPOStepMetrics {
        let stepNumber = step + 1
        var generated: GenerationStats? = nil
        if step % config.numIterations == 0 || buffer == nil {
            let b = try generate(forStep: stepNumber)
            try onCompletions(b.completions)
            buffer = b
            generated = b.stats
        }
        let batch = buffer!
        let t0 = Date()
        let r = try gradients(of: batch)
        let c = config.train
        let norm: Float
        if c.maxGradNorm > 0 {
            norm = try GradClip.clip(&model.grads, maxNorm: c.maxGradNorm)
        } else {
            var sq: Double = 0
            for g in model.grads { let x = Double(g.withUnsafeBufferPointer { GradClip.norm($0) }); sq += x * x }
            norm = Float(sq.squareRoot())
        }
        guard r.loss.isFinite, norm.isFinite else {
            let bad = !r.loss.isFinite
            throw Trainer.Diverged(divergence: Divergence(step: stepNumber, rows: batch.completions.map(\.row), tensor: bad ? "loss" : "grad_norm",
                                                          value: bad ? r.loss : Double(norm), loss: r.loss, gradNorm: Double(norm)))
        }
        let lr = schedule.lr(at: step)
        try optimizer.step(parameters: &model.params, gradients: model.grads, lr: lr)
        step = stepNumber
        var m = r
        m.step = step; m.gradNorm = Double(norm); m.lr = lr
        m.generation = generated
        m.generationSeconds = generated.map { $0.generationSeconds + $0.rewardSeconds } ?? 0
        m.trainingSeconds = Date().timeIntervalSince(t0)
        history.append(m)
        return m
    }

    /// Zeroes the gradients and accumulates those of the step's loss over `batch` (micro-batches
    /// of `batchSize` completions in order); the step's loss, KL and clip shares.
    func gradients(of batch: GenerationBatch) throws -> GRPOStepMetrics {
        let c = config.train, comps = batch.completions
        let g = (comps.count + c.batchSize - 1) / c.batchSize
        let stepTokens = comps.reduce(0) { $0 + $1.ids.count }
        model.zeroGrads()
        var loss = 0.0, kl = 0.0, low = 0.0, high = 0.0, region = 0.0, tokens = 0
        var start = 0
        while start < comps.count {
            let idx = Array(start..<min(start + c.batchSize, comps.count))
            let seqs = idx.map { sequence(comps[$0]) }
            tokens += seqs.reduce(0) { $0 + $1.ids.count }
            let part = try policy.train(seqs, rng: &dropoutRNG, temperature: config.sampling.temperature) { lp -> (dLogProb: [[Float]], result: (Double, Double, Double, Double, Double)) in
                var grads = seqs.map { [Float](repeating: 0, count: $0.ids.count) }
                var l = 0.0, klSum = 0.0, lo = 0, hi = 0, n = 0
                for (k, i) in idx.enumerated() {
                    let s = seqs[k], positions = s.targets.indices.filter { s.targets[$0] != ignoreLabel }
                    let w = config.loss.tokenWeight(completionTokens: positions.count, microBatchSize: idx.count, microBatches: g,
                                                    maxCompletionLength: config.maxCompletionLength, stepTokens: stepTokens)
                    for (j, t) in positions.enumerated() {
                        let old = batch.oldLogProbs?[i][j] ?? lp[k][t]
                        let tok = config.loss.token(logProb: lp[k][t], old: old, ref: batch.refLogProbs?[i][j], advantage: comps[i].advantage)
                        l += w * tok.loss
                        grads[k][t] = Float(w * tok.dLogProb)
                        klSum += tok.kl
                        if tok.lowClipped { lo += 1 }
                        if tok.highClipped { hi += 1 }
                        n += 1
                    }
                }
                let d = Double(max(n, 1))
                // TRL's clip_ratio/region_mean counts a token clipped either way once; the two never overlap.
                return (grads, (l, klSum / d, Double(lo) / d, Double(hi) / d, Double(lo + hi) / d))
            }
            if let (l, k, lo, hi, re) = part { loss += l; kl += k; low += lo; high += hi; region += re }
            start += c.batchSize
        }
        let gd = Double(g)
        return GRPOStepMetrics(step: step + 1, loss: loss, gradNorm: 0, lr: 0, generation: nil,
                               kl: config.loss.beta != 0 ? kl / gd : nil, clipLow: low / gd, clipHigh: high / gd, clipRegion: region / gd,
                               tokens: tokens, completionTokens: stepTokens, generationSeconds: 0, trainingSeconds: 0)
    }
}
