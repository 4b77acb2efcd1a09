import Foundation
import Metrics
import Record

/// `tunelab compare` and the metric-card side of `tunelab diff`.
extension RecordViews {
    /// The generated answers of a run's last cell that has them (eval, else infer), keyed by
    /// source row (infer answers by their position).
    static func answers(_ d: RunDetail, db: ExperimentDB) throws -> (cell: CellRecord, rows: [(key: String, g: GenerationRecord)])? {
        for c in d.cells.reversed() where c.kind == "eval" || c.kind == "infer" {
            let gens = try db.generations(cellID: c.id)
            if gens.isEmpty { continue }
            return (c, gens.enumerated().map { (i, g) in (g.settings["row"].map { "row \($0)" } ?? "#\(i + 1)", g) })
        }
        return nil
    }

    /// Scores recorded with their cards: metric name → (value, card).
    public static func cardedScores(_ d: RunDetail, db: ExperimentDB) throws -> [String: (value: Double, card: MetricCard)] {
        var out: [String: (Double, MetricCard)] = [:]
        for c in d.cells where c.kind == "eval" {
            guard let text = c.details["metric_cards"],
                  let cards = try? JSONDecoder().decode([String: MetricCard].self, from: Data(text.utf8)) else { continue }
            for (name, card) in cards {
                if let v = try db.metrics(cellID: c.id, name: name).last?.value { out[name] = (v, card) }
            }
        }
        return out
    }

    public static func compareText(_ a: RunDetail, _ b: RunDetail, db: ExperimentDB, width: Int) throws -> String {
        guard let (ca, ra) = try answers(a, db: db) else { throw RecordViewError("run \(a.summary.id) recorded no generated answers") }
        guard let (cb, rb) = try answers(b, db: db) else { throw RecordViewError("run \(b.summary.id) recorded no generated answers") }
        var out = ["run \(a.summary.id) cell \(ca.index) (\(ca.kind), adapter \(ra.first?.g.settings["adapter"] ?? "-"))  vs  run \(b.summary.id) cell \(cb.index) (\(cb.kind), adapter \(rb.first?.g.settings["adapter"] ?? "-"))", ""]
        let sa = try cardedScores(a, db: db), sb = try cardedScores(b, db: db)
        let names = Set(sa.keys).intersection(sb.keys).sorted()
        if !names.isEmpty {
            var rows: [[String]] = []
            for n in names {
                let x = sa[n]!, y = sb[n]!
                let delta = x.card == y.card ? String(format: "%+.4f", y.value - x.value) : "not comparable: cards differ"
                rows.append([n, String(format: "%.4f", x.value), String(format: "%.4f", y.value), delta])
            }
            out.append(table(headers: ["score", "run \(a.summary.id)", "run \(b.summary.id)", "Δ"], rows: rows, right: [1, 2]))
            out.append("")
        }
        let mb = Dictionary(rb.map { ($0.key, $0.g) }, uniquingKeysWith: { x, _ in x })
        func clip(_ s: String) -> String { width > 0 ? short(oneLine(s), width) : s }
        func scores(_ g: GenerationRecord) -> String {
            g.settings.keys.filter { $0.hasPrefix("score.") }.sorted().map { "\($0.dropFirst(6))=\(g.settings[$0]!)" }.joined(separator: " ")
        }
        for (key, ga) in ra {
            guard let gb = mb[key] else { continue }
            // The question, not the template's trailing markers ("### Response:", "<think>").
            let lines = ga.prompt.split(separator: "\n").map(String.init)
            let question = lines.last { $0.count >= 20 } ?? lines.last ?? ""
            out.append("\(key): \(clip(question))")
            out.append("  A \(clip(ga.output))" + (ga.stoppedOnEOS ? "" : " [no EOS]"))
            if !scores(ga).isEmpty { out.append("    \(scores(ga))") }
            out.append("  B \(clip(gb.output))" + (gb.stoppedOnEOS ? "" : " [no EOS]"))
            if !scores(gb).isEmpty { out.append("    \(scores(gb))") }
        }
        return out.joined(separator: "\n")
    }
}
