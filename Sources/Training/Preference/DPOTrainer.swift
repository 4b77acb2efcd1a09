import Foundation
import Dataset
import Kernels
import Transformer

/// Everything that decides a DPO run's numbers (stored in every checkpoint, compared on resume).
public struct DPOConfig: Codable, Equatable, Sendable {
    /// The optimisation settings shared with SFT: LoRA shape, AdamW, schedule, clipping, seed,
    /// checkpoints. `batchSize` counts pairs (each pair is two sequences).
    public var train: TrainConfig
    public var loss: DPOLoss
    public var reference: ReferenceModel

    public init(train: TrainConfig, loss: DPOLoss, reference: ReferenceModel) {
        self.train = train; self.loss = loss; self.reference = reference
    }

    public func validate() throws {
        try train.validate()
        try loss.validate()
    }
}

/// A preference pair as the model sees it: prompt + chosen and prompt + rejected, with targets
/// on the completion tokens only (EOS included).
public struct PreferenceSequences: Sendable, Equatable {
    public var row: Int
    public var chosen: TrainSequence
    public var rejected: TrainSequence

    public init(_ p: PreferencePair) {
        row = p.row
        func seq(_ c: [Int]) -> TrainSequence {
            TrainSequence(ids: p.prompt + c, labels: [Int](repeating: ignoreLabel, count: p.prompt.count) + c)
        }
        chosen = seq(p.chosen)
        rejected = seq(p.rejected)
    }
}

/// The reference's log-prob sums of one pair (computed once, cached for the run).
struct ReferenceLogProbs: Codable, Equatable {
    var chosen: Double
    var rejected: Double
}

/// Means over the pairs of a step (or of the validation set), as TRL logs them.
public struct DPOPairMetrics: Codable, Equatable, Sendable {
    public var loss = 0.0
    public var rewardsChosen = 0.0, rewardsRejected = 0.0, rewardsMargins = 0.0, rewardsAccuracies = 0.0
    public var logpsChosen = 0.0, logpsRejected = 0.0
    public var pairs = 0

    mutating func add(_ r: DPOLoss.PairResult, _ p: DPOLoss.PairLogProbs) {
        loss += r.loss
        rewardsChosen += r.rewardChosen; rewardsRejected += r.rewardRejected
        rewardsMargins += r.rewardChosen - r.rewardRejected
        rewardsAccuracies += r.rewardChosen > r.rewardRejected ? 1 : 0
        logpsChosen += p.chosen; logpsRejected += p.rejected
        pairs += 1
    }

    /// The sums turned into means.
    func mean() -> DPOPairMetrics {
        guard pairs > 0 else { return self }
        let n = Double(pairs)
        var m = self
        m.loss /= n; m.rewardsChosen /= n; m.rewardsRejected /= n; m.rewardsMargins /= n; m.rewardsAccuracies /= n
        m.logpsChosen /= n; m.logpsRejected /= n
        return m
    }

    /// TRL's metric names (with `/`, which the record and `tunelab plot --metric` take as is).
    func named(prefix: String = "") -> [(String, Double)] {
        [(prefix + "loss", loss),
         (prefix + "rewards/chosen", rewardsChosen), (prefix + "rewards/rejected", rewardsRejected),
         (prefix + "rewards/margins", rewardsMargins), (prefix + "rewards/accuracies", rewardsAccuracies),
         (prefix + "logps/chosen", logpsChosen), (prefix + "logps/rejected", logpsRejected)]
    }
}

/// One DPO optimiser step's numbers.
public struct DPOStepMetrics: Codable, Equatable, Sendable {
    public var step: Int
    public var train: DPOPairMetrics
    /// Global gradient norm before clipping.
    public var gradNorm: Double
    public var lr: Double
    /// Tokens of the policy's sequences (prompt + completion, both sides) and completion tokens.
    public var tokens: Int
    public var completionTokens: Int
    /// Wall time of the step, the reference forwards it needed included.
    public var seconds: Double
    public var eval: DPOPairMetrics?
    public var tokensPerSecond: Double { seconds > 0 ? Double(tokens) / seconds : 0 }
    public var loss: Double { train.loss }

    /// Everything recorded per step: TRL's names (`eval_` prefix for validation), `grad_norm`,
    /// `lr`, `tokens_per_s`.
    public var named: [(String, Double)] {
        var out = train.named() + [("grad_norm", gradNorm), ("lr", lr), ("tokens_per_s", tokensPerSecond)]
        if let e = eval { out += e.named(prefix: "eval_") }
        return out
    }
}

/// Direct Preference Optimisation of a LoRA adapter (Rafailov et al.), with TRL v0.28's losses
/// (`DPOLoss`): each optimiser step takes `batchSize × gradAccum` pairs; per micro-batch the
/// chosen and rejected sequences of its pairs run as one forward (chosen first, then rejected,
/// as TRL concatenates them), their completion log-probs are summed per sequence, the loss's
/// derivative with respect to each sum weights that sequence's tokens in the backward
/// (`Ops.tokenLogProbs`). The loss is the mean over the step's pairs.
///
/// The reference's log-probs are computed once per pair, the first time the pair is drawn, with
/// the adapter disabled (or the starting adapter swapped in), and cached for the run and in its
/// checkpoints. Data order, adapter init and dropout come from one seed as in `Trainer`; every
/// piece of state is in the checkpoint, so a resume continues the same curve bit for bit.
public final class DPOTrainer {
    public let config: DPOConfig
    public let totalSteps: Int
    public internal(set) var step = 0
    public internal(set) var history: [DPOStepMetrics] = []
    public let outputDirectory: String?
    public let baseModelName: String

    let policy: PolicyModel
    let train: [PreferenceSequences]
    let validation: [PreferenceSequences]
    let schedule: LRSchedule
    var optimizer: AdamW
    var dataRNG: SeededRNG
    var dropoutRNG: SeededRNG
    var order: [Int] = []
    var cursor = 0
    var epoch = 0
    var trainReference: [ReferenceLogProbs?]
    var validationReference: [ReferenceLogProbs?]

    public init(weights: ModelWeights, train: [PreferenceSequences], validation: [PreferenceSequences] = [],
                config: DPOConfig, outputDirectory: String?, baseModelName: String,
                initialAdapter: LoRAAdapter? = nil) throws {
        try config.validate()
        guard !train.isEmpty else { throw TrainError("the training set is empty: no preference pairs to train on") }
        for (i, p) in (train + validation).enumerated() where p.chosen.trainedTokens == 0 || p.rejected.trainedTokens == 0 {
            throw TrainError("pair \(i) (row \(p.row)) has a completion with no token")
        }
        if config.reference == .adapter && initialAdapter == nil {
            throw TrainError("reference: \"adapter\" is the starting adapter; start from one (adapter = …) or use reference = \"base\"")
        }
        self.config = config
        self.train = train
        self.validation = validation
        self.outputDirectory = outputDirectory
        self.baseModelName = baseModelName
        let tc = config.train
        totalSteps = tc.totalSteps(sequences: train.count)
        schedule = try tc.schedule(totalSteps: totalSteps)
        // The same three streams as SFT's `Trainer`, so one seed means the same adapter init.
        var initRNG = SeededRNG(seed: tc.seed)
        dataRNG = SeededRNG(seed: tc.seed &+ 0x0DA7_A0DE)
        dropoutRNG = SeededRNG(seed: tc.seed &+ 0xD20_90D7)
        let adapter = try initialAdapter ?? LoRAAdapter.initialized(config: tc.lora, model: weights.config, rng: &initRNG)
        guard adapter.config == tc.lora else {
            throw TrainError("the initial adapter's LoRA settings \(adapter.config) differ from the run's \(tc.lora)")
        }
        let model = try LoRAModel(weights: weights, adapter: adapter, gradientCheckpointing: tc.gradientCheckpointing,
                                  computeDType: tc.computeDType)
        policy = PolicyModel(model: model, reference: config.reference)
        optimizer = try AdamW(parameterCounts: model.params.map(\.count),
                              config: AdamWConfig(lr: tc.lr, weightDecay: tc.weightDecay))
        trainReference = Array(repeating: nil, count: train.count)
        validationReference = Array(repeating: nil, count: validation.count)
        newEpochOrder()
    }

    public var adapter: LoRAAdapter { policy.model.adapter }
    public var parameterCount: Int { policy.model.params.reduce(0) { $0 + $1.count } }
    var model: LoRAModel { policy.model }

    // MARK: data order (as `Trainer`)

    private func newEpochOrder() {
        order = Array(train.indices)
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            let j = Int(dataRNG.next() % UInt64(i + 1))
            order.swapAt(i, j)
        }
        cursor = 0
    }

    private func nextPair() -> Int {
        if cursor == order.count { epoch += 1; newEpochOrder() }
        defer { cursor += 1 }
        return order[cursor]
    }

    // MARK: reference

    /// The reference log-prob sums of `indices` (of `pairs`), computing those not cached yet in
    /// one forward (chosen then rejected, in index order).
    private func reference(_ indices: [Int], _ pairs: [PreferenceSequences],
                           _ cache: inout [ReferenceLogProbs?]) throws -> [ReferenceLogProbs] {
        var missing: [Int] = []
        for i in indices where cache[i] == nil && !missing.contains(i) { missing.append(i) }
        if !missing.isEmpty {
            let seqs = missing.map { pairs[$0].chosen } + missing.map { pairs[$0].rejected }
            let lp = try policy.tokenLogProbs(seqs, ofReference: true)
            for (k, i) in missing.enumerated() {
                cache[i] = ReferenceLogProbs(chosen: lp[k].reduce(0, +), rejected: lp[k + missing.count].reduce(0, +))
            }
        }
        return indices.map { cache[$0]! }
    }

    private static func logProbs(_ p: PreferenceSequences, policy: (Double, Double), ref: ReferenceLogProbs) -> DPOLoss.PairLogProbs {
        DPOLoss.PairLogProbs(chosen: policy.0, rejected: policy.1, refChosen: ref.chosen, refRejected: ref.rejected,
                             chosenTokens: p.chosen.trainedTokens, rejectedTokens: p.rejected.trainedTokens)
    }

    // MARK: training

    /// Trains until `totalSteps`, a stop request, or divergence (as `Trainer.run`).
    public func run(shouldStop: () -> Bool = { Interrupt.requested },
                    onStep: (DPOStepMetrics) throws -> Void = { _ in },
                    onCheckpoint: (String) throws -> Void = { _ in }) throws -> TrainOutcome {
        while step < totalSteps {
            if shouldStop() {
                if let p = try saveCheckpoint() { try onCheckpoint(p) }
                return .interrupted
            }
            var m: DPOStepMetrics
            do { m = try trainStep() } catch let e as Trainer.Diverged {
                return .diverged(e.divergence)
            }
            let c = config.train, last = step == totalSteps
            if !validation.isEmpty && ((c.evalEvery > 0 && step % c.evalEvery == 0) || last) {
                m.eval = try evaluate()
                history[history.count - 1] = m
            }
            try appendMetrics(m)
            try onStep(m)
            if (c.saveEvery > 0 && step % c.saveEvery == 0) || last {
                if let p = try saveCheckpoint() { try onCheckpoint(p) }
            }
        }
        try saveFinalAdapter()
        return .completed
    }

    /// One optimiser step over `batchSize × gradAccum` pairs.
    func trainStep() throws -> DPOStepMetrics {
        try StepProfile.measure(.other) { try timedStep() }
    }

    private func timedStep() throws -> DPOStepMetrics {
        let start = Date()
        let c = config.train
        var micro: [[Int]] = []
        for _ in 0..<c.gradAccum { micro.append((0..<c.batchSize).map { _ in nextPair() }) }
        let (sums, tokens, completion) = try gradients(of: micro)
        let means = sums.mean()
        let norm: Float
        if c.maxGradNorm > 0 {
            norm = try GradClip.clip(&model.grads, maxNorm: c.maxGradNorm)
        } else {
            var sq: Double = 0
            for g in model.grads { let x = Double(g.withUnsafeBufferPointer { GradClip.norm($0) }); sq += x * x }
            norm = Float(sq.squareRoot())
        }
        let stepNumber = step + 1
        guard means.loss.isFinite, norm.isFinite else {
            // Rows are training-pair positions; the sentinel checks loss and norm only.
            let bad = !means.loss.isFinite
            throw Trainer.Diverged(divergence: Divergence(step: stepNumber, rows: micro.flatMap { $0 }, tensor: bad ? "loss" : "grad_norm",
                                                          value: bad ? means.loss : Double(norm), loss: means.loss, gradNorm: Double(norm)))
        }
        let lr = schedule.lr(at: step)
        try optimizer.step(parameters: &model.params, gradients: model.grads, lr: lr)
        step = stepNumber
        let m = DPOStepMetrics(step: step, train: means, gradNorm: Double(norm), lr: lr, tokens: tokens,
                               completionTokens: completion, seconds: Date().timeIntervalSince(start))
        history.append(m)
        return m
    }

    /// Zeroes the gradients and accumulates those of the mean loss over every pair of `micro`
    /// (micro-batches of training-pair indices); the pairs' metric sums, tokens and completion tokens.
    func gradients(of micro: [[Int]]) throws -> (sums: DPOPairMetrics, tokens: Int, completion: Int) {
        let n = Double(micro.reduce(0) { $0 + $1.count })
        model.zeroGrads()
        var sums = DPOPairMetrics()
        var tokens = 0, completion = 0
        for mb in micro {
            let refs = try reference(mb, train, &trainReference)
            let seqs = mb.map { train[$0].chosen } + mb.map { train[$0].rejected }
            tokens += seqs.reduce(0) { $0 + $1.ids.count }
            completion += seqs.reduce(0) { $0 + $1.trainedTokens }
            let part = try policy.train(seqs, rng: &dropoutRNG) { lp -> (dLogProb: [[Float]], result: DPOPairMetrics) in
                var g = seqs.map { [Float](repeating: 0, count: $0.ids.count) }
                var part = DPOPairMetrics()
                for (k, i) in mb.enumerated() {
                    let p = Self.logProbs(train[i], policy: (lp[k].reduce(0, +), lp[k + mb.count].reduce(0, +)), ref: refs[k])
                    let r = config.loss.pair(p)
                    part.add(r, p)
                    // The step's loss is the mean over its pairs: each pair's derivative / n.
                    Self.fill(&g[k], Float(r.dChosen / n), targets: seqs[k].targets)
                    Self.fill(&g[k + mb.count], Float(r.dRejected / n), targets: seqs[k + mb.count].targets)
                }
                return (g, part)
            }
            if let part { sums.merge(part) }
        }
        return (sums, tokens, completion)
    }

    /// g[t] = value on every trained position of the sequence.
    private static func fill(_ g: inout [Float], _ value: Float, targets: [Int]) {
        for (t, y) in targets.enumerated() where y != ignoreLabel { g[t] = value }
    }

    /// Loss and rewards over the validation pairs (policy without dropout; no gradients).
    public func evaluate() throws -> DPOPairMetrics {
        var sums = DPOPairMetrics()
        var i = 0
        while i < validation.count {
            let mb = Array(i..<min(i + config.train.batchSize, validation.count))
            let refs = try reference(mb, validation, &validationReference)
            let lp = try policy.tokenLogProbs(mb.map { validation[$0].chosen } + mb.map { validation[$0].rejected })
            for (k, j) in mb.enumerated() {
                let p = Self.logProbs(validation[j], policy: (lp[k].reduce(0, +), lp[k + mb.count].reduce(0, +)), ref: refs[k])
                sums.add(config.loss.pair(p), p)
            }
            i += config.train.batchSize
        }
        return sums.mean()
    }

    /// Loss, rewards and log-probs of `pairs` under the current policy against the reference
    /// (no gradient; for reports and tests).
    public func measure(_ pairs: [PreferenceSequences]) throws -> DPOPairMetrics {
        var cache = [ReferenceLogProbs?](repeating: nil, count: pairs.count)
        let idx = Array(pairs.indices)
        let refs = try reference(idx, pairs, &cache)
        let lp = try policy.tokenLogProbs(pairs.map(\.chosen) + pairs.map(\.rejected))
        var sums = DPOPairMetrics()
        for (k, p) in pairs.enumerated() {
            let x = Self.logProbs(p, policy: (lp[k].reduce(0, +), lp[k + pairs.count].reduce(0, +)), ref: refs[k])
            sums.add(config.loss.pair(x), x)
        }
        return sums.mean()
    }
}

extension DPOPairMetrics {
    /// Adds another part's sums.
    mutating func merge(_ o: DPOPairMetrics) {
        loss += o.loss
        rewardsChosen += o.rewardsChosen; rewardsRejected += o.rewardsRejected
        rewardsMargins += o.rewardsMargins; rewardsAccuracies += o.rewardsAccuracies
        logpsChosen += o.logpsChosen; logpsRejected += o.logpsRejected
        pairs += o.pairs
    }
}
