import Foundation
import Kernels
import Testing
@testable import Record

/// `tunelab merge --format gguf`, `export-gguf` and `export-lora` as a user runs them: load and
/// export cells, recorded with every file's sha256 and the round trip (the library is tested in
/// TrainingTests).
@Suite(.serialized) struct ExportCommands {
    static func tempDir() throws -> String {
        let d = NSTemporaryDirectory() + "tunelab-export-\(UInt32.random(in: 0 ... .max))"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    static func sha256(_ path: String) throws -> String { try Kernels.sha256(file: path) }

    @Test func exportGGUFWritesTheFileAndModelfileAndRefusesToOverwrite() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = fixtures.appendingPathComponent("tiny-qwen2").path
        let adapter = fixtures.appendingPathComponent("peft/tiny-qwen2/adapter").path
        let out = dir + "/q.gguf"
        let args = ["export-gguf", "--db", dir + "/r.sqlite", "--model", model, "--adapter", adapter, "--quant", "q8_0", "--out", out, "--json"]
        let r = try tunelab(args)
        #expect(r.status == 0, "\(r.err)")
        let facts = try json(r.out)
        let files = try #require(facts["files"] as? [[String: Any]])
        #expect(files.map { $0["path"] as? String } == [out, dir + "/q.Modelfile"])
        #expect((files[0]["bytes"] as? Int) == (try FileManager.default.attributesOfItem(atPath: out)[.size] as? Int))
        #expect(files[0]["sha256"] as? String == (try Self.sha256(out)))
        #expect((facts["roundtrip"] as? String)?.hasPrefix("round trip ok") == true, "\(facts)")
        let modelfile = try String(contentsOfFile: dir + "/q.Modelfile", encoding: .utf8)
        #expect(modelfile.contains("FROM ./q.gguf\n") && modelfile.contains("PARAMETER stop \"<|im_end|>\""))
        // The exported file runs in TuneLab itself.
        let g = try tunelab(["generate", "--no-record", "--model", out, "--prompt", "Hello", "--max-new-tokens", "4", "--json"])
        #expect(g.status == 0, "\(g.err)")

        let again = try tunelab(args)
        #expect(again.status != 0)
        #expect(again.err.contains("--out") && again.err.contains("already exists") && again.err.contains(out), "\(again.err)")
        let forced = try tunelab(args + ["--force"])
        #expect(forced.status == 0, "\(forced.err)")
        #expect(try json(forced.out)["files"] as? [[String: Any]] != nil)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir)).subtracting(["r.sqlite", "r.sqlite-wal", "r.sqlite-shm"])
                == ["q.gguf", "q.Modelfile"])
    }

    /// `tunelab merge --format gguf` is a recorded run whose export cell holds the files with their
    /// sha256 and the round trip's numbers.
    @Test func mergeToGGUFIsRecordedWithTheRoundTrip() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = dir + "/r.sqlite", out = dir + "/m.gguf"
        let r = try tunelab(["merge", "--db", db, "--model", fixtures.appendingPathComponent("tiny-llama3").path,
                             "--adapter", fixtures.appendingPathComponent("peft/tiny-llama3/adapter").path,
                             "--format", "gguf", "--quant", "q4_0", "--out", out])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("round trip ok: logits equal to the encoded weights'"), "\(r.out)")
        let record = try ExperimentDB(path: db)
        let run = try #require(try record.run(1))
        #expect(run.cells.map(\.kind) == ["load", "export"])
        let cell = run.cells[1]
        #expect(cell.params["format"] == "gguf" && cell.params["quant"] == "q4_0")
        #expect(cell.details["roundtrip"]?.hasPrefix("round trip ok") == true)
        #expect(try record.metrics(cellID: cell.id, name: "roundtrip_file_max_abs_logit").last?.value == 0)
        #expect(try record.metrics(cellID: cell.id, name: "export_vs_adapter_max_abs_logit").count == 1)
        let artifacts = try record.artifacts(cellID: cell.id)
        #expect(Set(artifacts.map(\.kind)) == ["gguf-model", "modelfile"])
        #expect(artifacts.first { $0.kind == "gguf-model" }?.sha256 == (try Self.sha256(out)))
        // The default format is a Hugging Face folder, as before.
        let hf = try tunelab(["merge", "--db", db, "--model", fixtures.appendingPathComponent("tiny-llama3").path,
                              "--adapter", fixtures.appendingPathComponent("peft/tiny-llama3/adapter").path, "--out", dir + "/hf"])
        #expect(hf.status == 0 && FileManager.default.fileExists(atPath: dir + "/hf/model.safetensors"), "\(hf.err)")
    }

    @Test func exportLoRAWritesAGGUFAdapterOrAPEFTFolder() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let base = ["--db", dir + "/r.sqlite", "--model", fixtures.appendingPathComponent("tiny-llama3").path,
                    "--adapter", fixtures.appendingPathComponent("peft/tiny-llama3/adapter").path]
        let r = try tunelab(["export-lora"] + base + ["--format", "gguf", "--out", dir + "/a.gguf"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("\(dir)/a.gguf") && r.out.contains("sha256") && r.out.contains("tensors read back identical"), "\(r.out)")
        let peft = try tunelab(["export-lora"] + base + ["--out", dir + "/peft"])
        #expect(peft.status == 0 && FileManager.default.fileExists(atPath: dir + "/peft/adapter_config.json"), "\(peft.err)")

        let badQuant = try tunelab(["export-gguf"] + base + ["--quant", "q5_k", "--out", dir + "/c.gguf"])
        #expect(badQuant.status != 0 && badQuant.err.contains("q5_k") && badQuant.err.contains("--quant"), "\(badQuant.err)")
        let badName = try tunelab(["export-gguf"] + base + ["--out", dir + "/c.bin"])
        #expect(badName.status != 0 && badName.err.contains("name it *.gguf"), "\(badName.err)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/c.gguf") && !FileManager.default.fileExists(atPath: dir + "/c.bin"))
    }
}
