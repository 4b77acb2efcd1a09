import Foundation
import Record

/// Machine-readable forms of the record: `tunelab show --json`, `diff --json`,
/// `export-record RUN --format json|csv`.
extension RecordViews {
    /// Everything recorded about a run as a JSON object: summary, environment, cells (resolved
    /// parameters, changes, seed, input hashes, outcome, details, metrics by name, generations, GRPO completions,
    /// artifacts).
    public static func json(_ d: RunDetail, db: ExperimentDB) throws -> [String: Any] {
        let s = d.summary, e = d.environment
        var run: [String: Any] = ["id": s.id, "kind": s.kind.rawValue, "status": s.status.rawValue,
                                  "started": s.startedAt.timeIntervalSince1970]
        run["ended"] = s.endedAt?.timeIntervalSince1970
        run["parent_run"] = s.parentRunID
        run["notebook"] = s.notebookPath
        run["notebook_sha256"] = d.notebookSHA256
        run["command"] = s.command
        run["error"] = d.error
        run["last_step"] = s.lastStep
        if let l = s.finalLoss, l.isFinite { run["final_loss"] = l }
        if let l = s.finalEvalLoss, l.isFinite { run["final_eval_loss"] = l }
        var env: [String: Any] = ["extra": e.extra]
        env["tool_version"] = e.toolVersion; env["git_commit"] = e.gitCommit; env["cpu"] = e.hostCPU
        env["threads"] = e.threads; env["blas"] = e.blas; env["host"] = d.host
        run["environment"] = env
        run["cells"] = try d.cells.map { c -> [String: Any] in
            var cell: [String: Any] = ["index": c.index, "kind": c.kind, "params": c.params, "changes": c.changes,
                                       "files": c.files, "started": c.startedAt.timeIntervalSince1970, "details": c.details]
            cell["seed"] = c.seed.map { NSNumber(value: $0) }
            cell["outcome"] = c.outcome?.rawValue
            cell["error"] = c.error
            cell["duration_s"] = c.durationSeconds
            var metrics: [String: Any] = [:]
            for name in d.metricNames {
                let m = try db.metrics(cellID: c.id, name: name)
                if !m.isEmpty { metrics[name] = ["steps": m.map(\.step), "values": m.map { jsonNumber($0.value) }] }
            }
            cell["metrics"] = metrics
            cell["generations"] = try db.generations(cellID: c.id).map { g -> [String: Any] in
                var o: [String: Any] = ["prompt": g.prompt, "settings": g.settings, "output": g.output, "tokens": g.nTokens,
                                        "stopped_on_eos": g.stoppedOnEOS]
                o["output_ids"] = g.outputIDs
                o["tokens_per_s"] = g.tokensPerSecond
                return o
            }
            let completions = try db.completions(cellID: c.id)
            if !completions.isEmpty {
                cell["completions"] = completions.map { x -> [String: Any] in
                    ["step": x.step, "row": x.row, "generation": x.generation, "seed": NSNumber(value: x.seed), "prompt": x.prompt,
                     "completion": x.completion, "completion_ids": x.completionIDs, "stopped_on_eos": x.stoppedOnEOS,
                     "rewards": x.rewards.mapValues(jsonNumber), "reward": jsonNumber(x.reward), "advantage": jsonNumber(x.advantage)]
                }
            }
            cell["artifacts"] = try db.artifacts(cellID: c.id).map { a -> [String: Any] in
                var o: [String: Any] = ["path": a.path, "kind": a.kind]
                o["sha256"] = a.sha256; o["bytes"] = a.bytes
                return o
            }
            return cell
        }
        return run
    }

    /// `diff --json`: {"a": id, "b": id, "params": [{key, a, b}], "results": [{key, a, b}]}.
    public static func diffJSON(_ a: RunDetail, _ b: RunDetail, db: ExperimentDB? = nil) -> [String: Any] {
        let (params, results) = diff(a, b, db: db)
        func rows(_ r: [DiffRow]) -> [[String: String]] { r.map { ["key": $0.key, "a": $0.a, "b": $0.b] } }
        return ["a": a.summary.id, "b": b.summary.id, "params": rows(params), "results": rows(results)]
    }

    /// One long table: `section,cell,kind,key,step,value` where section is run, env, param,
    /// file, metric or generation (RFC 4180 quoting), so a spreadsheet or pandas reads it whole.
    public static func csv(_ d: RunDetail, db: ExperimentDB) throws -> String {
        var lines = ["section,cell,kind,key,step,value"]
        func row(_ f: [String]) { lines.append(f.map(csvField).joined(separator: ",")) }
        let s = d.summary, e = d.environment
        row(["run", "", "", "id", "", "\(s.id)"])
        row(["run", "", "", "kind", "", s.kind.rawValue])
        row(["run", "", "", "status", "", s.status.rawValue])
        if let nb = s.notebookPath { row(["run", "", "", "notebook", "", nb]) }
        if let c = s.command { row(["run", "", "", "command", "", c]) }
        for (k, v) in [("tool_version", e.toolVersion), ("git_commit", e.gitCommit), ("cpu", e.hostCPU),
                       ("threads", e.threads.map(String.init)), ("blas", e.blas)] {
            if let v { row(["env", "", "", k, "", v]) }
        }
        for k in e.extra.keys.sorted() { row(["env", "", "", k, "", e.extra[k]!]) }
        for c in d.cells {
            let idx = "\(c.index)"
            for k in c.params.keys.sorted() { row(["param", idx, c.kind, k, "", c.params[k]!]) }
            for k in c.files.keys.sorted() { row(["file", idx, c.kind, k, "", c.files[k]!]) }
            for name in d.metricNames {
                for m in try db.metrics(cellID: c.id, name: name) {
                    row(["metric", idx, c.kind, name, "\(m.step)", m.value.isNaN ? "nan" : "\(m.value)"])
                }
            }
            for (i, g) in try db.generations(cellID: c.id).enumerated() {
                row(["generation", idx, c.kind, "prompt", "\(i)", g.prompt])
                row(["generation", idx, c.kind, "output", "\(i)", g.output])
                if let ids = g.outputIDs { row(["generation", idx, c.kind, "output_ids", "\(i)", ids.map(String.init).joined(separator: " ")]) }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// NaN and infinities are not JSON numbers: they become strings.
    static func jsonNumber(_ v: Double) -> Any {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v < 0 ? "-inf" : "inf" }
        return v
    }

    /// Sorted-key JSON text of a JSON-compatible value.
    public static func jsonText(_ value: Any) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("null".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
