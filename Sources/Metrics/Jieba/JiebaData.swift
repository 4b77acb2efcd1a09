import Foundation

/// Where jieba's data lives: `dict.txt`, `hmm.tsv` and `source.json`, placed by scripts/setup.sh in
/// the git-ignored `models/jieba/` (taken from the PyPI sdist jieba==0.42.1, sha256-checked).
public enum JiebaData {
    public static let environmentVariable = "TUNELAB_JIEBA"
    public static let expectedVersion = "0.42.1"

    /// `$TUNELAB_JIEBA` if set; else the first `models/jieba` holding dict.txt in the folders above the
    /// binary, then above the working directory (as the default model is found).
    public static func locate(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> URL {
        if let dir = environment[environmentVariable], !dir.isEmpty {
            let url = URL(fileURLWithPath: (dir as NSString).expandingTildeInPath)
            guard FileManager.default.fileExists(atPath: url.appendingPathComponent("dict.txt").path) else {
                throw MetricsError("$\(environmentVariable)=\(dir) has no dict.txt; run `bash scripts/setup.sh` (it puts jieba's data in models/jieba) or fix the variable")
            }
            return url
        }
        var starts: [String] = []
        if let exe = Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent().path { starts.append(exe) }
        starts.append(FileManager.default.currentDirectoryPath)
        for start in starts {
            var dir = URL(fileURLWithPath: start)
            for _ in 0..<6 {
                let candidate = dir.appendingPathComponent("models/jieba")
                if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("dict.txt").path) { return candidate }
                dir.deleteLastPathComponent()
            }
        }
        throw MetricsError("jieba's dictionary (models/jieba/dict.txt) not found above the binary or the working directory, and $\(environmentVariable) is not set; run `bash scripts/setup.sh` in the TuneLab checkout")
    }

    /// Loads the segmenter from `directory` (dict.txt, hmm.tsv, source.json).
    public static func load(from directory: URL) throws -> Jieba {
        func read(_ name: String) throws -> Data {
            let url = directory.appendingPathComponent(name)
            guard let d = FileManager.default.contents(atPath: url.path) else {
                throw MetricsError("\(url.path) is missing; run `bash scripts/setup.sh` to fetch jieba's data")
            }
            return d
        }
        let sourcePath = directory.appendingPathComponent("source.json").path
        guard let source = try? JSONSerialization.jsonObject(with: try read("source.json")) as? [String: Any],
              let version = source["version"] as? String else {
            throw MetricsError("\(sourcePath): expected {\"package\":\"jieba\",\"version\":…}; run `bash scripts/setup.sh`")
        }
        guard version == expectedVersion else {
            throw MetricsError("\(sourcePath): jieba \(version), but the segmenter reproduces jieba \(expectedVersion); run `bash scripts/setup.sh`")
        }
        let hmmPath = directory.appendingPathComponent("hmm.tsv").path
        let hmm = try JiebaHMM(tsv: try read("hmm.tsv"), path: hmmPath)
        let dict = try JiebaDictionary(dictTxt: try read("dict.txt"), path: directory.appendingPathComponent("dict.txt").path)
        return Jieba(dictionary: dict, hmm: hmm, version: version)
    }

    private static let cache = Cache()
    /// The segmenter from `locate()`, loaded once per process.
    public static func shared() throws -> Jieba { try cache.get { try load(from: try locate()) } }

    private final class Cache: @unchecked Sendable {
        private let lock = NSLock()
        private var value: Jieba?
        func get(_ make: () throws -> Jieba) throws -> Jieba {
            lock.lock(); defer { lock.unlock() }
            if let value { return value }
            let v = try make()
            value = v
            return v
        }
    }
}

/// An error a user can act on, with the file/line/key it concerns in the message.
public struct MetricsError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ message: String) { description = message }
}
