import Foundation
import Kernels
import Testing
import Transformer
@testable import Training

/// Inference (`Forward`, KV cache) and the training forward (`LoRAModel`, saved activations)
/// are two drivers over the same row routines and projections: on the same model and prompt
/// their logits must agree.
@Suite(.serialized) struct SharedStackTests {
    static func smol() throws -> LanguageModel { try LanguageModel.load(PyTorchParityTests.modelPath) }

    /// The reference prompt "long" (Tests/Fixtures/smollm2/prompts.json): 306 tokens, five
    /// attention blocks.
    static func prompt(_ lm: LanguageModel) throws -> [Int] {
        let url = TinyModels.root.appendingPathComponent("smollm2/prompts.json")
        let prompts = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [[String: Any]])
        return try #require(prompts.first { ($0["name"] as? String) == "long" }?["ids"] as? [Int])
    }

    static func maxAbs(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) } }

    /// SmolLM2 Q4_1 without an adapter: a prompt's prefill through the KV-cache driver and the
    /// training forward run the same products, norms, RoPE table and attention blocks in the
    /// same order, so every logit is bit-identical (where the kernels round a row alike whatever
    /// the rows around it, `BLAS.shapeStable`; within 1e-5 of the largest logit elsewhere).
    @Test func baseModelLogitsAreBitIdentical() throws {
        let lm = try Self.smol()
        let ids = try Self.prompt(lm)
        #expect(ids.count > Linear.gemvMaxRows, "the prompt must take the prefill (sgemm) path")
        let inference = try lm.forward(ids, cache: lm.forward.makeCache(), logits: .all)
        let model = try LoRAModel(weights: lm.weights, adapter: nil)
        let training = try model.logits([TrainSequence(ids: ids, labels: ids)])
        #expect(training.count == inference.count)
        print("SmolLM2 \(ids.count) tokens: inference vs training forward, max |Δlogit| = \(Self.maxAbs(training, inference))")
        expectSameUpToCallShape(training, inference, "base model: training vs inference logits")
    }

    /// With an adapter: inference adds `LoRADelta` on `Linear`, training `Ops.loraLinearForward`
    /// (or the grouped form for q/k/v and gate/up); both compute xa = x Aᵀ and then
    /// y += scaling · xa Bᵀ onto the frozen product, each element by the same kernel over the same
    /// k order (stacking the A's of a group changes which columns, not how each is summed), so
    /// logits are bit-identical here too. The adapter's own effect on the logits is measured
    /// (it must be large for the check to mean anything).
    @Test func adaptedLogitsAgree() throws {
        let lm = try Self.smol()
        let ids = try Self.prompt(lm)
        let adapter = try TinyModels.adapter(lm, rank: 4, alpha: 8)
        let adapted = try lm.replacingWeights(adapter.applied(to: lm.weights))
        let inference = try adapted.forward(ids, cache: adapted.forward.makeCache(), logits: .all)
        let base = try lm.forward(ids, cache: lm.forward.makeCache(), logits: .all)
        let training = try LoRAModel(weights: lm.weights, adapter: adapter).logits([TrainSequence(ids: ids, labels: ids)])
        let diff = Self.maxAbs(training, inference), effect = Self.maxAbs(inference, base)
        print("SmolLM2 with a rank-4 adapter: inference vs training max |Δlogit| = \(diff); the adapter moves logits by up to \(effect)")
        #expect(effect > 0.5)
        expectSameUpToCallShape(training, inference, "adapted model: training vs inference logits")
    }

    /// The base model's loss needs no adapter: `evaluationLoss(adapter: nil)` is the mean NLL that
    /// inference's `score` computes from its own logits (up to the order of the Double sums),
    /// and an adapter that changes the logits changes it (negative control).
    @Test func baseLossNeedsNoAdapter() throws {
        let lm = try Self.smol()
        let ids = try Self.prompt(lm)
        let seq = TrainSequence(ids: ids, labels: ids)
        let loss = try evaluationLoss(weights: lm.weights, adapter: nil, sequences: [seq])
        let (nll, _) = try lm.score(ids: ids)
        print("SmolLM2 base loss \(loss) vs inference NLL \(nll)")
        #expect(abs(loss - nll) <= 1e-6 * nll)
        let adapted = try evaluationLoss(weights: lm.weights, adapter: TinyModels.adapter(lm, rank: 4, alpha: 8), sequences: [seq])
        #expect(abs(adapted - nll) > 1e-3, "an adapter with nonzero B must change the loss (\(adapted) vs \(nll))")
    }
}
