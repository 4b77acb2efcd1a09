import Foundation
import Testing
import ChatTemplate
@testable import Transformer

/// The tiny Llama-3 / Qwen2 fixtures converted to quantised GGUF the way llama.cpp's converter does
/// (Q/K permute for llama, `rope_freqs.weight` for Llama-3 RoPE scaling, mixed Q8_0/Q5_x/Q4_x/F16/BF16
/// tensors), checked against the HF model holding the same dequantised weights
/// (scripts/make_gguf_model_references.py → Tests/Fixtures/tiny-gguf/refs.json).
enum GGUFModels {
    static let names = ["tiny-llama3", "tiny-qwen2"]
    static func path(_ name: String) -> String { Fixtures.root.appendingPathComponent("tiny-gguf/\(name).gguf").path }
    static let llama: LanguageModel? = try? LanguageModel.load(path("tiny-llama3"))
    static let qwen: LanguageModel? = try? LanguageModel.load(path("tiny-qwen2"))
    static func model(_ name: String) -> LanguageModel? { name == "tiny-llama3" ? llama : qwen }

    static func refs(_ name: String) throws -> [String: Any] {
        let all = try #require(try Fixtures.json("tiny-gguf/refs.json") as? [String: Any])
        let models = try #require(all["models"] as? [String: Any])
        return try #require(models[name] as? [String: Any], "refs.json has no entry for \(name)")
    }

    static func prompts(_ ref: [String: Any]) throws -> [[String: Any]] {
        try #require(ref["prompts"] as? [[String: Any]])
    }

    static func logits(_ p: [String: Any]) -> [Float] { (p["last_logits"] as! [Double]).map(Float.init) }
}

@Suite(.serialized) struct GGUFModelParity {
    @Test(arguments: GGUFModels.names)
    func loadsAsTheRightArchitecture(_ name: String) throws {
        let lm = try #require(GGUFModels.model(name), "\(name).gguf failed to load")
        let ref = try GGUFModels.refs(name)
        #expect(lm.format == "gguf")
        #expect(lm.config.architecture == ref["architecture"] as! String)
        #expect(lm.config.vocabSize == ref["vocab_size"] as! Int)
        // Tied embeddings for llama (no output.weight), a separate head for qwen2.
        #expect((lm.weights.lmHead === lm.weights.embedding) == (name == "tiny-llama3"))
        // Llama-3 scaling lives only in rope_freqs.weight (as llama.cpp writes it).
        if let want = ref["rope_freqs"] as? [Double] {
            let got = try #require(lm.weights.ropeFreqFactors, "rope_freqs.weight not loaded")
            #expect(got == want.map(Float.init))
            #expect(lm.config.ropeScaling == nil)
        } else {
            #expect(lm.weights.ropeFreqFactors == nil)
        }
    }

    @Test(arguments: GGUFModels.names)
    func tokenizerAndChatTemplateMatch(_ name: String) throws {
        let lm = try #require(GGUFModels.model(name))
        for p in try GGUFModels.prompts(try GGUFModels.refs(name)) {
            let text = p["text"] as! String
            let ids = lm.tokenizer.encode(text, addSpecialTokens: p["add_special_tokens"] as! Bool)
            #expect(ids == p["ids"] as! [Int], "\(name) \(p["name"]!)")
            if p["name"] as! String == "chat" {
                let rendered = try lm.renderChat([ChatMessage(role: "user", content: "What causes a headache?")])
                #expect(rendered == text, "\(name): chat template from tokenizer.chat_template")
            }
        }
    }

    @Test(arguments: GGUFModels.names)
    func lastLogitsMatch(_ name: String) throws {
        let lm = try #require(GGUFModels.model(name))
        var worst: Float = 0
        for p in try GGUFModels.prompts(try GGUFModels.refs(name)) {
            let ids = p["ids"] as! [Int]
            let got = try lm.forward(ids, cache: lm.forward.makeCache())
            let want = GGUFModels.logits(p)
            #expect(got.count == want.count)
            let d = maxAbsDiff(got[...], want[...])
            worst = max(worst, d)
            #expect(d <= 1e-3, "\(name) \(p["name"]!) (\(ids.count) tokens): max |Δlogit| = \(d)")
        }
        print("\(name).gguf: max |Δ last logits| = \(worst)")
    }

    @Test(arguments: GGUFModels.names)
    func greedyContinuationsMatch(_ name: String) throws {
        let lm = try #require(GGUFModels.model(name))
        let ref = try GGUFModels.refs(name)
        let prompts = try GGUFModels.prompts(ref)
        let greedy = try #require(ref["greedy"] as? [String: Any])
        let results = try #require(greedy["results"] as? [[String: Any]])
        #expect(results.count == prompts.count)
        for r in results {
            let want = r["new_ids"] as! [Int]
            let safe = r["safe_prefix_len"] as! Int   // steps with a top-2 margin ≥ 1e-3
            let prompt = try #require(prompts.first { $0["name"] as! String == r["prompt"] as! String }?["ids"] as? [Int])
            let out = try lm.generate(promptIds: prompt, maxNewTokens: want.count, stopOnEndOfTurn: false)
            #expect(out.ids.count == want.count)
            #expect(Array(out.ids.prefix(safe)) == Array(want.prefix(safe)), "\(name) greedy from \(r["prompt"]!)")
        }
    }

    /// Negative control: without the rope_freqs divisors the Llama-3 model is a different model,
    /// and the parity check above would catch it.
    @Test func droppingRopeFreqFactorsIsDetected() throws {
        // A separate instance: the shared one must keep its factors for the other tests.
        let lm = try LanguageModel.load(GGUFModels.path("tiny-llama3"))
        let p = try #require(try GGUFModels.prompts(try GGUFModels.refs("tiny-llama3")).first { $0["name"] as! String == "long" })
        let ids = p["ids"] as! [Int]
        #expect(ids.count >= 100)
        let want = GGUFModels.logits(p)
        let with = try lm.forward(ids, cache: lm.forward.makeCache())
        #expect(maxAbsDiff(with[...], want[...]) <= 1e-3)
        lm.weights.ropeFreqFactors = nil
        let plain = Forward(weights: lm.weights)
        let without = try plain(ids, cache: plain.makeCache())
        let d = maxAbsDiff(without[...], want[...])
        #expect(d > 1e-2, "logits without RoPE frequency factors moved only \(d)")
        print("tiny-llama3.gguf without rope_freqs: long-prompt max |Δ last logits| = \(d)")
    }
}
