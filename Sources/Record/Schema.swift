/// One step of the schema history. Migrations run in order inside a single transaction,
/// each at most once; adding schema v2 means appending one element to `Schema.migrations`.
struct Migration {
    let version: Int
    let sql: String
}

enum Schema {
    /// The product's schema history. Never edit a released element: append a new one.
    static let migrations: [Migration] = [
        Migration(version: 1, sql: v1),
        Migration(version: 2, sql: v2),
        Migration(version: 3, sql: v3),
        Migration(version: 4, sql: v4),
    ]

    /// Pragmas applied to every connection (also used by the crash-safety test's child process).
    /// WAL: readers never block the writer; synchronous=NORMAL: commits survive a killed
    /// process (only power loss can drop the last commits), at a fraction of FULL's fsyncs.
    /// Foreign keys are switched on after migrating (see `migrate`).
    static let connectionPragmas = """
        PRAGMA journal_mode=WAL;
        PRAGMA synchronous=NORMAL;
        """

    static let busyTimeoutMilliseconds: Int32 = 10_000

    /// Initial schema. Times are Unix seconds (REAL); JSON columns hold objects with sorted keys.
    static let v1 = """
        CREATE TABLE notebooks (
            id      INTEGER PRIMARY KEY,
            path    TEXT NOT NULL,
            sha256  TEXT NOT NULL,
            title   TEXT,
            UNIQUE (path, sha256)
        );
        CREATE TABLE runs (
            id            INTEGER PRIMARY KEY,
            notebook_id   INTEGER REFERENCES notebooks(id) ON DELETE SET NULL,
            parent_run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
            kind          TEXT NOT NULL CHECK (kind IN ('run', 'replay', 'resume', 'repl')),
            status        TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'interrupted')),
            started_at    REAL NOT NULL,
            ended_at      REAL,
            tool_version  TEXT,
            git_commit    TEXT,
            host_cpu      TEXT,
            threads       INTEGER,
            blas          TEXT,
            env_json      TEXT NOT NULL DEFAULT '{}',
            error         TEXT,
            host          TEXT,        -- hostname of the owning process
            pid           INTEGER,     -- owning process, to detect runs left 'running' by a dead process
            pid_start     TEXT         -- its start time (Linux /proc), so a reused pid is not taken as alive
        );
        CREATE INDEX runs_status ON runs(status);
        CREATE TABLE cell_executions (
            id          INTEGER PRIMARY KEY,
            run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            cell_index  INTEGER NOT NULL,
            kind        TEXT NOT NULL,
            params_json TEXT NOT NULL DEFAULT '{}',
            seed        INTEGER,       -- UInt64 seeds stored by bit pattern
            files_json  TEXT NOT NULL DEFAULT '{}',
            started_at  REAL NOT NULL,
            duration_s  REAL,
            outcome     TEXT CHECK (outcome IN ('ok', 'error', 'interrupted')),
            error       TEXT
        );
        CREATE INDEX cell_executions_run ON cell_executions(run_id, cell_index);
        CREATE TABLE metrics (
            run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            cell_id INTEGER NOT NULL REFERENCES cell_executions(id) ON DELETE CASCADE,
            step    INTEGER NOT NULL,
            name    TEXT NOT NULL,
            value   REAL,              -- NULL means NaN (SQLite stores NaN as NULL)
            PRIMARY KEY (cell_id, step, name)
        ) WITHOUT ROWID;
        CREATE INDEX metrics_run_name ON metrics(run_id, name, cell_id, step);
        CREATE TABLE generations (
            id             INTEGER PRIMARY KEY,
            cell_id        INTEGER NOT NULL REFERENCES cell_executions(id) ON DELETE CASCADE,
            prompt         TEXT NOT NULL,
            settings_json  TEXT NOT NULL DEFAULT '{}',
            output         TEXT NOT NULL,
            n_tokens       INTEGER NOT NULL,
            stopped_on_eos INTEGER NOT NULL,
            tok_per_s      REAL
        );
        CREATE INDEX generations_cell ON generations(cell_id);
        CREATE TABLE artifacts (
            id      INTEGER PRIMARY KEY,
            cell_id INTEGER NOT NULL REFERENCES cell_executions(id) ON DELETE CASCADE,
            path    TEXT NOT NULL,
            kind    TEXT NOT NULL,
            sha256  TEXT,
            bytes   INTEGER
        );
        CREATE INDEX artifacts_cell ON artifacts(cell_id);
        """

    /// v2: the notebook's text (so `replay` can run exactly what ran, even after the file
    /// changed) and, per cell execution, the session's parameter changes (`--set`, `:set`) as
    /// a JSON object key → canonical value.
    static let v2 = """
        ALTER TABLE notebooks ADD COLUMN content TEXT;
        ALTER TABLE cell_executions ADD COLUMN changes_json TEXT NOT NULL DEFAULT '{}';
        """

    /// v3: runs started from the command line (`command`, with the command line that started
    /// them) and branches (`branch`): SQLite cannot change a CHECK constraint, so `runs` is
    /// rebuilt (the documented 12-step procedure; foreign keys are off while migrating).
    /// Generations keep their token ids (a replay compares them token by token); a cell keeps
    /// structured details of how it ended (`details_json`: a divergence's step, rows, tensor);
    /// `file_hashes` caches sha256 by (path, size, mtime, inode) so a large model is hashed once.
    static let v3 = """
        CREATE TABLE runs_v3 (
            id            INTEGER PRIMARY KEY,
            notebook_id   INTEGER REFERENCES notebooks(id) ON DELETE SET NULL,
            parent_run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
            kind          TEXT NOT NULL CHECK (kind IN ('run', 'replay', 'resume', 'repl', 'command', 'branch')),
            status        TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'interrupted')),
            started_at    REAL NOT NULL,
            ended_at      REAL,
            tool_version  TEXT,
            git_commit    TEXT,
            host_cpu      TEXT,
            threads       INTEGER,
            blas          TEXT,
            env_json      TEXT NOT NULL DEFAULT '{}',
            error         TEXT,
            host          TEXT,
            pid           INTEGER,
            pid_start     TEXT,
            command       TEXT         -- the command line of a 'command' run
        );
        INSERT INTO runs_v3 (id, notebook_id, parent_run_id, kind, status, started_at, ended_at, tool_version, git_commit,
                             host_cpu, threads, blas, env_json, error, host, pid, pid_start)
            SELECT id, notebook_id, parent_run_id, kind, status, started_at, ended_at, tool_version, git_commit,
                   host_cpu, threads, blas, env_json, error, host, pid, pid_start FROM runs;
        DROP TABLE runs;
        ALTER TABLE runs_v3 RENAME TO runs;
        CREATE INDEX runs_status ON runs(status);
        ALTER TABLE generations ADD COLUMN output_ids TEXT;
        ALTER TABLE cell_executions ADD COLUMN details_json TEXT NOT NULL DEFAULT '{}';
        CREATE TABLE file_hashes (
            path      TEXT PRIMARY KEY,
            size      INTEGER NOT NULL,
            mtime_ns  INTEGER NOT NULL,
            inode     INTEGER NOT NULL,
            sha256    TEXT NOT NULL,
            hashed_at REAL NOT NULL
        );
        """

    /// v4: GRPO's sampled completions, one row each: the optimiser step that generated it, its
    /// data row and place in the prompt's group, its sampling seed, prompt and completion text and
    /// token ids, whether it ended on an end-of-turn token, each reward function's value
    /// (`rewards_json`: name → shortest round-trip decimal), the weighted reward and the
    /// group-normalised advantage. A replay compares them token by token and value by value.
    static let v4 = """
        CREATE TABLE completions (
            id             INTEGER PRIMARY KEY,
            cell_id        INTEGER NOT NULL REFERENCES cell_executions(id) ON DELETE CASCADE,
            step           INTEGER NOT NULL,
            row            INTEGER NOT NULL,
            generation     INTEGER NOT NULL,
            seed           INTEGER NOT NULL,   -- UInt64 stored by bit pattern
            prompt         TEXT NOT NULL,
            completion     TEXT NOT NULL,
            completion_ids TEXT NOT NULL,      -- JSON array of token ids
            stopped_on_eos INTEGER NOT NULL,
            rewards_json   TEXT NOT NULL DEFAULT '{}',
            reward         REAL,               -- NULL means NaN
            advantage      REAL
        );
        CREATE INDEX completions_cell ON completions(cell_id, step);
        """

    /// Brings the database to the newest version in `migrations`, all-or-nothing.
    /// Returns the version before migrating (0 for a new file). Call with foreign keys OFF
    /// (SQLite's documented procedure: a table rebuild's DROP TABLE would otherwise cascade);
    /// references are verified with `foreign_key_check` before committing.
    @discardableResult
    static func migrate(_ db: Connection, migrations: [Migration]) throws -> Int {
        for (i, m) in migrations.enumerated() where m.version != i + 1 {
            throw RecordError("internal: migration list must be versions 1...\(migrations.count) in order; element \(i) is v\(m.version)")
        }
        return try db.transaction {
            try db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            let rows = try db.query("SELECT version FROM schema_version") { $0.int(0) ?? 0 }
            if rows.count > 1 { throw RecordError("\(db.path): schema_version has \(rows.count) rows, expected 1") }
            let current = Int(rows.first ?? 0)
            if rows.isEmpty { try db.execute("INSERT INTO schema_version (version) VALUES (0)") }
            if current > migrations.count {
                throw RecordError("\(db.path) has schema v\(current), newer than this tunelab understands (v\(migrations.count)); upgrade tunelab")
            }
            for m in migrations where m.version > current {
                do { try db.exec(m.sql) } catch {
                    throw RecordError("migrating \(db.path) to schema v\(m.version): \(error)")
                }
                try db.execute("UPDATE schema_version SET version = ?", [.int(Int64(m.version))])
            }
            if current < migrations.count {
                let bad = try db.query("PRAGMA foreign_key_check") { "\($0.text(0) ?? "?") row \($0.int(1) ?? -1)" }
                if !bad.isEmpty {
                    throw RecordError("migrating \(db.path): broken references in \(bad.prefix(5).joined(separator: ", "))")
                }
            }
            return current
        }
    }
}
