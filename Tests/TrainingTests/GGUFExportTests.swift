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

    static let texts = ["Paris is the capital of France.", "患者头痛三天，伴有发热。", "x = [1, 2, 3]\n<|im_end|>"]

    static func lastLogits(_ lm: LanguageModel, _ ids: [Int]) throws -> [Float] { try lm.forward(ids, cache: lm.forward.makeCache()) }

    /// Export (adapter merged) → reload with TuneLab's reader: same config, tokenizer, template,
    /// every matrix exactly the quantised merged matrix, logits within the type's bound of the
    /// base model running the adapter unmerged.
    @Test(arguments: sources, quants)
    func roundTripThroughTuneLabsReader(_ source: String, _ quant: GGUFQuant) throws {
        let base = try LanguageModel.load(PEFTFixtures.path(source))
        let adapter = try PEFTFixtures.randomAdapter(LoRAConfig.fixture(rank: 3, alpha: 6, targets: LoRATarget.allCases), base.config, seed: 7)
        let unmerged = try base.replacingWeights(adapter.applied(to: base.weights))
        let path = try PEFTFixtures.tempDir("gguf") + "/m.gguf"
        let files = try exportGGUF(model: base, adapter: adapter, to: path, options: GGUFExportOptions(quant: quant))
        let digest = try sha256(file: path)
        #expect(files.count == 1 && files[0].sha256 == digest)
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
                do { let same = stored == quantizeRows(type, merged, rows: m.rows, cols: m.cols); #expect(same, "layer \(i) \(t)") }
                #expect(b.bias == m.bias)
            }
        }

        // f32 is lossless: the merged model itself. The lossy types are checked bit for bit above;
        // their logit error here only has to stay in the range the tiny random models show
        // (their logits react far more to weight noise than a trained model's: the SmolLM2 test
        // below holds f16 to 1e-2).
        let bound: Float = [.f32: 2e-4, .f16: 0.1, .q8_0: 2, .q4_0: 40][quant]!
        for text in Self.texts {
            let ids = base.tokenizer.encode(text, addSpecialTokens: true)
            #expect(back.tokenizer.encode(text, addSpecialTokens: true) == ids, "the tokenizer travels: \(text)")
            let d = peftMaxAbsDiff(try Self.lastLogits(unmerged, ids), try Self.lastLogits(back, ids))
            print("GGUF round trip \(source) \(quant.rawValue): max |Δlogit| vs merged = \(d)")
            #expect(d <= bound)
        }
    }

    // MARK: llama.cpp

    static let smolLM2 = PEFTFixtures.root.deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
    static let llamaCpp: [String: Any]? = try? PEFTFixtures.json("gguf_export/llama_cpp.json")

    /// The fixture's adapter: lora_parity with lora_alpha 64 (see the script).
    static func fixtureAdapter(_ lm: LanguageModel) throws -> LoRAAdapter {
        var a = try LoRAAdapter.load(directory: PEFTFixtures.path("lora_parity"), model: lm.config)
        a.config.alpha = Double(try #require(llamaCpp?["adapter"] as? [String: Any])["lora_alpha"] as! Int)
        return a
    }

    struct Agreement {
        var maxAbs: Float = 0, sumAbs: Double = 0, count = 0
        var greedySame = true, firstDivergence = ""
        /// At the first differing greedy token: TuneLab's logit of its pick minus its logit of llama.cpp's pick.
        var margin: Float = 0
        var meanAbs: Double { count > 0 ? sumAbs / Double(count) : 0 }
    }

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
                    let d = abs(all[i * v + id] - Float(l))
                    r.maxAbs = max(r.maxAbs, d); r.sumAbs += Double(d); r.count += 1
                }
            }
            let want = p["greedy"] as! [Int]
            let cache = lm.forward.makeCache()
            var logits = try lm.forward(ids, cache: cache)
            var got: [Int] = []
            for k in want.indices {
                let t = logits.indices.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) }!
                got.append(t)
                if t != want[k], r.greedySame {
                    r.greedySame = false
                    r.margin = logits[t] - logits[want[k]]
                    r.firstDivergence = "\(p["name"]!) token \(k): TuneLab \(t), llama.cpp \(want[k]), TuneLab's margin \(r.margin)"
                }
                logits = try lm.forward([t], cache: cache)
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
        print("llama.cpp vs TuneLab on the \(quant.rawValue) export: max |Δlogit| = \(r.maxAbs), mean \(r.meanAbs), greedy identical: \(r.greedySame) \(r.firstDivergence)")
        // The round trip on a real model: TuneLab's reload against the base running the adapter unmerged.
        let unmerged = try base.replacingWeights(try Self.fixtureAdapter(base).applied(to: base.weights))
        var roundTrip: Float = 0
        for p in view["prompts"] as! [[String: Any]] {
            let ids = p["ids"] as! [Int]
            roundTrip = max(roundTrip, peftMaxAbsDiff(try unmerged.forward(ids, cache: unmerged.forward.makeCache(), logits: .all),
                                                      try back.forward(ids, cache: back.forward.makeCache(), logits: .all)))
        }
        print("SmolLM2 round trip \(quant.rawValue): max |Δlogit| vs base + unmerged adapter, every position and id = \(roundTrip)")
        // f16: the weights' own rounding; q4_0: re-quantising the Q4_1 source to Q4_0 (what llama-quantize would do too).
        #expect(roundTrip <= [.f32: 1e-3, .f16: 0.1, .q8_0: 2.5, .q4_0: 25][quant]!)
        // F32 weights: only summation order differs. F16: llama.cpp rounds activations to f16 in
        // the products. Q8_0/Q4_0: llama.cpp quantises activations to Q8 blocks, which costs as much
        // on llama.cpp's own Q4_1 file (see the LoRA test's "source alone"); greedy decoding may
        // then part at a near tie, never where TuneLab's own margin exceeds that disagreement.
        #expect(r.maxAbs <= [.f32: 1e-3, .f16: 0.1, .q8_0: 2, .q4_0: 2][quant]!)
        #expect(r.meanAbs <= [.f32: 1e-4, .f16: 0.02, .q8_0: 0.4, .q4_0: 0.4][quant]!)
        if quant == .f32 || quant == .f16 { #expect(r.greedySame, "\(r.firstDivergence)") }
        #expect(r.greedySame || r.margin <= 0.25, "\(r.firstDivergence)")
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
        do { let same = try g.tensor("blk.0.attn_q.weight.lora_a").floats() == q0.a; #expect(same) }
        #expect(try g.tensor("blk.0.attn_q.weight.lora_a").shape == [2, 576])
        do { let same = try g.tensor("blk.0.attn_q.weight.lora_b").floats() == permuteForGGUF(q0.b, rows: 576, cols: 2, heads: 9); #expect(same) }
        do { let same = try g.tensor("blk.0.attn_v.weight.lora_b").floats() == adapter.layers[0][.v]!.b; #expect(same) }

        let unmerged = try base.replacingWeights(adapter.applied(to: base.weights))
        let r = try Self.compare(unmerged, view)
        let plain = try Self.compare(base, try #require(fixture["source"] as? [String: Any]))
        print("llama.cpp (Q4_1 base + GGUF LoRA) vs TuneLab (base + adapter): max |Δlogit| = \(r.maxAbs), mean \(r.meanAbs), greedy identical: \(r.greedySame) \(r.firstDivergence); the Q4_1 source alone: max \(plain.maxAbs), mean \(plain.meanAbs), greedy identical: \(plain.greedySame) \(plain.firstDivergence)")
        // Q4_1 weights: llama.cpp's Q8 activations set the level (as for the Q8_0/Q4_0 exports).
        #expect(r.maxAbs <= 2 && plain.maxAbs <= 2 && r.meanAbs <= 0.4 && plain.meanAbs <= 0.4)
        #expect((r.greedySame || r.margin <= 0.25) && (plain.greedySame || plain.margin <= 0.25), "\(r.firstDivergence) \(plain.firstDivergence)")
        // The adapter's own effect is far larger than the engines' disagreement.
        let off = try Self.compare(base, view)
        #expect(off.maxAbs > 5 && !off.greedySame)
    }

    /// A Llama model from a Hugging Face folder (Q/K in HF order on disk) with its PEFT adapter,
    /// exported in f32: llama.cpp computes what TuneLab computes on the folder itself.
    @Test func llamaCppAgreesOnAnExportFromAHuggingFaceFolder() throws {
        let fixture = try #require(Self.llamaCpp)
        let view = try #require(fixture["tiny_llama3_hf"] as? [String: Any])
        let base = try LanguageModel.load(PEFTFixtures.path("tiny-llama3"))
        let adapter = try LoRAAdapter.load(directory: PEFTFixtures.path("peft/tiny-llama3/adapter"), model: base.config)
        let path = try PEFTFixtures.tempDir("hf") + "/t.gguf"
        let files = try exportGGUF(model: base, adapter: adapter, to: path, options: GGUFExportOptions(quant: .f32))
        #expect(files[0].sha256 == view["sha256"] as! String, "the export is no longer the file llama.cpp ran")
        let r = try Self.compare(try base.replacingWeights(adapter.applied(to: base.weights)), view)
        print("llama.cpp on the tiny-llama3 (HF folder) f32 export vs TuneLab on the folder + adapter: max |Δlogit| = \(r.maxAbs), mean \(r.meanAbs), greedy identical: \(r.greedySame) \(r.firstDivergence)")
        #expect(r.maxAbs <= 1e-3)
        #expect(r.greedySame, "\(r.firstDivergence)")
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
        print("negative controls vs llama.cpp f32: adapter left out max |Δ| = \(noAdapter.maxAbs) (mean \(noAdapter.meanAbs)), Q/K not permuted max |Δ| = \(noPermute.maxAbs) (mean \(noPermute.meanAbs))")
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
        #expect(files.map(\.path) == [dir + "/smol.gguf", dir + "/smol.Modelfile"])
        let text = try String(contentsOfFile: dir + "/smol.Modelfile", encoding: .utf8)
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

    /// The Modelfile's Go template, rendered by Go's text/template as Ollama does (SYSTEM standing in
    /// for a missing system message; scripts/make_modelfile_references.py), gives exactly what the
    /// model's own Jinja template gives in TuneLab (less a BOS the tokenizer adds anyway).
    @Test(arguments: ["smollm2", "tiny-llama3", "tiny-qwen2"])
    func goRenderingOfTheModelfileMatchesTheJinjaTemplate(_ name: String) throws {
        let all = try PEFTFixtures.json("gguf_export/modelfile_go.json")
        let ref = try #require((all["models"] as? [String: Any])?[name] as? [String: Any])
        let lm = try LanguageModel.load(name == "smollm2" ? Self.smolLM2 : PEFTFixtures.path(name))
        #expect(try ollamaModelfile(model: lm, ggufFileName: "m.gguf") == ref["modelfile"] as! String,
                "the Modelfile changed: re-run scripts/make_modelfile_references.py")
        let conversations = ref["conversations"] as! [[[String: String]]]
        for (c, go) in zip(conversations, ref["go_rendered"] as! [String]) {
            var jinja = try lm.renderChat(c.map { ChatMessage(role: $0["role"]!, content: $0["content"]!) })
            if lm.tokenizer.addsSpecialTokens, let bos = lm.tokenizer.bosToken, jinja.hasPrefix(bos) { jinja.removeFirst(bos.count) }
            #expect(jinja == go, "\(name): \(c)")
        }
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
        #expect(!FileManager.default.fileExists(atPath: dir + "/x.gguf") && !FileManager.default.fileExists(atPath: dir + "/x.Modelfile"))
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
        let digest = try sha256(file: path)
        #expect(f[0].sha256 == digest)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["m.gguf"])
    }

    @Test func rsLoRAAlphaIsWrittenAsLlamaCppScalesIt() throws {
        let lm = try LanguageModel.load(PEFTFixtures.path("tiny-qwen2"))
        let a = try PEFTFixtures.randomAdapter(LoRAConfig.fixture(rank: 4, alpha: 8, targets: [.q, .v], useRSLoRA: true), lm.config, seed: 3)
        let path = try PEFTFixtures.tempDir("rs") + "/a.gguf"
        _ = try exportLoRAGGUF(adapter: a, model: lm, to: path)
        let g = try GGUFFile(path: path)
        let alpha = try #require(g.metadata["adapter.lora.alpha"]?.double)
        #expect(abs(Float(alpha) / 4 - a.config.scaling) < 1e-6)  // llama.cpp: scale = alpha / rank
        #expect(g.tensorNames.count == 2 * 2 * lm.config.numLayers)
        do { let same = try g.tensor("blk.1.attn_q.weight.lora_b").floats() == a.layers[1][.q]!.b; #expect(same) }  // qwen2: no permutation
    }
}
