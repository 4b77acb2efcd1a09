import Foundation

/// A row of prompt data (GRPO): its columns as every loader keeps them (scalars, and objects of
/// scalars as `key.sub` columns) and the record itself as JSON, for reward programs that want
/// it whole.
public struct PromptRow: Sendable, Equatable {
    public var row: Row
    /// The record as it is in the file, re-serialised with sorted keys (no slashes escaped).
    public var json: String
}

extension Dataset {
    /// Every record of a JSON array or JSONL file, `slice` applied; records need no particular
    /// keys (the prompt template and the rewards name the ones they read).
    public static func loadPromptRows(path: String, slice: String? = nil) throws -> [PromptRow] {
        guard let data = FileManager.default.contents(atPath: path) else { throw DatasetError.unreadable(path, "data file") }
        let objects = try readObjects(data, source: path)
        guard !objects.isEmpty else { throw DatasetError("\(path): the dataset is empty (no records)") }
        var rows: [PromptRow] = []
        for (i, o) in objects.enumerated() {
            var cols: [String: String] = [:]
            for (k, v) in o.object {
                if let s = scalar(v) { cols[k] = s }
                if let sub = v as? [String: Any] { for (sk, sv) in sub { if let s = scalar(sv) { cols["\(k).\(sk)"] = s } } }
            }
            let json: Data
            do { json = try JSONSerialization.data(withJSONObject: o.object, options: [.sortedKeys, .withoutEscapingSlashes]) } catch {
                throw DatasetError("\(path): \(o.location): cannot re-serialise the record: \(error)")
            }
            rows.append(PromptRow(row: Row(index: i, columns: cols), json: String(decoding: json, as: UTF8.self)))
        }
        guard let slice else { return rows }
        let r = try sliceRange(slice, count: rows.count)
        guard !r.isEmpty else { throw DatasetError("\(path): slice \"\(slice)\" of \(rows.count) rows is empty") }
        return Array(rows[r])
    }
}
