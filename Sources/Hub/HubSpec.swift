// `hf:` specs as users write them on the command line and in notebooks.
import Foundation

/// Where on the hub a model or dataset lives: `hf:org/name[@rev][/path/in/repo]`.
public struct HubSpec: Equatable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable { case model, dataset }

    /// `org/name` (or a legacy single-name repo such as `gpt2`).
    public var repo: String
    /// A file inside the repo (`medical_o1_sft.json`, `model.Q4_1.gguf`), or nil for the whole repo.
    public var path: String?
    public var revision: String
    /// Set only when the spec says so (`hf://datasets/...`, `hf:models/...`); otherwise the caller decides.
    public var kind: Kind?

    public init(repo: String, path: String? = nil, revision: String = "main", kind: Kind? = nil) {
        self.repo = repo
        self.path = path
        self.revision = revision
        self.kind = kind
    }

    public var description: String {
        var s = "hf:"
        if let kind { s += kind.rawValue + "s/" }
        s += repo
        if revision != "main" { s += "@" + HubClient.encodeRevision(revision) }
        if let path { s += "/" + path }
        return s
    }
}

extension HubClient {
    /// Parses `hf:org/name`, `hf:org/name/path/in/repo.json`, `hf:org/name@rev[/path]`, the
    /// `hf://` forms of these, and an optional `datasets/` or `models/` prefix.
    /// Returns nil for anything that is not an `hf:` spec and for malformed ones
    /// (use `parseChecked` to learn what is wrong with those).
    public static func parse(_ spec: String) -> HubSpec? {
        (try? parseChecked(spec)) ?? nil
    }

    /// Like `parse`, but a spec that starts with `hf:` and is malformed throws a `HubError.badSpec`
    /// saying why, instead of being mistaken for a local path.
    public static func parseChecked(_ spec: String) throws -> HubSpec? {
        var rest: Substring
        if spec.hasPrefix("hf://") {
            rest = spec.dropFirst(5)
        } else if spec.hasPrefix("hf:") {
            rest = spec.dropFirst(3)
        } else {
            return nil
        }
        func bad(_ why: String) -> HubError { .badSpec(spec: spec, reason: why) }

        var parts = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if parts.last == "" { parts.removeLast() }   // tolerate a trailing slash
        var kind: HubSpec.Kind?
        if let first = parts.first, parts.count > 1, first == "datasets" || first == "models" {
            kind = first == "datasets" ? .dataset : .model
            parts.removeFirst()
        }
        guard !parts.isEmpty, !parts[0].isEmpty else {
            throw bad("expected hf:org/name[@revision][/path/in/repo]")
        }
        // The revision follows the repo name: `org/name@rev` or a legacy `name@rev`.
        var revision = "main"
        var repoParts: [String]
        if let at = parts[0].firstIndex(of: "@") {
            revision = String(parts[0][parts[0].index(after: at)...])
            repoParts = [String(parts[0][..<at])]
            parts.removeFirst()
        } else if parts.count >= 2, let at = parts[1].firstIndex(of: "@") {
            revision = String(parts[1][parts[1].index(after: at)...])
            repoParts = [parts[0], String(parts[1][..<at])]
            parts.removeFirst(2)
        } else {
            repoParts = Array(parts.prefix(2))
            parts.removeFirst(min(2, parts.count))
        }
        guard !revision.isEmpty else { throw bad("empty revision after '@'") }
        // A ref with slashes is written percent-encoded, as the hub does: `@refs%2Fpr%2F1`.
        guard let decoded = revision.removingPercentEncoding, !decoded.isEmpty else {
            throw bad("revision '\(revision)' has a bad percent-escape")
        }
        revision = decoded
        guard !revision.contains(where: { $0 == " " || $0 == "?" || $0 == "#" }) else {
            throw bad("revision '\(revision)' has characters a git ref cannot have")
        }
        for part in repoParts {
            guard isValidName(part) else {
                throw bad("'\(part)' is not a valid hub name (letters, digits, '-', '_', '.'; not starting with '.' or '-')")
            }
        }
        var path: String?
        if !parts.isEmpty {
            guard parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) else {
                throw bad("the path inside the repo has an empty, '.' or '..' component")
            }
            path = parts.joined(separator: "/")
        }
        return HubSpec(repo: repoParts.joined(separator: "/"), path: path, revision: revision, kind: kind)
    }

    static func isValidName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, s.unicodeScalars.count <= 96,
              first != ".", first != "-" else { return false }
        return s.unicodeScalars.allSatisfy { c in
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "-" || c == "_" || c == "."
        } && !s.contains("..")
    }
}
