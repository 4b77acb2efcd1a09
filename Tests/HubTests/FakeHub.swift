// The hub's URL shapes served from memory by LocalHTTPServer:
//   GET /api/{models|datasets}/{org}/{name}/revision/{rev}   → {"sha", "siblings": [{"rfilename"}]}
//   GET /{org}/{name}/resolve/{rev}/{file}                   (models)
//   GET /datasets/{org}/{name}/resolve/{rev}/{file}          (datasets)
// LFS files answer the resolve with a 302 to http://{cdnHost}:{port}/cdn/{sha256} carrying
// X-Linked-Etag / X-Linked-Size, as the hub does with its CDN; the CDN answers Range requests
// (unless turned off). Regular files answer with a relative 307 to /api/resolve-cache/..., as the
// hub does now.
import Kernels
import Foundation
@testable import Hub

final class FakeHub: @unchecked Sendable {
    struct Repo {
        var kind: String            // "models" or "datasets"
        var id: String
        var sha: String
        var files: [String: [UInt8]]
        var lfs: Set<String> = []
        var gated = false
    }

    private let lock = NSLock()
    private var repos: [Repo] = []
    private var _log: [LocalHTTPServer.Request] = []
    /// sha256 → (file name, bytes) of every LFS object, computed once (hashing is slow in debug builds).
    private var objects: [String: (name: String, body: [UInt8])] = [:]
    /// Token that opens gated repos.
    var token = "hf_testtoken"
    var supportsRange = true
    /// Every request fails with 503 (a hub outage).
    var outage = false
    /// Host name of the CDN redirects ("localhost" makes it a different host from the hub's 127.0.0.1).
    var cdnHost = "127.0.0.1"
    /// Files whose advertised sha256 is wrong.
    var wrongSha: Set<String> = []
    /// Files whose advertised X-Linked-Size is one byte too many.
    var wrongSize: Set<String> = []
    /// File → body bytes sent on its first download before the connection drops.
    var truncateOnce: [String: Int] = [:]
    private(set) var server: LocalHTTPServer!

    init(_ repos: [Repo]) throws {
        self.repos = repos
        for repo in repos {
            for name in repo.lfs { if let body = repo.files[name] { objects[Self.sha(body)] = (name, body) } }
        }
        server = try LocalHTTPServer { [unowned self] in self.handle($0) }
    }

    deinit { server?.stop() }

    var endpoint: URL { server.baseURL }
    var log: [LocalHTTPServer.Request] { lock.lock(); defer { lock.unlock() }; return _log }
    func stop() { server.stop() }

    static func sha(_ bytes: [UInt8]) -> String { SHA256.hex(bytes) }

    /// Deterministic fake file bytes.
    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var x = seed &* 0x9E3779B97F4A7C15 | 1
        return (0..<count).map { _ in
            x ^= x << 13; x ^= x >> 7; x ^= x << 17
            return UInt8(truncatingIfNeeded: x)
        }
    }

    private func handle(_ r: LocalHTTPServer.Request) -> LocalHTTPServer.Response {
        lock.lock()
        _log.append(r)
        lock.unlock()
        if outage { return .text(503, "Service Unavailable") }
        let parts = r.path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        if parts.first == "cdn", parts.count == 2 { return cdn(parts[1], r) }
        if parts.count >= 7, parts[0] == "api", parts[1] == "resolve-cache" {
            // /api/resolve-cache/{kind}/{org}/{name}/{sha}/{file}
            guard let repo = find(parts[2], parts[3] + "/" + parts[4]), let body = repo.files[parts[6...].joined(separator: "/")] else {
                return .text(404, "no such cached file")
            }
            let blob = String(repeating: "ab", count: 20)   // a git blob sha1, not a sha256
            return .init(status: 200, headers: [("ETag", "\"\(blob)\""), ("X-Repo-Commit", repo.sha)], body: body)
        }
        if parts.first == "api", parts.count == 6, parts[4] == "revision" {
            guard let repo = find(parts[1], parts[2] + "/" + parts[3]) else { return repoNotFound() }
            if let denied = gate(repo, r) { return denied }
            guard parts[5] == "main" || parts[5] == repo.sha else {
                return .text(404, "{\"error\":\"Invalid rev id: \(parts[5])\"}", headers: [("X-Error-Code", "RevisionNotFound")])
            }
            let siblings = repo.files.keys.sorted().map { ["rfilename": $0] }
            let json = try! JSONSerialization.data(withJSONObject: ["id": repo.id, "sha": repo.sha, "siblings": siblings])
            return .init(status: 200, headers: [("Content-Type", "application/json")], body: Array(json))
        }
        var kind = "models"
        var rest = parts[...]
        if rest.first == "datasets" { kind = "datasets"; rest = rest.dropFirst() }
        let p = Array(rest)
        guard p.count >= 5, p[2] == "resolve" else { return .text(404, "no route \(r.path)") }
        guard let repo = find(kind, p[0] + "/" + p[1]) else { return repoNotFound() }
        if let denied = gate(repo, r) { return denied }
        guard p[3] == "main" || p[3] == repo.sha else {
            return .text(404, "bad revision", headers: [("X-Error-Code", "RevisionNotFound")])
        }
        let file = p[4...].joined(separator: "/")
        guard let body = repo.files[file] else {
            return .text(404, "Entry not found", headers: [("X-Error-Code", "EntryNotFound"), ("X-Error-Message", "Entry not found")])
        }
        if repo.lfs.contains(file) {
            lock.lock()
            let object = objects.first { $0.value.name == file && $0.value.body == body }!.key
            lock.unlock()
            let sha = wrongSha.contains(file) ? Self.sha(body + [0]) : object
            return .init(status: 302, headers: [
                ("Location", "http://\(cdnHost):\(server.port)/cdn/\(object)"),
                ("X-Linked-Etag", "\"\(sha)\""), ("X-Linked-Size", "\(body.count + (wrongSize.contains(file) ? 1 : 0))"),
                ("X-Repo-Commit", repo.sha), ("ETag", "\"\(sha)\""),
            ])
        }
        return .init(status: 307, headers: [("Location", "/api/resolve-cache/\(kind)/\(repo.id)/\(repo.sha)/\(file)"),
                                            ("X-Repo-Commit", repo.sha)])
    }

    private func cdn(_ sha: String, _ r: LocalHTTPServer.Request) -> LocalHTTPServer.Response {
        lock.lock()
        let hit = objects[sha]
        var truncate: Int?
        if let name = hit?.name, let n = truncateOnce[name] { truncate = n; truncateOnce[name] = nil }
        lock.unlock()
        guard let body = hit?.body else { return .text(404, "no such object") }
        let etag = ("ETag", "\"\(String(sha.prefix(32)))\"")   // S3-style, not a sha256
        if supportsRange, let range = r.headers["range"], range.hasPrefix("bytes="), range.hasSuffix("-"),
           let start = Int(range.dropFirst(6).dropLast()) {
            guard start < body.count else {
                return .init(status: 416, headers: [("Content-Range", "bytes */\(body.count)")])
            }
            return .init(status: 206, headers: [("Content-Range", "bytes \(start)-\(body.count - 1)/\(body.count)"), etag],
                         body: Array(body[start...]), truncateAfter: truncate)
        }
        return .init(status: 200, headers: [etag], body: body, truncateAfter: truncate)
    }

    private func find(_ kind: String, _ id: String) -> Repo? {
        lock.lock(); defer { lock.unlock() }
        return repos.first { $0.kind == kind && $0.id == id }
    }

    private func gate(_ repo: Repo, _ r: LocalHTTPServer.Request) -> LocalHTTPServer.Response? {
        guard repo.gated, r.headers["authorization"] != "Bearer \(token)" else { return nil }
        return .text(401, "{\"error\":\"Access to model \(repo.id) is restricted.\"}",
                     headers: [("X-Error-Code", "GatedRepo"), ("X-Error-Message", "Access to model \(repo.id) is restricted.")])
    }

    private func repoNotFound() -> LocalHTTPServer.Response {
        .text(404, "{\"error\":\"Repository not found\"}", headers: [("X-Error-Code", "RepoNotFound"), ("X-Error-Message", "Repository not found")])
    }
}

/// A fresh, empty cache folder per test, under one folder per test process that is removed at exit.
func temporaryCache() throws -> String {
    let dir = testRoot + "/" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

private let testRoot: String = {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("hubtests-\(getpid())").path
    atexit { try? FileManager.default.removeItem(atPath: FileManager.default.temporaryDirectory.appendingPathComponent("hubtests-\(getpid())").path) }
    return root
}()

func fileBytes(_ path: String) -> [UInt8]? {
    FileManager.default.contents(atPath: path).map(Array.init)
}
