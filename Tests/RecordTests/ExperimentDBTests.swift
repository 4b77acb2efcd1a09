import Kernels
import Foundation
import Testing
@testable import Record
#if canImport(Glibc)
import Glibc
#endif

extension DatabaseTests {
@Suite struct ExperimentDBTests {
    let env = RunEnvironment(toolVersion: "0.1.0", gitCommit: "abc123", hostCPU: "Test CPU", threads: 2,
                             blas: "OpenBLAS 0.3.21 Haswell", extra: ["os": "Linux", "OPENBLAS_NUM_THREADS": "2"])

    @Test func opensWithPragmasAndCreatesFolders() throws {
        let tmp = try TempDir()
        let path = tmp.path("nested/deeper/record.sqlite")
        let db = try ExperimentDB(path: path)
        #expect(FileManager.default.fileExists(atPath: path))
        #expect(try db.scalar("PRAGMA journal_mode") == "wal")
        #expect(try db.scalar("PRAGMA synchronous") == "1")  // NORMAL
        #expect(try db.scalar("PRAGMA foreign_keys") == "1")
        #expect(try db.scalar("PRAGMA busy_timeout").flatMap { Int($0) } ?? 0 > 0)
        #expect(try db.schemaVersion() == Schema.migrations.count)
        db.close()
        #expect(throws: RecordError.self) { try db.schemaVersion() }
    }

    @Test func recordsARunEndToEnd() throws {
        let tmp = try TempDir()
        let db = try ExperimentDB(path: tmp.path("r.sqlite"))
        let nb = try db.notebookID(path: "nb/sft.tlnb", sha256: String(repeating: "a", count: 64), title: "SFT")
        #expect(try db.notebookID(path: "nb/sft.tlnb", sha256: String(repeating: "a", count: 64)) == nb)
        #expect(try db.notebookID(path: "nb/sft.tlnb", sha256: String(repeating: "b", count: 64)) != nb)

        let run = try db.createRun(kind: .run, notebookID: nb, environment: env)
        let load = try db.startCell(runID: run, cellIndex: 0, kind: "load",
                                    params: ["model": "models/smol.gguf", "dtype": "q4_1"],
                                    files: ["models/smol.gguf": String(repeating: "c", count: 64)])
        try db.finishCell(load, outcome: .ok, durationSeconds: 0.25)
        let seed: UInt64 = 0xfedc_ba98_7654_3210  // above Int64.max: stored by bit pattern
        let train = try db.startCell(runID: run, cellIndex: 1, kind: "train",
                                     params: ["lr": "1e-4", "r": "16", "steps": "3"], seed: seed)
        let w = db.metricWriter(runID: run, cellID: train, batchSize: 4)
        for step in 0..<3 {
            try w.add(step: step, ["loss": 3.0 - Double(step) * 0.5, "lr": 1e-4])
            try w.add(step: step, name: "grad_norm", value: Float(step) + 0.5)
        }
        try w.add(step: 2, name: "eval_loss", value: 2.25)
        try w.close()
        #expect(throws: RecordError.self) { try w.add(step: 3, name: "loss", value: 1.0) }
        try db.finishCell(train, outcome: .ok)
        let gen = try db.startCell(runID: run, cellIndex: 2, kind: "infer", params: ["prompt": "Hi"])
        try db.addGeneration(cellID: gen, prompt: "Hi", settings: ["temperature": "0"], output: "Hello!",
                             nTokens: 3, stoppedOnEOS: true, tokensPerSecond: 41.5)
        try db.addArtifact(cellID: gen, path: "out/adapter.safetensors", kind: "lora", sha256: "d", bytes: 1234)
        try db.finishCell(gen, outcome: .error, error: "boom")
        try db.finishRun(run, status: .failed, error: "cell 2 failed")

        let list = try db.listRuns()
        #expect(list.count == 1)
        let s = try #require(list.first)
        #expect(s.id == run && s.kind == .run && s.status == .failed && s.notebookPath == "nb/sft.tlnb")
        #expect(s.lastStep == 2 && s.finalLoss == 2.0 && s.finalEvalLoss == 2.25)
        #expect(s.params == ["lr": "1e-4", "r": "16", "steps": "3"])
        #expect(s.endedAt != nil && s.endedAt! >= s.startedAt)

        let d = try #require(try db.run(run))
        #expect(d.environment == env)
        #expect(d.error == "cell 2 failed" && d.notebookTitle == "SFT" && d.pid == getpid())
        #expect(d.metricNames == ["eval_loss", "grad_norm", "loss", "lr"])
        #expect(d.cells.map(\.kind) == ["load", "train", "infer"])
        #expect(d.cells[0].files == ["models/smol.gguf": String(repeating: "c", count: 64)])
        #expect(d.cells[0].durationSeconds == 0.25)
        #expect(d.cells[1].seed == seed && d.cells[1].outcome == .ok && (d.cells[1].durationSeconds ?? -1) >= 0)
        #expect(d.cells[2].outcome == .error && d.cells[2].error == "boom")
        #expect(try db.run(run + 100) == nil)

        let loss = try db.metrics(runID: run, name: "loss")
        #expect(loss.map(\.step) == [0, 1, 2] && loss.map(\.value) == [3.0, 2.5, 2.0])
        #expect(try db.metrics(cellID: train, name: "grad_norm").map(\.value) == [0.5, 1.5, 2.5])
        #expect(try db.generations(cellID: gen) == [GenerationRecord(
            cellID: gen, prompt: "Hi", settings: ["temperature": "0"], output: "Hello!", nTokens: 3,
            stoppedOnEOS: true, tokensPerSecond: 41.5)])
        #expect(try db.artifacts(cellID: gen) == [ArtifactRecord(
            cellID: gen, path: "out/adapter.safetensors", kind: "lora", sha256: "d", bytes: 1234)])
    }

    /// Loss values are Float; REAL is a double, so every Float (and Double) must come back
    /// bit-exactly, including subnormals and infinities. Two documented exceptions from SQLite:
    /// NaN is stored as NULL (read back as NaN) and -0.0 as integer 0 (read back as +0.0).
    @Test func metricValuesRoundTripBitExactly() throws {
        let tmp = try TempDir()
        let db = try ExperimentDB(path: tmp.path("m.sqlite"))
        let run = try db.createRun(environment: env)
        let cell = try db.startCell(runID: run, cellIndex: 0, kind: "train")
        var rng = SeededRNG(seed: 3)
        var floats: [Float] = [0, .leastNonzeroMagnitude, -.leastNormalMagnitude, .greatestFiniteMagnitude,
                               .infinity, -.infinity, 1.0 / 3.0, 2.7182817]
        for _ in 0..<500 { floats.append(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))) }
        floats = floats.filter { !$0.isNaN }
        var doubles: [Double] = [.pi, -.leastNonzeroMagnitude, 1e-300, .greatestFiniteMagnitude]
        for _ in 0..<500 {
            let d = Double(bitPattern: rng.next())
            if !d.isNaN { doubles.append(d) }
        }
        let w = db.metricWriter(runID: run, cellID: cell, batchSize: 97)
        for (i, f) in floats.enumerated() { try w.add(step: i, name: "loss", value: f) }
        for (i, d) in doubles.enumerated() { try w.add(step: i, name: "lr", value: d) }
        try w.add(step: 0, name: "nan", value: Float.nan)
        try w.add(step: 0, name: "negzero", value: -0.0)
        try w.close()

        let loss = try db.metrics(runID: run, name: "loss")
        #expect(loss.count == floats.count)
        #expect(loss.map { Float($0.value).bitPattern } == floats.map(\.bitPattern))
        let lr = try db.metrics(runID: run, name: "lr")
        #expect(lr.map(\.value.bitPattern) == doubles.map(\.bitPattern))
        #expect(try db.metrics(runID: run, name: "nan").first?.value.isNaN == true)
        #expect(try db.metrics(runID: run, name: "negzero").first?.value.bitPattern == (0.0 as Double).bitPattern)
    }

    /// Buffered rows are invisible to other connections until a batch is committed.
    @Test func metricWriterBatchesBySizeAndTime() throws {
        let tmp = try TempDir()
        let path = tmp.path("w.sqlite")
        let db = try ExperimentDB(path: path)
        let reader = try ExperimentDB(path: path)
        let run = try db.createRun(environment: env)
        let cell = try db.startCell(runID: run, cellIndex: 0, kind: "train")

        let w = db.metricWriter(runID: run, cellID: cell, batchSize: 10, interval: 3600)
        for step in 0..<9 { try w.add(step: step, name: "loss", value: Double(step)) }
        #expect(try reader.metrics(runID: run, name: "loss").isEmpty)
        try w.add(step: 9, name: "loss", value: 9)
        #expect(try reader.metrics(runID: run, name: "loss").count == 10)
        try w.add(step: 10, name: "loss", value: 10)
        #expect(try reader.metrics(runID: run, name: "loss").count == 10)
        try w.flush()
        #expect(try reader.metrics(runID: run, name: "loss").count == 11)

        let timed = db.metricWriter(runID: run, cellID: cell, batchSize: 1000, interval: 0.05)
        try timed.add(step: 0, name: "tokens_per_s", value: 1)
        Thread.sleep(forTimeInterval: 0.1)
        try timed.add(step: 1, name: "tokens_per_s", value: 2)  // interval elapsed: flushes both
        #expect(try reader.metrics(runID: run, name: "tokens_per_s").count == 2)

        do {  // dropping a writer flushes what it holds
            let dropped = db.metricWriter(runID: run, cellID: cell, batchSize: 1000, interval: 3600)
            try dropped.add(step: 0, name: "grad_norm", value: 1)
        }
        #expect(try reader.metrics(runID: run, name: "grad_norm").count == 1)
    }

    @Test func marksRunsOfDeadProcessesInterrupted() throws {
        let tmp = try TempDir()
        let db = try ExperimentDB(path: tmp.path("i.sqlite"))

        // A pid that surely ended: a child that exited and was reaped. (Spawned, not forked:
        // fork() in this multithreaded test binary can deadlock in OpenBLAS's atfork handler.)
        let proc = Process()
        proc.executableURL = URL(fileURLWithPath: "/bin/true")
        try proc.run()
        proc.waitUntilExit()
        let child = proc.processIdentifier

        let dead = try db.createRun(kind: .run, notebookID: nil, parentRunID: nil, environment: env, ownerPID: child)
        let deadCell = try db.startCell(runID: dead, cellIndex: 0, kind: "train")
        let done = try db.startCell(runID: dead, cellIndex: 1, kind: "eval")
        try db.finishCell(done, outcome: .ok)
        let alive = try db.createRun(environment: env)  // this process
        let finished = try db.createRun(kind: .repl, notebookID: nil, parentRunID: nil, environment: env, ownerPID: child)
        try db.finishRun(finished, status: .completed)
        // Same live pid but another start time: the pid was reused, the owner is gone.
        // (Start times come from /proc: Linux only.)
        let reused = try db.createRun(environment: env)
        try db.execute(sql: "UPDATE runs SET pid_start = '1' WHERE id = \(reused)")
        #if os(Linux)
        let reusedStatus = RunStatus.interrupted
        #else
        let reusedStatus = RunStatus.running
        #endif
        // A run from another machine cannot be judged from here.
        let remote = try db.createRun(kind: .run, notebookID: nil, parentRunID: nil, environment: env, ownerPID: child)
        try db.execute(sql: "UPDATE runs SET host = 'elsewhere' WHERE id = \(remote)")

        #expect(try db.markInterruptedRuns().sorted() == ([dead] + (reusedStatus == .interrupted ? [reused] : [])).sorted())
        #expect(try db.markInterruptedRuns().isEmpty)
        let byID = Dictionary(uniqueKeysWithValues: try db.listRuns().map { ($0.id, $0.status) })
        #expect(byID == [dead: .interrupted, alive: .running, finished: .completed, reused: reusedStatus, remote: .running])
        let cells = try db.cells(runID: dead)
        #expect(cells.first { $0.id == deadCell }?.outcome == .interrupted)
        #expect(cells.first { $0.id == done }?.outcome == .ok)
        #expect(try db.run(dead)?.error?.contains("\(child)") == true)
    }

    @Test func detectsTheCPUModel() throws {
        #if os(Linux)
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let model = try #require(RunEnvironment.hostCPUModel)
        #expect(!model.isEmpty && cpuinfo.contains(model))
        #endif
    }

    @Test func rejectsUnknownIDs() throws {
        let tmp = try TempDir()
        let db = try ExperimentDB(path: tmp.path("e.sqlite"))
        #expect(throws: RecordError.self) { try db.finishRun(42, status: .completed) }
        #expect(throws: RecordError.self) { try db.finishCell(42, outcome: .ok) }
        // Foreign keys are enforced: a cell of a missing run is refused.
        #expect(throws: RecordError.self) { _ = try db.startCell(runID: 42, cellIndex: 0, kind: "train") }
        let run = try db.createRun(environment: env)
        let cell = try db.startCell(runID: run, cellIndex: 0, kind: "train")
        #expect(throws: RecordError.self) { try db.addArtifact(cellID: cell + 1, path: "x", kind: "lora") }
    }

    @Test func rejectsAFileThatIsNotADatabase() throws {
        let tmp = try TempDir()
        let path = tmp.path("junk.sqlite")
        try Data("this is not sqlite, just text long enough to have a header".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: RecordError.self) { _ = try ExperimentDB(path: path) }
    }
}
}
