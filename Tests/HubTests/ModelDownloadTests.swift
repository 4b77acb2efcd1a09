import Foundation
import Testing
@testable import Hub

let commitA = "0123456789abcdef0123456789abcdef01234567"
let commitB = "89abcdef0123456789abcdef0123456789abcdef"

/// A small safetensors-style model repo: git files plus an LFS weights file.
func modelRepo(id: String = "org/tiny", sha: String = commitA, weights: Int = 200_000, gated: Bool = false) -> FakeHub.Repo {
    FakeHub.Repo(kind: "models", id: id, sha: sha, files: [
        "config.json": Array(#"{"model_type":"llama","hidden_size":8}"#.utf8),
        "tokenizer.json": Array(#"{"model":{"type":"BPE"}}"#.utf8),
        "tokenizer_config.json": Array(#"{"chat_template":"{{ x }}"}"#.utf8),
        "generation_config.json": Array(#"{"do_sample":false}"#.utf8),
        "README.md": Array("# tiny".utf8),
        "model.safetensors": FakeHub.bytes(weights, seed: 1),
    ], lfs: ["model.safetensors"], gated: gated)
}

@Suite struct ModelDownloadTests {
    @Test func unshardedModel() throws {
        let repo = modelRepo()
        let hub = try FakeHub([repo])
        let cache = try temporaryCache()
        let client = HubClient(endpoint: hub.endpoint, token: "", cacheDirectory: cache, offline: false)
        let folder = try client.downloadModel(repo: "org/tiny")
        #expect(folder == cache + "/models--org--tiny/snapshots/" + commitA)
        #expect(HubClient.commit(ofDownloadedPath: folder) == commitA)
        #expect(HubClient.commit(ofDownloadedPath: folder + "/model.safetensors") == commitA)
        #expect(HubClient.commit(ofDownloadedPath: "models/x.gguf") == nil)
        for name in ["config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json", "model.safetensors"] {
            #expect(fileBytes(folder + "/" + name) == repo.files[name], "\(name)")
        }
        #expect(!FileManager.default.fileExists(atPath: folder + "/README.md"))
        #expect(!FileManager.default.fileExists(atPath: folder + "/special_tokens_map.json"))
        #expect(!FileManager.default.fileExists(atPath: folder + "/model.safetensors.part"))
        // Files are fetched at the commit the API reported, and the weights came via the CDN redirect.
        let paths = hub.log.map(\.path)
        #expect(paths.first == "/api/models/org/tiny/revision/main")
        #expect(paths.contains("/org/tiny/resolve/\(commitA)/model.safetensors"))
        #expect(paths.contains { $0.hasPrefix("/cdn/") })
        #expect(hub.log.allSatisfy { $0.headers["authorization"] == nil })
        // refs/main records the commit for offline use.
        let ref = try String(contentsOfFile: cache + "/models--org--tiny/refs/main", encoding: .utf8)
        #expect(ref == commitA)
        // A second call with the hub up only asks the API.
        let before = hub.log.count
        #expect(try client.downloadModel(repo: "org/tiny") == folder)
        #expect(hub.log.count == before + 1)
    }

    @Test func shardedModel() throws {
        var repo = modelRepo(id: "org/sharded")
        repo.files["model.safetensors"] = nil
        repo.lfs = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
        repo.files["model-00001-of-00002.safetensors"] = FakeHub.bytes(70_000, seed: 2)
        repo.files["model-00002-of-00002.safetensors"] = FakeHub.bytes(50_001, seed: 3)
        repo.files["special_tokens_map.json"] = Array(#"{"eos_token":"</s>"}"#.utf8)
        repo.files["model.safetensors.index.json"] = Array("""
            {"metadata":{"total_size":120001},"weight_map":{
              "a.weight":"model-00001-of-00002.safetensors","b.weight":"model-00001-of-00002.safetensors",
              "c.weight":"model-00002-of-00002.safetensors"}}
            """.utf8)
        let hub = try FakeHub([repo])
        let cache = try temporaryCache()
        let client = HubClient(endpoint: hub.endpoint, token: "", cacheDirectory: cache, offline: false)
        let folder = try client.downloadModel(repo: "org/sharded")
        for name in ["model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                     "config.json", "special_tokens_map.json"] {
            #expect(fileBytes(folder + "/" + name) == repo.files[name], "\(name)")
        }
        // Each shard fetched once although the index names the first twice.
        #expect(hub.log.filter { $0.path.hasSuffix("model-00001-of-00002.safetensors") }.count == 1)
    }

    @Test func ggufOnlyRepoNeedsAFileChoice() throws {
        let gguf = FakeHub.bytes(40_000, seed: 4)
        let repo = FakeHub.Repo(kind: "models", id: "org/tiny-GGUF", sha: commitB, files: [
            "tiny.Q4_1.gguf": gguf, "tiny.Q8_0.gguf": FakeHub.bytes(50_000, seed: 5), "README.md": [],
        ], lfs: ["tiny.Q4_1.gguf", "tiny.Q8_0.gguf"])
        let hub = try FakeHub([repo])
        let client = HubClient(endpoint: hub.endpoint, token: "", cacheDirectory: try temporaryCache(), offline: false)
        let error = #expect(throws: HubError.self) { try client.downloadModel(repo: "org/tiny-GGUF") }
        let message = "\(error!)"
        #expect(message.contains("hf:org/tiny-GGUF/tiny.Q4_1.gguf") && message.contains("hf:org/tiny-GGUF/tiny.Q8_0.gguf"))

        let path = try client.resolveModel("hf:org/tiny-GGUF/tiny.Q4_1.gguf")
        #expect(path.hasSuffix("/snapshots/\(commitB)/tiny.Q4_1.gguf"))
        #expect(fileBytes(path) == gguf)
        #expect(!hub.log.contains { $0.path.hasSuffix("tiny.Q8_0.gguf") })
    }

    @Test func localPathsPassThrough() throws {
        let client = HubClient(endpoint: URL(string: "http://127.0.0.1:1")!, token: "", cacheDirectory: try temporaryCache(), offline: false)
        #expect(try client.resolveModel("models/SmolLM2-135M-Instruct.Q4_1.gguf") == "models/SmolLM2-135M-Instruct.Q4_1.gguf")
        #expect(try client.resolveDataset("/data/x.jsonl") == "/data/x.jsonl")
    }

    @Test func tokenIsSentAndOpensGatedRepo() throws {
        let hub = try FakeHub([modelRepo(id: "org/gated", gated: true)])
        hub.cdnHost = "localhost"
        let client = HubClient(endpoint: hub.endpoint, token: hub.token, cacheDirectory: try temporaryCache(), offline: false)
        let folder = try client.downloadModel(repo: "org/gated")
        #expect(fileBytes(folder + "/model.safetensors") == modelRepo().files["model.safetensors"])
        let hubRequests = hub.log.filter { !$0.path.hasPrefix("/cdn/") }
        #expect(hubRequests.count >= 7)
        #expect(hubRequests.allSatisfy { $0.headers["authorization"] == "Bearer \(hub.token)" })
        // The token stays with the hub: the CDN (another host) gets none.
        let cdn = hub.log.filter { $0.path.hasPrefix("/cdn/") }
        #expect(cdn.count == 1 && cdn.allSatisfy { $0.headers["host"]?.hasPrefix("localhost:") == true && $0.headers["authorization"] == nil })
    }
}

@Suite struct ConcurrentDownloadTests {
    /// Several downloads of one model into one cache at once (two shells, two notebooks) take
    /// turns on the snapshot folder instead of writing the same `.part` file together.
    @Test func parallelDownloadsOfOneModel() throws {
        let repo = modelRepo()
        let hub = try FakeHub([repo])
        let cache = try temporaryCache()
        let results = LockedArray()
        DispatchQueue.concurrentPerform(iterations: 3) { _ in
            let client = HubClient(endpoint: hub.endpoint, token: "", cacheDirectory: cache, offline: false)
            results.append(Result { try client.downloadModel(repo: "org/tiny") })
        }
        let folders = try results.items.map { try $0.get() }
        #expect(folders.count == 3 && Set(folders).count == 1)
        #expect(fileBytes(folders[0] + "/model.safetensors") == repo.files["model.safetensors"])
        #expect(hub.log.filter { $0.path.hasPrefix("/cdn/") }.count == 1)
    }
}

final class LockedArray: @unchecked Sendable {
    private let lock = NSLock()
    private var _items: [Result<String, Error>] = []
    func append(_ r: Result<String, Error>) { lock.lock(); _items.append(r); lock.unlock() }
    var items: [Result<String, Error>] { lock.lock(); defer { lock.unlock() }; return _items }
}
