import Foundation
import Testing
@testable import ModelFiles

/// ModelConfig.fromHF against what transformers' AutoConfig reads from the same config.json
/// (scripts/make_quant_references.py → Tests/Fixtures/modelfiles/configs/expected.json).
@Suite struct ModelConfigTests {
    static let dir = Fixture.modelfiles("configs")

    @Test(arguments: ["llama3_tied", "llama3_tied_tf5", "smollm2", "qwen2_untied"])
    func matchesTransformers(name: String) throws {
        let all = try Fixture.json(Self.dir + "/expected.json")
        let e = try #require(all[name] as? [String: Any])
        let c = try ModelConfig.fromHF(configPath: Self.dir + "/\(name)/config.json")
        #expect(c.architecture == e["architecture"] as? String)
        #expect(c.vocabSize == jsonInt(e["vocab_size"]))
        #expect(c.hiddenSize == jsonInt(e["hidden_size"]))
        #expect(c.intermediateSize == jsonInt(e["intermediate_size"]))
        #expect(c.numLayers == jsonInt(e["num_layers"]))
        #expect(c.numHeads == jsonInt(e["num_heads"]))
        #expect(c.numKVHeads == jsonInt(e["num_kv_heads"]))
        #expect(c.headDim == jsonInt(e["head_dim"]))
        #expect(c.maxPositionEmbeddings == jsonInt(e["max_position_embeddings"]))
        #expect(c.rmsNormEps == (e["rms_norm_eps"] as? NSNumber)?.doubleValue)
        #expect(c.ropeTheta == (e["rope_theta"] as? NSNumber)?.doubleValue)
        #expect(c.tieWordEmbeddings == e["tie_word_embeddings"] as? Bool)
        #expect(c.attentionBias == e["attention_bias"] as? Bool)
        #expect(c.bosTokenId == jsonInt(e["bos_token_id"]))
        #expect(c.eosTokenIds == (e["eos_token_ids"] as? [Any])?.compactMap(jsonInt))
        if let s = e["rope_scaling"] as? [String: Any] {
            let r = try #require(c.ropeScaling)
            #expect(r.type == s["type"] as? String)
            #expect(r.factor == (s["factor"] as? NSNumber)?.doubleValue)
            #expect(r.lowFreqFactor == (s["low_freq_factor"] as? NSNumber)?.doubleValue)
            #expect(r.highFreqFactor == (s["high_freq_factor"] as? NSNumber)?.doubleValue)
            #expect(r.originalMaxPositionEmbeddings == jsonInt(s["original_max_position_embeddings"]))
        } else {
            #expect(c.ropeScaling == nil)
        }
    }

    @Test func transformers4And5KeysAgree() throws {
        let a = try ModelConfig.fromHF(configPath: Self.dir + "/llama3_tied/config.json")
        let b = try ModelConfig.fromHF(configPath: Self.dir + "/llama3_tied_tf5/config.json")
        #expect(a == b)
        #expect(a.ropeScaling?.type == "llama3")
    }

    @Test func unknownArchitectureIsRejected() throws {
        let path = Self.dir + "/mistral/config.json"
        let error = try #require(throws: ModelFileError.self) { try ModelConfig.fromHF(configPath: path) }
        #expect(error.description.contains(path) && error.description.contains("mistral"))
    }

    @Test func missingOrMistypedKeysAreNamed() throws {
        let tmp = try TempDir()
        defer { tmp.remove() }
        let base = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.dir + "/smollm2/config.json"))) as! [String: Any]
        func attempt(_ edit: (inout [String: Any]) -> Void) throws -> ModelFileError {
            var c = base
            edit(&c)
            let path = try tmp.write([UInt8](JSONSerialization.data(withJSONObject: c)), "config.json")
            return try #require(throws: ModelFileError.self) { try ModelConfig.fromHF(configPath: path) }
        }
        #expect(try attempt { $0["hidden_size"] = nil }.description.contains("hidden_size"))
        #expect(try attempt { $0["num_hidden_layers"] = "thirty" }.description.contains("num_hidden_layers"))
        #expect(try attempt { $0["num_key_value_heads"] = 4 }.description.contains("heads"))
        #expect(try attempt { $0["eos_token_id"] = ["x"] }.description.contains("eos_token_id"))
        #expect(try attempt { $0["rope_scaling"] = ["rope_type": "linear"] }.description.contains("factor"))
        let garbage = try tmp.write(Array("{not json".utf8), "bad.json")
        let e = try #require(throws: ModelFileError.self) { try ModelConfig.fromHF(configPath: garbage) }
        #expect(e.description.contains(garbage))
    }
}
