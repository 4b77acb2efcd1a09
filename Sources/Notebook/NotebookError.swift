/// A problem in a notebook, a typed cell or an override, located as precisely as known:
/// "notebooks/x.md:12: train.lr: expected a number, got a string \"fast\"".
public struct NotebookError: Error, CustomStringConvertible, Equatable, Sendable {
    public var file: String?
    public var line: Int?
    /// The parameter (or cell kind) concerned, as `kind.key` when the kind is known.
    public var key: String?
    public var message: String
    /// The closest valid name, for "did you mean ...".
    public var suggestion: String?

    public init(file: String? = nil, line: Int? = nil, key: String? = nil, message: String, suggestion: String? = nil) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
        self.suggestion = suggestion
    }

    public var description: String {
        var where_ = ""
        if let file { where_ = file }
        if let line, line > 0 { where_ += where_.isEmpty ? "line \(line)" : ":\(line)" }
        var s = where_.isEmpty ? "" : where_ + ": "
        if let key { s += key + ": " }
        s += message
        if let suggestion { s += " (did you mean '\(suggestion)'?)" }
        return s
    }

    func at(file: String?) -> NotebookError {
        var e = self
        if e.file == nil { e.file = file }
        return e
    }
}

/// Optimal-string-alignment edit distance (a transposition counts as one edit), on characters.
public func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a), y = Array(b)
    if x.isEmpty { return y.count }
    if y.isEmpty { return x.count }
    var d = [[Int]](repeating: [Int](repeating: 0, count: y.count + 1), count: x.count + 1)
    for i in 0...x.count { d[i][0] = i }
    for j in 0...y.count { d[0][j] = j }
    for i in 1...x.count {
        for j in 1...y.count {
            let cost = x[i - 1] == y[j - 1] ? 0 : 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1, j > 1, x[i - 1] == y[j - 2], x[i - 2] == y[j - 1] {
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
            }
        }
    }
    return d[x.count][y.count]
}

/// The candidate closest to `word` if it is close enough to be a plausible typo (or `word` is a
/// prefix of exactly one candidate). Ties go to the first candidate.
public func closest(to word: String, in candidates: [String]) -> String? {
    let w = word.lowercased()
    let prefixed = candidates.filter { $0.hasPrefix(w) }
    if !w.isEmpty, prefixed.count == 1 { return prefixed[0] }
    var best: (String, Int)?
    for c in candidates {
        let d = editDistance(w, c.lowercased())
        if best == nil || d < best!.1 { best = (c, d) }
    }
    guard let (c, d) = best else { return nil }
    let limit = max(1, min(3, max(w.count, c.count) / 3))
    return d <= limit ? c : nil
}
