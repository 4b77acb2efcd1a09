import Transformer
@testable import Training

// Settings of the tests' runs, spelled out here: the product's defaults live in the notebook
// schema only (TrainConfig and LoRAConfig have none).
extension TrainConfig {
    static var fixture: TrainConfig {
        TrainConfig(lora: .fixture(), batchSize: 2, gradAccum: 4, lr: 2e-4, scheduler: .linear, warmupSteps: 5,
                    warmupRatio: 0, maxSteps: 60, epochs: 1, weightDecay: 0.01, maxGradNorm: 1, seed: 3407,
                    evalEvery: 0, saveEvery: 20, gradientCheckpointing: false, computeDType: .fp32)
    }
}

extension LoRAConfig {
    static func fixture(rank: Int = 16, alpha: Double = 16, dropout: Double = 0, targets: [LoRATarget] = LoRATarget.allCases,
                        useRSLoRA: Bool = false) -> LoRAConfig {
        LoRAConfig(rank: rank, alpha: alpha, dropout: dropout, targets: targets, useRSLoRA: useRSLoRA)
    }
}

extension GRPOLoss {
    /// TRL's defaults except the loss type's: ε 0.2, no KL.
    static var fixture: GRPOLoss { GRPOLoss(type: .dapo, epsilon: 0.2, epsilonHigh: nil, beta: 0) }
}

extension GRPOConfig {
    /// 2 × 4 completions per step in groups of 8 (one prompt), one update per generation.
    static var fixture: GRPOConfig {
        GRPOConfig(train: .fixture, loss: .fixture, reference: .base, numGenerations: 8, numIterations: 1, maxCompletionLength: 64,
                   sampling: SamplingParams(temperature: 1), generationBatch: 0, rewardNames: ["a"], rewardWeights: [1])
    }
}
