import Foundation
import Metrics
import Plot
import Record
import Session

/// Text, JSON, CSV and charts made from the experiment record: shared by `tunelab
/// runs/show/diff/plot/export-record` and the REPL's `:runs`, `:show-run`, `:diff`, `:plot`.
public enum RecordViews {
    public static let defaultDB = "experiments/tunelab.sqlite"

    /// Opens an existing record (never creates one: a typo in --db should not leave a new file).
    public static func open(_ path: String) throws -> ExperimentDB {
        guard FileManager.default.fileExists(atPath: path) else {
            throw RecordViewError("no experiment record at \(path) (runs are recorded there by `tunelab run` and the REPL; --db PATH picks another)")
        }
        let db = try ExperimentDB(path: path)
        _ = try? db.markInterruptedRuns()  // runs whose process died show as interrupted (best effort: the file may be read-only)
        return db
    }

    public static func detail(_ db: ExperimentDB, _ id: Int64) throws -> RunDetail {
        guard let d = try db.run(id) else { throw RecordViewError("no run \(id) in \(db.path) (`tunelab runs` lists them)") }
        return d
    }

    // MARK: tables

    /// Columns padded to their widest cell; `right` columns are right-aligned. No trailing spaces.
    public static func table(headers: [String], rows: [[String]], right: Set<Int> = []) -> String {
        let all = [headers] + rows
        let n = all.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: n)
        for r in all { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        return all.map { r in
            var cells: [String] = []
            for i in 0..<n {
                let c = i < r.count ? r[i] : ""
                let pad = String(repeating: " ", count: widths[i] - c.count)
                cells.append(right.contains(i) ? pad + c : c + pad)
            }
            var line = cells.joined(separator: "  ")
            while line.last == " " { line.removeLast() }
            return line
        }.joined(separator: "\n")
    }

    /// Parameters always shown when nothing tells the runs apart.
    public static let headlineParams = ["lr", "r", "max_steps"]

    /// `tunelab runs`: id, notebook, status, started, steps, final loss, key params (the
    /// parameters that differ between the listed runs, else lr, r, max_steps).
    public static func runsTable(_ runs: [RunSummary], maxParams: Int = 4) -> String {
        guard !runs.isEmpty else { return "no runs recorded" }
        let keys = Set(runs.flatMap(\.params.keys)).sorted()
        // Keys whose values differ among the runs that have them (a run without a train cell
        // does not make every key "differ"), leaving out those that cannot change a curve.
        var shown = runs.count > 1 ? keys.filter { k in !curveNeutral.contains("train.\(k)") && Set(runs.compactMap { $0.params[k] }).count > 1 } : []
        if shown.isEmpty { shown = headlineParams.filter(keys.contains) }
        let extra = shown.count > maxParams ? shown.count - maxParams : 0
        shown = Array(shown.prefix(maxParams))
        let rows = runs.map { r -> [String] in
            var params = shown.compactMap { k in r.params[k].map { "\(k)=\(short($0, 24))" } }.joined(separator: " ")
            if extra > 0 && !params.isEmpty { params += " +\(extra)" }
            let nb = r.notebookPath.map { short(($0 as NSString).lastPathComponent, 28) }
                ?? r.command.map { short($0.split(separator: " ").prefix(2).joined(separator: " "), 28) }
                ?? (r.kind == .repl ? "(repl)" : "-")
            let kind = [.run, .repl, .command].contains(r.kind) ? "" : " (\(r.kind.rawValue)\(r.parentRunID.map { " of \($0)" } ?? ""))"
            return ["\(r.id)", nb + kind, r.status.rawValue, timestamp(r.startedAt), r.lastStep.map { "\($0)" } ?? "-",
                    r.finalLoss.map(number) ?? "-", params]
        }
        return table(headers: ["id", "notebook", "status", "started", "steps", "final loss", "key params"], rows: rows, right: [0, 4, 5])
    }

    // MARK: show

    /// `tunelab show`: parameters, seeds, hashes, environment, metrics summary, generations, artifacts.
    public static func describe(_ d: RunDetail, db: ExperimentDB) throws -> String {
        let s = d.summary
        var out: [String] = []
        var head = "run \(s.id)  \(s.status.rawValue)"
        if s.kind != .run { head += "  (\(s.kind.rawValue)\(s.parentRunID.map { " of run \($0)" } ?? ""))" }
        out.append(head)
        if let nb = s.notebookPath {
            var line = "notebook     \(nb)"
            if let t = d.notebookTitle { line += "  \"\(t)\"" }
            if let h = d.notebookSHA256 { line += "  sha256 \(h.prefix(16))" }
            out.append(line)
        }
        if let c = s.command { out.append("command      \(c)") }
        var when = "started      \(timestamp(s.startedAt, seconds: true))"
        if let end = s.endedAt { when += "  duration \(duration(end.timeIntervalSince(s.startedAt)))" }
        out.append(when)
        let e = d.environment
        let env = [e.toolVersion.map { "tunelab \($0)" }, e.gitCommit.map { "git \($0.prefix(12))" }, e.hostCPU,
                   e.threads.map { "\($0) threads" }, e.blas, d.host.map { "host \($0)" }].compactMap { $0 }
        if !env.isEmpty { out.append("environment  " + env.joined(separator: ", ")) }
        if !e.extra.isEmpty { out.append("             " + e.extra.keys.sorted().map { "\($0)=\(e.extra[$0]!)" }.joined(separator: " ")) }
        if let err = d.error { out.append("error        \(err)") }

        out.append("")
        out.append("cells")
        for c in d.cells {
            var line = "  [\(c.index)] \(c.kind)  \(c.outcome?.rawValue ?? "running")"
            if let t = c.durationSeconds { line += "  \(duration(t))" }
            if let seed = c.seed { line += "  seed \(seed)" }
            out.append(line)
            if !c.changes.isEmpty {
                out.append("      changed: " + c.changes.keys.sorted().map { "\($0)=\(c.changes[$0]!)" }.joined(separator: " "))
            }
            out += wrap(c.params.keys.sorted().map { "\($0)=\(short(c.params[$0]!, 60))" }, indent: "      ", width: 100)
            for f in c.files.keys.sorted() { out.append("      file \(f)  sha256 \(c.files[f]!.prefix(16))") }
            if let err = c.error { out.append("      error: \(err)") }
            for k in c.details.keys.sorted() { out.append("      \(k): \(c.details[k]!)") }
            for g in try db.generations(cellID: c.id) {
                var gl = "      \(short(oneLine(g.prompt), 50)) -> \(short(oneLine(g.output), 70))  (\(g.nTokens) tokens"
                if let tps = g.tokensPerSecond { gl += ", \(String(format: "%.1f", tps)) tok/s" }
                out.append(gl + ")")
            }
            let comps = try db.completions(cellID: c.id)
            if !comps.isEmpty {
                let best = comps.max { $0.reward < $1.reward }!
                out.append("      \(comps.count) completions over \(Set(comps.map(\.step)).count) generations (table completions); best reward \(best.reward): step \(best.step) row \(best.row): \(short(oneLine(best.completion), 60))")
            }
            for a in try db.artifacts(cellID: c.id) {
                var al = "      artifact \(a.kind) \(a.path)"
                if let b = a.bytes { al += "  \(bytes(b))" }
                if let h = a.sha256 { al += "  sha256 \(h.prefix(16))" }
                out.append(al)
            }
        }

        if !d.metricNames.isEmpty {
            out.append("")
            var rows: [[String]] = []
            for name in d.metricNames {
                let m = try db.metrics(runID: s.id, name: name)
                guard let first = m.first, let last = m.last else { continue }
                let finite = m.filter { $0.value.isFinite }
                let lo = finite.min { $0.value < $1.value }
                rows.append([name, "\(m.count)", "\(first.step)-\(last.step)", number(first.value), number(last.value),
                             lo.map { "\(number($0.value)) @ \($0.step)" } ?? "-"])
            }
            out.append(table(headers: ["metric", "points", "steps", "first", "last", "min"], rows: rows, right: [1]))
        }
        return out.joined(separator: "\n")
    }

    // MARK: diff

    public struct DiffRow: Equatable {
        public let key: String
        public let a: String
        public let b: String
    }

    /// Parameters as `kind.key` (a second cell of the same kind is `kind#2.key`), in cell order.
    public static func qualifiedParams(_ d: RunDetail) -> [String: String] {
        var seen: [String: Int] = [:], out: [String: String] = [:]
        for c in d.cells {
            seen[c.kind, default: 0] += 1
            let prefix = seen[c.kind]! == 1 ? c.kind : "\(c.kind)#\(seen[c.kind]!)"
            for (k, v) in c.params { out["\(prefix).\(k)"] = v }
        }
        return out
    }

    /// What differs between two runs: parameters (cell kind.key), then results and environment.
    public static func diff(_ a: RunDetail, _ b: RunDetail, db: ExperimentDB? = nil) -> (params: [DiffRow], results: [DiffRow]) {
        let pa = qualifiedParams(a), pb = qualifiedParams(b)
        let params = Set(pa.keys).union(pb.keys).sorted().compactMap { k -> DiffRow? in
            let x = pa[k] ?? "-", y = pb[k] ?? "-"
            return x == y ? nil : DiffRow(key: k, a: x, b: y)
        }
        func facts(_ d: RunDetail) -> [(String, String)] {
            let s = d.summary
            return [
                ("status", s.status.rawValue),
                ("last step", s.lastStep.map { "\($0)" } ?? "-"),
                ("final loss", s.finalLoss.map(number) ?? "-"),
                ("final eval_loss", s.finalEvalLoss.map(number) ?? "-"),
                ("duration", s.endedAt.map { duration($0.timeIntervalSince(s.startedAt)) } ?? "-"),
                ("notebook", s.notebookPath ?? "-"),
                ("notebook sha256", d.notebookSHA256.map { String($0.prefix(16)) } ?? "-"),
                ("cells", d.cells.map(\.kind).joined(separator: " ")),
                ("tool version", d.environment.toolVersion ?? "-"),
                ("git commit", d.environment.gitCommit.map { String($0.prefix(12)) } ?? "-"),
                ("threads", d.environment.threads.map(String.init) ?? "-"),
                ("cpu", d.environment.hostCPU ?? "-"),
                ("blas", d.environment.blas ?? "-"),
            ]
        }
        let fa = facts(a), fb = facts(b)
        var results = zip(fa, fb).compactMap { x, y in x.1 == y.1 ? nil : DiffRow(key: x.0, a: x.1, b: y.1) }
        // Scores are compared only where their cards match; otherwise the diff says so.
        if let db, let sa = try? cardedScores(a, db: db), let sb = try? cardedScores(b, db: db) {
            for name in Set(sa.keys).union(sb.keys).sorted() {
                let x = sa[name], y = sb[name]
                let va = x.map { number($0.value) } ?? "-", vb = y.map { number($0.value) } ?? "-"
                if let x, let y, x.card != y.card {
                    let field = [("tokenisation", \MetricCard.tokenisation), ("smoothing", \.smoothing), ("averaging", \.averaging),
                                 ("equivalence", \.equivalence)].first { x.card[keyPath: $0.1] != y.card[keyPath: $0.1] }
                    results.append(DiffRow(key: "\(name) (not comparable: \(field?.0 ?? "card") differs)", a: va, b: vb))
                } else if va != vb {
                    results.append(DiffRow(key: name, a: va, b: vb))
                }
            }
        }
        return (params, results)
    }

    public static func diffText(_ a: RunDetail, _ b: RunDetail, db: ExperimentDB? = nil) -> String {
        let (params, results) = diff(a, b, db: db)
        let ha = "run \(a.summary.id)", hb = "run \(b.summary.id)"
        var out: [String] = []
        out.append(params.isEmpty ? "parameters: identical" :
                    table(headers: ["parameter", ha, hb], rows: params.map { [$0.key, short($0.a, 40), short($0.b, 40)] }))
        out.append("")
        out.append(results.isEmpty ? "results: identical" :
                    table(headers: ["result", ha, hb], rows: results.map { [$0.key, short($0.a, 40), short($0.b, 40)] }))
        return out.joined(separator: "\n")
    }

    // MARK: plot

    /// The parameters that name a curve in a legend: those of the cell that logged it, bare
    /// (`lr`), plus the run's other kinds of cells as `kind.key` (`format.data`).
    public static func legendParams(_ d: RunDetail, cell: CellRecord) -> [String: String] {
        var out: [String: String] = [:]
        for c in d.cells where c.kind != cell.kind {
            for (k, v) in c.params where !curveNeutral.contains("\(c.kind).\(k)") { out["\(c.kind).\(k)"] = v }
        }
        for (k, v) in cell.params where !curveNeutral.contains("\(cell.kind).\(k)") { out[k] = v }
        return out
    }

    /// Parameters that cannot change a curve, left out of legends: where outputs go, whether a
    /// PNG is drawn, where a resume reads from (the curve is the same), how often checkpoints
    /// are written, the thread count (results do not depend on it).
    public static let curveNeutral: Set<String> = ["train.out", "train.plot", "train.resume", "train.save_every",
                                                   "load.threads", "export.out", "infer.question", "infer.prompt"]

    /// One curve of `metric` against step per run — or per cell, when a run (a REPL session)
    /// trained more than once; the legend names only the parameters that differ.
    public static func chart(db: ExperimentDB, runIDs: [Int64], metric: String, smoothing: Double = 0, logY: Bool = false,
                      width: Int = 1000, height: Int = 600) throws -> Image {
        guard !runIDs.isEmpty else { throw RecordViewError("plot: give one or more run ids") }
        let details = try runIDs.map { try detail(db, $0) }
        var params: [[String: String]] = [], names: [String] = [], curves: [[(step: Int, value: Double)]] = []
        for d in details {
            let logged = try d.cells.compactMap { c -> (CellRecord, [(step: Int, value: Double)])? in
                let m = try db.metrics(cellID: c.id, name: metric)
                return m.isEmpty ? nil : (c, m)
            }
            for (c, m) in logged {
                params.append(legendParams(d, cell: c))
                names.append(logged.count == 1 ? "run \(d.summary.id)" : "run \(d.summary.id) cell \(c.index)")
                curves.append(m)
            }
        }
        // Sparse measurements (eval loss every N steps) are drawn as raw points, never smoothed.
        let sparse = metric.hasPrefix("eval") || metric.hasSuffix("eval_loss")
        if curves.isEmpty {
            let known = Set(details.flatMap(\.metricNames)).sorted()
            throw RecordViewError("no run among \(runIDs.map(String.init).joined(separator: ", ")) logged '\(metric)'"
                                  + (known.isEmpty ? "" : " (metrics: \(known.joined(separator: ", ")))"))
        }
        let labels = legendLabels(params: params, names: names)
        let series = zip(labels, curves).map { Series(name: $0, steps: $1, markers: sparse) }
        var title = runIDs.count == 1 ? "\(metric), run \(runIDs[0])" : metric
        if smoothing > 0 { title += " (smoothed \(String(format: "%g", smoothing)))" }
        return renderLineChart(series: series, options: ChartOptions(title: title, xLabel: "step", yLabel: metric, logY: logY,
                                                                     smoothing: smoothing, width: width, height: height))
    }

    // MARK: formatting

    public static func number(_ v: Double) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v < 0 ? "-inf" : "inf" }
        if v != 0 && (abs(v) < 1e-3 || abs(v) >= 1e6) { return String(format: "%.3e", v) }
        return String(format: "%.4f", v)
    }

    public static func timestamp(_ d: Date, seconds: Bool = false) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = seconds ? "yyyy-MM-dd HH:mm:ss" : "yyyy-MM-dd HH:mm"
        return f.string(from: d)
    }

    public static func duration(_ t: Double) -> String { formatDuration(t) }

    public static func bytes(_ b: Int64) -> String {
        let d = Double(b)
        if d < 1024 { return "\(b) B" }
        if d < 1024 * 1024 { return String(format: "%.1f KB", d / 1024) }
        if d < 1024 * 1024 * 1024 { return String(format: "%.1f MB", d / 1048576) }
        return String(format: "%.2f GB", d / 1073741824)
    }

    public static func short(_ s: String, _ limit: Int) -> String {
        s.count <= limit ? s : String(s.prefix(limit - 3)) + "..."
    }

    public static func oneLine(_ s: String) -> String {
        s.replacingOccurrences(of: "\n", with: " ").trimmingCharacters(in: .whitespaces)
    }

    /// Words joined with spaces into lines of at most `width` characters.
    public static func wrap(_ words: [String], indent: String, width: Int) -> [String] {
        var lines: [String] = [], line = indent
        for w in words {
            if line.count > indent.count && line.count + 1 + w.count > width {
                lines.append(line)
                line = indent
            }
            line += (line.count > indent.count ? " " : "") + w
        }
        if line.count > indent.count { lines.append(line) }
        return lines
    }
}

public struct RecordViewError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}
