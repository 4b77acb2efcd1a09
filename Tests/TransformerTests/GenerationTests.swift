import Foundation
import Testing
@testable import Transformer

@Suite(.serialized) struct GenerationStops {
    /// The reference greedy run on "english" picks <|im_end|> at step `first_eos_at`:
    /// generation must stop there, with exactly the tokens before it.
    @Test func stopsOnEndOfTurnToken() throws {
        let lm = try #require(Models.smol)
        let g = try #require(try Fixtures.json("smollm2/greedy.json") as? [String: Any])
        let r = try #require((g["results"] as! [[String: Any]]).first { $0["first_eos_at"] is Int })
        let eosAt = r["first_eos_at"] as! Int
        let want = Array((r["new_ids"] as! [Int]).prefix(eosAt))
        let out = try lm.generate(promptIds: r["prompt_ids"] as! [Int], maxNewTokens: 64)
        #expect(out.stop == .endOfTurn)
        #expect(out.ids == want)
        #expect(lm.tokenizer.endOfTurnTokenIds.contains((r["new_ids"] as! [Int])[eosAt]))
        #expect(out.endToken == (r["new_ids"] as! [Int])[eosAt], "the token that ended it is kept apart from the answer")
    }

    /// A stop string cuts the text right before it, also mid-token, and streaming emits
    /// exactly the returned text.
    @Test func stopsOnStopStringAndStreamsTheSameText() throws {
        let lm = try #require(Models.smol)
        let g = try #require(try Fixtures.json("smollm2/greedy.json") as? [String: Any])
        let r = try #require((g["results"] as! [[String: Any]]).first { ($0["name"] as! String) == "code" })
        let full = try lm.generate(promptIds: r["prompt_ids"] as! [Int], maxNewTokens: 40, stopOnEndOfTurn: false)
        #expect(full.stop == .maxTokens)
        #expect(full.text == lm.tokenizer.decode(full.ids, skipSpecialTokens: true))
        let stop = "fibonacci(3)"
        let cut = try #require(full.text.range(of: stop))
        var streamed = ""
        let out = try lm.generate(promptIds: r["prompt_ids"] as! [Int], maxNewTokens: 40, stopStrings: [stop],
                                  stopOnEndOfTurn: false, onText: { streamed += $0; return true })
        #expect(out.stop == .stopString)
        #expect(out.text == String(full.text[..<cut.lowerBound]))
        #expect(streamed == out.text)
    }

    @Test func sampledGenerationIsReproducibleBySeed() throws {
        let lm = try #require(Models.smol)
        let ids = lm.tokenizer.encode("The patient reports")
        let p = SamplingParams(temperature: 0.8, topK: 40, topP: 0.9, repetitionPenalty: 1.1, seed: 3407)
        let a = try lm.generate(promptIds: ids, maxNewTokens: 24, sampling: p, stopOnEndOfTurn: false)
        let b = try lm.generate(promptIds: ids, maxNewTokens: 24, sampling: p, stopOnEndOfTurn: false)
        var q = p; q.seed = 1
        let c = try lm.generate(promptIds: ids, maxNewTokens: 24, sampling: q, stopOnEndOfTurn: false)
        #expect(a.ids == b.ids)
        #expect(a.ids != c.ids)
    }
}

/// Broken model files and folders give errors that name the file and the problem.
@Suite struct ModelLoadErrors {
    func tempDir() throws -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("tunelab-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }

    func message(_ spec: String) -> String {
        do { _ = try LanguageModel.load(spec); return "" } catch { return "\(error)" }
    }

    @Test func missingTokenizerIsNamed() throws {
        let d = try tempDir()
        let src = Fixtures.root.appendingPathComponent("tiny-qwen2")
        for f in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(at: src.appendingPathComponent(f), to: d.appendingPathComponent(f))
        }
        let m = message(d.path)
        #expect(m.contains(d.path) && m.contains("tokenizer.json"), "\(m)")
    }

    @Test func unknownArchitectureIsNamed() throws {
        let d = try tempDir()
        let src = Fixtures.root.appendingPathComponent("tiny-qwen2")
        for f in ["model.safetensors", "tokenizer.json", "tokenizer_config.json"] {
            try FileManager.default.copyItem(at: src.appendingPathComponent(f), to: d.appendingPathComponent(f))
        }
        var cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: src.appendingPathComponent("config.json"))) as! [String: Any]
        cfg["architectures"] = ["MambaForCausalLM"]; cfg["model_type"] = "mamba"
        try JSONSerialization.data(withJSONObject: cfg).write(to: d.appendingPathComponent("config.json"))
        let m = message(d.path)
        #expect(m.lowercased().contains("mamba"), "\(m)")
    }

    @Test func truncatedGGUFIsNamed() throws {
        let d = try tempDir()
        let path = d.appendingPathComponent("cut.gguf").path
        let fh = try FileHandle(forReadingFrom: URL(fileURLWithPath: Fixtures.smolLM2))
        let head = fh.readData(ofLength: 40_000_000)
        try head.write(to: URL(fileURLWithPath: path))
        let m = message(path)
        #expect(m.contains(path), "\(m)")
        #expect(!m.isEmpty)
    }

    @Test func missingFileAndWrongKindAreNamed() throws {
        #expect(message("/nonexistent/model.gguf").contains("/nonexistent/model.gguf"))
        let d = try tempDir()
        let m = message(d.path)
        #expect(m.contains("config.json"), "\(m)")
        let txt = d.appendingPathComponent("notes.gguf")
        try "hello, not a model".write(to: txt, atomically: true, encoding: .utf8)
        #expect(message(txt.path).contains(txt.path))
    }

    @Test func tensorWithWrongShapeIsNamed() throws {
        let d = try tempDir()
        let src = Fixtures.root.appendingPathComponent("tiny-qwen2")
        for f in ["model.safetensors", "tokenizer.json", "tokenizer_config.json"] {
            try FileManager.default.copyItem(at: src.appendingPathComponent(f), to: d.appendingPathComponent(f))
        }
        var cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: src.appendingPathComponent("config.json"))) as! [String: Any]
        cfg["intermediate_size"] = (cfg["intermediate_size"] as! Int) * 2
        try JSONSerialization.data(withJSONObject: cfg).write(to: d.appendingPathComponent("config.json"))
        let m = message(d.path)
        #expect(m.contains("mlp.gate_proj.weight") && m.contains("shape"), "\(m)")
    }
}
