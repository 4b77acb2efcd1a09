import Foundation
import Tokenization

/// What one row becomes, with the facts a lint needs (never throws: a row with nothing to train
/// is a finding, not an error).
public struct RowInspection: Sendable {
    public let row: Int
    public let ids: [Int]
    public let labels: [Int]
    public let promptTokens: Int
    /// Response tokens before truncation (EOS included).
    public let responseTokens: Int
    public let truncated: Bool
    /// The appended EOS survived truncation and carries loss.
    public let eosTrained: Bool
    /// The response has a `</think>` that truncation cut (the model never sees the block close).
    public let thinkCut: Bool
    /// Truncation cut the answer after a complete reasoning block (or a response with none).
    public let answerCut: Bool
    /// Placeholders whose value is empty or whitespace.
    public let emptyColumns: [String]
    public var trainedTokens: Int { labels.reduce(0) { $0 + ($1 == ignoreLabel ? 0 : 1) } }
}

extension ExampleBuilder {
    public func inspect(_ row: Row, source: String = "dataset") throws -> RowInspection {
        let (prompt, response) = try template.render(row, source: source)
        let p = tokenizer.encode(prompt, addSpecialTokens: true)
        let r = tokenizer.encode(response) + [eosId]
        var ids = p + r
        var labels = options.responseOnly ? [Int](repeating: ignoreLabel, count: p.count) + r : ids
        let limit = options.maxSeqLength ?? Int.max
        let truncated = ids.count > limit
        if truncated { ids.removeLast(ids.count - limit); labels.removeLast(labels.count - limit) }
        var thinkCut = false, answerCut = false
        if truncated {
            if let close = response.range(of: "</think>") {
                // Tokens up to and including the closing tag (tokenised alone: ±1 token at the cut).
                let upTo = tokenizer.encode(String(response[..<close.upperBound])).count
                thinkCut = p.count + upTo > limit
                answerCut = !thinkCut
            } else {
                answerCut = true
            }
        }
        let empty = template.placeholders.filter { (row.columns[$0] ?? "").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
        return RowInspection(row: row.index, ids: ids, labels: labels, promptTokens: p.count, responseTokens: r.count,
                             truncated: truncated, eosTrained: !truncated && labels.last == eosId, thinkCut: thinkCut,
                             answerCut: answerCut, emptyColumns: empty)
    }
}

/// A problem the data would cause in training, found before training.
public struct LintFinding: Sendable, Equatable, Codable {
    public enum Severity: String, Sendable, Codable { case error, warning }
    public let severity: Severity
    /// Stable name: nothing-to-train, eos-never-trained, empty-response (errors); eos-cut,
    /// think-cut, answer-cut, empty-column, duplicate (warnings).
    public let code: String
    /// "train" or "validation".
    public let split: String
    /// Source row indices (0-based), all of them.
    public let rows: [Int]
    public let message: String

    public var line: String {
        let shown = rows.prefix(12).map(String.init).joined(separator: ", ") + (rows.count > 12 ? ", … (\(rows.count) rows)" : "")
        return "\(severity.rawValue): \(split): \(message)" + (rows.isEmpty ? "" : " — rows \(shown)")
    }
}

/// Token lengths of a split: percentiles (nearest rank) and a histogram.
public struct LengthStats: Sendable, Equatable, Codable {
    public let count: Int
    public let p50: Int, p90: Int, p99: Int, max: Int

    public init(_ lengths: [Int]) {
        let s = lengths.sorted()
        func rank(_ q: Double) -> Int { s.isEmpty ? 0 : s[Swift.min(s.count - 1, Swift.max(0, Int((q * Double(s.count)).rounded(.up)) - 1))] }
        count = s.count; p50 = rank(0.5); p90 = rank(0.9); p99 = rank(0.99); max = s.last ?? 0
    }
}

/// Everything a lint found about a formatted data set.
public struct LintReport: Sendable, Codable {
    public var findings: [LintFinding]
    /// Untruncated lengths (prompt + response + EOS) per split: what max_seq_length cuts.
    public var lengths: [String: [Int]]
    public var maxSeqLength: Int?
    public var errors: [LintFinding] { findings.filter { $0.severity == .error } }
    public var warnings: [LintFinding] { findings.filter { $0.severity == .warning } }

    public func stats(_ split: String) -> LengthStats { LengthStats(lengths[split] ?? []) }

    public var text: String {
        var lines: [String] = []
        for split in ["train", "validation"] where !(lengths[split] ?? []).isEmpty {
            let s = stats(split)
            lines.append("\(split): \(s.count) rows, tokens p50 \(s.p50) p90 \(s.p90) p99 \(s.p99) max \(s.max)"
                         + (maxSeqLength.map { " (max_seq_length \($0))" } ?? ""))
        }
        lines += findings.map(\.line)
        if findings.isEmpty { lines.append("no problems found") }
        return lines.joined(separator: "\n")
    }
}

/// Checks train and validation rows before any training: rows whose EOS is not trained (cut by
/// truncation; TuneLab appends EOS by id and never pads, so a pad equal to EOS cannot mask it),
/// reasoning blocks or answers cut by `max_seq_length`, rows with nothing to train, empty
/// placeholders, rows shared by train and validation, and the length distribution.
public func lint(train: Dataset, validation: Dataset, builder: ExampleBuilder) throws -> (LintReport, [String: [RowInspection]]) {
    var findings: [LintFinding] = []
    var lengths: [String: [Int]] = [:]
    var inspections: [String: [RowInspection]] = [:]
    let responseColumns = Set(builder.template.responseColumns)
    for (split, data) in [("train", train), ("validation", validation)] where !data.rows.isEmpty {
        try builder.template.validate(against: data)
        let rows = try data.rows.map { try builder.inspect($0, source: data.source) }
        inspections[split] = rows
        lengths[split] = rows.map { $0.promptTokens + $0.responseTokens }
        func add(_ sev: LintFinding.Severity, _ code: String, _ hits: [RowInspection], _ message: String) {
            if !hits.isEmpty { findings.append(LintFinding(severity: sev, code: code, split: split, rows: hits.map(\.row), message: message)) }
        }
        let limit = builder.options.maxSeqLength.map(String.init) ?? "-"
        add(.error, "nothing-to-train", rows.filter { $0.trainedTokens == 0 },
            "no token carries loss (the prompt alone fills max_seq_length \(limit))")
        if split == "train", !rows.isEmpty, rows.allSatisfy({ !$0.eosTrained }) {
            findings.append(LintFinding(severity: .error, code: "eos-never-trained", split: split, rows: [],
                                        message: "no row keeps its EOS after truncation to \(limit) tokens: the model will never learn to stop (raise max_seq_length)"))
        }
        let used = builder.template.placeholders
        let responseUsed = used.filter(responseColumns.contains)
        add(.error, "empty-response", rows.filter { r in !responseUsed.isEmpty && responseUsed.allSatisfy(r.emptyColumns.contains) },
            "every response column (\(responseUsed.joined(separator: ", "))) is empty: the row trains only its EOS")
        // A column empty in some rows but not in others (one empty everywhere is the data's
        // layout, e.g. no reasoning column in Alpaca rows).
        for column in used {
            let hits = rows.filter { $0.emptyColumns.contains(column) }
            if !hits.isEmpty && hits.count < rows.count && !(responseUsed.contains(column) && responseUsed.allSatisfy(hits[0].emptyColumns.contains)) {
                add(.warning, "empty-column", hits, "{\(column)} is empty here but not in other rows")
            }
        }
        add(.warning, "eos-cut", rows.filter { $0.trainedTokens > 0 && !$0.eosTrained },
            "EOS cut by max_seq_length \(limit): these rows never show the model where to stop")
        add(.warning, "think-cut", rows.filter(\.thinkCut), "</think> cut by max_seq_length \(limit): the reasoning never closes")
        add(.warning, "answer-cut", rows.filter(\.answerCut), "the answer is cut by max_seq_length \(limit)")
    }
    // The same formatted example on both sides of the split: validation loss would flatter.
    let trainKeys = Set((inspections["train"] ?? []).map(\.ids))
    let dup = (inspections["validation"] ?? []).filter { trainKeys.contains($0.ids) }
    if !dup.isEmpty {
        findings.append(LintFinding(severity: .warning, code: "duplicate", split: "validation", rows: dup.map(\.row),
                                    message: "also in the training split (identical tokens)"))
    }
    return (LintReport(findings: findings, lengths: lengths, maxSeqLength: builder.options.maxSeqLength), inspections)
}
