import CSQLite3
import Foundation
import Kernels

/// The experiment record: one SQLite file holding notebooks, runs, cell executions, per-step
/// metrics, generations and artifacts. Safe to share between threads (one lock around the
/// connection); several processes may use the same file (WAL + busy timeout).
public final class ExperimentDB: @unchecked Sendable {
    public let path: String
    private var connection: Connection?
    private let lock = NSLock()

    /// Opens (creating it and its folders if needed) and migrates the database at `path`.
    public convenience init(path: String) throws {
        try self.init(path: path, migrations: Schema.migrations)
    }

    /// `migrations` is replaceable so tests can exercise the migration mechanism.
    init(path: String, migrations: [Migration]) throws {
        self.path = path
        if path != ":memory:" {
            let dir = URL(fileURLWithPath: path).deletingLastPathComponent()
            do {
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            } catch {
                throw RecordError("cannot create folder \(dir.path) for experiment database \(path): \(error.localizedDescription)")
            }
        }
        let db = try Connection(path: path)
        sqlite3_busy_timeout(db.handle, Schema.busyTimeoutMilliseconds)
        do { try db.exec(Schema.connectionPragmas) } catch {
            let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
            guard sqlite3_db_readonly(db.handle, "main") == 1 || access(folder, W_OK) != 0 else { throw error }
            throw RecordError("\(path): the experiment record is read-only here (no write permission on the file, its folder or the file system), and SQLite cannot open it without creating its -wal and -shm files beside it (\(error))")
        }
        try db.exec("PRAGMA foreign_keys=OFF")
        try Schema.migrate(db, migrations: migrations)
        try db.exec("PRAGMA foreign_keys=ON")
        connection = db
    }

    /// Throws, naming the file, unless this process can record into the database: a file (or
    /// folder, or file system) that is read-only is found here, before a run starts, not at the
    /// first write after the model has loaded. SQLite opens such a file read-only without
    /// saying so; taking the write lock and writing a page (rolled back) is what proves it.
    public func requireWritable() throws {
        guard path != ":memory:" else { return }
        try withDB { db in
            if sqlite3_db_readonly(db.handle, "main") == 1 {
                throw RecordError("\(path): the experiment record is read-only (no write permission on the file, its folder or the file system); nothing was run: pick a writable --db, or --no-record")
            }
            do {
                try db.exec("BEGIN IMMEDIATE; UPDATE schema_version SET version = version;")
                try db.exec("ROLLBACK")
            } catch {
                try? db.exec("ROLLBACK")
                throw RecordError("\(path): cannot write the experiment record (\(error)); nothing was run: pick a writable --db, or --no-record")
            }
        }
    }

    /// Closes the connection; later calls throw. Also happens on deinit.
    public func close() {
        locked { connection = nil }
    }

    /// Schema version of the open file.
    public func schemaVersion() throws -> Int {
        try withDB { db in Int(try db.query("SELECT version FROM schema_version") { $0.int(0) ?? 0 }.first ?? 0) }
    }

    /// First column of the first row of `sql`, as text (for tests and diagnostics).
    /// SQLite's `PRAGMA integrity_check`: "ok" for a healthy file.
    public func integrityCheck() throws -> String { try scalar("PRAGMA integrity_check") ?? "" }

    func scalar(_ sql: String) throws -> String? {
        try withDB { db in try db.query(sql) { $0.text(0) }.first ?? nil }
    }

    /// Runs raw SQL (for tests and diagnostics).
    func execute(sql: String) throws {
        try withDB { db in try db.exec(sql) }
    }

    // MARK: writing

    /// Id of the notebook row for this path and content hash, inserting it if new. `content`
    /// (the notebook's text) is kept for `replay`.
    public func notebookID(path: String, sha256: String, title: String? = nil, content: String? = nil) throws -> Int64 {
        try withDB { db in
            try db.transaction {
                let found = try db.query("SELECT id FROM notebooks WHERE path = ? AND sha256 = ?", [.text(path), .text(sha256)]) { $0.int(0) }
                if let id = found.first ?? nil {
                    if let title { try db.execute("UPDATE notebooks SET title = ? WHERE id = ?", [.text(title), .int(id)]) }
                    if let content { try db.execute("UPDATE notebooks SET content = ? WHERE id = ?", [.text(content), .int(id)]) }
                    return id
                }
                try db.execute("INSERT INTO notebooks (path, sha256, title, content) VALUES (?, ?, ?, ?)",
                               [.text(path), .text(sha256), title.sql, content.sql])
                return db.lastInsertID
            }
        }
    }

    /// The text of the notebook a run executed, if it was stored.
    public func notebookContent(runID: Int64) throws -> String? {
        try withDB { db in
            try db.query("SELECT n.content FROM runs r JOIN notebooks n ON n.id = r.notebook_id WHERE r.id = ?", [.int(runID)]) { $0.text(0) }.first ?? nil
        }
    }

    /// Starts a run owned by this process (its pid is stored so a crash can be detected later).
    public func createRun(kind: RunKind = .run, notebookID: Int64? = nil, parentRunID: Int64? = nil,
                          environment: RunEnvironment, command: String? = nil) throws -> Int64 {
        try createRun(kind: kind, notebookID: notebookID, parentRunID: parentRunID, environment: environment, ownerPID: getpid(),
                      command: command)
    }

    func createRun(kind: RunKind, notebookID: Int64?, parentRunID: Int64?, environment: RunEnvironment, ownerPID: Int32,
                   command: String? = nil) throws -> Int64 {
        let env = try JSON.encode(environment.extra)
        return try withDB { db in
            try db.execute("""
                INSERT INTO runs (notebook_id, parent_run_id, kind, status, started_at, tool_version, git_commit,
                                  host_cpu, threads, blas, env_json, host, pid, pid_start, command)
                VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [notebookID.map { .int($0) }, parentRunID.map { .int($0) }, .text(kind.rawValue), .double(now()),
                      environment.toolVersion.sql, environment.gitCommit.sql, environment.hostCPU.sql,
                      environment.threads.sql, environment.blas.sql, .text(env), .text(Host.name),
                      .int(Int64(ownerPID)), Host.processStartTime(ownerPID).sql, command.sql])
            return db.lastInsertID
        }
    }

    /// Rewrites a run's environment: what actually ran is known only after the `load` cell
    /// (its thread count, the kernels picked for this CPU).
    public func updateRunEnvironment(_ runID: Int64, _ environment: RunEnvironment) throws {
        let env = try JSON.encode(environment.extra)
        try withDB { db in
            try db.execute("UPDATE runs SET tool_version = ?, git_commit = ?, host_cpu = ?, threads = ?, blas = ?, env_json = ? WHERE id = ?",
                           [environment.toolVersion.sql, environment.gitCommit.sql, environment.hostCPU.sql,
                            environment.threads.sql, environment.blas.sql, .text(env), .int(runID)])
            if db.changes == 0 { throw RecordError("\(path): no run \(runID) to update") }
        }
    }

    /// Structured facts about how a cell ended (merged into what is there).
    public func setCellDetails(_ cellID: Int64, _ details: [String: String]) throws {
        try withDB { db in
            let old = try db.query("SELECT details_json FROM cell_executions WHERE id = ?", [.int(cellID)]) { $0.text(0) ?? "{}" }
            guard let text = old.first else { throw RecordError("\(path): no cell execution \(cellID)") }
            var merged = try JSON.decode(text, what: "details_json of cell execution \(cellID) in \(path)")
            merged.merge(details) { _, new in new }
            try db.execute("UPDATE cell_executions SET details_json = ? WHERE id = ?", [.text(try JSON.encode(merged)), .int(cellID)])
        }
    }

    // MARK: file hashes

    /// The sha256 recorded for `path` when its size, modification time and inode were these
    /// (nil when not hashed since it last changed).
    public func cachedHash(path: String, size: Int64, mtimeNanoseconds: Int64, inode: Int64) throws -> String? {
        try withDB { db in
            try db.query("SELECT sha256 FROM file_hashes WHERE path = ? AND size = ? AND mtime_ns = ? AND inode = ?",
                         [.text(path), .int(size), .int(mtimeNanoseconds), .int(inode)]) { $0.text(0) }.first ?? nil
        }
    }

    public func storeHash(path: String, size: Int64, mtimeNanoseconds: Int64, inode: Int64, sha256: String) throws {
        try withDB { db in
            try db.execute("""
                INSERT INTO file_hashes (path, size, mtime_ns, inode, sha256, hashed_at) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, inode = excluded.inode,
                                                sha256 = excluded.sha256, hashed_at = excluded.hashed_at
                """, [.text(path), .int(size), .int(mtimeNanoseconds), .int(inode), .text(sha256), .double(now())])
        }
    }

    /// Ends a run; cells still open are closed as `interrupted`.
    public func finishRun(_ runID: Int64, status: RunStatus, error: String? = nil) throws {
        try withDB { db in
            try db.transaction {
                try db.execute("UPDATE runs SET status = ?, ended_at = ?, error = ? WHERE id = ?",
                               [.text(status.rawValue), .double(now()), error.sql, .int(runID)])
                if db.changes == 0 { throw RecordError("\(path): no run \(runID) to finish") }
                try closeOpenCells(db, runID: runID)
            }
        }
    }

    /// Records the start of a cell; `params` must be fully resolved (defaults included).
    /// `changes`: the parameters the session changed from the notebook (`--set`, `:set`).
    public func startCell(runID: Int64, cellIndex: Int, kind: String, params: [String: String] = [:],
                          changes: [String: String] = [:], seed: UInt64? = nil, files: [String: String] = [:]) throws -> Int64 {
        let paramsJSON = try JSON.encode(params), filesJSON = try JSON.encode(files), changesJSON = try JSON.encode(changes)
        return try withDB { db in
            try db.execute("""
                INSERT INTO cell_executions (run_id, cell_index, kind, params_json, changes_json, seed, files_json, started_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, [.int(runID), .int(Int64(cellIndex)), .text(kind), .text(paramsJSON), .text(changesJSON),
                      seed.map { .int(Int64(bitPattern: $0)) }, .text(filesJSON), .double(now())])
            return db.lastInsertID
        }
    }

    /// Records how a cell ended. `durationSeconds` defaults to wall time since `startCell`;
    /// pass a monotonic measurement when you have one.
    public func finishCell(_ cellID: Int64, outcome: CellOutcome, error: String? = nil, durationSeconds: Double? = nil) throws {
        try withDB { db in
            if let d = durationSeconds {
                try db.execute("UPDATE cell_executions SET outcome = ?, error = ?, duration_s = ? WHERE id = ?",
                               [.text(outcome.rawValue), error.sql, .double(d), .int(cellID)])
            } else {
                try db.execute("UPDATE cell_executions SET outcome = ?, error = ?, duration_s = MAX(0, ? - started_at) WHERE id = ?",
                               [.text(outcome.rawValue), error.sql, .double(now()), .int(cellID)])
            }
            if db.changes == 0 { throw RecordError("\(path): no cell execution \(cellID) to finish") }
        }
    }

    /// A buffered writer of this cell's per-step metrics: rows go to disk in one transaction
    /// every `batchSize` rows, when `interval` seconds have passed since the last flush (checked
    /// on each `add`), and on `flush()` / `close()`.
    public func metricWriter(runID: Int64, cellID: Int64, batchSize: Int = 256, interval: Double = 2) -> MetricWriter {
        MetricWriter(db: self, runID: runID, cellID: cellID, batchSize: batchSize, interval: interval)
    }

    /// Inserts metric rows in one transaction (last write wins for a repeated (cell, step, name)).
    func insertMetrics(runID: Int64, cellID: Int64, rows: [MetricWriter.Row]) throws {
        guard !rows.isEmpty else { return }
        try withDB { db in
            try db.transaction {
                let s = try db.prepare(MetricWriter.insertSQL)
                defer { sqlite3_reset(s.handle) }
                sqlite3_bind_int64(s.handle, 1, runID)
                sqlite3_bind_int64(s.handle, 2, cellID)
                for r in rows {  // bound directly: this is the one hot insert
                    sqlite3_bind_int64(s.handle, 3, Int64(r.step))
                    sqlite3_bind_text(s.handle, 4, r.name, -1, tunelab_sqlite_transient())
                    sqlite3_bind_double(s.handle, 5, r.value)
                    try s.run()
                    sqlite3_reset(s.handle)
                }
                PausePoint.reached("metrics-commit")
            }
        }
    }

    public func addGeneration(cellID: Int64, prompt: String, settings: [String: String] = [:], output: String,
                              nTokens: Int, stoppedOnEOS: Bool, tokensPerSecond: Double?, outputIDs: [Int]? = nil) throws {
        let settingsJSON = try JSON.encode(settings)
        let ids = outputIDs.map { "[" + $0.map(String.init).joined(separator: ",") + "]" }
        try withDB { db in
            try db.execute("""
                INSERT INTO generations (cell_id, prompt, settings_json, output, n_tokens, stopped_on_eos, tok_per_s, output_ids)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, [.int(cellID), .text(prompt), .text(settingsJSON), .text(output), .int(Int64(nTokens)),
                      .int(stoppedOnEOS ? 1 : 0), tokensPerSecond.sql, ids.sql])
        }
    }

    /// Records GRPO completions of one cell in one transaction.
    public func addCompletions(_ rows: [CompletionRecord]) throws {
        guard !rows.isEmpty else { return }
        let prepared = try rows.map { c -> [SQLValue?] in
            let rewards = try JSON.encode(c.rewards.mapValues { "\($0)" })
            let ids = "[" + c.completionIDs.map(String.init).joined(separator: ",") + "]"
            return [.int(c.cellID), .int(Int64(c.step)), .int(Int64(c.row)), .int(Int64(c.generation)),
                    .int(Int64(bitPattern: c.seed)), .text(c.prompt), .text(c.completion), .text(ids),
                    .int(c.stoppedOnEOS ? 1 : 0), .text(rewards), c.reward.isNaN ? nil : .double(c.reward),
                    c.advantage.isNaN ? nil : .double(c.advantage)]
        }
        try withDB { db in
            try db.transaction {
                for values in prepared {
                    try db.execute("""
                        INSERT INTO completions (cell_id, step, row, generation, seed, prompt, completion, completion_ids,
                                                 stopped_on_eos, rewards_json, reward, advantage)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, values)
                }
            }
        }
    }

    /// A cell's GRPO completions in the order they were generated.
    public func completions(cellID: Int64) throws -> [CompletionRecord] {
        try withDB { db in
            try db.query("""
                SELECT step, row, generation, seed, prompt, completion, completion_ids, stopped_on_eos, rewards_json, reward, advantage
                FROM completions WHERE cell_id = ? ORDER BY id
                """, [.int(cellID)]) { s in
                let what = "a completion of cell \(cellID) in \(path)"
                guard let ids = try? JSONDecoder().decode([Int].self, from: Data((s.text(6) ?? "").utf8)) else {
                    throw RecordError("completion_ids of \(what) is not a JSON array of integers")
                }
                var rewards: [String: Double] = [:]
                for (k, v) in try JSON.decode(s.text(8) ?? "{}", what: "rewards_json of \(what)") {
                    guard let x = Double(v) else { throw RecordError("rewards_json of \(what): \(k) is \(v), not a number") }
                    rewards[k] = x
                }
                return CompletionRecord(cellID: cellID, step: Int(s.int(0) ?? 0), row: Int(s.int(1) ?? 0), generation: Int(s.int(2) ?? 0),
                                        seed: UInt64(bitPattern: s.int(3) ?? 0), prompt: s.text(4) ?? "", completion: s.text(5) ?? "",
                                        completionIDs: ids, stoppedOnEOS: (s.int(7) ?? 0) != 0, rewards: rewards,
                                        reward: s.double(9) ?? .nan, advantage: s.double(10) ?? .nan)
            }
        }
    }

    public func addArtifact(cellID: Int64, path artifactPath: String, kind: String, sha256: String? = nil, bytes: Int64? = nil) throws {
        try withDB { db in
            try db.execute("INSERT INTO artifacts (cell_id, path, kind, sha256, bytes) VALUES (?, ?, ?, ?, ?)",
                           [.int(cellID), .text(artifactPath), .text(kind), sha256.sql, bytes.map { .int($0) }])
        }
    }

    /// Marks as `interrupted` every run left `running` by a process that no longer exists on
    /// this host (its open cells too). Runs owned by other hosts are left alone. Returns their ids.
    @discardableResult
    public func markInterruptedRuns() throws -> [Int64] {
        let me = Host.name
        return try withDB { db in
            try db.transaction {
                let running = try db.query("SELECT id, host, pid, pid_start FROM runs WHERE status = 'running'") {
                    ($0.int(0) ?? 0, $0.text(1), $0.int(2), $0.text(3))
                }
                var dead: [Int64] = []
                for (id, host, pid, start) in running {
                    if let host, host != me { continue }
                    if let pid, let p = Int32(exactly: pid), Host.isAlive(pid: p, startTime: start) { continue }
                    dead.append(id)
                }
                for id in dead {
                    let who = running.first { $0.0 == id }.flatMap { $0.2 }.map { "process \($0)" } ?? "its process"
                    try db.execute("UPDATE runs SET status = 'interrupted', error = ? WHERE id = ?",
                                   [.text("\(who) ended without finishing the run"), .int(id)])
                    try closeOpenCells(db, runID: id)
                }
                return dead
            }
        }
    }

    // MARK: reading

    /// Most recent runs first.
    public func listRuns(limit: Int = 100, keyCellKinds: Set<String> = ["train"]) throws -> [RunSummary] {
        try withDB { db in
            try summaries(db, whereClause: "", values: [], limit: limit, keyCellKinds: keyCellKinds)
        }
    }

    /// Full detail of one run, nil if there is no such run.
    public func run(_ runID: Int64, keyCellKinds: Set<String> = ["train"]) throws -> RunDetail? {
        try withDB { db in
            guard let summary = try summaries(db, whereClause: "WHERE r.id = ?", values: [.int(runID)], limit: 1,
                                              keyCellKinds: keyCellKinds).first else { return nil }
            let rows = try db.query("""
                SELECT n.sha256, n.title, r.tool_version, r.git_commit, r.host_cpu, r.threads, r.blas, r.env_json,
                       r.error, r.pid, r.host
                FROM runs r LEFT JOIN notebooks n ON n.id = r.notebook_id WHERE r.id = ?
                """, [.int(runID)]) { s in
                (s.text(0), s.text(1), s.text(2), s.text(3), s.text(4), s.int(5), s.text(6), s.text(7) ?? "{}",
                 s.text(8), s.int(9), s.text(10))
            }
            guard let r = rows.first else { return nil }
            let extra = try JSON.decode(r.7, what: "env_json of run \(runID) in \(path)")
            let env = RunEnvironment(toolVersion: r.2, gitCommit: r.3, hostCPU: r.4, threads: r.5.map { Int($0) },
                                     blas: r.6, extra: extra)
            let names = try db.query("SELECT DISTINCT name FROM metrics WHERE run_id = ? ORDER BY name", [.int(runID)]) { $0.text(0) ?? "" }
            return RunDetail(summary: summary, notebookSHA256: r.0, notebookTitle: r.1, environment: env, error: r.8,
                             pid: r.9.flatMap { Int32(exactly: $0) }, host: r.10,
                             cells: try cells(db, runID: runID), metricNames: names)
        }
    }

    /// One metric of a run in logging order (cell, then step). Values read back bit-exactly
    /// (Floats via `Float(value)`) except that SQLite stores NaN as NULL (read back as NaN) and
    /// -0.0 as 0 (read back as +0.0): compare curves with `==` plus NaN == NaN.
    public func metrics(runID: Int64, name: String) throws -> [(step: Int, value: Double)] {
        try withDB { db in
            try db.query("SELECT step, value FROM metrics WHERE run_id = ? AND name = ? ORDER BY cell_id, step",
                         [.int(runID), .text(name)]) { (step: Int($0.int(0) ?? 0), value: $0.double(1) ?? .nan) }
        }
    }

    /// One metric of one cell execution, by step.
    public func metrics(cellID: Int64, name: String) throws -> [(step: Int, value: Double)] {
        try withDB { db in
            try db.query("SELECT step, value FROM metrics WHERE cell_id = ? AND name = ? ORDER BY step",
                         [.int(cellID), .text(name)]) { (step: Int($0.int(0) ?? 0), value: $0.double(1) ?? .nan) }
        }
    }

    /// Names of the metrics one cell execution logged.
    public func metricNames(cellID: Int64) throws -> [String] {
        try withDB { db in
            try db.query("SELECT DISTINCT name FROM metrics WHERE cell_id = ? ORDER BY name", [.int(cellID)]) { $0.text(0) ?? "" }
        }
    }

    /// The run's cell executions in execution order.
    public func cells(runID: Int64) throws -> [CellRecord] {
        try withDB { db in try cells(db, runID: runID) }
    }

    public func generations(cellID: Int64) throws -> [GenerationRecord] {
        try withDB { db in
            try db.query("""
                SELECT prompt, settings_json, output, n_tokens, stopped_on_eos, tok_per_s, output_ids
                FROM generations WHERE cell_id = ? ORDER BY id
                """, [.int(cellID)]) { s in
                var g = GenerationRecord(cellID: cellID, prompt: s.text(0) ?? "",
                                         settings: try JSON.decode(s.text(1) ?? "{}", what: "settings_json of a generation of cell \(cellID) in \(path)"),
                                         output: s.text(2) ?? "", nTokens: Int(s.int(3) ?? 0), stoppedOnEOS: (s.int(4) ?? 0) != 0,
                                         tokensPerSecond: s.double(5))
                if let text = s.text(6) {
                    guard let ids = try? JSONDecoder().decode([Int].self, from: Data(text.utf8)) else {
                        throw RecordError("output_ids of a generation of cell \(cellID) in \(path) is not a JSON array of integers")
                    }
                    g.outputIDs = ids
                }
                return g
            }
        }
    }

    public func artifacts(cellID: Int64) throws -> [ArtifactRecord] {
        try withDB { db in
            try db.query("SELECT path, kind, sha256, bytes FROM artifacts WHERE cell_id = ? ORDER BY id", [.int(cellID)]) { s in
                ArtifactRecord(cellID: cellID, path: s.text(0) ?? "", kind: s.text(1) ?? "", sha256: s.text(2), bytes: s.int(3))
            }
        }
    }

    // MARK: internals

    private static let summarySQL = """
        SELECT r.id, n.path, r.kind, r.status, r.parent_run_id, r.started_at, r.ended_at,
               (SELECT step FROM metrics m WHERE m.run_id = r.id AND m.name = 'loss' ORDER BY cell_id DESC, step DESC LIMIT 1),
               (SELECT value FROM metrics m WHERE m.run_id = r.id AND m.name = 'loss' ORDER BY cell_id DESC, step DESC LIMIT 1),
               (SELECT value FROM metrics m WHERE m.run_id = r.id AND m.name = 'eval_loss' ORDER BY cell_id DESC, step DESC LIMIT 1),
               EXISTS (SELECT 1 FROM metrics m WHERE m.run_id = r.id AND m.name = 'loss'),
               r.command
        FROM runs r LEFT JOIN notebooks n ON n.id = r.notebook_id
        """

    private func summaries(_ db: Connection, whereClause: String, values: [SQLValue?], limit: Int,
                           keyCellKinds: Set<String>) throws -> [RunSummary] {
        let rows = try db.query(Self.summarySQL + " \(whereClause) ORDER BY r.id DESC LIMIT ?",
                                values + [.int(Int64(max(0, limit)))]) { s in
            (id: s.int(0) ?? 0, nb: s.text(1), kind: s.text(2) ?? "", status: s.text(3) ?? "", parent: s.int(4),
             started: s.double(5) ?? 0, ended: s.double(6), lastStep: s.int(7),
             loss: s.double(8), evalLoss: s.double(9), hasLoss: (s.int(10) ?? 0) != 0, command: s.text(11))
        }
        return try rows.map { r in
            guard let kind = RunKind(rawValue: r.kind), let status = RunStatus(rawValue: r.status) else {
                throw RecordError("\(path): run \(r.id) has unknown kind '\(r.kind)' or status '\(r.status)'")
            }
            var params: [String: String] = [:]
            for cell in try cells(db, runID: r.id) where keyCellKinds.contains(cell.kind) {
                params.merge(cell.params) { _, new in new }
            }
            // A NULL final value with rows present is a NaN loss, not a missing one.
            let finalLoss = r.hasLoss ? (r.loss ?? .nan) : nil
            var summary = RunSummary(id: r.id, notebookPath: r.nb, kind: kind, status: status, parentRunID: r.parent,
                                     startedAt: Date(timeIntervalSince1970: r.started), endedAt: r.ended.map(Date.init(timeIntervalSince1970:)),
                                     lastStep: r.lastStep.map { Int($0) }, finalLoss: finalLoss, finalEvalLoss: r.evalLoss, params: params)
            summary.command = r.command
            return summary
        }
    }

    private func cells(_ db: Connection, runID: Int64) throws -> [CellRecord] {
        try db.query("""
            SELECT id, cell_index, kind, params_json, seed, files_json, started_at, duration_s, outcome, error, changes_json,
                   details_json
            FROM cell_executions WHERE run_id = ? ORDER BY id
            """, [.int(runID)]) { s in
            let id = s.int(0) ?? 0
            let outcome = s.text(8)
            var c = CellRecord(
                id: id, runID: runID, index: Int(s.int(1) ?? 0), kind: s.text(2) ?? "",
                params: try JSON.decode(s.text(3) ?? "{}", what: "params_json of cell execution \(id) in \(path)"),
                seed: s.int(4).map { UInt64(bitPattern: $0) },
                files: try JSON.decode(s.text(5) ?? "{}", what: "files_json of cell execution \(id) in \(path)"),
                startedAt: Date(timeIntervalSince1970: s.double(6) ?? 0), durationSeconds: s.double(7),
                outcome: outcome.flatMap(CellOutcome.init(rawValue:)), error: s.text(9),
                changes: try JSON.decode(s.text(10) ?? "{}", what: "changes_json of cell execution \(id) in \(path)"))
            c.details = try JSON.decode(s.text(11) ?? "{}", what: "details_json of cell execution \(id) in \(path)")
            return c
        }
    }

    private func closeOpenCells(_ db: Connection, runID: Int64) throws {
        try db.execute("""
            UPDATE cell_executions SET outcome = 'interrupted', duration_s = MAX(0, ? - started_at)
            WHERE run_id = ? AND outcome IS NULL
            """, [.double(now()), .int(runID)])
    }

    private func now() -> Double { Date().timeIntervalSince1970 }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    private func withDB<T>(_ body: (Connection) throws -> T) throws -> T {
        try locked {
            guard let db = connection else { throw RecordError("experiment database \(path) is closed") }
            return try body(db)
        }
    }
}

/// JSON objects of strings with sorted keys, so equal parameter sets give equal text.
enum JSON {
    static func encode(_ dict: [String: String]) throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return String(decoding: try enc.encode(dict), as: UTF8.self)
        } catch {
            throw RecordError("cannot encode \(dict.count) parameters as JSON: \(error)")
        }
    }

    static func decode(_ text: String, what: String) throws -> [String: String] {
        do {
            return try JSONDecoder().decode([String: String].self, from: Data(text.utf8))
        } catch {
            throw RecordError("\(what) is not a JSON object of strings: \(text.prefix(80))")
        }
    }
}
