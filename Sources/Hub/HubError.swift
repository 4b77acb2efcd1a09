// Errors that say what failed, where, and what the user can do about it.

public enum HubError: Error, CustomStringConvertible, Equatable {
    /// The endpoint could not be reached at all (no network, DNS failure, connection refused, TLS).
    case unreachable(endpoint: String, reason: String)
    /// Offline mode (HF_HUB_OFFLINE=1 or the hub unreachable) and nothing usable in the cache.
    case notCached(what: String, cache: String, reason: String)
    /// 401/403: gated or private repo, or a rejected token.
    case unauthorized(what: String, url: String, status: Int, tokenSet: Bool, gated: Bool, serverMessage: String?)
    /// 404 (or the hub's RepoNotFound / EntryNotFound / RevisionNotFound).
    case notFound(what: String, url: String, serverMessage: String?)
    /// Any other unexpected HTTP status.
    case http(status: Int, url: String, serverMessage: String?)
    /// The server sent something we cannot use (bad JSON, a missing field, a bad Content-Range).
    case badResponse(url: String, reason: String)
    /// Downloaded bytes do not match the size the server announced.
    case sizeMismatch(file: String, url: String, expected: Int64, got: Int64)
    /// Downloaded bytes do not match the sha256 the hub announced for the LFS file.
    case hashMismatch(file: String, url: String, expected: String, got: String)
    /// Creating, writing or renaming a file in the cache failed.
    case disk(path: String, reason: String)
    /// A malformed `hf:` spec.
    case badSpec(spec: String, reason: String)
    /// The repo exists but holds nothing TuneLab can load, or needs a file choice.
    case unsupported(what: String, reason: String)

    public var description: String {
        switch self {
        case let .unreachable(endpoint, reason):
            return "cannot reach \(endpoint) (\(reason)): this machine looks offline; download on a networked machine and pass the local path, or set HF_ENDPOINT"
        case let .notCached(what, cache, reason):
            return "\(what) is not in the hub cache \(cache) and \(reason); download it on a networked machine (or unset HF_HUB_OFFLINE) and pass the local path"
        case let .unauthorized(what, url, status, tokenSet, gated, message):
            var s = "\(what): HTTP \(status) from \(url): "
            if tokenSet {
                s += gated
                    ? "the repo is gated and your HF_TOKEN has no access yet; accept its terms on the hub page with that account"
                    : "your HF_TOKEN was rejected or lacks access to this repo; check the token (read scope) and the repo name"
            } else {
                s += gated
                    ? "the repo is gated; accept its terms on the hub page, then set HF_TOKEN to an access token of that account"
                    : "the repo is private or gated (or does not exist); set HF_TOKEN to an access token that can read it"
            }
            if let message { s += " (server: \(message))" }
            return s
        case let .notFound(what, url, message):
            return "\(what) not found (HTTP 404 from \(url))" + (message.map { " (server: \($0))" } ?? "")
        case let .http(status, url, message):
            return "HTTP \(status) from \(url)" + (message.map { ": \($0)" } ?? "")
        case let .badResponse(url, reason):
            return "unexpected response from \(url): \(reason)"
        case let .sizeMismatch(file, url, expected, got):
            return "download of \(file) from \(url) is incomplete: got \(got) bytes, expected \(expected); run again to resume"
        case let .hashMismatch(file, url, expected, got):
            return "download of \(file) from \(url) is corrupt: sha256 \(got), the hub says \(expected); the partial file was deleted, run again"
        case let .disk(path, reason):
            return "cannot write \(path): \(reason)"
        case let .badSpec(spec, reason):
            return "bad hub spec '\(spec)': \(reason)"
        case let .unsupported(what, reason):
            return "\(what): \(reason)"
        }
    }
}

extension HubError {
    /// The hub cannot answer right now (no network, or a server error): a cached snapshot may stand in.
    var isOutage: Bool {
        switch self {
        case .unreachable: return true
        case let .http(status, _, _): return status >= 500
        default: return false
        }
    }

    var outageSummary: String {
        switch self {
        case let .unreachable(endpoint, reason): return "cannot reach \(endpoint) (\(reason))"
        case let .http(status, url, _): return "HTTP \(status) from \(url)"
        default: return description
        }
    }
}
