import Foundation
import Kernels
import ModelFiles
import Testing
import Tokenization
import Transformer
@testable import Training

/// `mergeAdapter`: merged folders load back in TuneLab with the unmerged logits, and the committed
/// merged folders (written by TuneLab) load in transformers with PEFT's logits (checks.json).
@Suite(.serialized) struct MergeTests {
    /// Last-position logits of the reference prompts of an adapter fixture (or of tiny prompts).
    static func promptIds(_ adapter: String?, _ lm: LanguageModel) throws -> [[Int]] {
        if let adapter {
            let refs = try PEFTFixtures.json("peft/\(adapter)/refs.json")
            return try #require(refs["prompts"] as? [[String: Any]]).map { try #require($0["ids"] as? [Int]) }
        }
        return ["Paris is the capital of France.", "患者头痛三天，伴有发热。", "x = [1, 2, 3]\n"].map {
            lm.tokenizer.encode($0, addSpecialTokens: true)
        }
    }

    /// (base model, PEFT adapter fixture or nil for a random one)
    static let cases: [(String, String?)] = [
        ("tiny-llama3", "tiny-llama3"),                       // HF folder, F16, sharded, tied, llama3 RoPE scaling
        ("tiny-qwen2", "tiny-qwen2"),                         // HF folder, BF16, q/k/v bias, untied
        ("tiny-gguf/tiny-llama3.gguf", "tiny-gguf-llama3"),   // quantised GGUF, permuted Q/K, rope_freqs tensor
        ("tiny-gguf/tiny-qwen2.gguf", nil),                   // quantised GGUF, bias, untied
    ]

    @Test(arguments: 0..<cases.count)
    func mergedModelReloadsWithUnmergedLogits(_ index: Int) throws {
        let (basePath, fixture) = Self.cases[index]
        let base = try LanguageModel.load(PEFTFixtures.path(basePath))
        let adapter = try fixture.map { try LoRAAdapter.load(directory: PEFTFixtures.path("peft/\($0)/adapter"), model: base.config) }
            ?? PEFTFixtures.randomAdapter(LoRAConfig.fixture(rank: 3, alpha: 6, targets: [.q, .v, .o, .gate, .down]), base.config, seed: 99)
        let unmerged = try base.replacingWeights(adapter.applied(to: base.weights))
        let out = try PEFTFixtures.tempDir("merge") + "/merged"
        try mergeAdapter(model: base, adapter: adapter, outputDirectory: out)
        #expect(!FileManager.default.fileExists(atPath: out + ".tmp"))
        let merged = try LanguageModel.load(out)
        #expect(merged.format == "safetensors")

        // The same hyper-parameters (GGUF's rope_freqs tensor becomes llama3 rope_scaling keys).
        var want = base.config
        if base.weights.ropeFreqFactors != nil {
            want.ropeScaling = try ModelConfig.fromHF(configPath: PEFTFixtures.path("tiny-llama3/config.json")).ropeScaling
        }
        // GGUF holds eps as float32; config.json gets its shortest decimal (1e-05), the same float32.
        #expect(Float(merged.config.rmsNormEps) == Float(want.rmsNormEps))
        want.rmsNormEps = merged.config.rmsNormEps
        #expect(merged.config == want)
        #expect(merged.weights.ropeFreqFactors == nil)
        #expect((merged.weights.lmHead === merged.weights.embedding) == (base.weights.lmHead === base.weights.embedding))
        #expect(merged.tokenizer.vocabSize == base.tokenizer.vocabSize)
        #expect(merged.tokenizer.chatTemplate == base.tokenizer.chatTemplate)

        for ids in try Self.promptIds(fixture, base) {
            let a = try unmerged.forward(ids, cache: unmerged.forward.makeCache())
            let b = try merged.forward(ids, cache: merged.forward.makeCache())
            let effect = peftMaxAbsDiff(a, try base.forward(ids, cache: base.forward.makeCache()))
            let d = peftMaxAbsDiff(a, b)
            print("\(basePath) merged (f32) vs base + unmerged adapter, \(ids.count) tokens: max |Δlogit| = \(d) (adapter effect \(effect))")
            #expect(d <= 2e-4)
            #expect(effect > 0.5)
            #expect(merged.tokenizer.encode(base.tokenizer.decode(ids)) == base.tokenizer.encode(base.tokenizer.decode(ids)))
        }
    }

    /// Half-precision outputs: every stored value is the f32 merge rounded to nearest-even.
    @Test(arguments: [MergeDType.f16, .bf16])
    func halfPrecisionMergeRoundsTheF32Merge(_ dtype: MergeDType) throws {
        let base = try LanguageModel.load(PEFTFixtures.path("tiny-qwen2"))
        let adapter = try LoRAAdapter.load(directory: PEFTFixtures.path("peft/tiny-qwen2/adapter"), model: base.config)
        let dir = try PEFTFixtures.tempDir("half")
        try mergeAdapter(model: base, adapter: adapter, outputDirectory: dir + "/f32")
        try mergeAdapter(model: base, adapter: adapter, outputDirectory: dir + "/half", dtype: dtype)
        let full = try SafetensorsArchive(path: dir + "/f32/model.safetensors")
        let half = try SafetensorsArchive(path: dir + "/half/model.safetensors")
        #expect(full.tensorNames == half.tensorNames)
        var worst: Float = 0
        for name in full.tensorNames {
            let f = try full.tensor(name), h = try half.tensor(name)
            #expect(h.type == (dtype == .f16 ? .f16 : .bf16) && h.shape == f.shape, "\(name)")
            let fv = f.floats(), hv = h.floats()
            for (x, y) in zip(fv, hv) {
                // Round-to-nearest: no representable value is closer to x than y.
                let ulp: Float = dtype == .f16 ? Float(Float16(y).ulp) : Float(bitPattern: (y.bitPattern & 0x7F80_0000)) * 0x1p-7
                if abs(x - y) > ulp / 2 * 1.0001 { Issue.record("\(name): \(x) stored as \(y)"); return }
                worst = max(worst, abs(x - y))
            }
        }
        print("\(dtype) merge: largest rounding \(worst)")
        let lm = try LanguageModel.load(dir + "/half")
        let unmerged = try base.replacingWeights(adapter.applied(to: base.weights))
        let ids = try Self.promptIds("tiny-qwen2", base)[0]
        let d = peftMaxAbsDiff(try lm.forward(ids, cache: lm.forward.makeCache()), try unmerged.forward(ids, cache: unmerged.forward.makeCache()))
        print("\(dtype) merge vs unmerged f32: max |Δlogit| = \(d)")
        #expect(d < 1)
    }

    /// The committed merged folders are TuneLab's current output (the script loaded those files in
    /// transformers; TUNELAB_WRITE_PEFT_FIXTURES=1 rewrites them).
    @Test(arguments: [("tiny-qwen2", "tiny-qwen2", MergeDType.bf16), ("tiny-gguf/tiny-llama3.gguf", "tiny-gguf-llama3", .f32)])
    func mergeFixturesAreCurrent(_ basePath: String, _ name: String, _ dtype: MergeDType) throws {
        let base = try LanguageModel.load(PEFTFixtures.path(basePath))
        let adapter = try LoRAAdapter.load(directory: PEFTFixtures.path("peft/\(name)/adapter"), model: base.config)
        let out = try PEFTFixtures.tempDir("fixture") + "/merged"
        try mergeAdapter(model: base, adapter: adapter, outputDirectory: out, dtype: dtype)
        let committed = PEFTFixtures.path("peft/merged-\(name)")
        if PEFTFixtures.writeMode { try PEFTFixtures.replaceFolder(committed, with: out) }
        let files = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        #expect(files == ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: committed).sorted() == files)
        for f in files {
            let same = PEFTFixtures.bytes(out + "/" + f) == PEFTFixtures.bytes(committed + "/" + f)
            if same || f != "model.safetensors" || BLAS.shapeStable {
                #expect(same, "merged-\(name)/\(f) is stale (regenerate: scripts/make_peft_references.py docstring)")
            } else {
                try Self.expectWithinOneULP(out + "/" + f, committed + "/" + f)
            }
        }
    }

    /// The weights of two merged files: same names, types and shapes, each value within one unit
    /// in the last place of its type. W + s·B·A's product is rounded by the BLAS kernel set in
    /// use: the committed fixture came from AVX-512 kernels, and the AVX2 ones can round an element
    /// the other way (`BLAS.shapeStable`).
    static func expectWithinOneULP(_ path: String, _ committedPath: String) throws {
        let a = try SafetensorsArchive(path: path), b = try SafetensorsArchive(path: committedPath)
        #expect(a.tensorNames == b.tensorNames && a.metadata == b.metadata)
        var moved = 0, total = 0
        for name in a.tensorNames {
            let x = try a.tensor(name), y = try b.tensor(name)
            #expect(x.type == y.type && x.shape == y.shape, "\(name)")
            let bits = x.type == .bf16 ? 7 : x.type == .f16 ? 10 : 23
            for (u, v) in zip(x.floats(), y.floats()) where u != v {
                let ulp = Float(bitPattern: (max(abs(u), abs(v)).bitPattern & 0x7F80_0000)) * Float(sign: .plus, exponent: -bits, significand: 1)
                if abs(u - v) > ulp * 1.0001 { Issue.record("\(name): \(u) vs committed \(v)"); return }
                moved += 1
            }
            total += x.shape.reduce(1, *)
        }
        print("\(path): \(moved) of \(total) weights one unit in the last place from the committed fixture (kernels \(BLAS.coreName))")
        #expect(moved * 1000 < total, "more than 0.1% of the weights moved")
    }

    /// transformers loaded the committed merged folders: its logits there equal TuneLab's on the same
    /// folder, and are PEFT's unmerged logits (up to the bf16 rounding of the qwen2 merge).
    @Test(arguments: ["merged-tiny-qwen2", "merged-tiny-gguf-llama3"])
    func transformersLoadsMergedFolder(_ folder: String) throws {
        let checks = try PEFTFixtures.json("peft/checks.json")
        let entry = try #require((checks["merged"] as? [String: Any])?[folder] as? [String: Any])
        let lm = try LanguageModel.load(PEFTFixtures.path("peft/\(folder)"))
        for p in try #require(entry["prompts"] as? [[String: Any]]) {
            let ids = try #require(p["ids"] as? [Int])
            let want = try #require(p["last_logits"] as? [Double]).map(Float.init)
            let d = peftMaxAbsDiff(try lm.forward(ids, cache: lm.forward.makeCache()), want)
            print("\(folder) \(p["name"]!): TuneLab vs transformers on the merged folder: max |Δlogit| = \(d)")
            #expect(d <= 1e-3)
        }
        let vsPEFT = try #require(entry["max_abs_diff_vs_peft_unmerged"] as? Double)
        let dtype = entry["dtype"] as? String
        print("\(folder) (\(dtype ?? "?")): transformers(merged) vs PEFT(unmerged): max |Δlogit| = \(vsPEFT)")
        #expect(vsPEFT <= (dtype == "float32" ? 1e-3 : 0.5))
    }

    /// Tokenizers exported from GGUF metadata: HF tokenizers / transformers load them with the original
    /// HF tokenizer's ids (checks.json), and TuneLab reads them back with those ids too.
    @Test(arguments: ["merged-tiny-gguf-llama3", "exported-tokenizer-tiny-qwen2"])
    func exportedTokenizerMatchesHF(_ folder: String) throws {
        let checks = try PEFTFixtures.json("peft/checks.json")
        let t = try #require((checks["exported_tokenizers"] as? [String: Any])?[folder] as? [String: Any])
        #expect(t["all_equal"] as? Bool == true)
        #expect(t["chat_template_equal"] as? Bool == true)
        #expect(t["bos_eos_equal"] as? Bool == true)
        let tok = try Tokenizer.load(directory: PEFTFixtures.path("peft/\(folder)"))
        let rows = try #require(t["strings"] as? [[String: Any]])
        #expect(rows.count >= 8)
        for r in rows {
            let text = try #require(r["text"] as? String)
            #expect(tok.encode(text) == r["ids"] as? [Int], "\(text.debugDescription)")
            #expect(tok.encode(text, addSpecialTokens: true) == r["ids_with_special_tokens"] as? [Int], "\(text.debugDescription)")
        }
    }

    @Test func failedMergeLeavesNothingBehind() throws {
        let base = try LanguageModel.load(PEFTFixtures.path("tiny-qwen2"))
        let dir = try PEFTFixtures.tempDir("fail")
        let out = dir + "/merged"
        // An adapter for another model shape.
        var other = base.config
        other.intermediateSize = 96
        let wrong = try PEFTFixtures.randomAdapter(LoRAConfig.fixture(rank: 2, targets: [.up]), other, seed: 1)
        #expect(throws: LoRAError.self) { try mergeAdapter(model: base, adapter: wrong, outputDirectory: out) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
        // A stale .tmp from an interrupted merge is replaced; an existing output is not overwritten.
        try FileManager.default.createDirectory(atPath: out + ".tmp", withIntermediateDirectories: true)
        try Data("junk".utf8).write(to: URL(fileURLWithPath: out + ".tmp/junk"))
        let good = try PEFTFixtures.randomAdapter(LoRAConfig.fixture(rank: 2, targets: [.up]), base.config, seed: 2)
        try mergeAdapter(model: base, adapter: good, outputDirectory: out + "/")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["merged"])
        #expect(!FileManager.default.fileExists(atPath: out + "/junk"))
        do {
            try mergeAdapter(model: base, adapter: good, outputDirectory: out)
            Issue.record("merging over an existing folder succeeded")
        } catch {
            #expect("\(error)".contains(out) && "\(error)".contains("already exists"), "\(error)")
        }
    }

    /// llama.cpp's rope_freqs divisors (made by the GGUF reference script from tiny-llama3's
    /// rope_scaling) map back to that rope_scaling.
    @Test func ropeFreqsBecomeLlama3RopeScaling() throws {
        let gguf = try LanguageModel.load(PEFTFixtures.path("tiny-gguf/tiny-llama3.gguf"))
        let ff = try #require(gguf.weights.ropeFreqFactors)
        let hf = try ModelConfig.fromHF(configPath: PEFTFixtures.path("tiny-llama3/config.json"))
        let s = try llama3Scaling(freqFactors: ff, theta: gguf.config.ropeTheta, headDim: gguf.config.headDim, path: "x")
        #expect(s == hf.ropeScaling)
        #expect(try llama3Scaling(freqFactors: [Float](repeating: 1, count: ff.count), theta: 1e4, headDim: 16, path: "x") == nil)
        #expect(throws: LoRAError.self) {
            try llama3Scaling(freqFactors: [1, 3, 2, 8, 8, 8, 8, 8], theta: 5e5, headDim: 16, path: "x")
        }
    }

    /// Divisors llama.cpp's converter makes for Llama-3.1 / 3.2 rope_scaling map back to those keys; a
    /// non-standard one maps to an equivalent parametrisation (TuneLab's RoPE gives the same frequencies).
    @Test func ropeFreqsOfRealLlamaConfigs() throws {
        let file = try PEFTFixtures.json("peft/rope_freqs.json")
        let cases = try #require(file["cases"] as? [[String: Any]])
        #expect(cases.count == 3)
        for c in cases {
            let name = try #require(c["name"] as? String)
            let theta = try #require(c["rope_theta"] as? Double), hd = try #require(c["head_dim"] as? Int)
            let rs = try #require(c["rope_scaling"] as? [String: Any])
            let ff = try #require(c["factors"] as? [Double]).map(Float.init)
            let want = RopeScaling(type: "llama3", factor: try #require(rs["factor"] as? Double),
                                   lowFreqFactor: try #require(rs["low_freq_factor"] as? Double),
                                   highFreqFactor: try #require(rs["high_freq_factor"] as? Double),
                                   originalMaxPositionEmbeddings: try #require(rs["original_max_position_embeddings"] as? Int))
            let got = try #require(try llama3Scaling(freqFactors: ff, theta: theta, headDim: hd, path: name))
            if name != "custom" { #expect(got == want, "\(name)") }
            var config = try ModelConfig.fromHF(configPath: PEFTFixtures.path("tiny-llama3/config.json"))
            config.ropeTheta = theta
            config.headDim = hd
            config.ropeScaling = nil
            let fromTensor = RoPE(config: config, freqFactors: ff).invFreq
            config.ropeScaling = got
            let fromKeys = RoPE(config: config).invFreq
            for (a, b) in zip(fromTensor, fromKeys) {
                #expect(abs(a - b) <= 1e-6 * abs(a), "\(name): \(a) vs \(b) (fit \(got))")
            }
        }
    }
}
