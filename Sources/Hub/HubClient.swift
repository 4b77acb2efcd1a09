// Models and dataset files from the Hugging Face hub, cached by repo and commit so that a
// second run works without the network.
//
// Cache layout (like huggingface_hub's, without the blob/symlink indirection):
//   <cache>/models--<org>--<name>/refs/<revision>          the commit sha the revision resolved to
//   <cache>/models--<org>--<name>/snapshots/<sha>/<file>   verified files (renamed from <file>.part)
//   <cache>/models--<org>--<name>/snapshots/<sha>/.complete  written once every model file is in
//   <cache>/datasets--<org>--<name>/...                     the same for dataset repos
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct HubClient: Sendable {
    public let endpoint: URL
    public let token: String?
    public let cacheDirectory: String
    public let offline: Bool
    /// Progress lines on stderr (default: only when stderr is a terminal).
    public var showProgress: Bool

    /// - Parameters:
    ///   - endpoint: default `$HF_ENDPOINT`, else https://huggingface.co.
    ///   - token: default `$HF_TOKEN`, else the token file `huggingface-cli login` writes
    ///     (`$HF_TOKEN_PATH`, `$HF_HOME/token`, `~/.cache/huggingface/token`). Pass "" for none.
    ///   - cacheDirectory: default `$TUNELAB_HUB_CACHE`, else `~/.cache/tunelab/hub`.
    ///   - offline: default true when `$HF_HUB_OFFLINE` is 1/true/yes/on: only the cache is used.
    public init(endpoint: URL? = nil, token: String? = nil, cacheDirectory: String? = nil, offline: Bool? = nil) {
        let env = ProcessInfo.processInfo.environment
        func nonEmpty(_ s: String?) -> String? {
            guard let t = s?.trimmingCharacters(in: .whitespacesAndNewlines), !t.isEmpty else { return nil }
            return t
        }
        var ep = endpoint ?? nonEmpty(env["HF_ENDPOINT"]).flatMap(URL.init(string:)) ?? URL(string: "https://huggingface.co")!
        while ep.absoluteString.hasSuffix("/"), let trimmed = URL(string: String(ep.absoluteString.dropLast())) { ep = trimmed }
        self.endpoint = ep

        let home = nonEmpty(env["HOME"]) ?? NSHomeDirectory()
        if let token {
            self.token = nonEmpty(token)
        } else if let t = nonEmpty(env["HF_TOKEN"]) {
            self.token = t
        } else {
            let file = nonEmpty(env["HF_TOKEN_PATH"])
                ?? nonEmpty(env["HF_HOME"]).map { $0 + "/token" }
                ?? home + "/.cache/huggingface/token"
            self.token = nonEmpty(try? String(contentsOfFile: file, encoding: .utf8))
        }
        self.cacheDirectory = cacheDirectory ?? nonEmpty(env["TUNELAB_HUB_CACHE"]) ?? home + "/.cache/tunelab/hub"
        if let offline {
            self.offline = offline
        } else {
            let v = env["HF_HUB_OFFLINE"]?.lowercased() ?? ""
            self.offline = ["1", "true", "yes", "on"].contains(v)
        }
        self.showProgress = isatty(2) == 1
    }

    // MARK: Public entry points

    /// `spec` if it is not an `hf:` spec; otherwise the local path of the downloaded model:
    /// the snapshot folder (config.json, tokenizer files, safetensors weights), or the `.gguf`
    /// file when the spec names one (`hf:org/name/model.Q4_1.gguf`).
    public func resolveModel(_ spec: String) throws -> String {
        guard let s = try Self.parseChecked(spec) else { return spec }
        if s.kind == .dataset { throw HubError.badSpec(spec: spec, reason: "names a dataset repo where a model is expected") }
        return try downloadModel(repo: s.repo, file: s.path, revision: s.revision)
    }

    /// `spec` if it is not an `hf:` spec; otherwise the local path of the downloaded dataset file
    /// (`hf:org/name/file.json`; with no file, the repo's single .json/.jsonl file).
    public func resolveDataset(_ spec: String) throws -> String {
        guard let s = try Self.parseChecked(spec) else { return spec }
        if s.kind == .model { throw HubError.badSpec(spec: spec, reason: "names a model repo where a dataset is expected") }
        return try downloadDatasetFile(repo: s.repo, file: s.path ?? "", revision: s.revision)
    }

    /// Downloads a model snapshot and returns its local folder; with `file` naming a `.gguf`
    /// file, downloads just that file and returns its path. Uses the cache when the snapshot
    /// is complete there, and when the hub is unreachable.
    public func downloadModel(repo: String, file: String? = nil, revision: String = "main") throws -> String {
        try checkRepo(repo)
        if let file { try Self.checkFile(file) }
        let kind = RepoKind.model
        let what = "model \(repo)@\(revision)"
        if offline {
            if let path = cachedModel(repo: repo, file: file, revision: revision) { return path }
            throw HubError.notCached(what: what + (file.map { " file \($0)" } ?? ""), cache: cacheDirectory, reason: "HF_HUB_OFFLINE is set")
        }
        let info: RepoInfo
        do {
            info = try repoInfo(kind, repo: repo, revision: revision)
        } catch let error as HubError where error.isOutage {
            if let path = cachedModel(repo: repo, file: file, revision: revision) {
                noteOnce("hub: \(error.outageSummary); using the cached \(what) at \(path)")
                return path
            }
            throw error
        }
        let snapshot = try prepareSnapshot(kind, repo: repo, revision: revision, sha: info.sha)
        let listed = Set(info.files)

        if let file {
            guard listed.contains(file) else {
                throw HubError.notFound(what: "file \(file) in \(what) (its files: \(Self.brief(info.files)))",
                                        url: resolveURL(kind, repo: repo, revision: revision, file: file).absoluteString, serverMessage: nil)
            }
            guard file.lowercased().hasSuffix(".gguf") else {
                throw HubError.unsupported(what: "hf:\(repo)/\(file)", reason: "a file inside a model repo must be a .gguf file; name the repo alone (hf:\(repo)) to download a safetensors model")
            }
            return try fetch(kind, repo: repo, sha: info.sha, file: file, into: snapshot)
        }

        let marker = snapshot + "/.complete"
        if FileManager.default.fileExists(atPath: marker) { return snapshot }

        // What to download: the fixed config/tokenizer set plus the weights.
        var required = ["config.json", "tokenizer.json", "tokenizer_config.json"]
        let optional = ["generation_config.json", "special_tokens_map.json", "chat_template.jinja"]
        var shards: [String] = []
        var index: [String] = []
        let ggufs = info.files.filter { $0.lowercased().hasSuffix(".gguf") }
        if listed.contains("model.safetensors") {
            shards = ["model.safetensors"]
        } else if listed.contains("model.safetensors.index.json") {
            index = ["model.safetensors.index.json"]
            let indexPath = try fetch(kind, repo: repo, sha: info.sha, file: index[0], into: snapshot)
            shards = try Self.shardNames(indexPath: indexPath)
            for s in shards where !listed.contains(s) {
                throw HubError.notFound(what: "shard \(s) named by model.safetensors.index.json of \(what)",
                                        url: resolveURL(kind, repo: repo, revision: revision, file: s).absoluteString, serverMessage: nil)
            }
        } else if !ggufs.isEmpty {
            throw HubError.unsupported(what: what, reason: "the repo holds only GGUF weights; choose one file: "
                                       + ggufs.prefix(12).map { "hf:\(repo)/\($0)" }.joined(separator: ", ")
                                       + (ggufs.count > 12 ? ", … (\(ggufs.count) files)" : ""))
        } else if info.files.contains(where: { $0.hasSuffix(".bin") || $0.hasSuffix(".pth") }) {
            throw HubError.unsupported(what: what, reason: "the repo has only PyTorch pickle weights (.bin/.pth); TuneLab reads safetensors or GGUF")
        } else {
            throw HubError.unsupported(what: what, reason: "no model.safetensors, model.safetensors.index.json or .gguf file in the repo (its files: \(Self.brief(info.files)))")
        }
        for f in required where !listed.contains(f) {
            throw HubError.unsupported(what: what, reason: "the repo has no \(f), which TuneLab needs next to the weights")
        }
        required += optional.filter(listed.contains)
        for f in required + shards {
            _ = try fetch(kind, repo: repo, sha: info.sha, file: f, into: snapshot)
        }
        // The marker lists the snapshot's files; its presence means all of them are verified.
        try writeAtomically((required + index + shards).joined(separator: "\n") + "\n", to: marker)
        return snapshot
    }

    /// Downloads one file of a dataset repo and returns its local path. With `file` empty, picks
    /// the repo's single .json/.jsonl file (Parquet is not supported).
    public func downloadDatasetFile(repo: String, file: String, revision: String = "main") throws -> String {
        try checkRepo(repo)
        let kind = RepoKind.dataset
        let what = "dataset \(repo)@\(revision)"
        if !file.isEmpty { try Self.checkFile(file) }
        if offline {
            if let path = cachedDatasetFile(repo: repo, file: file, revision: revision) { return path }
            throw HubError.notCached(what: what + (file.isEmpty ? "" : " file \(file)"), cache: cacheDirectory, reason: "HF_HUB_OFFLINE is set")
        }
        let info: RepoInfo
        do {
            info = try repoInfo(kind, repo: repo, revision: revision)
        } catch let error as HubError where error.isOutage {
            if let path = cachedDatasetFile(repo: repo, file: file, revision: revision) {
                noteOnce("hub: \(error.outageSummary); using the cached \(what) file at \(path)")
                return path
            }
            throw error
        }
        let snapshot = try prepareSnapshot(kind, repo: repo, revision: revision, sha: info.sha)
        let dataFiles = info.files.filter(Self.isJSONData)
        var chosen = file
        if chosen.isEmpty {
            if dataFiles.count == 1 {
                chosen = dataFiles[0]
            } else if dataFiles.isEmpty {
                let parquet = info.files.filter { $0.lowercased().hasSuffix(".parquet") }
                if !parquet.isEmpty {
                    throw HubError.unsupported(what: what, reason: "the repo has only Parquet data files (\(Self.brief(parquet))), which TuneLab does not read; it needs a .json or .jsonl file")
                }
                throw HubError.unsupported(what: what, reason: "no .json or .jsonl data file in the repo (its files: \(Self.brief(info.files)))")
            } else {
                throw HubError.unsupported(what: what, reason: "the repo has several data files; choose one: "
                                           + dataFiles.prefix(12).map { "hf:\(repo)/\($0)" }.joined(separator: ", ")
                                           + (dataFiles.count > 12 ? ", … (\(dataFiles.count) files)" : ""))
            }
        } else if chosen.lowercased().hasSuffix(".parquet") {
            throw HubError.unsupported(what: "\(what) file \(chosen)", reason: "Parquet is not supported; JSON data files in the repo: "
                                       + (dataFiles.isEmpty ? "none" : Self.brief(dataFiles)))
        } else if !info.files.contains(chosen) {
            throw HubError.notFound(what: "file \(chosen) in \(what) (its data files: \(dataFiles.isEmpty ? "none" : Self.brief(dataFiles)))",
                                    url: resolveURL(kind, repo: repo, revision: revision, file: chosen).absoluteString, serverMessage: nil)
        }
        return try fetch(kind, repo: repo, sha: info.sha, file: chosen, into: snapshot)
    }

    /// The commit sha of a path this client returned (`…/snapshots/<sha>/…`), for experiment
    /// records: `hf:org/name` alone does not say which weights were used.
    public static func commit(ofDownloadedPath path: String) -> String? {
        let parts = path.split(separator: "/")
        guard let i = parts.lastIndex(of: "snapshots"), i + 1 < parts.count, isCommitHash(String(parts[i + 1])) else { return nil }
        return String(parts[i + 1])
    }

    // MARK: Hub API

    enum RepoKind {
        case model, dataset
        var cachePrefix: String { self == .model ? "models" : "datasets" }
        var urlPrefix: String { self == .model ? "" : "datasets/" }
        var noun: String { self == .model ? "model" : "dataset" }
    }

    struct RepoInfo {
        var sha: String
        var files: [String]
    }

    /// `GET {endpoint}/api/{models|datasets}/{repo}/revision/{revision}` → commit sha and file list.
    func repoInfo(_ kind: RepoKind, repo: String, revision: String) throws -> RepoInfo {
        guard let scheme = endpoint.scheme?.lowercased(), scheme == "http" || scheme == "https", endpoint.host != nil else {
            throw HubError.badSpec(spec: endpoint.absoluteString, reason: "the hub endpoint (HF_ENDPOINT) must be an http:// or https:// URL")
        }
        let url = URL(string: "\(endpoint.absoluteString)/api/\(kind.cachePrefix)/\(repo)/revision/\(Self.encodeRevision(revision))")!
        let reply = try get(url, what: "\(kind.noun) \(repo)@\(revision)", kind: kind, repo: repo, revision: revision, file: nil)
        return try Self.parseRepoInfo(reply.body, url: url.absoluteString)
    }

    /// The body of a revision reply: the commit sha and the repo's file names (checked again by
    /// `checkFile` before any is used as a path).
    static func parseRepoInfo(_ body: Data, url: String) throws -> RepoInfo {
        guard let json = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw HubError.badResponse(url: url, reason: "not a JSON object (\(body.count) bytes)")
        }
        guard let sha = json["sha"] as? String, Self.isCommitHash(sha) else {
            throw HubError.badResponse(url: url, reason: "no 40-hex commit 'sha' field")
        }
        guard let siblings = json["siblings"] as? [[String: Any]] else {
            throw HubError.badResponse(url: url, reason: "no 'siblings' file list")
        }
        let files = siblings.compactMap { $0["rfilename"] as? String }
        return RepoInfo(sha: sha, files: files)
    }

    func resolveURL(_ kind: RepoKind, repo: String, revision: String, file: String) -> URL {
        let path = file.split(separator: "/").map {
            String($0).addingPercentEncoding(withAllowedCharacters: Self.pathComponentAllowed) ?? String($0)
        }.joined(separator: "/")
        return URL(string: "\(endpoint.absoluteString)/\(kind.urlPrefix)\(repo)/resolve/\(Self.encodeRevision(revision))/\(path)")!
    }

    /// A small GET into memory, with HTTP errors mapped to `HubError`.
    private func get(_ url: URL, what: String, kind: RepoKind, repo: String, revision: String, file: String?) throws -> HTTPReply {
        let reply: HTTPReply
        do {
            reply = try HTTPTransfer.get(url, headers: requestHeaders())
        } catch let failure as TransferFailure {
            throw mapFailure(failure, url: url)
        }
        if reply.status != 200 {
            throw mapStatus(reply, url: url, kind: kind, repo: repo, revision: revision, file: file)
        }
        return reply
    }

    /// Downloads `file` into `snapshot` unless it is already there; returns its local path.
    private func fetch(_ kind: RepoKind, repo: String, sha: String, file: String, into snapshot: String) throws -> String {
        try Self.checkFile(file)
        let dest = snapshot + "/" + file
        let fm = FileManager.default
        if fm.fileExists(atPath: dest) { return dest }
        // Another process may be downloading into this snapshot (same .part file): take turns.
        let lockFD = open(snapshot, O_RDONLY)
        if lockFD >= 0, flock(lockFD, LOCK_EX | LOCK_NB) != 0 {
            noteOnce("hub: waiting for another download into \(snapshot)")
            flock(lockFD, LOCK_EX)
        }
        defer { if lockFD >= 0 { flock(lockFD, LOCK_UN); close(lockFD) } }
        if fm.fileExists(atPath: dest) { return dest }
        let dir = (dest as NSString).deletingLastPathComponent
        do { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw HubError.disk(path: dir, reason: error.localizedDescription)
        }
        let url = resolveURL(kind, repo: repo, revision: sha, file: file)
        let part = dest + ".part"
        var retriedAfter416 = false
        while true {
            let existing = (try? fm.attributesOfItem(atPath: part)[.size] as? NSNumber)?.int64Value ?? 0
            let sink = HTTPTransfer.FileSink(path: part, resumeFrom: existing, label: file, showProgress: showProgress)
            let reply: HTTPReply
            do {
                reply = try HTTPTransfer.get(url, headers: requestHeaders(), into: sink)
            } catch let failure as TransferFailure {
                if case let .network(reason, unreachable) = failure, !unreachable {
                    // Mid-transfer failures keep the .part file for the next run to resume.
                    throw HubError.badResponse(url: url.absoluteString, reason: "download of \(file) failed: \(reason); run again to resume")
                }
                throw mapFailure(failure, url: url)
            }
            if reply.status == 416, !retriedAfter416 {
                // Our part file is not a prefix the server can continue (e.g. it is already whole
                // but unverified, or the file changed): start over.
                try? fm.removeItem(atPath: part)
                retriedAfter416 = true
                continue
            }
            guard reply.status == 200 || reply.status == 206 else {
                throw mapStatus(reply, url: url, kind: kind, repo: repo, revision: sha, file: file)
            }
            try verify(reply, file: file, part: part, url: url)
            if rename(part, dest) != 0 {
                throw HubError.disk(path: dest, reason: "cannot rename \(part): \(String(cString: strerror(errno)))")
            }
            return dest
        }
    }

    /// Size against Content-Length / Content-Range / X-Linked-Size; sha256 against the LFS etag.
    private func verify(_ reply: HTTPReply, file: String, part: String, url: URL) throws {
        let encoded = reply.headers["content-encoding"].map { $0 != "identity" } ?? false
        var sizes: [Int64?] = [reply.header("x-linked-size").flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) }]
        if reply.status == 206 {
            sizes.append(HTTPTransfer.contentRangeTotal(reply.headers["content-range"]))
        } else if !encoded {
            sizes.append(reply.headers["content-length"].flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) })
        }
        for case let expected? in sizes where expected != reply.fileSize {
            // Keep a short file for the next run to resume; a long one is garbage.
            if reply.fileSize > expected { try? FileManager.default.removeItem(atPath: part) }
            throw HubError.sizeMismatch(file: file, url: url.absoluteString, expected: expected, got: reply.fileSize)
        }
        // The hub sends the LFS object's sha256 as X-Linked-Etag on the redirect (and as ETag
        // when it serves the file itself); a git blob's ETag is a 40-hex sha1, which we skip.
        let candidates = [reply.header("x-linked-etag"), reply.headers["etag"]].compactMap { $0 }.compactMap(Self.sha256FromETag)
        if let expected = candidates.first, let got = reply.sha256, expected != got {
            try? FileManager.default.removeItem(atPath: part)
            throw HubError.hashMismatch(file: file, url: url.absoluteString, expected: expected, got: got)
        }
    }

    private func requestHeaders() -> [String: String] {
        var h = ["User-Agent": "tunelab/0.1", "Accept-Encoding": "identity"]
        if let token { h["Authorization"] = "Bearer \(token)" }
        return h
    }

    private func mapFailure(_ failure: TransferFailure, url: URL) -> HubError {
        switch failure {
        case let .network(reason, unreachable):
            return unreachable ? .unreachable(endpoint: endpoint.absoluteString, reason: reason)
                               : .badResponse(url: url.absoluteString, reason: reason)
        case let .disk(path, reason):
            return .disk(path: path, reason: reason)
        }
    }

    private func mapStatus(_ reply: HTTPReply, url: URL, kind: RepoKind, repo: String, revision: String, file: String?) -> HubError {
        let code = reply.headers["x-error-code"]
        var message = reply.headers["x-error-message"] ?? Self.serverMessage(reply.body)
        let repoWhat = "\(kind.noun) repository \(repo)"
        let fileWhat = file.map { "file \($0) in \(repoWhat)@\(revision)" }
        switch (reply.status, code) {
        case (_, "RepoNotFound"?):
            return .notFound(what: "\(repoWhat) on \(endpoint.absoluteString) (if it is private, set HF_TOKEN)", url: url.absoluteString, serverMessage: message)
        case (_, "RevisionNotFound"?):
            return .notFound(what: "revision \(revision) of \(repoWhat)", url: url.absoluteString, serverMessage: message)
        case (_, "EntryNotFound"?):
            return .notFound(what: fileWhat ?? repoWhat, url: url.absoluteString, serverMessage: message)
        case (401, _), (403, _):
            return .unauthorized(what: fileWhat ?? "\(repoWhat)@\(revision)", url: url.absoluteString, status: reply.status,
                                 tokenSet: token != nil, gated: code == "GatedRepo", serverMessage: message)
        case (404, _):
            return .notFound(what: fileWhat ?? "\(repoWhat)@\(revision) on \(endpoint.absoluteString)", url: url.absoluteString, serverMessage: message)
        default:
            if message == nil, !reply.body.isEmpty, reply.body.count < 500 {
                message = String(decoding: reply.body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            return .http(status: reply.status, url: url.absoluteString, serverMessage: message)
        }
    }

    // MARK: Cache

    func repoFolder(_ kind: RepoKind, repo: String) -> String {
        cacheDirectory + "/" + kind.cachePrefix + "--" + repo.replacingOccurrences(of: "/", with: "--")
    }

    /// Records revision → sha and creates the snapshot folder.
    private func prepareSnapshot(_ kind: RepoKind, repo: String, revision: String, sha: String) throws -> String {
        let base = repoFolder(kind, repo: repo)
        let snapshot = base + "/snapshots/" + sha
        do {
            try FileManager.default.createDirectory(atPath: snapshot, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: base + "/refs", withIntermediateDirectories: true)
        } catch {
            throw HubError.disk(path: snapshot, reason: error.localizedDescription)
        }
        if revision != sha { try writeAtomically(sha, to: base + "/refs/" + Self.encodeRevision(revision)) }
        return snapshot
    }

    /// The snapshot folder a revision resolved to last time we were online (or the revision itself
    /// when it is a commit sha).
    private func cachedSnapshot(_ kind: RepoKind, repo: String, revision: String) -> String? {
        let base = repoFolder(kind, repo: repo)
        var sha: String?
        if Self.isCommitHash(revision), FileManager.default.fileExists(atPath: base + "/snapshots/" + revision) {
            sha = revision
        } else if let ref = try? String(contentsOfFile: base + "/refs/" + Self.encodeRevision(revision), encoding: .utf8) {
            let t = ref.trimmingCharacters(in: .whitespacesAndNewlines)
            if Self.isCommitHash(t) { sha = t }
        }
        guard let sha else { return nil }
        let snapshot = base + "/snapshots/" + sha
        return FileManager.default.fileExists(atPath: snapshot) ? snapshot : nil
    }

    func cachedModel(repo: String, file: String?, revision: String) -> String? {
        guard let snapshot = cachedSnapshot(.model, repo: repo, revision: revision) else { return nil }
        let path = file.map { snapshot + "/" + $0 } ?? snapshot + "/.complete"
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return file == nil ? snapshot : path
    }

    func cachedDatasetFile(repo: String, file: String, revision: String) -> String? {
        guard let snapshot = cachedSnapshot(.dataset, repo: repo, revision: revision) else { return nil }
        if !file.isEmpty {
            let path = snapshot + "/" + file
            return FileManager.default.fileExists(atPath: path) ? path : nil
        }
        // No file named: the single JSON data file we downloaded into this snapshot.
        guard let all = FileManager.default.enumerator(atPath: snapshot)?.allObjects as? [String] else { return nil }
        let data = all.filter(Self.isJSONData)
        return data.count == 1 ? snapshot + "/" + data[0] : nil
    }

    private func writeAtomically(_ text: String, to path: String) throws {
        do { try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw HubError.disk(path: path, reason: error.localizedDescription)
        }
    }

    // MARK: Checks and small helpers

    private func checkRepo(_ repo: String) throws {
        let parts = repo.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (1...2).contains(parts.count), parts.allSatisfy(Self.isValidName) else {
            throw HubError.badSpec(spec: repo, reason: "a hub repo is org/name (letters, digits, '-', '_', '.')")
        }
    }

    /// File names come from the user and from the server: keep them inside the snapshot.
    static func checkFile(_ file: String) throws {
        let parts = file.split(separator: "/", omittingEmptySubsequences: false)
        guard !file.isEmpty, !file.hasPrefix("/"), parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }),
              !file.hasSuffix(".part"), !file.contains("\0") else {
            throw HubError.badSpec(spec: file, reason: "not a usable file path inside a repo")
        }
    }

    /// The `error` string of a JSON error body, if there is one.
    static func serverMessage(_ body: Data) -> String? {
        guard let json = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { return nil }
        return json["error"] as? String
    }

    static func shardNames(indexPath: String) throws -> [String] {
        try shardNames(index: FileManager.default.contents(atPath: indexPath), path: indexPath)
    }

    static func shardNames(index data: Data?, path indexPath: String) throws -> [String] {
        guard let data,
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let map = json["weight_map"] as? [String: Any] else {
            throw HubError.badResponse(url: indexPath, reason: "model.safetensors.index.json has no 'weight_map' object")
        }
        let names = Set(map.values.compactMap { $0 as? String })
        guard !names.isEmpty, map.values.allSatisfy({ $0 is String }) else {
            throw HubError.badResponse(url: indexPath, reason: "'weight_map' must map tensor names to shard file names")
        }
        return names.sorted()
    }

    static func isJSONData(_ file: String) -> Bool {
        let lower = file.lowercased()
        guard lower.hasSuffix(".json") || lower.hasSuffix(".jsonl") else { return false }
        let name = (lower as NSString).lastPathComponent
        // Metadata files that live next to data in dataset repos.
        if ["dataset_info.json", "dataset_infos.json", "dataset_dict.json", "state.json"].contains(name) { return false }
        return !lower.split(separator: "/").contains { $0.hasPrefix(".") }
    }

    static func isCommitHash(_ s: String) -> Bool {
        s.utf8.count == 40 && s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }

    /// `"abc…"`, `W/"abc…"` → the 64-hex sha256, else nil.
    static func sha256FromETag(_ etag: String) -> String? {
        var t = etag.trimmingCharacters(in: .whitespaces)
        if t.hasPrefix("W/") { t.removeFirst(2) }
        t = t.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        let lower = t.lowercased()
        guard lower.utf8.count == 64, lower.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else { return nil }
        return lower
    }

    static let pathComponentAllowed: CharacterSet = {
        var s = CharacterSet.urlPathAllowed
        s.remove(charactersIn: "/?#%")
        return s
    }()

    /// Branch names may contain '/', which must be one URL path segment (`refs%2Fpr%2F1`).
    static func encodeRevision(_ revision: String) -> String {
        revision.addingPercentEncoding(withAllowedCharacters: pathComponentAllowed) ?? revision
    }

    static func brief(_ files: [String]) -> String {
        files.isEmpty ? "none" : files.prefix(20).joined(separator: ", ") + (files.count > 20 ? ", … (\(files.count) files)" : "")
    }

    private func noteOnce(_ message: String) {
        noticeLock.lock()
        let first = noticed.insert(message).inserted
        noticeLock.unlock()
        if first { FileHandle.standardError.write(Data((message + "\n").utf8)) }
    }
}

private let noticeLock = NSLock()
nonisolated(unsafe) private var noticed = Set<String>()
