import Foundation
import Kernels
import ModelFiles
import Testing
import Transformer
@testable import Training

/// SmolLM2 (the Q4_1 GGUF, dequantised identically by transformers) with a PEFT adapter of
/// random A and B, against PyTorch + PEFT (scripts/make_lora_parity_references.py →
/// Tests/Fixtures/lora_parity): the loss, every LoRA gradient, and ten AdamW steps.
@Suite(.serialized) struct PyTorchParityTests {
    static let dir = TinyModels.root.appendingPathComponent("lora_parity").path
    static let modelPath = TinyModels.root.deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path

    func setup() throws -> (LanguageModel, LoRAAdapter, [TrainSequence], [String: Any]) {
        let lm = try LanguageModel.load(Self.modelPath)
        let adapter = try LoRAAdapter.load(directory: Self.dir, model: lm.config)
        let batch = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.dir + "/batch.json"))) as? [String: Any])
        let seqs = (batch["sequences"] as! [[String: Any]]).map { TrainSequence(ids: $0["ids"] as! [Int], labels: $0["labels"] as! [Int]) }
        let meta = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.dir + "/meta.json"))) as? [String: Any])
        return (lm, adapter, seqs, meta)
    }

    @Test func lossAndEveryLoRAGradientMatchPEFT() throws {
        let (lm, adapter, seqs, meta) = try setup()
        let count = seqs.reduce(0) { $0 + $1.trainedTokens }
        #expect(count == meta["trained_tokens"] as? Int)
        let m = try LoRAModel(weights: lm.weights, adapter: adapter)
        var rng = SeededRNG(seed: 0)
        m.zeroGrads()
        let r = try m.run(seqs, gradScale: 1 / Float(count), dropoutRNG: &rng)
        let loss = r.loss / Double(count), ref = meta["loss"] as! Double
        let lossRel = abs(loss - ref) / ref
        #expect(lossRel < 1e-4, "loss \(loss) vs PyTorch \(ref)")
        let grads = try SafetensorsArchive(path: Self.dir + "/grads.safetensors")
        var worst = 0.0, worstName = ""
        for (i, key) in m.keys.enumerated() {
            for (j, factor) in ["A", "B"].enumerated() {
                let name = LoRAAdapter.peftTensorName(layer: key.layer, target: key.target, factor: factor)
                let t = try #require(grads.tensors[name], "no reference gradient \(name)")
                var want = [Float](repeating: 0, count: t.count)
                want.withUnsafeMutableBufferPointer { dequantize(t.type, t.data, count: t.count, into: $0.baseAddress!) }
                let got = m.grads[2 * i + j]
                #expect(got.count == want.count)
                var num = 0.0, den = 0.0
                for (a, b) in zip(got, want) { num += Double(a - b) * Double(a - b); den += Double(b) * Double(b) }
                let rel = (num / max(den, 1e-30)).squareRoot()
                if rel > worst { worst = rel; worstName = name }
            }
        }
        #expect(worst < 1e-3, "worst gradient \(worstName): relative L2 error \(worst)")
        print("SmolLM2 LoRA parity: loss rel \(lossRel), worst of 420 gradients rel L2 \(worst) (\(worstName))")
    }

    @Test func tenAdamWStepsFollowPyTorch() throws {
        let (lm, adapter, seqs, _) = try setup()
        let steps = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.dir + "/steps.json"))) as? [String: Any])
        let ref = steps["steps"] as! [[String: Any]]
        var c = TrainConfig()
        c.lora = adapter.config
        c.batchSize = 2; c.gradAccum = 1; c.lr = 2e-3; c.scheduler = .linear; c.warmupSteps = 2; c.maxSteps = 10
        c.weightDecay = 0.01; c.maxGradNorm = 0.5; c.saveEvery = 0
        let t = try Trainer(weights: lm.weights, train: seqs, config: c, outputDirectory: nil, baseModelName: "smollm2",
                            initialAdapter: adapter)
        #expect(try t.run(shouldStop: { false }) == .completed)
        var worstLoss = 0.0, worstNorm = 0.0
        for (m, r) in zip(t.history, ref) {
            #expect(m.lr == r["lr"] as! Double)
            worstLoss = max(worstLoss, abs(m.loss - (r["loss"] as! Double)) / (r["loss"] as! Double))
            worstNorm = max(worstNorm, abs(m.gradNorm - (r["grad_norm"] as! Double)) / (r["grad_norm"] as! Double))
        }
        #expect(t.history.count == 10)
        #expect(worstLoss < 1e-3 && worstNorm < 1e-3, "loss rel \(worstLoss), grad-norm rel \(worstNorm)")
        print("SmolLM2 10 AdamW steps: losses within \(worstLoss), grad norms within \(worstNorm) of PyTorch (\(t.history.first!.loss) → \(t.history.last!.loss))")
    }
}
