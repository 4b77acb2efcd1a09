import Foundation
import Kernels
import Plot
import Testing
@testable import Record

/// Runs `tunelab` with `input` on stdin (no TTY: the REPL reads plain lines).
func tunelab(_ args: [String], stdin input: String, cwd: String? = nil) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: Binary.path)
    p.arguments = args
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    let inp = Pipe(), out = Pipe(), err = Pipe()
    p.standardInput = inp; p.standardOutput = out; p.standardError = err
    try p.run()
    inp.fileHandleForWriting.write(Data(input.utf8))
    try inp.fileHandleForWriting.close()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// A notebook on the tiny Llama-3 fixture and the project's sample data, in a fresh folder.
struct TinyNotebook {
    let dir: String
    var path: String { dir + "/nb.md" }
    var db: String { dir + "/record.sqlite" }
    var data: String { dir + "/data.jsonl" }

    init(_ name: String, steps: Int = 4, saveEvery: Int = 2, extra: String = "") throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("tunelab-nb-\(name)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let repo = fixtures.deletingLastPathComponent().deletingLastPathComponent().path
        try FileManager.default.copyItem(atPath: repo + "/notebooks/data/medical-cot-sample.jsonl", toPath: data)
        let text = """
        # Tiny notebook

        Prose, and a code block that is not a cell:

        ```python
        print("not a cell")
        ```

        ```load
        model = "\(fixtures.path)/tiny-llama3"
        threads = 2
        ```

        ```format
        data = "\(data)"
        template = "\(repo)/notebooks/templates/medical-cot.txt"
        max_seq_length = 400
        val_fraction = 0.1
        ```

        ```infer
        question = "What causes fever?"
        max_new_tokens = 6
        ```

        ```train
        r = 4
        lora_alpha = 8
        batch_size = 2
        grad_accum = 1
        lr = 1e-3
        max_steps = \(steps)
        warmup_steps = 1
        eval_every = 2
        save_every = \(saveEvery)
        out = "\(dir)/out"
        \(extra)
        ```

        ```infer
        question = "What causes fever?"
        max_new_tokens = 6
        ```
        """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func remove() { try? FileManager.default.removeItem(atPath: dir) }
}

@Suite(.serialized) struct NotebookRunTests {
    /// A notebook names its inputs from the project root (`notebooks/data/…`); run from another
    /// directory it still finds them (next to the notebook, walking up), records their hashes
    /// under the paths read, and a path found nowhere says which directory it was read from.
    @Test func relativeInputsResolveFromTheNotebooksProjectWhenRunElsewhere() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("tunelab-proj-\(getpid())").path
        let elsewhere = root + "-cwd"
        defer { for d in [root, elsewhere] { try? FileManager.default.removeItem(atPath: d) } }
        let repo = fixtures.deletingLastPathComponent().deletingLastPathComponent().path
        for d in [root + "/notebooks/data", root + "/notebooks/templates", elsewhere] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        }
        let data = root + "/notebooks/data/d.jsonl", template = root + "/notebooks/templates/t.txt"
        try FileManager.default.copyItem(atPath: repo + "/notebooks/data/medical-cot-sample.jsonl", toPath: data)
        try FileManager.default.copyItem(atPath: repo + "/notebooks/templates/medical-cot.txt", toPath: template)
        func notebook(_ dataPath: String) -> String {
            """
            ```load
            model = "\(fixtures.path)/tiny-llama3"
            threads = 1
            ```

            ```format
            data = "\(dataPath)"
            template = "notebooks/templates/t.txt"
            max_seq_length = 300
            ```
            """
        }
        let nb = root + "/notebooks/nb.md", db = elsewhere + "/record.sqlite"
        try notebook("notebooks/data/d.jsonl").write(toFile: nb, atomically: true, encoding: .utf8)
        let r = try tunelab(["run", nb, "--db", db], stdin: "", cwd: elsewhere)
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
        #expect(r.out.contains("22 training / 2 validation"), "\(r.out)")
        let run = try #require(try ExperimentDB(path: db).run(1))
        let files = run.cells[1].files
        #expect(files.keys.contains { $0.hasSuffix("notebooks/data/d.jsonl") && $0.hasPrefix("/") }, "\(files)")
        #expect(files.values.contains(try sha256(file: template)), "\(files)")
        // Found nowhere: the error names the working directory it was read from.
        try notebook("notebooks/data/missing.jsonl").write(toFile: nb, atomically: true, encoding: .utf8)
        let bad = try tunelab(["run", nb, "--db", db], stdin: "", cwd: elsewhere)
        #expect(bad.status != 0)
        #expect((bad.out + bad.err).contains("notebooks/data/missing.jsonl: no such data file"), "\(bad.out)\n\(bad.err)")
        #expect((bad.out + bad.err).contains("tunelab-proj-\(getpid())-cwd"), "\(bad.out)\n\(bad.err)")
    }

    @Test func runRecordsEveryCellWithDefaultsHashesMetricsGenerationsAndArtifacts() throws {
        let nb = try TinyNotebook("run")
        defer { nb.remove() }
        let r = try tunelab(["run", nb.path, "--db", nb.db])
        #expect(r.status == 0, "\(r.out)\n\(r.err)")
        #expect(r.out.contains("recorded as run 1"))
        let db = try ExperimentDB(path: nb.db)
        let run = try #require(try db.run(1))
        #expect(run.summary.status == .completed)
        #expect(run.summary.kind == .run)
        #expect(run.environment.threads == 2)
        #expect(run.environment.blas?.isEmpty == false)
        let cells = run.cells
        #expect(cells.map(\.kind) == ["load", "format", "infer", "train", "infer"])
        #expect(cells.allSatisfy { $0.outcome == .ok })
        let train = cells[3]
        // Resolved parameters include the defaults the notebook did not write.
        #expect(train.params["scheduler"] == "linear")
        #expect(train.params["lora_dropout"] == "0.0")
        #expect(train.params["max_steps"] == "4")
        #expect(train.seed == 3407)
        // The data file's hash is recorded.
        #expect(cells[1].files[nb.data] == (try sha256(file: nb.data)))
        let loss = try db.metrics(cellID: train.id, name: "loss")
        #expect(loss.map(\.step) == [1, 2, 3, 4])
        #expect(try db.metrics(cellID: train.id, name: "eval_loss").map(\.step) == [2, 4])
        #expect(try db.metrics(cellID: train.id, name: "grad_norm").count == 4)
        let before = try db.generations(cellID: cells[2].id), after = try db.generations(cellID: cells[4].id)
        #expect(before.count == 1 && after.count == 1)
        #expect(before[0].settings["adapter"] == "none")
        #expect(after[0].settings["adapter"] == nb.dir + "/out/adapter")
        let arts = try db.artifacts(cellID: train.id)
        #expect(arts.contains { $0.kind == "adapter" && $0.path.hasSuffix("out/adapter/adapter_model.safetensors") })
        #expect(arts.filter { $0.kind == "checkpoint" }.count == 2)
        let png = try #require(arts.first { $0.kind == "plot" })
        let img = try Image.readPNG(path: png.path)
        #expect(img.width > 100 && img.height > 100)
        #expect(png.sha256 == (try sha256(file: png.path)))
    }

    @Test func replEditsAndRerunsCellsFromPipedStdin() throws {
        let nb = try TinyNotebook("repl")
        defer { nb.remove() }
        let script = """
        :cells
        :next
        :next
        infer rows="0:2" max_new_tokens=3
        :set train.max_steps=2
        :run 4
        train max_steps=3 lr=2e-3 out="\(nb.dir)/typed"
        :cells
        :runs
        :bogus
        :quit
        """
        let r = try tunelab(["open", nb.path, "--db", nb.db], stdin: script + "\n")
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("Tiny notebook: 5 cells"))
        #expect(r.err.contains(":bogus"))
        #expect(r.out.contains("2 answers: "), "\(r.out)")
        let db = try ExperimentDB(path: nb.db)
        let run = try #require(try db.run(1))
        // One infer cell asked two validation rows: two generations, two different prompts.
        let infers = run.cells.filter { $0.kind == "infer" }
        let asked = try db.generations(cellID: infers[0].id)
        #expect(asked.count == 2 && asked[0].prompt != asked[1].prompt)
        #expect(infers[0].params["rows"] == "0:2")
        #expect(run.summary.kind == .repl)
        #expect(run.summary.status == .completed)
        let trains = run.cells.filter { $0.kind == "train" }
        #expect(trains.count == 2)
        #expect(trains[0].changes["max_steps"] == "2")
        #expect(try db.metrics(cellID: trains[0].id, name: "loss").count == 2)
        // A typed cell is recorded like a notebook cell; the :set override still applies to keys it does not set.
        #expect(trains[1].params["lr"] == "0.002")
        #expect(try db.metrics(cellID: trains[1].id, name: "loss").count == 3)

        // A row the validation split does not have: the cell fails, saying which rows exist.
        let bad = try tunelab(["open", nb.path, "--db", nb.dir + "/bad.sqlite"],
                              stdin: ":next\n:next\ninfer rows=\"99\"\ninfer rows=\"2:1\"\n:quit\n")
        #expect(bad.err.contains("infer.rows: row 99 does not exist: the validation split has"), "\(bad.err)")
        #expect(bad.err.contains("infer.rows: expected \"N\" or \"A:B\""), "\(bad.err)")
    }

    @Test func replayIsBitIdenticalAndReportsAForcedDivergence() throws {
        let nb = try TinyNotebook("replay", steps: 5)
        defer { nb.remove() }
        #expect(try tunelab(["run", nb.path, "--db", nb.db]).status == 0)
        let same = try tunelab(["replay", "1", "--db", nb.db])
        #expect(same.status == 0, "\(same.out)\n\(same.err)")
        #expect(same.out.contains("bit-identical"), "\(same.out)")
        let db = try ExperimentDB(path: nb.db)
        let replay = try #require(try db.run(2))
        #expect(replay.summary.kind == .replay && replay.summary.parentRunID == 1)
        // Nudge the recorded loss of step 3 by one ulp: the replay must name that step and metric.
        let train = try #require(try db.run(1)?.cells.first { $0.kind == "train" })
        let l3 = try #require(try db.metrics(cellID: train.id, name: "loss").first { $0.step == 3 }?.value)
        try db.execute(sql: "UPDATE metrics SET value = \(l3.nextUp) WHERE cell_id = \(train.id) AND step = 3 AND name = 'loss'")
        let diverged = try tunelab(["replay", "1", "--db", nb.db])
        #expect(diverged.status == 3)
        #expect(diverged.out.contains("DIVERGES at cell \(train.index) step 3, metric loss"), "\(diverged.out)")
    }

    @Test func replayRefusesWhenAnInputFileChanged() throws {
        let nb = try TinyNotebook("refuse", steps: 2)
        defer { nb.remove() }
        #expect(try tunelab(["run", nb.path, "--db", nb.db]).status == 0)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: nb.data))
        h.seekToEndOfFile(); h.write(Data("\n".utf8)); try h.close()
        let r = try tunelab(["replay", "1", "--db", nb.db])
        #expect(r.status != 0)
        #expect(r.err.contains("replay refused") && r.err.contains(nb.data), "\(r.err)")
    }

    @Test func badNotebookNamesLineKeyAndSuggestion() throws {
        let nb = try TinyNotebook("bad", extra: "lrr = 1e-3")
        defer { nb.remove() }
        let r = try tunelab(["run", nb.path, "--db", nb.db])
        #expect(r.status != 0)
        let lines = try String(contentsOfFile: nb.path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        let line = try #require(lines.firstIndex { $0.hasPrefix("lrr") }) + 1
        #expect(r.err.contains("\(line)") && r.err.contains("lrr") && r.err.contains("lr"), "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: nb.db), "nothing is recorded for a notebook that does not parse")
    }

    /// Ctrl-C during training: the step in progress finishes, a checkpoint is written, the run
    /// and cell are recorded as interrupted, and the database is intact.
    @Test func interruptStopsTrainingAtAStepBoundary() throws {
        let nb = try TinyNotebook("sigint", steps: 100000, saveEvery: 0)
        defer { nb.remove() }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Binary.path)
        p.arguments = ["run", nb.path, "--db", nb.db]
        let out = Pipe()
        p.standardOutput = out; p.standardError = Pipe()
        try p.run()
        var seen = ""
        let deadline = Date().addingTimeInterval(120)
        while !seen.contains("step 5/") && Date() < deadline && p.isRunning {
            let d = out.fileHandleForReading.availableData
            if d.isEmpty { break }
            seen += String(decoding: d, as: UTF8.self)
        }
        #expect(seen.contains("step 5/"), "training did not start: \(seen)")
        kill(p.processIdentifier, SIGINT)
        let stopBy = Date().addingTimeInterval(60)
        while p.isRunning && Date() < stopBy { usleep(50_000) }
        let stopped = !p.isRunning
        if !stopped { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        #expect(stopped, "tunelab did not stop within 60 s of Ctrl-C")
        let db = try ExperimentDB(path: nb.db)
        #expect(try db.integrityCheck() == "ok")
        let run = try #require(try db.run(1))
        #expect(run.summary.status == .interrupted)
        let train = try #require(run.cells.first { $0.kind == "train" })
        #expect(train.outcome == .interrupted)
        let steps = try db.metrics(cellID: train.id, name: "loss").map(\.step)
        let last = try #require(steps.last)
        #expect(steps == Array(1...last))
        #expect(FileManager.default.fileExists(atPath: nb.dir + "/out/checkpoint-\(last)/trainer_state.json"))
    }
}
