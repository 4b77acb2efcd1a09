import Foundation
import Kernels
import ModelFiles
import Testing
import Transformer
@testable import Training

/// Fixtures of scripts/make_peft_references.py (Tests/Fixtures/peft/) and helpers shared with MergeTests.
enum PEFTFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static func path(_ rel: String) -> String { root.appendingPathComponent(rel).path }
    /// TUNELAB_WRITE_PEFT_FIXTURES=1: the fixture tests write TuneLab's files into Fixtures/peft
    /// (step 2 of the script's docstring) instead of comparing against them.
    static var writeMode: Bool { ProcessInfo.processInfo.environment["TUNELAB_WRITE_PEFT_FIXTURES"] == "1" }

    /// The base model an adapter fixture was made for.
    static func basePath(_ adapter: String) -> String {
        adapter == "tiny-gguf-llama3" ? path("tiny-gguf/tiny-llama3.gguf") : path(adapter)
    }

    static func json(_ rel: String) throws -> [String: Any] {
        let data = try #require(FileManager.default.contents(atPath: path(rel)), "missing fixture \(rel)")
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// This process's scratch folder, removed when the test process exits.
    static let scratch: String = {
        atexit { try? FileManager.default.removeItem(atPath: PEFTFixtures.scratchPath(getpid())) }
        return scratchPath(getpid())
    }()
    static func scratchPath(_ pid: Int32) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("tunelab-peft-tests-\(pid)").path
    }

    /// A fresh empty folder under the scratch folder.
    static func tempDir(_ tag: String) throws -> String {
        let dir = scratch + "/\(tag)-\(UInt32.random(in: 0 ... .max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func bytes(_ path: String) -> [UInt8]? { FileManager.default.contents(atPath: path).map { [UInt8]($0) } }

    /// Copies `src` (a folder) to `dst`, replacing it: used to write fixtures in write mode.
    static func replaceFolder(_ dst: String, with src: String) throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: dst) { try fm.removeItem(atPath: dst) }
        try fm.copyItem(atPath: src, toPath: dst)
    }

    /// An adapter with every A and B random and non-zero (B = 0 would make any test vacuous).
    static func randomAdapter(_ config: LoRAConfig, _ model: ModelConfig, seed: UInt64) throws -> LoRAAdapter {
        var rng = SeededRNG(seed: seed)
        var a = try LoRAAdapter.initialized(config: config, model: model, rng: &rng)
        for i in a.layers.indices {
            for t in config.targets {
                a.layers[i][t]!.b = a.layers[i][t]!.b.map { _ in (2 * rng.nextFloat() - 1) * 0.05 }
            }
        }
        return a
    }
}

func peftMaxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

@Suite(.serialized) struct PEFTFormatTests {
    @Test func saveLoadRoundTripIsExact() throws {
        let model = try ModelConfig.fromHF(configPath: PEFTFixtures.path("tiny-qwen2/config.json"))
        let config = LoRAConfig.fixture(rank: 3, alpha: 5.5, dropout: 0.1, targets: [.down, .k, .gate], useRSLoRA: true)
        let adapter = try PEFTFixtures.randomAdapter(config, model, seed: 7)
        let dir = try PEFTFixtures.tempDir("roundtrip") + "/nested/adapter"  // created by save
        try adapter.save(directory: dir, baseModel: "some/base")
        let loaded = try LoRAAdapter.load(directory: dir, model: model)
        #expect(loaded == adapter)
        #expect(loaded.config.targets == [.k, .gate, .down])
        // Saving what was loaded reproduces both files byte for byte.
        let again = try PEFTFixtures.tempDir("roundtrip2")
        try loaded.save(directory: again, baseModel: "some/base")
        for f in ["adapter_config.json", "adapter_model.safetensors"] {
            let same = PEFTFixtures.bytes(dir + "/" + f) == PEFTFixtures.bytes(again + "/" + f)
            #expect(same, "\(f)")
        }
        // Saving over an existing adapter replaces it and leaves no temporary files behind.
        try adapter.save(directory: dir, baseModel: "some/base")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["adapter_config.json", "adapter_model.safetensors"])
    }

    /// TuneLab's save of a PEFT-saved adapter is PEFT's save, byte for byte (PEFT 0.21.2,
    /// save_pretrained; the script sorts target_modules, which PEFT writes in set order).
    /// The committed tunelab-adapter/ is what the script then loads with PEFT (see checks.json).
    @Test func savedFilesAreWhatPEFTWrites() throws {
        let model = try ModelConfig.fromHF(configPath: PEFTFixtures.path("tiny-llama3/config.json"))
        let adapter = try LoRAAdapter.load(directory: PEFTFixtures.path("peft/tiny-llama3/adapter"), model: model)
        let dir = try PEFTFixtures.tempDir("save")
        try adapter.save(directory: dir, baseModel: "Tests/Fixtures/tiny-llama3")
        for f in ["adapter_model.safetensors", "adapter_config.json"] {
            let mine = try #require(PEFTFixtures.bytes(dir + "/" + f))
            let peft = try #require(PEFTFixtures.bytes(PEFTFixtures.path("peft/tiny-llama3/adapter/" + f)))
            let same = mine == peft
            #expect(same, "\(f) differs from PEFT's (\(mine.count) vs \(peft.count) bytes)")
        }
        let committed = PEFTFixtures.path("peft/tiny-llama3/tunelab-adapter")
        if PEFTFixtures.writeMode { try PEFTFixtures.replaceFolder(committed, with: dir) }
        for f in ["adapter_model.safetensors", "adapter_config.json"] {
            let same = PEFTFixtures.bytes(dir + "/" + f) == PEFTFixtures.bytes(committed + "/" + f)
            #expect(same, "tunelab-adapter/\(f) is missing or stale (regenerate: scripts/make_peft_references.py docstring)")
        }
    }

    /// The script loaded tunelab-adapter/ with PeftModel.from_pretrained: same config, same logits.
    @Test func peftLoadsTuneLabsAdapter() throws {
        let checks = try PEFTFixtures.json("peft/checks.json")
        let t = try #require(checks["tunelab_adapter"] as? [String: Any])
        #expect(t["safetensors_bytes_equal_peft_save"] as? Bool == true)
        let d = try #require(t["max_abs_diff_vs_peft_logits"] as? Double)
        print("PEFT with TuneLab's saved adapter vs PEFT's own: max |Δlogit| = \(d)")
        #expect(d <= 1e-5)
        let c = try #require(t["loaded_config"] as? [String: Any])
        let model = try ModelConfig.fromHF(configPath: PEFTFixtures.path("tiny-llama3/config.json"))
        let adapter = try LoRAAdapter.load(directory: PEFTFixtures.path("peft/tiny-llama3/tunelab-adapter"), model: model)
        #expect(c["r"] as? Int == adapter.config.rank)
        #expect(c["lora_alpha"] as? Double == adapter.config.alpha)
        #expect(c["lora_dropout"] as? Double == adapter.config.dropout)
        #expect(c["use_rslora"] as? Bool == adapter.config.useRSLoRA)
        #expect(c["target_modules"] as? [String] == adapter.config.targets.map(\.moduleName).sorted())
        #expect(c["bias"] as? String == "none" && c["task_type"] as? String == "CAUSAL_LM")
    }

    /// PEFT-saved adapters (F32; BF16 with the `.default` infix and rsLoRA; F16 on a quantised
    /// GGUF base) applied unmerged give PEFT's logits.
    @Test(arguments: ["tiny-llama3", "tiny-qwen2", "tiny-gguf-llama3"])
    func peftAdapterGivesPEFTLogits(_ name: String) throws {
        let refs = try PEFTFixtures.json("peft/\(name)/refs.json")
        let base = try LanguageModel.load(PEFTFixtures.basePath(name))
        let adapter = try LoRAAdapter.load(directory: PEFTFixtures.path("peft/\(name)/adapter"), model: base.config)
        #expect(adapter.config.rank == refs["r"] as? Int)
        #expect(adapter.config.useRSLoRA == refs["use_rslora"] as? Bool)
        #expect(adapter.config.targets.map(\.moduleName).sorted() == (refs["target_modules"] as? [String])?.sorted())
        let lm = try base.replacingWeights(adapter.applied(to: base.weights))
        let prompts = try #require(refs["prompts"] as? [[String: Any]])
        #expect(prompts.count >= 3)
        for p in prompts {
            let ids = try #require(p["ids"] as? [Int])
            #expect(base.tokenizer.encode(try #require(p["text"] as? String), addSpecialTokens: true) == ids)
            let want = try #require(p["peft_last_logits"] as? [Double]).map(Float.init)
            let got = try lm.forward(ids, cache: lm.forward.makeCache())
            let d = peftMaxAbsDiff(got, want)
            let effect = peftMaxAbsDiff(try base.forward(ids, cache: base.forward.makeCache()), want)
            print("\(name) + PEFT adapter, \(p["name"]!): max |Δlogit| vs PEFT = \(d) (the adapter moves logits by \(effect))")
            #expect(d <= 1e-3)
            #expect(effect > 1, "the adapter must matter for the comparison to mean anything")
        }
    }

    // MARK: bad files

    /// Copies the tiny-llama3 PEFT adapter to a temp folder, lets `edit` change it, loads it and
    /// returns the error message.
    private func loadError(_ tag: String, config edit: ((inout [String: Any]) -> Void)? = nil,
                           tensors editTensors: ((inout [(name: String, shape: [Int], data: [Float])]) -> Void)? = nil) throws -> (String, String) {
        let dir = try PEFTFixtures.tempDir(tag)
        let src = PEFTFixtures.path("peft/tiny-llama3/adapter")
        for f in ["adapter_config.json", "adapter_model.safetensors"] {
            try FileManager.default.copyItem(atPath: src + "/" + f, toPath: dir + "/" + f)
        }
        if let edit {
            var c = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/adapter_config.json"))) as? [String: Any])
            edit(&c)
            try JSONSerialization.data(withJSONObject: c).write(to: URL(fileURLWithPath: dir + "/adapter_config.json"))
        }
        if let editTensors {
            let st = try SafetensorsArchive(path: dir + "/adapter_model.safetensors")
            var ts = st.tensorNames.map { n in (name: n, shape: st.tensors[n]!.shape, data: st.tensors[n]!.floats()) }
            editTensors(&ts)
            try writeSafetensors(path: dir + "/adapter_model.safetensors", tensors: ts, metadata: [:])
        }
        let model = try ModelConfig.fromHF(configPath: PEFTFixtures.path("tiny-llama3/config.json"))
        do {
            _ = try LoRAAdapter.load(directory: dir, model: model)
        } catch {
            return ("\(error)", dir)
        }
        Issue.record("\(tag): loading succeeded")
        return ("", dir)
    }

    @Test func configErrorsNameFileAndKey() throws {
        let cases: [(String, String, (inout [String: Any]) -> Void)] = [
            ("dora", "use_dora", { $0["use_dora"] = true }),
            ("rankpattern", "rank_pattern", { $0["rank_pattern"] = ["q_proj": 8] }),
            ("alphapattern", "alpha_pattern", { $0["alpha_pattern"] = ["v_proj": 32] }),
            ("bias", "bias", { $0["bias"] = "all" }),
            ("regex", "target_modules", { $0["target_modules"] = ".*\\.(q|v)_proj" }),
            ("unknownmodule", "target_modules", { $0["target_modules"] = ["q_proj", "lm_head"] }),
            ("modulestosave", "modules_to_save", { $0["modules_to_save"] = ["lm_head"] }),
            ("norank", "\"r\"", { $0["r"] = nil }),
            ("badrank", "\"r\"", { $0["r"] = 0 }),
            ("ia3", "peft_type", { $0["peft_type"] = "IA3" }),
            ("alphatext", "lora_alpha", { $0["lora_alpha"] = "eight" }),
            ("kasa", "kasa_config", { $0["kasa_config"] = ["foo": 1] }),
            ("alora", "alora_invocation_tokens", { $0["alora_invocation_tokens"] = [1, 2] }),
            ("qalora", "use_qalora", { $0["use_qalora"] = true }),
            ("layers", "layers_to_transform", { $0["layers_to_transform"] = [0] }),
        ]
        for (tag, key, edit) in cases {
            let (message, dir) = try loadError(tag, config: edit)
            print("\(tag): \(message)")
            #expect(message.contains(dir + "/adapter_config.json"), "\(tag): \(message)")
            #expect(message.contains(key), "\(tag): \(message)")
        }
    }

    @Test func tensorErrorsNameFileAndTensor() throws {
        let q0A = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
        let down1B = "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"
        // Missing tensor.
        var (m, dir) = try loadError("missing", tensors: { $0.removeAll { $0.name == q0A } })
        #expect(m.contains(dir + "/adapter_model.safetensors") && m.contains(q0A) && m.contains("missing"), "\(m)")
        // Wrong shape.
        (m, dir) = try loadError("shape", tensors: { ts in
            let i = ts.firstIndex { $0.name == down1B }!
            ts[i] = (down1B, [64, 2], Array(ts[i].data.prefix(128)))
        })
        #expect(m.contains(dir + "/adapter_model.safetensors") && m.contains(down1B) && m.contains("[64, 2]"), "\(m)")
        // Config rank disagreeing with the tensors.
        (m, dir) = try loadError("rank", config: { $0["r"] = 8 })
        #expect(m.contains(dir + "/adapter_model.safetensors") && m.contains("lora_A.weight") && m.contains("[8, 64]"), "\(m)")
        // A tensor of a module the config does not name, and one of a layer the model does not have.
        (m, dir) = try loadError("extra", tensors: { $0.append(("base_model.model.lm_head.lora_A.weight", [4, 64], [Float](repeating: 1, count: 256))) })
        #expect(m.contains(dir + "/adapter_model.safetensors") && m.contains("base_model.model.lm_head.lora_A.weight"), "\(m)")
        (m, dir) = try loadError("layer", tensors: { ts in
            ts.append((q0A.replacingOccurrences(of: "layers.0", with: "layers.2"), [4, 64], [Float](repeating: 1, count: 256)))
        })
        #expect(m.contains("layers.2.self_attn.q_proj.lora_A.weight"), "\(m)")
        // The same tensor with and without the adapter-name infix.
        (m, dir) = try loadError("twice", tensors: { ts in
            let t = ts.first { $0.name == q0A }!
            ts.append((q0A.replacingOccurrences(of: "lora_A.weight", with: "lora_A.default.weight"), t.shape, t.data))
        })
        #expect(m.contains(q0A) && m.contains("lora_A.default.weight"), "\(m)")
    }

    @Test func missingAndUnreadableFiles() throws {
        let model = try ModelConfig.fromHF(configPath: PEFTFixtures.path("tiny-llama3/config.json"))
        let dir = try PEFTFixtures.tempDir("files")
        func message(_ body: () throws -> Void) -> String {
            do { try body() } catch { return "\(error)" }
            return "no error"
        }
        var m = message { _ = try LoRAAdapter.load(directory: dir, model: model) }
        #expect(m.contains(dir + "/adapter_config.json"), "\(m)")
        try Data("{\"r\": 4,".utf8).write(to: URL(fileURLWithPath: dir + "/adapter_config.json"))
        m = message { _ = try LoRAAdapter.load(directory: dir, model: model) }
        #expect(m.contains(dir + "/adapter_config.json") && m.contains("JSON"), "\(m)")
        try FileManager.default.removeItem(atPath: dir + "/adapter_config.json")
        try FileManager.default.copyItem(atPath: PEFTFixtures.path("peft/tiny-llama3/adapter/adapter_config.json"), toPath: dir + "/adapter_config.json")
        try Data([0, 1, 2]).write(to: URL(fileURLWithPath: dir + "/adapter_model.bin"))
        m = message { _ = try LoRAAdapter.load(directory: dir, model: model) }
        #expect(m.contains(dir + "/adapter_model.safetensors") && m.contains("adapter_model.bin"), "\(m)")
        try Data([9, 0, 0]).write(to: URL(fileURLWithPath: dir + "/adapter_model.safetensors"))
        m = message { _ = try LoRAAdapter.load(directory: dir, model: model) }
        #expect(m.contains(dir + "/adapter_model.safetensors"), "\(m)")
    }
}
