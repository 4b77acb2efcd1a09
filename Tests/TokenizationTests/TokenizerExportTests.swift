import Foundation
import ModelFiles
import Testing
@testable import Tokenization

/// A GGUF tokenizer exported as tokenizer.json + tokenizer_config.json reads back (with
/// `Tokenizer.load(directory:)`) as the same tokenizer. That HF tokenizers reads the export the same
/// way is checked on the committed export in TrainingTests (MergeTests, peft/checks.json).
@Suite struct TokenizerExportTests {
    /// (GGUF tokenizer, the export read back, the exported files' bytes by name)
    static func exportAndReload(_ ggufPath: String) throws -> (Tokenizer, Tokenizer, [String: Data]) {
        let gguf = try GGUFFile(path: ggufPath)
        let original = try Tokenizer.load(gguf: gguf)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tunelab-tokexport-\(getpid())-\(UInt32.random(in: 0 ... .max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Tokenizer.exportHuggingFace(gguf: gguf, directory: dir, modelMaxLength: 512)
        var files: [String: Data] = [:]
        for f in try FileManager.default.contentsOfDirectory(atPath: dir) {
            files[f] = FileManager.default.contents(atPath: dir + "/" + f)
        }
        return (original, try Tokenizer.load(directory: dir), files)
    }

    static let extra = ["<|begin_of_text|>Hi<|eot_id|>", "<|im_start|>user\nHi<|im_end|>\n", "12345678901234567890",
                        "ｆｕｌｌ　ｗｉｄｔｈ", "e\u{301}te\u{301}", "😀 🇫🇷 👨‍👩‍👧"]

    /// The GGUF fixtures (tiny Llama-3 with llama-bpe pre-tokenizer and BOS, tiny Qwen2 with NFC) and
    /// SmolLM2 (Digits + ByteLevel regex; the default model, placed by scripts/setup.sh).
    @Test(arguments: ["tiny-gguf/tiny-llama3.gguf", "tiny-gguf/tiny-qwen2.gguf", "smollm2"])
    func exportReadsBackIdentically(_ name: String) throws {
        let path = name == "smollm2" ? Fixture.smolLM2GGUF : Fixture.path(name)
        try #require(FileManager.default.fileExists(atPath: path), "missing \(path) (SmolLM2: run scripts/setup.sh)")
        let (a, b, files) = try Self.exportAndReload(path)
        #expect(files.keys.sorted() == ["tokenizer.json", "tokenizer_config.json"])
        #expect(b.vocabSize == a.vocabSize)
        #expect(b.bosTokenId == a.bosTokenId && b.eosTokenId == a.eosTokenId && b.padTokenId == a.padTokenId)
        #expect(b.chatTemplate == a.chatTemplate && a.chatTemplate != nil)
        #expect(b.addsSpecialTokens == a.addsSpecialTokens)
        for id in 0..<a.vocabSize {
            if a.token(id) != b.token(id) || a.isSpecialToken(id) != b.isSpecialToken(id) {
                Issue.record("\(name): token \(id) \(a.token(id) ?? "nil") vs \(b.token(id) ?? "nil")")
                break
            }
        }
        var checked = 0
        for s in try Fixture.strings() + Self.extra {
            for special in [false, true] {
                let want = a.encode(s, addSpecialTokens: special)
                #expect(b.encode(s, addSpecialTokens: special) == want, "\(name): \(s.debugDescription)")
                #expect(b.decode(want) == a.decode(want))
                checked += 1
            }
        }
        #expect(checked > 50)
        // tokenizer_config.json names the special tokens by content (as transformers expects).
        let configData = try #require(files["tokenizer_config.json"])
        let config = try #require(try JSONSerialization.jsonObject(with: configData) as? [String: Any])
        #expect(config["eos_token"] as? String == a.eosToken)
        #expect(config["bos_token"] as? String == a.bosToken)
    }

    /// The tiny Llama-3 GGUF was converted from the tiny-llama3 HF folder: its export tokenizes as
    /// that folder's tokenizer.json (the reference HF tokenizer).
    @Test func exportTokenizesAsTheSourceHFTokenizer() throws {
        let (_, exported, _) = try Self.exportAndReload(Fixture.path("tiny-gguf/tiny-llama3.gguf"))
        let hf = try Tokenizer.load(directory: Fixture.path("tiny-llama3"))
        for s in try Fixture.strings() + Self.extra {
            #expect(exported.encode(s, addSpecialTokens: true) == hf.encode(s, addSpecialTokens: true), "\(s.debugDescription)")
        }
    }

    @Test func errorsNameTheFile() throws {
        let dir = "/nonexistent-\(UInt32.random(in: 0 ... .max))"
        do {
            try Tokenizer.exportHuggingFace(gguf: GGUFFile(path: Fixture.path("tiny-gguf/tiny-qwen2.gguf")), directory: dir)
            Issue.record("export into a missing folder succeeded")
        } catch {
            #expect("\(error)".contains(dir + "/tokenizer.json"), "\(error)")
        }
    }

    /// The committed export of the tiny Qwen2 GGUF's tokenizer (NFC, Qwen2 split, no BOS) is TuneLab's
    /// current output; scripts/make_peft_references.py loaded it with transformers and HF tokenizers
    /// (peft/checks.json, checked in TrainingTests). TUNELAB_WRITE_PEFT_FIXTURES=1 rewrites it.
    @Test func exportFixtureIsCurrent() throws {
        let (_, _, files) = try Self.exportAndReload(Fixture.path("tiny-gguf/tiny-qwen2.gguf"))
        let committed = Fixture.path("peft/exported-tokenizer-tiny-qwen2")
        if ProcessInfo.processInfo.environment["TUNELAB_WRITE_PEFT_FIXTURES"] == "1" {
            try? FileManager.default.removeItem(atPath: committed)
            try FileManager.default.createDirectory(atPath: committed, withIntermediateDirectories: true)
            for (f, data) in files { try data.write(to: URL(fileURLWithPath: committed + "/" + f)) }
        }
        for f in ["tokenizer.json", "tokenizer_config.json"] {
            let same = files[f] != nil && files[f] == FileManager.default.contents(atPath: committed + "/" + f)
            #expect(same, "peft/exported-tokenizer-tiny-qwen2/\(f) is missing or stale")
        }
    }
}
