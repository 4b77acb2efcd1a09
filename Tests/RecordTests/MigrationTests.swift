import Foundation
import Testing
@testable import Record

/// The migration mechanism, exercised with test-only migrations appended to the real list
/// (`next` = the version after the newest real one), and the real v1 → v2 step.
extension DatabaseTests {
@Suite struct MigrationTests {
    let env = RunEnvironment(toolVersion: "0.1.0")
    let latest = Schema.migrations.count
    var next: Int { latest + 1 }

    /// A database at the current version with one run and one cell.
    func makeV1(_ path: String) throws -> (run: Int64, cell: Int64) {
        let db = try ExperimentDB(path: path, migrations: Schema.migrations)
        #expect(try db.schemaVersion() == latest)
        let run = try db.createRun(environment: env)
        let cell = try db.startCell(runID: run, cellIndex: 0, kind: "train", params: ["lr": "1e-4"])
        try db.finishCell(cell, outcome: .ok)
        try db.finishRun(run, status: .completed)
        return (run, cell)
    }

    @Test func migratesV1ForwardOnce() throws {
        let tmp = try TempDir()
        let path = tmp.path("m.sqlite")
        let (run, _) = try makeV1(path)
        // Re-running this ALTER would fail, so a second open proves it is applied exactly once.
        let v2 = Migration(version: next, sql: "ALTER TABLE runs ADD COLUMN note TEXT; UPDATE runs SET note = 'from v1';")
        for _ in 0..<2 {
            let db = try ExperimentDB(path: path, migrations: Schema.migrations + [v2])
            #expect(try db.schemaVersion() == next)
            #expect(try db.scalar("SELECT note FROM runs WHERE id = \(run)") == "from v1")
            #expect(try db.run(run)?.cells.first?.params == ["lr": "1e-4"])
            #expect(try db.scalar("PRAGMA foreign_keys") == "1")
        }
        // Older code must refuse a newer file rather than misread it.
        #expect(throws: RecordError.self) { _ = try ExperimentDB(path: path, migrations: Schema.migrations) }
    }

    @Test func failedMigrationLeavesTheFileUntouched() throws {
        let tmp = try TempDir()
        let path = tmp.path("f.sqlite")
        _ = try makeV1(path)
        let broken = Migration(version: next, sql: "ALTER TABLE runs ADD COLUMN x TEXT; CREATE TABLE oops (;")
        #expect(throws: RecordError.self) { _ = try ExperimentDB(path: path, migrations: Schema.migrations + [broken]) }
        let db = try ExperimentDB(path: path, migrations: Schema.migrations)
        #expect(try db.schemaVersion() == latest)
        #expect(try db.scalar("SELECT COUNT(*) FROM pragma_table_info('runs') WHERE name = 'x'") == "0")
    }

    /// SQLite's table-rebuild recipe (create new, copy, drop old, rename) must not cascade-delete
    /// children, and a migration that orphans rows must be refused.
    @Test func tableRebuildKeepsChildrenAndOrphansAreRefused() throws {
        let tmp = try TempDir()
        let path = tmp.path("t.sqlite")
        let (run, cell) = try makeV1(path)
        let rebuild = Migration(version: next, sql: """
            CREATE TABLE runs_new (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL,
                                   started_at REAL NOT NULL, note TEXT);
            INSERT INTO runs_new (id, kind, status, started_at) SELECT id, kind, status, started_at FROM runs;
            DROP TABLE runs;
            ALTER TABLE runs_new RENAME TO runs;
            """)
        let db = try ExperimentDB(path: path, migrations: Schema.migrations + [rebuild])
        #expect(try db.scalar("SELECT COUNT(*) FROM cell_executions WHERE id = \(cell) AND run_id = \(run)") == "1")
        db.close()

        let path2 = tmp.path("o.sqlite")
        _ = try makeV1(path2)
        let orphaning = Migration(version: next, sql: "DELETE FROM runs;")
        #expect(throws: RecordError.self) { _ = try ExperimentDB(path: path2, migrations: Schema.migrations + [orphaning]) }
        let db2 = try ExperimentDB(path: path2, migrations: Schema.migrations)
        #expect(try db2.schemaVersion() == latest)
        #expect(try db2.listRuns().count == 1)
    }

    /// A file written by v1 code (rows inserted with v1's columns) opens under v2: old cells read
    /// with no changes, old notebooks with no content, and new rows hold both.
    @Test func realV1FileMigratesToTheNewest() throws {
        let tmp = try TempDir()
        let path = tmp.path("v1.sqlite")
        do {
            let v1 = try ExperimentDB(path: path, migrations: Array(Schema.migrations.prefix(1)))
            #expect(try v1.schemaVersion() == 1)
            try v1.execute(sql: """
                INSERT INTO notebooks (id, path, sha256, title) VALUES (1, 'nb.md', 'aa', 'T');
                INSERT INTO runs (id, notebook_id, kind, status, started_at) VALUES (1, 1, 'run', 'completed', 1.0);
                INSERT INTO cell_executions (id, run_id, cell_index, kind, params_json, started_at, outcome)
                    VALUES (1, 1, 0, 'train', '{"lr":"0.0002"}', 1.0, 'ok');
                INSERT INTO metrics (run_id, cell_id, step, name, value) VALUES (1, 1, 1, 'loss', 2.5);
                INSERT INTO generations (cell_id, prompt, output, n_tokens, stopped_on_eos) VALUES (1, 'p', 'o', 1, 1);
                """)
        }
        let db = try ExperimentDB(path: path)
        #expect(try db.schemaVersion() == Schema.migrations.count)
        #expect(try db.integrityCheck() == "ok")
        // v3 rebuilt `runs`: the old run, its cells, metrics and generations are all still there.
        #expect(try db.metrics(runID: 1, name: "loss").map(\.value) == [2.5])
        #expect(try db.generations(cellID: 1).map(\.output) == ["o"] && (try db.generations(cellID: 1)).first?.outputIDs == nil)
        #expect(try db.run(1)?.summary.command == nil)
        let cmd = try db.createRun(kind: .command, environment: env, command: "tunelab train --lr 1e-4")
        #expect(try db.run(cmd)?.summary.command == "tunelab train --lr 1e-4" && (try db.run(cmd))?.summary.kind == .command)
        let gc = try db.startCell(runID: cmd, cellIndex: 1, kind: "infer")
        try db.addGeneration(cellID: gc, prompt: "p", output: "o", nTokens: 2, stoppedOnEOS: true, tokensPerSecond: nil, outputIDs: [5, 7])
        #expect(try db.generations(cellID: gc).first?.outputIDs == [5, 7])
        try db.setCellDetails(gc, ["diverged": "step 3"])
        #expect(try db.run(cmd)?.cells.first?.details == ["diverged": "step 3"])
        try db.storeHash(path: "/m.gguf", size: 10, mtimeNanoseconds: 5, inode: 9, sha256: "ab")
        #expect(try db.cachedHash(path: "/m.gguf", size: 10, mtimeNanoseconds: 5, inode: 9) == "ab")
        #expect(try db.cachedHash(path: "/m.gguf", size: 10, mtimeNanoseconds: 6, inode: 9) == nil)
        let old = try #require(try db.run(1))
        #expect(old.cells.first?.params == ["lr": "0.0002"] && old.cells.first?.changes == [:])
        #expect(try db.notebookContent(runID: 1) == nil)

        let nb = try db.notebookID(path: "nb2.md", sha256: "bb", title: "U", content: "# U\n")
        let run = try db.createRun(notebookID: nb, environment: env)
        let cell = try db.startCell(runID: run, cellIndex: 2, kind: "train", params: ["lr": "5e-05"], changes: ["lr": "5e-05"])
        try db.finishCell(cell, outcome: .ok)
        #expect(try db.run(run)?.cells.first?.changes == ["lr": "5e-05"])
        #expect(try db.notebookContent(runID: run) == "# U\n")
        // Re-registering the same notebook keeps its id and fills in content given later.
        #expect(try db.notebookID(path: "nb.md", sha256: "aa", content: "# T\n") == 1)
        #expect(try db.notebookContent(runID: 1) == "# T\n")
    }

    /// A v3 file (before GRPO) opens under v4 with its runs intact and an empty `completions`
    /// table; completions round-trip bit for bit (a NaN reward too) and go with their cell.
    @Test func v3FileGainsCompletions() throws {
        let tmp = try TempDir()
        let path = tmp.path("v3.sqlite")
        let oldCell: Int64
        do {
            let v3 = try ExperimentDB(path: path, migrations: Array(Schema.migrations.prefix(3)))
            #expect(try v3.schemaVersion() == 3)
            let run = try v3.createRun(environment: env)
            oldCell = try v3.startCell(runID: run, cellIndex: 1, kind: "train", params: ["lr": "1e-4"])
            try v3.finishCell(oldCell, outcome: .ok)
            try v3.finishRun(run, status: .completed)
            #expect(try v3.scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'completions'") == "0")
        }
        let db = try ExperimentDB(path: path)
        #expect(try db.schemaVersion() == 4 && (try db.integrityCheck()) == "ok")
        #expect(try db.run(1)?.cells.first?.params == ["lr": "1e-4"])
        #expect(try db.completions(cellID: oldCell).isEmpty)
        let run = try db.createRun(environment: env)
        let cell = try db.startCell(runID: run, cellIndex: 2, kind: "grpo")
        let rows = [
            CompletionRecord(cellID: cell, step: 1, row: 7, generation: 0, seed: UInt64.max - 3, prompt: "p", completion: "<think>a</think>B",
                             completionIDs: [5, 9, 2], stoppedOnEOS: true, rewards: ["think_format": 1, "answer_match": 0.1 + 0.2],
                             reward: 1.3000000000000003, advantage: -0.8660254037844387),
            CompletionRecord(cellID: cell, step: 1, row: 7, generation: 1, seed: 3, prompt: "p", completion: "x",
                             completionIDs: [], stoppedOnEOS: false, rewards: ["think_format": 0, "answer_match": .nan],
                             reward: .nan, advantage: 0),
        ]
        try db.addCompletions(rows)
        let back = try db.completions(cellID: cell)
        #expect(back == rows)
        #expect(back[0].rewards["answer_match"]! == 0.1 + 0.2 && back[0].seed == UInt64.max - 3 && back[1].reward.isNaN)
        var changed = rows[0]; changed.advantage = changed.advantage.nextUp
        #expect(changed != rows[0], "equality is bit for bit")
        try db.execute(sql: "PRAGMA foreign_keys=ON; DELETE FROM runs WHERE id = \(run)")
        #expect(try db.scalar("SELECT COUNT(*) FROM completions") == "0")
    }

    @Test func rejectsAMisnumberedMigrationList() throws {
        let tmp = try TempDir()
        let skip = Migration(version: next + 1, sql: "SELECT 1;")
        #expect(throws: RecordError.self) { _ = try ExperimentDB(path: tmp.path("n.sqlite"), migrations: Schema.migrations + [skip]) }
    }
}
}
