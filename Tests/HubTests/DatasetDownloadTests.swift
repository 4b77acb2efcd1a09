import Foundation
import Testing
@testable import Hub

@Suite struct DatasetDownloadTests {
    let rows = Array(#"[{"Question":"q","Complex_CoT":"c","Response":"r"}]"#.utf8)

    @Test func namedFile() throws {
        let big = FakeHub.bytes(120_000, seed: 9)
        let hub = try FakeHub([FakeHub.Repo(kind: "datasets", id: "Org/med-SFT", sha: commitA, files: [
            "medical_o1_sft.json": rows, "data/big.jsonl": big, "README.md": [],
        ], lfs: ["data/big.jsonl"])])
        let cache = try temporaryCache()
        let client = HubClient(endpoint: hub.endpoint, token: "", cacheDirectory: cache, offline: false)
        let path = try client.resolveDataset("hf:Org/med-SFT/medical_o1_sft.json")
        #expect(path == cache + "/datasets--Org--med-SFT/snapshots/\(commitA)/medical_o1_sft.json")
        #expect(fileBytes(path) == rows)
        #expect(hub.log.map(\.path) == ["/api/datasets/Org/med-SFT/revision/main",
                                        "/datasets/Org/med-SFT/resolve/\(commitA)/medical_o1_sft.json",
                                        "/api/resolve-cache/datasets/Org/med-SFT/\(commitA)/medical_o1_sft.json"])
        let nested = try client.downloadDatasetFile(repo: "Org/med-SFT", file: "data/big.jsonl")
        #expect(fileBytes(nested) == big)
    }

    @Test func singleJSONFileIsPicked() throws {
        let hub = try FakeHub([FakeHub.Repo(kind: "datasets", id: "org/one", sha: commitA, files: [
            "train.jsonl": rows, "dataset_infos.json": Array("{}".utf8), "README.md": [],
        ])])
        let client = HubClient(endpoint: hub.endpoint, token: "", cacheDirectory: try temporaryCache(), offline: false)
        let path = try client.resolveDataset("hf:org/one")
        #expect(path.hasSuffix("/train.jsonl"))
        #expect(fileBytes(path) == rows)
        hub.stop()
        // Offline, the same spec finds the file it picked.
        #expect(try client.resolveDataset("hf:org/one") == path)
    }

    @Test func parquetAndAmbiguousReposExplainThemselves() throws {
        let hub = try FakeHub([
            FakeHub.Repo(kind: "datasets", id: "org/pq", sha: commitA, files: ["data/train-00000.parquet": [1, 2, 3], "README.md": []]),
            FakeHub.Repo(kind: "datasets", id: "org/two", sha: commitB, files: [
                "a.json": rows, "b.jsonl": rows, "data/c.parquet": [1]]),
        ])
        let client = HubClient(endpoint: hub.endpoint, token: "", cacheDirectory: try temporaryCache(), offline: false)
        let pq = #expect(throws: HubError.self) { try client.downloadDatasetFile(repo: "org/pq", file: "") }
        #expect("\(pq!)".contains("Parquet") && "\(pq!)".contains("data/train-00000.parquet"))
        let two = #expect(throws: HubError.self) { try client.downloadDatasetFile(repo: "org/two", file: "") }
        #expect("\(two!)".contains("hf:org/two/a.json") && "\(two!)".contains("hf:org/two/b.jsonl"))
        let named = #expect(throws: HubError.self) { try client.downloadDatasetFile(repo: "org/two", file: "data/c.parquet") }
        #expect("\(named!)".contains("Parquet is not supported") && "\(named!)".contains("a.json, b.jsonl"))
    }
}
