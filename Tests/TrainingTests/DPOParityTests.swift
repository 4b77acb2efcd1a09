import Foundation
import Kernels
import Dataset
import ModelFiles
import Testing
import Transformer
@testable import Training

/// DPO on SmolLM2 (the Q4_1 GGUF) with a random non-zero adapter (policy ≠ reference) against
/// TRL v0.28's formula in PyTorch + PEFT (scripts/make_dpo_references.py →
/// Tests/Fixtures/dpo_parity): the loss, the rewards and every LoRA gradient, for the sigmoid
/// loss (with and without label smoothing), ipo and hinge; one micro-batch of 3 pairs and the
/// same pairs accumulated one per micro-batch.
@Suite(.serialized) struct DPOParityTests {
    static let dir = TinyModels.root.appendingPathComponent("dpo_parity").path
    static let modelPath = PyTorchParityTests.modelPath

    struct Fixture {
        let lm: LanguageModel
        let adapter: LoRAAdapter
        let pairs: [PreferenceSequences]
        let cases: [[String: Any]]
        let grads: SafetensorsArchive
    }

    static func load() throws -> Fixture {
        let lm = try LanguageModel.load(modelPath)
        let adapter = try LoRAAdapter.load(directory: dir, model: lm.config)
        func json(_ f: String) throws -> [String: Any] {
            try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/" + f))) as? [String: Any])
        }
        let pairs = (try json("pairs.json")["pairs"] as! [[String: Any]]).map {
            PreferenceSequences(PreferencePair(row: $0["row"] as! Int, prompt: $0["prompt"] as! [Int],
                                               chosen: $0["chosen"] as! [Int], rejected: $0["rejected"] as! [Int]))
        }
        return Fixture(lm: lm, adapter: adapter, pairs: pairs, cases: try json("cases.json")["cases"] as! [[String: Any]],
                       grads: try SafetensorsArchive(path: dir + "/grads.safetensors"))
    }

    static func trainer(_ f: Fixture, _ c: [String: Any]) throws -> DPOTrainer {
        var tc = TrainConfig.fixture
        tc.lora = f.adapter.config
        let loss = DPOLoss(beta: c["beta"] as! Double, type: DPOLossType(rawValue: c["loss_type"] as! String)!,
                           labelSmoothing: c["label_smoothing"] as! Double)
        return try DPOTrainer(weights: f.lm.weights, train: f.pairs, config: DPOConfig(train: tc, loss: loss, reference: .base),
                              outputDirectory: nil, baseModelName: "parity", initialAdapter: f.adapter)
    }

    /// Relative L2 error of all LoRA gradients together, and the worst single tensor's.
    static func gradientError(_ m: LoRAModel, _ archive: SafetensorsArchive, prefix: String) throws -> (total: Double, worst: Double) {
        var num = 0.0, den = 0.0, worst = 0.0
        for (i, key) in m.keys.enumerated() {
            for (j, factor) in ["A", "B"].enumerated() {
                let name = prefix + "." + LoRAAdapter.peftTensorName(layer: key.layer, target: key.target, factor: factor)
                let t = try #require(archive.tensors[name], "no reference gradient \(name)")
                var want = [Float](repeating: 0, count: t.count)
                want.withUnsafeMutableBufferPointer { dequantize(t.type, t.data, count: t.count, into: $0.baseAddress!) }
                var n = 0.0, d = 0.0
                for (a, b) in zip(m.grads[2 * i + j], want) { n += Double(a - b) * Double(a - b); d += Double(b) * Double(b) }
                num += n; den += d
                worst = max(worst, (n / max(d, 1e-30)).squareRoot())
            }
        }
        return ((num / den).squareRoot(), worst)
    }

    @Test func lossRewardsAndGradientsMatchTRLsFormula() throws {
        let f = try Self.load()
        #expect(f.cases.map { $0["name"] as! String } == ["sigmoid", "sigmoid_smoothed", "ipo", "hinge"])
        for c in f.cases {
            let name = c["name"] as! String
            let t = try Self.trainer(f, c)
            // The reference log-probs (adapter disabled) and the policy's, per sequence.
            let logps = c["logps"] as! [String: [Double]]
            let measured = try t.measure(f.pairs)
            #expect(abs(measured.logpsChosen - logps["policy_chosen"]!.reduce(0, +) / 3) < 1e-3, "\(name): policy log-probs")
            for micro in [[[0, 1, 2]], [[0], [1], [2]]] {
                let (sums, _, _) = try t.gradients(of: micro)
                let m = sums.mean()
                let loss = c["loss"] as! Double
                #expect(abs(m.loss - loss) < 1e-5, "\(name) \(micro): loss \(m.loss) vs \(loss)")
                // Rewards are β × differences of log-prob sums near −150 that PyTorch adds in float32
                // (1e-5 of rounding there): 5e-5.
                #expect(abs(m.rewardsMargins - (c["rewards_margins"] as! Double)) < 5e-5, "\(name): margins \(m.rewardsMargins)")
                #expect(abs(m.rewardsChosen - (c["rewards_chosen"] as! Double)) < 5e-5, "\(name): chosen rewards")
                #expect(abs(m.rewardsAccuracies - (c["rewards_accuracies"] as! Double)) < 1e-6, "\(name): accuracies")
                let (total, worst) = try Self.gradientError(t.model, f.grads, prefix: name)
                #expect(total < 1e-3, "\(name) \(micro): gradients relative L2 \(total)")
                print("DPO parity \(name) micro-batches \(micro): loss |Δ| \(abs(m.loss - loss)), gradients rel L2 \(total) (worst tensor \(worst))")
            }
        }
    }

    /// The comparison can fail: the sigmoid case's gradients against the hinge case's reference,
    /// and the loss with β changed by 1%, are both rejected.
    @Test func negativeControls() throws {
        let f = try Self.load()
        let sigmoid = f.cases.first { $0["name"] as! String == "sigmoid" }!
        let t = try Self.trainer(f, sigmoid)
        _ = try t.gradients(of: [[0, 1, 2]])
        #expect(try Self.gradientError(t.model, f.grads, prefix: "hinge").total > 1e-3)
        var off = sigmoid
        off["beta"] = (sigmoid["beta"] as! Double) * 1.01
        let m = try Self.trainer(f, off).gradients(of: [[0, 1, 2]]).sums.mean()
        #expect(abs(m.loss - (sigmoid["loss"] as! Double)) > 1e-5)
    }
}
