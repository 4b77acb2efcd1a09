import Foundation
import Testing
@testable import ModelFiles

/// The real SmolLM2-135M-Instruct Q4_1 GGUF (models/, fetched by the set-up script) against what
/// gguf-py's GGUFReader and dequantize report (Tests/Fixtures/modelfiles/smollm2_gguf_summary.json).
@Suite struct SmolLM2GGUFTests {
    func open() throws -> GGUFFile {
        try #require(FileManager.default.fileExists(atPath: Fixture.smolLM2), "model missing: \(Fixture.smolLM2) (run the set-up script)")
        return try GGUFFile(path: Fixture.smolLM2)
    }

    @Test func tensorTableAndMetadataMatchGGUFReader() throws {
        let gguf = try open()
        let summary = try Fixture.json(Fixture.modelfiles("smollm2_gguf_summary.json"))
        #expect(gguf.version == jsonInt(summary["version"]))
        #expect(gguf.alignment == jsonInt(summary["alignment"]))
        #expect(gguf.metadata.count == jsonInt(summary["kv_count"]))
        #expect(gguf.tensors.count == jsonInt(summary["tensor_count"]))
        let tensors = try #require(summary["tensors"] as? [[String: Any]])
        #expect(gguf.tensorNames == tensors.compactMap { $0["name"] as? String })
        for entry in tensors {
            let name = try #require(entry["name"] as? String)
            let t = try gguf.tensor(name)
            #expect(t.shape == (entry["shape"] as? [Any])?.compactMap(jsonInt), "\(name)")
            #expect(t.type.name == entry["type"] as? String, "\(name)")
            #expect(t.byteCount == jsonInt(entry["n_bytes"]), "\(name)")
            #expect(gguf.fileOffset(of: t) == jsonInt(entry["data_offset"]), "\(name)")
        }
        let metadata = try #require(summary["metadata"] as? [String: Any])
        #expect(Set(gguf.metadata.keys) == Set(metadata.keys))
        for (key, json) in metadata {
            let item = try #require(json as? [String: Any])
            if let length = jsonInt(item["len"]) {   // long array: length, first and last items
                let array = try #require(gguf.metadata[key]?.array, "\(key)")
                let head = try #require((item["head"] as? [Any])?.compactMap(ggufValue))
                let tail = try #require((item["tail"] as? [Any])?.compactMap(ggufValue))
                #expect(array.count == length, "\(key)")
                #expect(Array(array.prefix(head.count)) == head, "\(key)")
                #expect(Array(array.suffix(tail.count)) == tail, "\(key)")
            } else {
                #expect(gguf.metadata[key] == ggufValue(json), "\(key)")
            }
        }
    }

    /// Facts from the model card, independent of the summary.
    @Test func knownFacts() throws {
        let gguf = try open()
        let m = gguf.metadata
        #expect(m["general.architecture"]?.string == "llama")
        #expect(m["llama.block_count"]?.int == 30)
        #expect(m["llama.embedding_length"]?.int == 576)
        #expect(m["llama.attention.head_count"]?.int == 9)
        #expect(m["llama.attention.head_count_kv"]?.int == 3)
        #expect(m["tokenizer.ggml.tokens"]?.stringArray?.count == 49152)
        var types: [String: Int] = [:]
        for t in gguf.tensors.values { types[t.type.name, default: 0] += 1 }
        #expect(types == ["Q4_1": 210, "F32": 61, "Q8_0": 1])
        #expect(try gguf.tensor("token_embd.weight").shape == [49152, 576])
        #expect(try gguf.tensor("blk.0.attn_k.weight").shape == [192, 576])
        #expect(try gguf.tensor("blk.0.ffn_down.weight").shape == [576, 1536])
        #expect(gguf.tensors["output.weight"] == nil)
    }

    @Test func dequantisedSamplesMatchGGUFPy() throws {
        let gguf = try open()
        let summary = try Fixture.json(Fixture.modelfiles("smollm2_gguf_summary.json"))
        let samples = try #require(summary["samples"] as? [[String: Any]])
        #expect(samples.count >= 6)
        for s in samples {
            let name = try #require(s["tensor"] as? String)
            let row = try #require(jsonInt(s["row"])), col = try #require(jsonInt(s["col"]))
            let want = try #require(jsonFloats(s["values"]))
            let t = try gguf.tensor(name)
            let cols = try #require(t.shape.last)
            var out = [Float](repeating: .nan, count: cols)
            out.withUnsafeMutableBufferPointer {
                dequantize(t.type, t.data + row * t.type.rowBytes(cols), count: cols, into: $0.baseAddress!)
            }
            #expect(firstMismatch(Array(out[col ..< col + want.count]), want) == nil, "\(name) row \(row)")
        }
        // A whole tensor agrees with its rows.
        let norm = try gguf.tensor("output_norm.weight").floats()
        let sample = try #require(samples.first { $0["tensor"] as? String == "output_norm.weight" })
        #expect(firstMismatch(norm, try #require(jsonFloats(sample["values"]))) == nil)
    }

    @Test func modelConfigFromGGUF() throws {
        let gguf = try open()
        let c = try ModelConfig.fromGGUF(gguf)
        let m = gguf.metadata
        #expect(c.architecture == "llama")
        #expect(c.vocabSize == 49152)
        #expect(c.hiddenSize == m["llama.embedding_length"]?.int)
        #expect(c.intermediateSize == m["llama.feed_forward_length"]?.int)
        #expect(c.numLayers == 30 && c.numHeads == 9 && c.numKVHeads == 3 && c.headDim == 64)
        #expect(c.maxPositionEmbeddings == m["llama.context_length"]?.int)
        #expect(c.rmsNormEps == Double(Float(1e-5)))
        #expect(c.ropeTheta == 100000)
        #expect(c.ropeScaling == nil)
        #expect(c.tieWordEmbeddings && !c.attentionBias)
        #expect(c.bosTokenId == 1 && c.eosTokenIds == [2])

        // Same model as described by its HF config.json (read by transformers for the reference).
        let hf = try ModelConfig.fromHF(configPath: Fixture.modelfiles("configs/smollm2/config.json"))
        var g = c
        #expect(abs(g.rmsNormEps - hf.rmsNormEps) < 1e-12)   // GGUF stores it as float32
        g.rmsNormEps = hf.rmsNormEps
        #expect(g == hf)
    }

    @Test func ggufConfigErrors() throws {
        let path = Fixture.quant("quant_types.gguf")    // architecture llama, no llama.* keys
        let e = try #require(throws: ModelFileError.self) { try ModelConfig.fromGGUF(GGUFFile(path: path)) }
        #expect(e.description.contains(path) && e.description.contains("llama."))
        let v2 = Fixture.quant("v2.gguf")               // qwen2 without its keys
        let e2 = try #require(throws: ModelFileError.self) { try ModelConfig.fromGGUF(GGUFFile(path: v2)) }
        #expect(e2.description.contains("qwen2."))
    }
}
