import Foundation
import Kernels
import ModelFiles
import Testing
import Transformer
@testable import Training

/// GRPO on SmolLM2 (the Q4_1 GGUF) with a random non-zero adapter against TRL v1.9.0's own
/// `GRPOTrainer._compute_loss` and advantage code (scripts/make_grpo_references.py →
/// Tests/Fixtures/grpo_parity): for fixed completions, rewards and old log-probs, the
/// advantages, the loss, every LoRA gradient, the KL and the clip ratios, for loss types grpo,
/// dr_grpo and dapo (with ε_high ≠ ε, a KL term and temperature 0.7), and on-policy (π_old = π);
/// one micro-batch of 8 completions and two of 4.
@Suite(.serialized) struct GRPOParityTests {
    static let dir = TinyModels.root.appendingPathComponent("grpo_parity").path

    struct Fixture {
        let lm: LanguageModel
        let adapter: LoRAAdapter
        let batch: [String: Any]
        let cases: [[String: Any]]
        let grads: SafetensorsArchive
        var prompts: [GRPOPrompt]
        var completions: [GRPOCompletion]
        var oldLogProbs: [[Double]]
        var values: [[Double]]
    }

    static func load() throws -> Fixture {
        let lm = try LanguageModel.load(PyTorchParityTests.modelPath)
        let adapter = try LoRAAdapter.load(directory: dir, model: lm.config)
        func json(_ f: String) throws -> [String: Any] {
            try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/" + f))) as? [String: Any])
        }
        let batch = try json("batch.json")
        let prompts = (batch["prompts"] as! [[String: Any]]).map { GRPOPrompt(row: $0["row"] as! Int, text: "", ids: $0["ids"] as! [Int]) }
        let raw = batch["completions"] as! [[String: Any]]
        let completions = raw.map {
            GRPOCompletion(step: 1, prompt: $0["prompt"] as! Int, row: $0["row"] as! Int, generation: $0["generation"] as! Int, seed: 0,
                           ids: $0["ids"] as! [Int], text: $0["text"] as! String, stoppedOnEOS: false)
        }
        return Fixture(lm: lm, adapter: adapter, batch: batch, cases: try json("cases.json")["cases"] as! [[String: Any]],
                       grads: try SafetensorsArchive(path: dir + "/grads.safetensors"), prompts: prompts, completions: completions,
                       oldLogProbs: raw.map { $0["old_logps"] as! [Double] }, values: raw.map { $0["rewards"] as! [Double] })
    }

    /// A trainer for case `c`, `micro` completions per micro-batch.
    static func trainer(_ f: Fixture, _ c: [String: Any], micro: Int) throws -> GRPOTrainer {
        var tc = TrainConfig.fixture
        tc.lora = f.adapter.config
        tc.batchSize = micro; tc.gradAccum = 8 / micro
        let loss = GRPOLoss(type: GRPOLossType(rawValue: c["loss_type"] as! String)!, epsilon: c["epsilon"] as! Double,
                            epsilonHigh: c["epsilon_high"] as! Double, beta: c["beta"] as! Double)
        let config = GRPOConfig(train: tc, loss: loss, reference: .base, numGenerations: 4, numIterations: 1, maxCompletionLength: 20,
                                sampling: SamplingParams(temperature: Float(c["temperature"] as! Double)), generationBatch: 0,
                                rewardNames: ["think_format", "fixed"], rewardWeights: f.batch["reward_weights"] as! [Double])
        return try GRPOTrainer(model: f.lm, prompts: f.prompts, config: config, scorer: { _, _ in [] }, outputDirectory: nil,
                               baseModelName: "parity", initialAdapter: f.adapter)
    }

    /// The fixture's completions with TuneLab's own advantages of its rewards.
    static func scored(_ f: Fixture, _ t: GRPOTrainer) throws -> [GRPOCompletion] {
        let adv = try GroupAdvantages.compute(values: f.values, weights: t.config.rewardWeights, groupSize: 4)
        var cs = f.completions
        for i in cs.indices { cs[i].rewards = f.values[i]; cs[i].reward = adv.rewards[i]; cs[i].advantage = adv.advantages[i] }
        return cs
    }

    @Test func advantagesMatchTRL() throws {
        let f = try Self.load()
        let trl = f.batch["trl"] as! [String: Any]
        let r = try GroupAdvantages.compute(values: f.values, weights: f.batch["reward_weights"] as! [Double], groupSize: 4)
        for (a, b) in zip(r.advantages, trl["advantages"] as! [Double]) { #expect(abs(a - b) < 1e-5, "advantage \(a) vs TRL \(b)") }
        #expect(r.fractionZeroStd == trl["frac_reward_zero_std"] as! Double)
        #expect(f.completions.contains { $0.ids.last == f.lm.tokenizer.eosTokenId } && Set(f.completions.map(\.ids.count)).count > 1,
                "the fixture should hold completions of different lengths, one ending on EOS")
    }

    @Test func lossGradientsKLAndClipRatiosMatchTRL() throws {
        let f = try Self.load()
        #expect(f.cases.map { $0["name"] as! String } == ["grpo", "dr_grpo", "dapo", "dapo_kl_t07", "grpo_on_policy"])
        for c in f.cases {
            let name = c["name"] as! String
            // Two micro-batches of 4 (accumulation: every normaliser's share) for one case per normaliser kind.
            for (split, micro) in [("one", 8), ("two", 4)] where split == "one" || ["grpo", "dapo_kl_t07"].contains(name) {
                let want = c[split] as! [String: Any]
                let t = try Self.trainer(f, c, micro: micro)
                let batch = try t.trainingBatch(try Self.scored(f, t), oldLogProbs: (c["old"] as! Bool) ? f.oldLogProbs : nil)
                let m = try t.gradients(of: batch)
                let loss = want["loss"] as! Double
                #expect(abs(m.loss - loss) < 1e-5, "\(name) \(split): loss \(m.loss) vs TRL \(loss)")
                let (total, worst) = try DPOParityTests.gradientError(t.model, f.grads, prefix: name)
                #expect(total < 1e-3, "\(name) \(split): gradients relative L2 \(total)")
                // Shares of clipped tokens: equal, but for a ratio TRL's float32 puts on the other side of a bound.
                let tokens = Double(f.completions.reduce(0) { $0 + $1.ids.count }) / Double(8 / micro)
                for (mine, key) in [(m.clipLow, "clip_low"), (m.clipHigh, "clip_high"), (m.clipRegion, "clip_region")] {
                    #expect(abs(mine - (want[key] as! Double)) <= 1.01 / tokens, "\(name) \(split): \(key) \(mine) vs TRL \(want[key]!)")
                }
                if let kl = want["kl"] as? Double {
                    #expect(abs((m.kl ?? .nan) - kl) < 1e-5 * max(1, kl) + 1e-7, "\(name) \(split): kl \(m.kl ?? .nan) vs TRL \(kl)")
                } else {
                    #expect(m.kl == nil)
                }
                print("GRPO parity \(name) \(split): loss |Δ| \(abs(m.loss - loss)), gradients rel L2 \(total) (worst tensor \(worst)), clip \(m.clipLow)/\(m.clipHigh), kl \(m.kl.map { "\($0)" } ?? "-")")
            }
        }
    }

    /// The comparison can fail: grpo's gradients against dr_grpo's reference, and with the
    /// advantages' sign flipped, are rejected (a moved ε is caught by GRPOGradientTests).
    @Test func negativeControls() throws {
        let f = try Self.load()
        let grpo = f.cases.first { $0["name"] as! String == "grpo" }!
        let t = try Self.trainer(f, grpo, micro: 8)
        let cs = try Self.scored(f, t)
        _ = try t.gradients(of: try t.trainingBatch(cs, oldLogProbs: f.oldLogProbs))
        #expect(try DPOParityTests.gradientError(t.model, f.grads, prefix: "dr_grpo").total > 1e-3)
        var flipped = cs
        for i in flipped.indices { flipped[i].advantage = -flipped[i].advantage }
        _ = try t.gradients(of: try t.trainingBatch(flipped, oldLogProbs: f.oldLogProbs))
        #expect(try DPOParityTests.gradientError(t.model, f.grads, prefix: "grpo").total > 1e-3)
    }
}
