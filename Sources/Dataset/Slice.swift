extension Dataset {
    /// Rows selected by a Python-style slice: `train[0:500]`, `[:100]`, `[-20:]`, `[5]`
    /// (the split name before `[` is ignored; out-of-range bounds clamp as in Python).
    public func sliced(_ spec: String) throws -> Dataset {
        let r = try Dataset.sliceRange(spec, count: rows.count)
        let d = Dataset(rows: Array(rows[r]), source: source)
        guard !d.rows.isEmpty else { throw DatasetError("\(source): slice \"\(spec)\" of \(rows.count) rows is empty") }
        return d
    }

    public static func sliceRange(_ spec: String, count: Int) throws -> Range<Int> {
        let s = spec.trimmingCharacters(in: .whitespaces)
        guard let open = s.firstIndex(of: "["), s.hasSuffix("]") else {
            throw DatasetError("slice \"\(spec)\": expected [start:end], e.g. train[0:500], [:100], [-20:]")
        }
        let inner = s[s.index(after: open)..<s.index(before: s.endIndex)]
        let parts = inner.split(separator: ":", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        func bound(_ t: String) throws -> Int? {
            if t.isEmpty { return nil }
            guard let v = Int(t) else { throw DatasetError("slice \"\(spec)\": \"\(t)\" is not an integer") }
            return v
        }
        func clamp(_ v: Int) -> Int { v < 0 ? max(0, count + v) : min(v, count) }
        switch parts.count {
        case 1:
            guard let i = try bound(parts[0]) else { throw DatasetError("slice \"\(spec)\": empty index") }
            let j = i < 0 ? count + i : i
            guard j >= 0 && j < count else { throw DatasetError("slice \"\(spec)\": index \(i) is out of range for \(count) rows") }
            return j..<(j + 1)
        case 2:
            let a = try bound(parts[0]).map(clamp) ?? 0
            let b = try bound(parts[1]).map(clamp) ?? count
            return a..<max(a, b)
        default:
            throw DatasetError("slice \"\(spec)\": steps are not supported; use [start:end]")
        }
    }
}

import Foundation
