import Foundation
import Testing
@testable import Record

/// `hf:` inputs are pinned: the record holds the commit and every downloaded file's sha256,
/// replay fetches that commit (not `main`) and refuses when the bytes differ. Against a local
/// hub on 127.0.0.1 (the real one cannot be reached here).
@Suite(.serialized) struct HubPinningTests {
    @Test func hubModelAndDataArePinnedAndCheckedOnReplay() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tunelab-pin-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tiny = fixtures.appendingPathComponent("tiny-llama3")
        var files: [String: [UInt8]] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: tiny.path) where name != "refs.json" {
            files[name] = Array(try Data(contentsOf: tiny.appendingPathComponent(name)))
        }
        let repo = fixtures.deletingLastPathComponent().deletingLastPathComponent().path
        let rows = Array(try Data(contentsOf: URL(fileURLWithPath: repo + "/notebooks/data/medical-cot-sample.jsonl")))
        let modelSHA = String(repeating: "a1", count: 20), dataSHA = String(repeating: "b2", count: 20)
        let hub = try FakeHub([
            .init(kind: "models", id: "org/tiny", sha: modelSHA, files: files,
                  lfs: Set(files.keys.filter { $0.hasSuffix(".safetensors") })),
            .init(kind: "datasets", id: "org/cot", sha: dataSHA, files: ["rows.jsonl": rows]),
        ])
        defer { hub.stop() }
        let cache = dir + "/cache", db = dir + "/r.sqlite"
        let env = ["HF_ENDPOINT": hub.endpoint.absoluteString, "TUNELAB_HUB_CACHE": cache, "HF_TOKEN": "", "HF_HUB_OFFLINE": ""]
        let t = try tunelab(["train", "--db", db, "--model", "hf:org/tiny", "--data", "hf:org/cot/rows.jsonl", "--max-seq-length", "400",
                             "--r", "2", "--batch-size", "2", "--grad-accum", "1", "--max-steps", "1", "--threads", "1",
                             "--out", dir + "/out"], env: env)
        #expect(t.status == 0, "\(t.err)")
        let record = try ExperimentDB(path: db)
        let cells = try #require(try record.run(1)?.cells)
        // Every file of the snapshot, keyed by the commit, with its sha256.
        let config = "hf:org/tiny@\(modelSHA)/config.json"
        #expect(cells[0].files[config] == FakeHub.sha(files["config.json"]!), "\(cells[0].files.keys.sorted())")
        #expect(cells[0].files.count == files.count)
        #expect(cells[1].files["hf:datasets/org/cot@\(dataSHA)/rows.jsonl"] == FakeHub.sha(rows) ||
                cells[1].files["hf:org/cot@\(dataSHA)/rows.jsonl"] == FakeHub.sha(rows), "\(cells[1].files)")
        #expect(cells[0].params["model"] == "hf:org/tiny")   // as written; the pin is in the files
        // The adapter names the hub repo as its base.
        let adapterConfig = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/out/adapter/adapter_config.json"))) as? [String: Any])
        #expect(adapterConfig["base_model_name_or_path"] as? String == "org/tiny")

        let before = hub.log.count
        let same = try tunelab(["replay", "1", "--db", db], env: env)
        #expect(same.status == 0 && same.out.contains("bit-identical"), "\(same.out)\n\(same.err)")
        let asked = hub.log.dropFirst(before).map(\.path)
        #expect(asked.contains { $0.hasSuffix("/revision/\(modelSHA)") } && !asked.contains { $0.hasSuffix("/revision/main") }, "\(asked)")

        // Bytes that differ at the pinned commit: refused, naming the hub file.
        let snapshot = try #require(FileManager.default.enumerator(atPath: cache)?.compactMap { $0 as? String }
            .first { $0.hasSuffix("snapshots/\(modelSHA)/config.json") })
        let path = cache + "/" + snapshot
        let real = try String(contentsOfFile: path, encoding: .utf8)
        try? FileManager.default.removeItem(atPath: path)
        try (real + " ").write(toFile: path, atomically: true, encoding: .utf8)
        let refused = try tunelab(["replay", "1", "--db", db], env: env.merging(["HF_HUB_OFFLINE": "1"]) { _, n in n })
        #expect(refused.status != 0 && refused.err.contains("replay refused: \(config)") && refused.err.contains("changed since run 1"), "\(refused.err)")
    }
}
