import Foundation
import Kernels

/// Everything that decides a training run's numbers (recorded with the run, stored in every
/// checkpoint, compared on resume). It has no defaults: those live in the notebook schema
/// (`CellSchema.train`), and the train cell fills every field from it.
public struct TrainConfig: Codable, Equatable, Sendable {
    public var lora: LoRAConfig
    /// Sequences per micro-batch (laid end to end, no padding).
    public var batchSize: Int
    /// Micro-batches per optimiser step; the loss is normalised by the trained tokens of the
    /// whole window, so 4 × 1 equals one batch of 4.
    public var gradAccum: Int
    public var lr: Double
    public var scheduler: LRSchedule.Kind
    public var warmupSteps: Int
    /// Used only when `warmupSteps` is 0 (transformers' `get_warmup_steps`: steps win when > 0).
    public var warmupRatio: Double
    /// Optimiser steps; 0 = `epochs` passes over the data.
    public var maxSteps: Int
    public var epochs: Int
    public var weightDecay: Double
    /// Clip the global gradient norm to this (0 = no clipping; the norm is logged either way).
    public var maxGradNorm: Double
    /// Drives adapter init, dropout and data order.
    public var seed: UInt64
    /// Validation loss every N steps (0 = only at the end).
    public var evalEvery: Int
    /// Checkpoint every N steps (0 = only at the end).
    public var saveEvery: Int
    public var gradientCheckpointing: Bool
    /// What the frozen base's products compute in (LoRA and everything else stay fp32).
    public var computeDType: ComputeDType

    public init(lora: LoRAConfig, batchSize: Int, gradAccum: Int, lr: Double, scheduler: LRSchedule.Kind,
                warmupSteps: Int, warmupRatio: Double, maxSteps: Int, epochs: Int, weightDecay: Double,
                maxGradNorm: Double, seed: UInt64, evalEvery: Int, saveEvery: Int, gradientCheckpointing: Bool,
                computeDType: ComputeDType) {
        self.lora = lora; self.batchSize = batchSize; self.gradAccum = gradAccum; self.lr = lr
        self.scheduler = scheduler; self.warmupSteps = warmupSteps; self.warmupRatio = warmupRatio
        self.maxSteps = maxSteps; self.epochs = epochs; self.weightDecay = weightDecay
        self.maxGradNorm = maxGradNorm; self.seed = seed; self.evalEvery = evalEvery; self.saveEvery = saveEvery
        self.gradientCheckpointing = gradientCheckpointing; self.computeDType = computeDType
    }

    private enum CodingKeys: String, CodingKey {
        case lora, batchSize, gradAccum, lr, scheduler, warmupSteps, warmupRatio, maxSteps, epochs, weightDecay,
             maxGradNorm, seed, evalEvery, saveEvery, gradientCheckpointing, computeDType
    }

    /// Keys recorded only by later versions (checkpoints, records) read as what ran before they
    /// existed: no ratio warmup, no gradient checkpointing, fp32 products.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        lora = try c.decode(LoRAConfig.self, forKey: .lora)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        gradAccum = try c.decode(Int.self, forKey: .gradAccum)
        lr = try c.decode(Double.self, forKey: .lr)
        scheduler = try c.decode(LRSchedule.Kind.self, forKey: .scheduler)
        warmupSteps = try c.decode(Int.self, forKey: .warmupSteps)
        warmupRatio = try c.decodeIfPresent(Double.self, forKey: .warmupRatio) ?? 0
        maxSteps = try c.decode(Int.self, forKey: .maxSteps)
        epochs = try c.decode(Int.self, forKey: .epochs)
        weightDecay = try c.decode(Double.self, forKey: .weightDecay)
        maxGradNorm = try c.decode(Double.self, forKey: .maxGradNorm)
        seed = try c.decode(UInt64.self, forKey: .seed)
        evalEvery = try c.decode(Int.self, forKey: .evalEvery)
        saveEvery = try c.decode(Int.self, forKey: .saveEvery)
        gradientCheckpointing = try c.decodeIfPresent(Bool.self, forKey: .gradientCheckpointing) ?? false
        computeDType = try c.decodeIfPresent(ComputeDType.self, forKey: .computeDType) ?? .fp32
    }

    /// Rejects settings that cannot train, naming the key as notebooks and the CLI spell it.
    public func validate() throws {
        func bad(_ key: String, _ why: String) -> TrainError { TrainError("\(key): \(why)") }
        try lora.validate()
        guard lr.isFinite, lr > 0 else { throw bad("lr", "must be a number > 0, got \(lr)") }
        guard batchSize >= 1 else { throw bad("batch_size", "must be >= 1, got \(batchSize)") }
        guard gradAccum >= 1 else { throw bad("grad_accum", "must be >= 1, got \(gradAccum)") }
        guard maxSteps >= 0 else { throw bad("max_steps", "must be >= 0, got \(maxSteps)") }
        guard maxSteps > 0 || epochs >= 1 else { throw bad("epochs", "must be >= 1 when max_steps is 0, got \(epochs)") }
        guard warmupSteps >= 0 else { throw bad("warmup_steps", "must be >= 0, got \(warmupSteps)") }
        guard warmupRatio >= 0, warmupRatio <= 1 else { throw bad("warmup_ratio", "must be in [0, 1], got \(warmupRatio)") }
        guard weightDecay >= 0, weightDecay.isFinite else { throw bad("weight_decay", "must be >= 0, got \(weightDecay)") }
        guard maxGradNorm >= 0, maxGradNorm.isFinite else { throw bad("max_grad_norm", "must be >= 0, got \(maxGradNorm)") }
        guard evalEvery >= 0 else { throw bad("eval_every", "must be >= 0, got \(evalEvery)") }
        guard saveEvery >= 0 else { throw bad("save_every", "must be >= 0, got \(saveEvery)") }
        if computeDType == .bf16, let why = BF16.unavailableReason {
            throw bad("compute_dtype", "bf16 is not available here: \(why); use fp32")
        }
    }

    /// Optimiser steps for a training set of `count` sequences.
    public func totalSteps(sequences count: Int) -> Int {
        if maxSteps > 0 { return maxSteps }
        let perStep = batchSize * gradAccum
        return max(1, epochs * ((count + perStep - 1) / perStep))
    }

    func schedule(totalSteps: Int) throws -> LRSchedule {
        try LRSchedule(kind: scheduler, baseLR: lr, totalSteps: totalSteps,
                       warmup: warmupSteps > 0 ? .steps(min(warmupSteps, totalSteps)) : .ratio(warmupRatio))
    }
}

public struct TrainError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One optimiser step's numbers (what the progress line, metrics.jsonl and the record show).
public struct StepMetrics: Codable, Equatable, Sendable {
    public var step: Int
    /// Mean loss per trained token over the accumulation window.
    public var loss: Double
    /// Global gradient norm before clipping.
    public var gradNorm: Double
    public var lr: Double
    /// Input tokens and trained (loss-bearing) tokens of the step.
    public var tokens: Int
    public var trainedTokens: Int
    public var seconds: Double
    public var tokensPerSecond: Double { seconds > 0 ? Double(tokens) / seconds : 0 }
    public var evalLoss: Double?
}
