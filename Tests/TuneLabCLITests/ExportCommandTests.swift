import Foundation
import Testing

/// `tunelab export-gguf` / `export-lora` as a user runs them (the library is tested in TrainingTests).
@Suite(.serialized) struct ExportCommands {
    static func tempDir() throws -> String {
        let d = NSTemporaryDirectory() + "tunelab-export-\(UInt32.random(in: 0 ... .max))"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    @Test func exportGGUFWritesTheFileAndModelfileAndRefusesToOverwrite() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = fixtures.appendingPathComponent("tiny-qwen2").path
        let adapter = fixtures.appendingPathComponent("peft/tiny-qwen2/adapter").path
        let out = dir + "/q.gguf"
        let args = ["export-gguf", "--model", model, "--adapter", adapter, "--quant", "q8_0", "--out", out, "--modelfile", "--json"]
        let r = try tunelab(args)
        #expect(r.status == 0, "\(r.err)")
        let files = try #require(try json(r.out)["files"] as? [[String: Any]])
        #expect(files.map { $0["path"] as? String } == [out, dir + "/Modelfile"])
        #expect((files[0]["bytes"] as? Int) == (try FileManager.default.attributesOfItem(atPath: out)[.size] as? Int))
        let modelfile = try String(contentsOfFile: dir + "/Modelfile", encoding: .utf8)
        #expect(modelfile.contains("FROM ./q.gguf\n") && modelfile.contains("PARAMETER stop \"<|im_end|>\""))
        // The exported file runs in TuneLab itself.
        let g = try tunelab(["generate", "--model", out, "--prompt", "Hello", "--max-new-tokens", "4", "--json"])
        #expect(g.status == 0, "\(g.err)")

        let again = try tunelab(args)
        #expect(again.status != 0)
        #expect(again.err.contains("already exists") && again.err.contains(out), "\(again.err)")
        let forced = try tunelab(args + ["--force"])
        #expect(forced.status == 0, "\(forced.err)")
        #expect(try json(forced.out)["files"] as? [[String: Any]] != nil)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir)) == ["q.gguf", "Modelfile"])
    }

    @Test func exportLoRAWritesAGGUFAdapter() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try tunelab(["export-lora", "--model", fixtures.appendingPathComponent("tiny-llama3").path,
                             "--adapter", fixtures.appendingPathComponent("peft/tiny-llama3/adapter").path,
                             "--format", "gguf", "--out", dir + "/a.gguf"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("wrote \(dir)/a.gguf") && r.out.contains("sha256"))
        let bad = try tunelab(["export-lora", "--adapter", fixtures.appendingPathComponent("peft/tiny-llama3/adapter").path,
                               "--format", "safetensors", "--out", dir + "/b.gguf"])
        #expect(bad.status != 0 && bad.err.contains("--format safetensors"))
        let badQuant = try tunelab(["export-gguf", "--quant", "q5_k", "--out", dir + "/c.gguf"])
        #expect(badQuant.status != 0 && badQuant.err.contains("q5_k"))
    }
}
