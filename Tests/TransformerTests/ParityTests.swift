import Foundation
import Testing
@testable import Transformer

/// Logits, greedy continuations and NLL against transformers (scripts/make_model_references.py).
enum Models {
    static let smol: LanguageModel? = try? LanguageModel.load(Fixtures.smolLM2)
    static let tinyLlama: LanguageModel? = try? LanguageModel.load(Fixtures.root.appendingPathComponent("tiny-llama3").path)
    static let tinyQwen: LanguageModel? = try? LanguageModel.load(Fixtures.root.appendingPathComponent("tiny-qwen2").path)
}

func maxAbsDiff(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

@Suite(.serialized) struct SmolLM2Parity {
    @Test func lastLogitsMatchTransformers() throws {
        let lm = try #require(Models.smol, "default model missing: run scripts/setup.sh")
        let prompts = try #require(try Fixtures.json("smollm2/prompts.json") as? [[String: Any]])
        let ref = try Fixtures.floats("smollm2/logits_last.f32")
        let v = lm.config.vocabSize
        #expect(ref.count == prompts.count * v)
        for (i, p) in prompts.enumerated() {
            let ids = p["ids"] as! [Int]
            // The tokenizer must produce the reference ids too.
            #expect(lm.tokenizer.encode(p["text"] as! String) == ids, "\(p["name"]!)")
            let logits = try lm.forward(ids, cache: lm.forward.makeCache())
            let d = maxAbsDiff(logits[...], ref[(i * v)..<((i + 1) * v)])
            print("SmolLM2 \(p["name"]!) (\(ids.count) tokens): max |Δlogit| = \(d)")
            #expect(d <= 1e-3, "prompt \(p["name"]!): max |Δlogit| = \(d)")
        }
    }

    @Test func everyPrefillPositionAndDecodeMatch() throws {
        let lm = try #require(Models.smol)
        let prompts = try #require(try Fixtures.json("smollm2/prompts.json") as? [[String: Any]])
        let ids = try #require(prompts.first { ($0["name"] as? String) == "english" }?["ids"] as? [Int])
        let ref = try Fixtures.floats("smollm2/logits_all_english.f32")
        let v = lm.config.vocabSize, n = ref.count / v
        let all = try lm.forward(Array(ids.prefix(n)), cache: lm.forward.makeCache(), logits: .all)
        #expect(maxAbsDiff(all[...], ref[...]) <= 1e-3)
        // Token-by-token decoding through the KV cache gives the same logits as one prefill.
        let cache = lm.forward.makeCache()
        for i in 0..<n {
            let step = try lm.forward([ids[i]], cache: cache)
            #expect(maxAbsDiff(step[...], ref[(i * v)..<((i + 1) * v)]) <= 1e-3, "position \(i)")
        }
    }

    @Test func greedyContinuationsAreIdentical() throws {
        let lm = try #require(Models.smol)
        let g = try #require(try Fixtures.json("smollm2/greedy.json") as? [String: Any])
        let results = try #require(g["results"] as? [[String: Any]])
        #expect(results.count >= 3)
        for r in results {
            let out = try lm.generate(promptIds: r["prompt_ids"] as! [Int], maxNewTokens: r["new_ids"].map { ($0 as! [Int]).count }!,
                                      stopOnEndOfTurn: false)
            #expect(out.ids == r["new_ids"] as! [Int], "\(r["name"]!)")
        }
    }

    @Test func nllMatches() throws {
        let lm = try #require(Models.smol)
        let ref = try #require(try Fixtures.json("smollm2/nll.json") as? [String: Any])
        let ids = ref["ids"] as! [Int]
        #expect(lm.tokenizer.encode(ref["text"] as! String) == ids)
        let (nll, per) = try lm.score(ids: ids)
        let want = ref["mean_nll"] as! Double
        print("SmolLM2 NLL \(nll) vs \(want): relative error \(abs(nll - want) / want)")
        #expect(abs(nll - want) / want <= 1e-4, "nll \(nll) vs \(want)")
        #expect(per.count == (ref["per_position_nll"] as! [Double]).count)
    }
}

/// Tiny random Llama-3-style (F16, sharded, llama3 RoPE scaling, tied) and Qwen2 (BF16, QKV
/// bias, untied) models written as safetensors by the reference script.
@Suite(.serialized) struct TinyModelParity {
    @Test(arguments: ["tiny-llama3", "tiny-qwen2"])
    func matchesTransformers(_ name: String) throws {
        let lm = try #require(name == "tiny-llama3" ? Models.tinyLlama : Models.tinyQwen, "\(name) failed to load")
        let ref = try #require(try Fixtures.json("\(name)/refs.json") as? [String: Any])
        let v = lm.config.vocabSize
        #expect(v == ref["vocab_size"] as! Int)
        let prompts = ref["prompts"] as! [[String: Any]]
        for p in prompts {
            let ids = p["ids"] as! [Int]
            let want = (p["last_logits"] as! [Double]).map(Float.init)
            let got = try lm.forward(ids, cache: lm.forward.makeCache())
            print("\(name) \(p["name"]!) (\(ids.count) tokens): max |Δlogit| = \(maxAbsDiff(got[...], want[...]))")
            #expect(maxAbsDiff(got[...], want[...]) <= 1e-3, "\(name) \(p["name"]!) (\(ids.count) tokens)")
        }
        let all = ref["all_logits"] as! [String: Any]
        let rows = (all["rows"] as! [[Double]]).map { $0.map(Float.init) }
        let pname = all["prompt"] as! String
        let ids = try #require(prompts.first { ($0["name"] as! String) == pname }?["ids"] as? [Int])
        let got = try lm.forward(Array(ids.prefix(rows.count)), cache: lm.forward.makeCache(), logits: .all)
        for (i, row) in rows.enumerated() {
            #expect(maxAbsDiff(got[(i * v)..<((i + 1) * v)], row[...]) <= 1e-3, "\(name) position \(i)")
        }
        let greedy = ref["greedy"] as! [String: Any]
        for r in greedy["results"] as! [[String: Any]] {
            let want = r["new_ids"] as! [Int]
            let prompt = try #require(prompts.first { ($0["name"] as! String) == r["prompt"] as! String }?["ids"] as? [Int])
            let out = try lm.generate(promptIds: prompt, maxNewTokens: want.count, stopOnEndOfTurn: false)
            #expect(out.ids == want, "\(name) greedy from \(r["prompt"]!)")
        }
        let nll = ref["nll"] as! [String: Any]
        let (mean, _) = try lm.score(ids: nll["ids"] as! [Int])
        let w = nll["mean_nll"] as! Double
        #expect(abs(mean - w) / w <= 1e-4, "\(name) nll \(mean) vs \(w)")
    }
}
