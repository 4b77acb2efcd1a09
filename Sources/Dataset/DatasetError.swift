import Foundation

/// A data or template problem, with where it is (file, line or row, key).
public struct DatasetError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Levenshtein distance, for "did you mean" hints on column names.
func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a.lowercased()), y = Array(b.lowercased())
    if x.isEmpty { return y.count }
    if y.isEmpty { return x.count }
    var prev = Array(0...y.count), cur = [Int](repeating: 0, count: y.count + 1)
    for i in 1...x.count {
        cur[0] = i
        for j in 1...y.count {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
        }
        swap(&prev, &cur)
    }
    return prev[y.count]
}

func closest(to name: String, in candidates: [String]) -> String? {
    candidates.min { editDistance(name, $0) < editDistance(name, $1) }
}

extension DatasetError {
    /// A file that could not be read: says whether it is missing and, for a relative path,
    /// which directory it was looked up in (notebooks name paths relative to the working
    /// directory, usually the repository root).
    static func unreadable(_ path: String, _ what: String) -> DatasetError {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            let whereText = path.hasPrefix("/") ? "" : " (relative to the working directory \(FileManager.default.currentDirectoryPath))"
            return DatasetError("\(path): no such \(what)\(whereText)")
        }
        return DatasetError("\(path): cannot read the \(what)" + (isDir.boolValue ? " (it is a directory)" : ""))
    }
}
