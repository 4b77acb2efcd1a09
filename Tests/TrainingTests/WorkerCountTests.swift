import Foundation
import Kernels
import Testing
import Transformer
@testable import Training

/// Whole training runs (several optimiser steps with accumulation, clipping and evaluation) give
/// bit-identical losses, gradient norms, evaluation losses and adapter files at 1, 2, 3 and 8
/// workers, in fp32 and in bf16 compute: a replay at another `--threads` reproduces the run.
/// The batches are sized so that every kind of split happens: products split by rows and by
/// columns, the LM head's input gradient split along the vocabulary (k), attention blocks and
/// row-wise kernels spread over workers. (Kernel-level checks, with the negative controls:
/// KernelsTests' `WorkerCountKernelTests`.)
@Suite(.serialized) struct WorkerCountTrainingTests {
    static let workerCounts = [1, 2, 3, 8]
    static let smolLM2 = TinyModels.root.deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path

    struct Outcome: Equatable {
        var losses: [Double], gradNorms: [Double], evalLosses: [Double?]
        var adapterFile: Data
        /// `evaluationLoss` of the trained adapter (a separate model, batch size 3).
        var evalLoss: Double
    }

    static func train(_ lm: LanguageModel, _ seqs: [TrainSequence], _ valid: [TrainSequence], _ c: TrainConfig,
                      workers: Int) throws -> Outcome {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tunelab-workers-\(getpid())-\(workers)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        return try Parallel.withWorkers(workers) {
            let t = try Trainer(weights: lm.weights, train: seqs, validation: valid, config: c, outputDirectory: dir,
                                baseModelName: "t")
            #expect(try t.run(shouldStop: { false }) == .completed)
            let file = try Data(contentsOf: URL(fileURLWithPath: dir + "/adapter/adapter_model.safetensors"))
            let eval = try evaluationLoss(weights: lm.weights, adapter: t.adapter, sequences: valid, batchSize: 3,
                                          computeDType: c.computeDType)
            return Outcome(losses: t.history.map(\.loss), gradNorms: t.history.map(\.gradNorm),
                           evalLosses: t.history.map(\.evalLoss), adapterFile: file, evalLoss: eval)
        }
    }

    @Test(arguments: ["tiny-llama3", "tiny-qwen2", "tiny-llama3.gguf", "smollm2"], ComputeDType.allCases)
    func trainingIsBitIdenticalAtEveryWorkerCount(model: String, dtype: ComputeDType) throws {
        if dtype == .bf16, let why = BF16.unavailableReason { print("bf16 not checked: \(why)"); return }
        let smol = model == "smollm2"
        let lm = try smol ? LanguageModel.load(Self.smolLM2) : TinyModels.load(model)
        // Tiny models: 2 × 60–110 tokens per micro-batch, so the LM head's input gradient
        // (trained rows × 64 over 1505 vocabulary rows) takes the k-split. SmolLM2: its 49152-row
        // head always does; its projections split by columns at this length.
        let lengths = smol ? 24...48 : 60...110
        let seqs = TinyModels.sequences(8, lengths: lengths, vocab: lm.config.vocabSize, seed: 17)
        let valid = TinyModels.sequences(3, lengths: lengths, vocab: lm.config.vocabSize, seed: 18)
        var c = TrainConfig.fixture
        // Dropout on the Qwen2 fixture: each projection's LoRA product then runs on its own.
        c.lora = LoRAConfig.fixture(rank: 8, alpha: 16, dropout: model == "tiny-qwen2" ? 0.1 : 0)
        c.batchSize = 2; c.gradAccum = smol ? 1 : 2
        c.lr = 5e-3; c.warmupSteps = 1; c.maxSteps = smol ? 2 : 3; c.evalEvery = 1; c.saveEvery = 0
        c.maxGradNorm = 0.5; c.computeDType = dtype; c.seed = 7
        var outcomes: [Outcome] = []
        for w in Self.workerCounts { outcomes.append(try Self.train(lm, seqs, valid, c, workers: w)) }
        let first = outcomes[0]
        #expect(first.losses.count == c.maxSteps && first.evalLosses.allSatisfy { $0 != nil })
        for (w, o) in zip(Self.workerCounts, outcomes).dropFirst() {
            #expect(o.losses == first.losses, "\(model) \(dtype): losses at \(w) workers \(o.losses), at 1 \(first.losses)")
            #expect(o.gradNorms == first.gradNorms, "\(model) \(dtype): grad norms at \(w) workers \(o.gradNorms), at 1 \(first.gradNorms)")
            #expect(o.evalLosses == first.evalLosses, "\(model) \(dtype): eval losses at \(w) workers \(o.evalLosses), at 1 \(first.evalLosses)")
            let sameFile = o.adapterFile == first.adapterFile   // (not in #expect: its diff of two files takes minutes)
            #expect(sameFile, "\(model) \(dtype): adapter file at \(w) workers differs")
            #expect(o.evalLoss == first.evalLoss, "\(model) \(dtype): evaluation loss at \(w) workers \(o.evalLoss), at 1 \(first.evalLoss)")
        }
        print("\(model) \(dtype): \(c.maxSteps) steps at \(Self.workerCounts) workers, losses at 1 worker \(first.losses), eval \(first.evalLoss)")
    }
}
