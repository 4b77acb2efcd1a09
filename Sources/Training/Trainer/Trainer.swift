import Foundation
import Kernels
import Transformer

/// How a `Trainer.run` ended.
public enum TrainOutcome: Equatable, Sendable {
    case completed
    /// Stopped on request (Ctrl-C) at a step boundary; a checkpoint of that step was written.
    case interrupted
    /// A non-finite loss or gradient norm; the step was not applied. Says where, and which
    /// checkpoint was verified as the last good one.
    case diverged(Divergence)
}

/// Supervised LoRA fine-tuning: data order, gradient accumulation normalised by trained tokens,
/// clipping, AdamW with a schedule, periodic evaluation and atomic, resumable checkpoints.
///
/// One seed drives three independent streams: adapter init, dropout and data order. Every piece
/// of state those streams and the optimiser carry is in the checkpoint, so resuming from step k
/// continues the same curve bit for bit, at any thread count (the kernels' results do not depend
/// on it: see `Parallel`). A step whose loss or gradients are not finite is not applied: the run
/// stops with a `Divergence` naming the step, its data rows, the tensor and the last checkpoint
/// verified finite.
public final class Trainer {
    public let config: TrainConfig
    public let totalSteps: Int
    /// Optimiser steps done so far.
    public internal(set) var step = 0
    public internal(set) var history: [StepMetrics] = []
    /// Where checkpoints, the final adapter and metrics.jsonl go (nil: nothing written).
    public let outputDirectory: String?
    /// Recorded as `base_model_name_or_path` in the saved adapters.
    public let baseModelName: String

    let model: LoRAModel
    let train: [TrainSequence]
    let validation: [TrainSequence]
    let schedule: LRSchedule
    var optimizer: AdamW
    var dataRNG: SeededRNG
    var dropoutRNG: SeededRNG
    /// Current epoch's order of `train` indices and the next position in it.
    var order: [Int] = []
    var cursor = 0
    var epoch = 0
    /// Checkpoints this run wrote, or resumed from, oldest first: candidates for the last good one.
    var checkpoints: [String] = []
    /// Tests only: sees each step's mean loss and gradients after the backward, before they are
    /// checked (a test poisons one to exercise the divergence sentinel).
    var afterBackward: ((_ step: Int, _ loss: inout Double, _ grads: inout [[Float]]) -> Void)?

    public init(weights: ModelWeights, train: [TrainSequence], validation: [TrainSequence] = [],
                config: TrainConfig, outputDirectory: String?, baseModelName: String,
                initialAdapter: LoRAAdapter? = nil) throws {
        try config.validate()
        guard !train.isEmpty else { throw TrainError("the training set is empty: nothing to train on") }
        for (i, s) in train.enumerated() where s.trainedTokens == 0 {
            throw TrainError("training sequence \(i) has no trained token (its response was masked or truncated away)")
        }
        self.config = config
        self.train = train
        self.validation = validation
        self.outputDirectory = outputDirectory
        self.baseModelName = baseModelName
        totalSteps = config.totalSteps(sequences: train.count)
        schedule = try config.schedule(totalSteps: totalSteps)
        var initRNG = SeededRNG(seed: config.seed)
        dataRNG = SeededRNG(seed: config.seed &+ 0x0DA7_A0DE)
        dropoutRNG = SeededRNG(seed: config.seed &+ 0xD20_90D7)
        let adapter = try initialAdapter ?? LoRAAdapter.initialized(config: config.lora, model: weights.config, rng: &initRNG)
        guard adapter.config == config.lora else {
            throw TrainError("the initial adapter's LoRA settings \(adapter.config) differ from the run's \(config.lora)")
        }
        model = try LoRAModel(weights: weights, adapter: adapter, gradientCheckpointing: config.gradientCheckpointing,
                              computeDType: config.computeDType)
        optimizer = try AdamW(parameterCounts: model.params.map(\.count),
                              config: AdamWConfig(lr: config.lr, weightDecay: config.weightDecay))
        newEpochOrder()
    }

    /// The adapter as trained so far.
    public var adapter: LoRAAdapter { model.adapter }
    public var parameterCount: Int { model.params.reduce(0) { $0 + $1.count } }

    // MARK: data order

    private func newEpochOrder() {
        order = Array(train.indices)
        // Fisher–Yates with the run's own generator (portable, unlike Swift's shuffle).
        for i in stride(from: order.count - 1, to: 0, by: -1) {
            let j = Int(dataRNG.next() % UInt64(i + 1))
            order.swapAt(i, j)
        }
        cursor = 0
    }

    /// The next sequence's position in `train`.
    private func nextRow() -> Int {
        if cursor == order.count { epoch += 1; newEpochOrder() }
        defer { cursor += 1 }
        return order[cursor]
    }

    // MARK: training

    /// Trains until `totalSteps`, a stop request, or divergence. `onStep` sees every step's
    /// metrics (eval loss included on evaluation steps); `onCheckpoint` each checkpoint written.
    public func run(shouldStop: () -> Bool = { Interrupt.requested },
                    onStep: (StepMetrics) throws -> Void = { _ in },
                    onCheckpoint: (String) throws -> Void = { _ in }) throws -> TrainOutcome {
        if let out = outputDirectory {
            // A read-only or unwritable output folder is refused before the first step.
            try prepareOutputFolder(out)
            // metrics.jsonl holds this run's steps only: a resumed checkpoint's, then each new one
            // (not the lines of an earlier run, or of steps past the checkpoint, left in the folder).
            try writeFileAtomically(path: out + "/metrics.jsonl", bytes: Array(history.map(Self.metricsLine).joined().utf8),
                                    what: "the metrics up to step \(step)")
        }
        while step < totalSteps {
            if shouldStop() {
                if let p = try saveCheckpoint() { try onCheckpoint(p) }
                return .interrupted
            }
            var m: StepMetrics
            do { m = try trainStep() } catch let e as Diverged {
                var d = e.divergence
                (d.checkpoint, d.rejectedCheckpoints) = lastGoodCheckpoint()
                return .diverged(d)
            }
            let last = step == totalSteps
            if !validation.isEmpty && ((config.evalEvery > 0 && step % config.evalEvery == 0) || last) {
                m.evalLoss = try evaluate()
                history[history.count - 1] = m
            }
            try appendMetrics(m)
            try onStep(m)
            if (config.saveEvery > 0 && step % config.saveEvery == 0) || last {
                if let p = try saveCheckpoint() { try onCheckpoint(p) }
            }
        }
        try saveFinalAdapter()
        return .completed
    }

    /// Thrown by `trainStep` on a non-finite loss or gradient (the update not applied).
    struct Diverged: Error { let divergence: Divergence }

    /// One optimiser step over `batchSize × gradAccum` sequences.
    func trainStep() throws -> StepMetrics {
        try StepProfile.measure(.other) { try timedStep() }
    }

    private func timedStep() throws -> StepMetrics {
        let start = Date()
        var micro: [[TrainSequence]] = [], rows: [Int] = []
        for _ in 0..<config.gradAccum {
            micro.append((0..<config.batchSize).map { _ in let r = nextRow(); rows.append(r); return train[r] })
        }
        let trained = micro.reduce(0) { $0 + $1.reduce(0) { $0 + $1.trainedTokens } }
        let tokens = micro.reduce(0) { $0 + $1.reduce(0) { $0 + $1.ids.count } }
        // Each token's loss weighs 1/(trained tokens of the whole window): accumulation over
        // k micro-batches gives the gradient of one big batch.
        let scale = 1 / Float(trained)
        model.zeroGrads()
        var loss: Double = 0
        for mb in micro {
            loss += try model.run(mb, gradScale: scale, dropoutRNG: &dropoutRNG).loss
        }
        loss /= Double(trained)
        let stepNumber = step + 1
        afterBackward?(stepNumber, &loss, &model.grads)
        // The norm before clipping: a non-finite gradient is found (and named) unscaled.
        PausePoint.reached("step")
        let norm = GradClip.totalNorm(model.grads)
        guard loss.isFinite, norm.isFinite else {
            throw Diverged(divergence: nonFinite(step: stepNumber, rows: rows, loss: loss, gradNorm: norm))
        }
        if config.maxGradNorm > 0 { try GradClip.scale(&model.grads, total: norm, maxNorm: config.maxGradNorm) }
        let lr = schedule.lr(at: step)
        try optimizer.step(parameters: &model.params, gradients: model.grads, lr: lr)
        step = stepNumber
        let m = StepMetrics(step: step, loss: loss, gradNorm: Double(norm), lr: lr, tokens: tokens,
                            trainedTokens: trained, seconds: Date().timeIntervalSince(start))
        history.append(m)
        return m
    }

    /// Mean loss per trained token over the validation set (no dropout, no gradients).
    public func evaluate() throws -> Double {
        var loss: Double = 0, count = 0
        var rng = SeededRNG(seed: 0)   // unused: evaluation has no dropout
        var i = 0
        while i < validation.count {
            let mb = Array(validation[i..<min(i + config.batchSize, validation.count)])
            let r = try model.run(mb, backward: false, dropoutRNG: &rng)
            loss += r.loss; count += r.count
            i += config.batchSize
        }
        return count > 0 ? loss / Double(count) : .nan
    }
}

/// Mean loss per trained token of `sequences` under `adapter` (nil: the base model alone).
public func evaluationLoss(weights: ModelWeights, adapter: LoRAAdapter?, sequences: [TrainSequence],
                           batchSize: Int = 2, computeDType: ComputeDType = .fp32) throws -> Double {
    var rng = SeededRNG(seed: 0)   // unused: evaluation has no dropout
    let m = try LoRAModel(weights: weights, adapter: adapter, computeDType: computeDType)
    var loss: Double = 0, count = 0
    var i = 0
    while i < sequences.count {
        let r = try m.run(Array(sequences[i..<min(i + batchSize, sequences.count)]), backward: false, dropoutRNG: &rng)
        loss += r.loss; count += r.count
        i += batchSize
    }
    return count > 0 ? loss / Double(count) : .nan
}
