import Foundation
import Kernels
import ModelFiles
import Testing
import Tokenization
import Transformer
import ChatTemplate
@testable import Training

/// GGUF export: round trip through TuneLab's own reader on the tiny fixtures (HF folders and GGUF
/// sources, both architectures), and llama.cpp's logits on the SmolLM2 exports
/// (scripts/make_gguf_export_references.py → Tests/Fixtures/gguf_export/llama_cpp.json).
@Suite(.serialized) struct GGUFExportTests {
    static let sources = ["tiny-llama3", "tiny-qwen2", "tiny-gguf/tiny-llama3.gguf", "tiny-gguf/tiny-qwen2.gguf"]
    static let quants = GGUFQuant.allCases

    static func prompts(_ lm: LanguageModel) -> [[Int]] {
        ["Paris is the capital of France.", "患者头痛三天，伴有发热。", "x = [1, 2, 3]\n"].map { lm.tokenizer.encode($0, addSpecialTokens: true) }
    }

    static func lastLogits(_ lm: LanguageModel, _ ids: [Int]) throws -> [Float] { try lm.forward(ids, cache: lm.forward.makeCache()) }

    /// Export (adapter merged) → reload with TuneLab's reader: same config, tokenizer, template,
    /// every matrix exactly the quantised merged matrix, logits within the type's bound of the
    /// base model running the adapter unmerged.
    @Test(arguments: sources, quants)
    func roundTripThroughTuneLabsReader(_ source: String, _ quant: GGUFQuant) throws {
        let base = try LanguageModel.load(PEFTFixtures.path(source))
        let adapter = try PEFTFixtures.randomAdapter(LoRAConfig(rank: 3, alpha: 6, targets: LoRATarget.allCases), base.config, seed: 7)
        let unmerged = try base.replacingWeights(adapter.applied(to: base.weights))
        let path = try PEFTFixtures.tempDir("gguf") + "/m.gguf"
        let files = try exportGGUF(model: base, adapter: adapter, to: path, options: GGUFExportOptions(quant: quant))
        #expect(files.count == 1 && files[0].sha256 == (try sha256(file: path)))
        let back = try LanguageModel.load(path)

        var want = base.config
        if want.ropeScaling?.type == "llama3" { want.ropeScaling = nil }  // travels as rope_freqs.weight
        want.rmsNormEps = Double(Float(want.rmsNormEps)); want.ropeTheta = Double(Float(want.ropeTheta))
        if base.format != "gguf" { want.eosTokenIds = back.config.eosTokenIds }  // HF: from tokenizer_config, checked below
        #expect(back.config == want)
        #expect((back.weights.lmHead === back.weights.embedding) == (base.weights.lmHead === base.weights.embedding))
        #expect(back.weights.ropeFreqFactors != nil || base.config.ropeScaling?.type != "llama3")
        #expect(back.tokenizer.vocabSize == base.config.vocabSize)
        #expect(back.tokenizer.chatTemplate == base.tokenizer.chatTemplate)
        #expect(back.tokenizer.eosTokenId == base.tokenizer.eosTokenId && back.tokenizer.bosTokenId == base.tokenizer.bosTokenId)
        #expect(back.tokenizer.endOfTurnTokenIds == base.tokenizer.endOfTurnTokenIds)

        // The stored matrices are the merged ones, quantised (the reader undoes the Q/K permutation).
        let qt = quant.tensorType
        for (i, (bl, ml)) in zip(back.weights.layers, base.weights.layers).enumerated() {
            for (t, b, m) in [(LoRATarget.q, bl.q, ml.q), (.k, bl.k, ml.k), (.down, bl.down, ml.down)] {
                let type = m.cols % qt.blockSize == 0 ? qt : TensorType.f16
                #expect(b.type == type)
                let merged = mergedWeight(m, adapter.layers[i][t], scaling: adapter.config.scaling)
                var stored = [UInt8](repeating: 0, count: b.rows * b.rowBytes)
                stored.withUnsafeMutableBytes { $0.baseAddress!.copyMemory(from: b.data, byteCount: b.rows * b.rowBytes) }
                #expect(stored == quantizeRows(type, merged, rows: m.rows, cols: m.cols), "layer \(i) \(t)")
                #expect(b.bias == m.bias)
            }
        }

        let bound: Float = [.f32: 2e-4, .f16: 1e-2, .q8_0: 5e-2, .q4_0: 0.5][quant]!
        for ids in Self.prompts(base) {
            #expect(back.tokenizer.encode(base.tokenizer.decode(ids), addSpecialTokens: true) == ids)
            let d = peftMaxAbsDiff(try Self.lastLogits(unmerged, ids), try Self.lastLogits(back, ids))
            print("GGUF round trip \(source) \(quant.rawValue): max |Δlogit| vs merged = \(d)")
            #expect(d <= bound)
        }
    }

    // MARK: llama.cpp

    static let smolLM2 = PEFTFixtures.root.deletingLastPathComponent().appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
    static let llamaCpp: [String: Any]? = try? PEFTFixtures.json("gguf_export/llama_cpp.json")

    /// The fixture's adapter: lora_parity with lora_alpha 64 (see the script).
    static func fixtureAdapter(_ lm: LanguageModel) throws -> LoRAAdapter {
        var a = try LoRAAdapter.load(directory: PEFTFixtures.path("lora_parity"), model: lm.config)
        a.config.alpha = Double(try #require(llamaCpp?["adapter"] as? [String: Any])["lora_alpha"] as! Int)
        return a
    }

    struct Agreement { var maxAbs: Float = 0; var greedySame = true; var firstDivergence: String = "" }

    /// TuneLab on `lm` against llama.cpp's stored view: token ids, logits on the stored subsets at
    /// every prompt position, 16-token greedy continuations.
    static func compare(_ lm: LanguageModel, _ view: [String: Any]) throws -> Agreement {
        var r = Agreement()
        for p in try #require(view["prompts"] as? [[String: Any]]) {
            let ids = try #require(p["ids"] as? [Int])
            #expect(lm.tokenizer.encode(p["text"] as! String, addSpecialTokens: view["add_bos_token"] as! Bool) == ids,
                    "llama.cpp tokenises \(p["name"]!) from the exported metadata as TuneLab does")
            let all = try lm.forward(ids, cache: lm.forward.makeCache(), logits: .all)
            let v = lm.config.vocabSize
            for (i, pos) in (p["positions"] as! [[String: Any]]).enumerated() {
                for (id, l) in zip(pos["ids"] as! [Int], pos["logits"] as! [Double]) {
                    r.maxAbs = max(r.maxAbs, abs(all[i * v + id] - Float(l)))
                }
            }
            let want = p["greedy"] as! [Int]
            let cache = lm.forward.makeCache()
            var logits = try lm.forward(ids, cache: cache)
            var got: [Int] = []
            for _ in want {
                let t = logits.indices.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }!
                got.append(t)
                logits = try lm.forward([t], cache: cache)
            }
            if got != want, r.greedySame {
                r.greedySame = false
                r.firstDivergence = "\(p["name"]!): TuneLab \(got) llama.cpp \(want)"
            }
        }
        return r
    }

    /// The exported files are the bytes llama.cpp ran (same sha256), and TuneLab's logits on them
    /// agree with llama.cpp's. llama.cpp's CPU products round activations (to f16 for F16
    /// weights, to Q8_0 blocks for Q8_0/Q4_0/Q4_1 weights), which sets the bound per type.
    @Test(arguments: quants)
    func llamaCppAgreesOnTheMergedExport(_ quant: GGUFQuant) throws {
        let fixture = try #require(Self.llamaCpp, "Tests/Fixtures/gguf_export/llama_cpp.json missing")
        let view = try #require((fixture["merged"] as? [String: Any])?[quant.rawValue] as? [String: Any])
        let base = try LanguageModel.load(Self.smolLM2)
        let path = try PEFTFixtures.tempDir("llamacpp") + "/m.gguf"
        let files = try exportGGUF(model: base, adapter: try Self.fixtureAdapter(base), to: path, options: GGUFExportOptions(quant: quant))
        #expect(files[0].sha256 == view["sha256"] as! String, "the export is no longer the file llama.cpp ran: re-run scripts/make_gguf_export_references.py")
        let back = try LanguageModel.load(path)
        #expect(back.tokenizer.eosTokenId == view["eos_token_id"] as? Int && back.tokenizer.bosTokenId == view["bos_token_id"] as? Int)
        #expect(view["has_chat_template"] as? Bool == true)
        let r = try Self.compare(back, view)
        print("llama.cpp vs TuneLab on the \(quant.rawValue) export: max |Δlogit| = \(r.maxAbs), greedy identical: \(r.greedySame) \(r.firstDivergence)")
        #expect(r.maxAbs <= [.f32: 2e-3, .f16: 1e-2, .q8_0: 0.15, .q4_0: 0.3][quant]!)
        #expect(r.greedySame, "\(r.firstDivergence)")
    }

    /// The GGUF LoRA on the Q4_1 base in llama.cpp, against TuneLab running the adapter unmerged.
    @Test func llamaCppAgreesOnTheLoRAExport() throws {
        let fixture = try #require(Self.llamaCpp)
        let view = try #require(fixture["lora"] as? [String: Any])
        let base = try LanguageModel.load(Self.smolLM2)
        let adapter = try Self.fixtureAdapter(base)
        let path = try PEFTFixtures.tempDir("lora") + "/a.gguf"
        let file = try exportLoRAGGUF(adapter: adapter, model: base, to: path)
        #expect(file.sha256 == view["sha256"] as! String, "the export is no longer the file llama.cpp ran")

        // What the file holds: alpha, A as is, B with Llama's Q/K rows permuted.
        let g = try GGUFFile(path: path)
        #expect(g.metadata["general.type"]?.string == "adapter" && g.metadata["adapter.type"]?.string == "lora")
        #expect(g.metadata["adapter.lora.alpha"]?.double == 64)
        #expect(g.tensorNames.count == 2 * 7 * base.config.numLayers)
        let q0 = try #require(adapter.layers[0][.q])
        #expect(try g.tensor("blk.0.attn_q.weight.lora_a").floats() == q0.a)
        #expect(try g.tensor("blk.0.attn_q.weight.lora_a").shape == [2, 576])
        #expect(try g.tensor("blk.0.attn_q.weight.lora_b").floats() == permuteForGGUF(q0.b, rows: 576, cols: 2, heads: 9))
        #expect(try g.tensor("blk.0.attn_v.weight.lora_b").floats() == adapter.layers[0][.v]!.b)

        let unmerged = try base.replacingWeights(adapter.applied(to: base.weights))
        let r = try Self.compare(unmerged, view)
        let plain = try Self.compare(base, try #require(fixture["source"] as? [String: Any]))
        print("llama.cpp (Q4_1 base + GGUF LoRA) vs TuneLab (base + adapter): max |Δlogit| = \(r.maxAbs), greedy identical: \(r.greedySame) \(r.firstDivergence); the Q4_1 source alone: \(plain.maxAbs), greedy identical: \(plain.greedySame)")
        #expect(r.maxAbs <= 0.3 && plain.maxAbs <= 0.3)
        #expect(r.greedySame && plain.greedySame, "\(r.firstDivergence) \(plain.firstDivergence)")
    }

    /// Negative controls: the comparison catches a missing adapter and a missing Q/K permutation.
    @Test func llamaCppComparisonCatchesAWrongExport() throws {
        let fixture = try #require(Self.llamaCpp)
        let view = try #require((fixture["merged"] as? [String: Any])?["f32"] as? [String: Any])
        let base = try LanguageModel.load(Self.smolLM2)
        let dir = try PEFTFixtures.tempDir("wrong")
        _ = try exportGGUF(model: base, adapter: nil, to: dir + "/noadapter.gguf", options: GGUFExportOptions(quant: .f32))
        let noAdapter = try Self.compare(try LanguageModel.load(dir + "/noadapter.gguf"), view)
        _ = try exportGGUF(model: base, adapter: try Self.fixtureAdapter(base), to: dir + "/nopermute.gguf",
                           options: GGUFExportOptions(quant: .f32), permuteQK: false)
        let noPermute = try Self.compare(try LanguageModel.load(dir + "/nopermute.gguf"), view)
        print("negative controls vs llama.cpp f32: adapter left out max |Δ| = \(noAdapter.maxAbs), Q/K not permuted max |Δ| = \(noPermute.maxAbs)")
        #expect(noAdapter.maxAbs > 1 && !noAdapter.greedySame)
        #expect(noPermute.maxAbs > 1 && !noPermute.greedySame)
    }

    // MARK: metadata, Modelfile, bad input

    @Test func llamaMetadataIsWhatConvertHfToGgufWrites() throws {
        let base = try LanguageModel.load(PEFTFixtures.path("tiny-llama3"))
        let path = try PEFTFixtures.tempDir("meta") + "/m.gguf"
        _ = try exportGGUF(model: base, adapter: nil, to: path, options: GGUFExportOptions(quant: .q8_0))
        let g = try GGUFFile(path: path)
        let m = g.metadata
        #expect(g.version == 3)
        #expect(m["general.architecture"]?.string == "llama" && m["general.type"]?.string == "model")
        for (k, v) in [("llama.block_count", 2), ("llama.context_length", 512), ("llama.embedding_length", 64),
                       ("llama.feed_forward_length", 172), ("llama.attention.head_count", 4), ("llama.attention.head_count_kv", 2),
                       ("llama.vocab_size", 1505), ("llama.rope.dimension_count", 16), ("general.file_type", 7),
                       ("general.quantization_version", 2), ("tokenizer.ggml.bos_token_id", 1500), ("tokenizer.ggml.eos_token_id", 1504)] {
            #expect(m[k] == .uint32(UInt32(v)), "\(k)")
        }
        #expect(m["llama.rope.freq_base"] == .float32(500000) && m["llama.attention.layer_norm_rms_epsilon"] == .float32(1e-5))
        #expect(m["llama.attention.key_length"] == nil)  // 4 heads × 16 = 64: llama.cpp's default
        #expect(m["tokenizer.ggml.model"]?.string == "gpt2" && m["tokenizer.ggml.pre"]?.string == "llama-bpe")
        #expect(m["tokenizer.ggml.add_bos_token"] == .bool(true) && m["tokenizer.ggml.add_eos_token"] == .bool(false))
        #expect(m["tokenizer.ggml.tokens"]?.array?.count == 1505)
        #expect(m["tokenizer.ggml.token_type"]?.intArray?[1500...] == [3, 3, 3, 3, 3])
        #expect(m["tokenizer.chat_template"]?.string == base.tokenizer.chatTemplate)
        // Norms stay F32, matrices take the quant type, no output.weight (tied), rope_freqs for llama3 scaling.
        #expect(g.tensors["blk.0.attn_norm.weight"]?.type == .f32 && g.tensors["blk.0.attn_q.weight"]?.type == .q8_0)
        #expect(g.tensors["output.weight"] == nil && g.tensors["rope_freqs.weight"]?.type == .f32)
        #expect(g.tensors["token_embd.weight"]?.shape == [1505, 64])
        #expect(g.metadataKeys.first == "general.architecture" && g.metadataKeys.last == "general.quantization_version")
    }

    @Test func modelfileForChatMLAndLlama3Templates() throws {
        let dir = try PEFTFixtures.tempDir("modelfile")
        let smol = try LanguageModel.load(Self.smolLM2)
        let files = try exportGGUF(model: smol, adapter: nil, to: dir + "/smol.gguf", options: GGUFExportOptions(quant: .q4_0, modelfile: true))
        #expect(files.map(\.path) == [dir + "/smol.gguf", dir + "/Modelfile"])
        let text = try String(contentsOfFile: dir + "/Modelfile", encoding: .utf8)
        #expect(text.contains("FROM ./smol.gguf\n"))
        #expect(text.contains("TEMPLATE \"\"\"{{- range $i, $_ := .Messages }}"))
        #expect(text.contains("SYSTEM \"\"\"You are a helpful AI assistant named SmolLM, trained by Hugging Face\"\"\""))
        #expect(text.hasSuffix("PARAMETER stop \"<|endoftext|>\"\nPARAMETER stop \"<|im_end|>\"\n"))
        #expect(files[1].sha256 == SHA256.hex(Array(text.utf8)))

        let llama = try LanguageModel.load(PEFTFixtures.path("tiny-llama3"))
        let l = try ollamaModelfile(model: llama, ggufFileName: "t.gguf")
        #expect(l.contains("<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}"))
        #expect(!l.contains("SYSTEM") && !l.contains("TEMPLATE \"\"\"<|begin_of_text|>"))  // BOS comes from add_bos_token
        #expect(l.contains("PARAMETER stop \"<|eot_id|>\"\n"))
        let qwen = try ollamaModelfile(model: try LanguageModel.load(PEFTFixtures.path("tiny-qwen2")), ggufFileName: "q.gguf")
        #expect(qwen.contains("SYSTEM \"\"\"You are Qwen, created by Alibaba Cloud. You are a helpful assistant.\"\"\""))
    }

    @Test func unsupportedTemplateIsAClearErrorAndNothingIsWritten() throws {
        let dir = try PEFTFixtures.tempDir("deepseek")
        let model = dir + "/model"
        try FileManager.default.copyItem(atPath: PEFTFixtures.path("tiny-qwen2"), toPath: model)
        let tcPath = model + "/tokenizer_config.json"
        var tc = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: tcPath))) as? [String: Any])
        tc["chat_template"] = try String(contentsOfFile: PEFTFixtures.path("chat_templates/deepseek_r1_distill.jinja"), encoding: .utf8)
        try JSONSerialization.data(withJSONObject: tc).write(to: URL(fileURLWithPath: tcPath))
        let lm = try LanguageModel.load(model)
        let e = #expect(throws: (any Error).self) {
            try exportGGUF(model: lm, adapter: nil, to: dir + "/x.gguf", options: GGUFExportOptions(modelfile: true))
        }
        #expect("\(e!)".contains("neither ChatML nor Llama-3") && "\(e!)".contains(model))
        #expect(!FileManager.default.fileExists(atPath: dir + "/x.gguf") && !FileManager.default.fileExists(atPath: dir + "/Modelfile"))
        // Without --modelfile the same model exports.
        #expect(try exportGGUF(model: lm, adapter: nil, to: dir + "/x.gguf").count == 1)
    }

    @Test func existingOutputIsRefusedUnlessForced() throws {
        let lm = try LanguageModel.load(PEFTFixtures.path("tiny-qwen2"))
        let dir = try PEFTFixtures.tempDir("force")
        let path = dir + "/m.gguf"
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: path))
        let e = #expect(throws: (any Error).self) { try exportGGUF(model: lm, adapter: nil, to: path) }
        #expect("\(e!)".contains("already exists") && "\(e!)".contains(path))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "keep me")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["m.gguf"])  // no temp file left
        let f = try exportGGUF(model: lm, adapter: nil, to: path, options: GGUFExportOptions(force: true))
        #expect(f[0].sha256 == (try sha256(file: path)))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["m.gguf"])
    }

    @Test func rsLoRAAlphaIsWrittenAsLlamaCppScalesIt() throws {
        let lm = try LanguageModel.load(PEFTFixtures.path("tiny-qwen2"))
        let a = try PEFTFixtures.randomAdapter(LoRAConfig(rank: 4, alpha: 8, targets: [.q, .v], useRSLoRA: true), lm.config, seed: 3)
        let path = try PEFTFixtures.tempDir("rs") + "/a.gguf"
        _ = try exportLoRAGGUF(adapter: a, model: lm, to: path)
        let g = try GGUFFile(path: path)
        let alpha = try #require(g.metadata["adapter.lora.alpha"]?.double)
        #expect(abs(Float(alpha) / 4 - a.config.scaling) < 1e-6)  // llama.cpp: scale = alpha / rank
        #expect(g.tensorNames.count == 2 * 2 * lm.config.numLayers)
        #expect(try g.tensor("blk.1.attn_q.weight.lora_b").floats() == a.layers[1][.q]!.b)  // qwen2: no permutation
    }
}
