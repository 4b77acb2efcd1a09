import Kernels
import Foundation
import Testing
@testable import Hub

@Suite struct HubErrorTests {
    @Test func unreachableEndpointSaysOffline() throws {
        let client = HubClient(endpoint: URL(string: "http://127.0.0.1:1")!, token: "", cacheDirectory: try temporaryCache(), offline: false)
        let error = #expect(throws: HubError.self) { try client.resolveModel("hf:HuggingFaceTB/SmolLM2-135M-Instruct") }
        #expect("\(error!)" == "cannot reach http://127.0.0.1:1 (connection refused): this machine looks offline; download on a networked machine and pass the local path, or set HF_ENDPOINT")
        let dataError = #expect(throws: HubError.self) { try client.resolveDataset("hf:org/ds/x.json") }
        #expect("\(dataError!)".hasPrefix("cannot reach http://127.0.0.1:1"))
    }

    @Test func endpointMustBeHTTP() throws {
        let client = HubClient(endpoint: URL(string: "localhost:8080")!, token: "", cacheDirectory: try temporaryCache(), offline: false)
        let error = #expect(throws: HubError.self) { try client.downloadModel(repo: "org/tiny") }
        #expect("\(error!)".contains("HF_ENDPOINT") && "\(error!)".contains("localhost:8080"))
    }

    @Test func cacheIsUsedWhenTheHubIsGoneOrOfflineIsSet() throws {
        let hub = try FakeHub([modelRepo()])
        let cache = try temporaryCache()
        let online = HubClient(endpoint: hub.endpoint, token: "", cacheDirectory: cache, offline: false)
        let folder = try online.downloadModel(repo: "org/tiny")
        hub.stop()
        #expect(try online.downloadModel(repo: "org/tiny") == folder)
        #expect(try online.resolveModel("hf:org/tiny@\(commitA)") == folder)
        let offline = HubClient(endpoint: URL(string: "http://127.0.0.1:1")!, token: "", cacheDirectory: cache, offline: true)
        #expect(try offline.downloadModel(repo: "org/tiny") == folder)
        // Not cached: a different revision, a different repo.
        let other = #expect(throws: HubError.self) { try offline.downloadModel(repo: "org/tiny", revision: "dev") }
        #expect("\(other!)".contains("model org/tiny@dev is not in the hub cache \(cache)") && "\(other!)".contains("HF_HUB_OFFLINE"))
        #expect(throws: HubError.unreachable(endpoint: hub.endpoint.absoluteString, reason: "connection refused")) {
            try online.downloadModel(repo: "org/other")
        }
    }

    @Test func cacheStandsInDuringAHubOutage() throws {
        let hub = try FakeHub([modelRepo(), FakeHub.Repo(kind: "datasets", id: "org/ds", sha: commitB, files: ["a.json": [0x5b, 0x5d]])])
        let client = HubClient(endpoint: hub.endpoint, token: "", cacheDirectory: try temporaryCache(), offline: false)
        let folder = try client.downloadModel(repo: "org/tiny")
        let data = try client.downloadDatasetFile(repo: "org/ds", file: "a.json")
        hub.outage = true
        #expect(try client.downloadModel(repo: "org/tiny") == folder)
        #expect(try client.downloadDatasetFile(repo: "org/ds", file: "a.json") == data)
        let error = #expect(throws: HubError.self) { try client.downloadModel(repo: "org/tiny", revision: commitB) }
        #expect("\(error!)" == "HTTP 503 from \(hub.endpoint.absoluteString)/api/models/org/tiny/revision/\(commitB): Service Unavailable")
    }

    @Test func incompleteSnapshotIsNotUsedOffline() throws {
        let hub = try FakeHub([modelRepo()])
        hub.wrongSha = ["model.safetensors"]
        let cache = try temporaryCache()
        let client = HubClient(endpoint: hub.endpoint, token: "", cacheDirectory: cache, offline: false)
        #expect(throws: HubError.self) { try client.downloadModel(repo: "org/tiny") }
        hub.stop()
        #expect(throws: HubError.unreachable(endpoint: hub.endpoint.absoluteString, reason: "connection refused")) {
            try client.downloadModel(repo: "org/tiny")
        }
    }

    @Test func notFoundNamesRepoAndFile() throws {
        let hub = try FakeHub([modelRepo(), FakeHub.Repo(kind: "datasets", id: "org/ds", sha: commitA, files: ["a.json": [0x5b, 0x5d]])])
        let client = HubClient(endpoint: hub.endpoint, token: "", cacheDirectory: try temporaryCache(), offline: false)
        let repoError = #expect(throws: HubError.self) { try client.downloadModel(repo: "org/missing") }
        #expect("\(repoError!)".contains("model repository org/missing on \(hub.endpoint.absoluteString)") && "\(repoError!)".contains("not found"))
        let fileError = #expect(throws: HubError.self) { try client.downloadDatasetFile(repo: "org/ds", file: "b.json") }
        #expect("\(fileError!)".contains("file b.json in dataset org/ds@main") && "\(fileError!)".contains("a.json"))
        let revError = #expect(throws: HubError.self) { try client.downloadModel(repo: "org/tiny", revision: "nope") }
        #expect("\(revError!)".contains("revision nope of model repository org/tiny"))
    }

    @Test func unauthorizedAsksForToken() throws {
        let hub = try FakeHub([modelRepo(id: "org/gated", gated: true)])
        let anonymous = HubClient(endpoint: hub.endpoint, token: "", cacheDirectory: try temporaryCache(), offline: false)
        let error = #expect(throws: HubError.self) { try anonymous.downloadModel(repo: "org/gated") }
        let message = "\(error!)"
        #expect(message.contains("HTTP 401") && message.contains("gated") && message.contains("set HF_TOKEN"))
        let wrong = HubClient(endpoint: hub.endpoint, token: "hf_wrong", cacheDirectory: try temporaryCache(), offline: false)
        let wrongError = #expect(throws: HubError.self) { try wrong.downloadModel(repo: "org/gated") }
        #expect("\(wrongError!)".contains("your HF_TOKEN has no access"))
    }

    @Test func sha256MismatchDeletesTheDownload() throws {
        let hub = try FakeHub([modelRepo()])
        hub.wrongSha = ["model.safetensors"]
        let cache = try temporaryCache()
        let client = HubClient(endpoint: hub.endpoint, token: "", cacheDirectory: cache, offline: false)
        let error = #expect(throws: HubError.self) { try client.downloadModel(repo: "org/tiny") }
        guard case let .hashMismatch(file, _, expected, got)? = error else {
            Issue.record("expected a hash mismatch, got \(String(describing: error))")
            return
        }
        let body = modelRepo().files["model.safetensors"]!
        #expect(file == "model.safetensors" && got == SHA256.hex(body) && expected == SHA256.hex(body + [0]))
        let snapshot = cache + "/models--org--tiny/snapshots/" + commitA
        #expect(!FileManager.default.fileExists(atPath: snapshot + "/model.safetensors"))
        #expect(!FileManager.default.fileExists(atPath: snapshot + "/model.safetensors.part"))
        #expect(!FileManager.default.fileExists(atPath: snapshot + "/.complete"))
    }

    @Test func sizeMismatchIsReported() throws {
        let hub = try FakeHub([modelRepo()])
        hub.wrongSize = ["model.safetensors"]
        let client = HubClient(endpoint: hub.endpoint, token: "", cacheDirectory: try temporaryCache(), offline: false)
        let error = #expect(throws: HubError.self) { try client.downloadModel(repo: "org/tiny") }
        let n = Int64(modelRepo().files["model.safetensors"]!.count)
        #expect(error == .sizeMismatch(file: "model.safetensors", url: "\(hub.endpoint.absoluteString)/org/tiny/resolve/\(commitA)/model.safetensors",
                                       expected: n + 1, got: n))
        #expect("\(error!)".contains("incomplete"))
    }

    @Test func unwritableCacheIsADiskError() throws {
        let hub = try FakeHub([modelRepo()])
        let blocker = try temporaryCache() + "/not-a-folder"
        #expect(FileManager.default.createFile(atPath: blocker, contents: Data("x".utf8)))
        let client = HubClient(endpoint: hub.endpoint, token: "", cacheDirectory: blocker + "/cache", offline: false)
        let error = #expect(throws: HubError.self) { try client.downloadModel(repo: "org/tiny") }
        guard case let .disk(path, _)? = error else {
            Issue.record("expected a disk error, got \(String(describing: error))")
            return
        }
        #expect(path.hasPrefix(blocker + "/cache/models--org--tiny"))
        #expect("\(error!)".hasPrefix("cannot write \(blocker)/cache/models--org--tiny"))
    }

    @Test func killedDownloadResumesWithRange() throws {
        let repo = modelRepo()
        let body = repo.files["model.safetensors"]!
        let hub = try FakeHub([repo])
        hub.truncateOnce = ["model.safetensors": 123_457]
        let cache = try temporaryCache()
        let client = HubClient(endpoint: hub.endpoint, token: "", cacheDirectory: cache, offline: false)
        let error = #expect(throws: HubError.self) { try client.downloadModel(repo: "org/tiny") }
        #expect("\(error!)".contains("run again to resume"))
        let part = cache + "/models--org--tiny/snapshots/\(commitA)/model.safetensors.part"
        #expect(fileBytes(part) == Array(body.prefix(123_457)))

        let folder = try client.downloadModel(repo: "org/tiny")
        #expect(fileBytes(folder + "/model.safetensors") == body)
        #expect(!FileManager.default.fileExists(atPath: part))
        // The Range header follows the redirect to the CDN, which answers 206.
        let ranged = hub.log.filter { $0.path.hasPrefix("/cdn/") && $0.headers["range"] != nil }
        #expect(ranged.map { $0.headers["range"] } == ["bytes=123457-"])
    }

    @Test func partialFileRestartsWhenServerIgnoresRange() throws {
        let repo = modelRepo()
        let body = repo.files["model.safetensors"]!
        let hub = try FakeHub([repo])
        hub.supportsRange = false
        let cache = try temporaryCache()
        let snapshot = cache + "/models--org--tiny/snapshots/\(commitA)"
        try FileManager.default.createDirectory(atPath: snapshot, withIntermediateDirectories: true)
        // A stale partial file whose bytes are NOT a prefix of the real file.
        #expect(FileManager.default.createFile(atPath: snapshot + "/model.safetensors.part", contents: Data(repeating: 7, count: 1000)))
        let client = HubClient(endpoint: hub.endpoint, token: "", cacheDirectory: cache, offline: false)
        let folder = try client.downloadModel(repo: "org/tiny")
        #expect(fileBytes(folder + "/model.safetensors") == body)
        #expect(hub.log.contains { $0.headers["range"] == "bytes=1000-" })
    }

    @Test func wholeButUnrenamedPartIsRefetched() throws {
        // A `.part` as long as the file (killed before the rename): the CDN answers 416, we start over.
        let repo = modelRepo()
        let body = repo.files["model.safetensors"]!
        let hub = try FakeHub([repo])
        let cache = try temporaryCache()
        let snapshot = cache + "/models--org--tiny/snapshots/\(commitA)"
        try FileManager.default.createDirectory(atPath: snapshot, withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: snapshot + "/model.safetensors.part", contents: Data(body)))
        let client = HubClient(endpoint: hub.endpoint, token: "", cacheDirectory: cache, offline: false)
        let folder = try client.downloadModel(repo: "org/tiny")
        #expect(fileBytes(folder + "/model.safetensors") == body)
    }
}
