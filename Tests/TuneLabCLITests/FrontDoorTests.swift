import Foundation
import Testing
@testable import Record

/// `tunelab train/generate/score/merge` are recorded runs of cells: listed, replayed bit for bit
/// at other thread counts, refused when an input changed, compared token by token, branched.
@Suite(.serialized) struct FrontDoorTests {
    let dir: String
    var db: String { dir + "/record.sqlite" }
    var repo: String { fixtures.deletingLastPathComponent().deletingLastPathComponent().path }
    var model: String { fixtures.path + "/tiny-llama3" }
    var data: String { dir + "/data.jsonl" }

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("tunelab-front-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: repo + "/notebooks/data/medical-cot-sample.jsonl", toPath: data)
    }

    func train(_ extra: [String], threads: Int = 2) throws -> (status: Int32, out: String, err: String) {
        try tunelab(["train", "--db", db, "--model", model, "--data", data, "--max-seq-length", "400", "--r", "4",
                     "--lora-alpha", "8", "--batch-size", "2", "--grad-accum", "2", "--lr", "1e-3", "--warmup-steps", "1",
                     "--threads", "\(threads)", "--eval-every", "2"] + extra)
    }

    @Test func trainIsARecordedRunThatReplaysAtAnyThreadCount() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try train(["--max-steps", "4", "--save-every", "2", "--out", dir + "/a"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.err.contains("recorded as run 1"), "\(r.err)")
        let runs = try tunelab(["runs", "--db", db, "--json"])
        let list = try #require(try JSONSerialization.jsonObject(with: Data(runs.out.utf8)) as? [[String: Any]])
        #expect(list.count == 1 && list[0]["kind"] as? String == "command")
        let record = try ExperimentDB(path: db)
        let run = try #require(try record.run(1))
        #expect(run.cells.map(\.kind) == ["load", "format", "train"])
        #expect(run.summary.command?.hasPrefix("tunelab train --db \(db) --model") == true, "\(run.summary.command ?? "-")")
        #expect(run.cells[2].params["lr"] == "0.001" && run.cells[2].changes["lr"] == "0.001")
        #expect(run.environment.threads == 2)
        // Replayed on 2, 1 and 3 worker threads: the same bits (results do not depend on the count).
        for threads in [2, 1, 3] {
            let rep = try tunelab(["replay", "1", "--db", db, "--threads", "\(threads)"])
            #expect(rep.status == 0 && rep.out.contains("bit-identical"), "threads \(threads): \(rep.out)\n\(rep.err)")
        }
        // --no-record leaves no run.
        let before = try record.listRuns().count
        #expect(try train(["--max-steps", "1", "--no-record", "--out", dir + "/n"]).status == 0)
        #expect(try record.listRuns().count == before)
    }

    @Test func replayRefusesAChangedInputNamingIt() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try train(["--max-steps", "1", "--out", dir + "/a"]).status == 0)
        try (try String(contentsOfFile: data, encoding: .utf8) + "\n").write(toFile: data, atomically: true, encoding: .utf8)
        let r = try tunelab(["replay", "1", "--db", db])
        #expect(r.status != 0 && r.err.contains("replay refused: \(data)") && r.err.contains("changed since run 1"), "\(r.err)")
        // The template too (the built-in default, found beside the checkout, is hashed like any input).
        let run = try #require(try ExperimentDB(path: db).run(1))
        #expect(run.cells[1].files.keys.contains { $0.hasSuffix("notebooks/templates/medical-cot.txt") }, "\(run.cells[1].files)")
    }

    @Test func generationsAreComparedTokenByToken() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let g = try tunelab(["generate", "--db", db, "--model", model, "--prompt", "Fever and cough", "--max-new-tokens", "8",
                             "--ignore-eos", "--temperature", "0.8", "--seed", "5", "--threads", "2"])
        #expect(g.status == 0, "\(g.err)")
        let record = try ExperimentDB(path: db)
        let infer = try #require(try record.run(1)?.cells.last)
        let ids = try #require(try record.generations(cellID: infer.id).first?.outputIDs)
        #expect(ids.count == 8)
        let same = try tunelab(["replay", "1", "--db", db, "--threads", "1"])
        #expect(same.status == 0 && same.out.contains("1 generations (8 tokens)"), "\(same.out)\n\(same.err)")
        // Negative control: change one recorded token; the replay names the generation and token.
        var changed = ids; changed[5] += 1
        try record.execute(sql: "UPDATE generations SET output_ids = '[\(changed.map(String.init).joined(separator: ","))]' WHERE cell_id = \(infer.id)")
        let diff = try tunelab(["replay", "1", "--db", db])
        #expect(diff.status == 3 && diff.out.contains("DIVERGES at cell 2, generation 1, token 6: recorded \(changed[5]), replayed \(ids[5])"), "\(diff.out)")
    }

    @Test func otherKernelsAreRefusedOrReportedAsExpected() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s = try tunelab(["score", "--db", db, "--model", model, "--text", "A patient has fever.", "--threads", "1"])
        #expect(s.status == 0, "\(s.err)")
        let record = try ExperimentDB(path: db)
        let env = try #require(try record.run(1)?.environment.extra)
        #expect(env["blas_core"] != nil && env["cpu_flags"] != nil, "\(env)")
        var other = env; other["blas_core"] = "Prescott"
        let text = String(decoding: try JSONSerialization.data(withJSONObject: other, options: [.sortedKeys]), as: UTF8.self)
        try record.execute(sql: "UPDATE runs SET env_json = '\(text)' WHERE id = 1")
        let refused = try tunelab(["replay", "1", "--db", db])
        #expect(refused.status != 0 && refused.err.contains("OpenBLAS kernels Prescott →") && refused.err.contains("--allow-different-kernels"), "\(refused.err)")
        let allowed = try tunelab(["replay", "1", "--db", db, "--allow-different-kernels"])
        #expect(allowed.status == 0, "\(allowed.out)\n\(allowed.err)")
        #expect(allowed.out.contains("bit-identical — ") && allowed.out.contains("even though run 1 ran on other kernels"), "\(allowed.out)")
        // A real difference on other kernels is reported as expected, not as a failure.
        let score = try #require(try record.run(1)?.cells.last)
        try record.execute(sql: "UPDATE metrics SET value = value + 1e-9 WHERE cell_id = \(score.id) AND name = 'nll'")
        let expected = try tunelab(["replay", "1", "--db", db, "--allow-different-kernels"])
        #expect(expected.status == 0 && expected.out.contains("differs, as expected"), "\(expected.out)")
    }

    @Test func branchContinuesACheckpointWithChangedSettings() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let parent = try train(["--max-steps", "4", "--save-every", "2", "--out", dir + "/p", "--json"])
        #expect(parent.status == 0, "\(parent.err)")
        #expect(try #require(try json(parent.out)["loss"] as? [Double]).count == 4)
        // Resume refuses a changed setting; a branch applies it.
        let refused = try train(["--max-steps", "4", "--weight-decay", "0.1", "--out", dir + "/r", "--resume", dir + "/p/checkpoint-2"])
        #expect(refused.status != 0 && refused.err.contains("tunelab branch"), "\(refused.err)")
        let same = try tunelab(["branch", "1", "--from-step", "2", "--db", db])
        #expect(same.status == 0, "\(same.out)\n\(same.err)")
        let b = try tunelab(["branch", "1", "--from-step", "2", "--set", "train.lr=5e-4", "--db", db])
        #expect(b.status == 0, "\(b.out)\n\(b.err)")
        let record = try ExperimentDB(path: db)
        let losses = try record.metrics(runID: 1, name: "loss").map(\.value)
        let runs = try record.listRuns()
        let branches = runs.filter { $0.kind == .branch }
        #expect(branches.count == 2 && branches.allSatisfy { $0.parentRunID == 1 })
        // Unchanged settings continue bit for bit; the changed lr changes steps 3-4 only.
        let sameLoss = try record.metrics(runID: branches[1].id, name: "loss").map(\.value)
        let newLoss = try record.metrics(runID: branches[0].id, name: "loss").map(\.value)
        #expect(sameLoss == Array(losses.suffix(2)), "\(sameLoss) vs \(losses)")
        #expect(newLoss.count == 2 && newLoss[0] == losses[2] && newLoss[1] != losses[3], "\(newLoss) vs \(losses)")
        let cell = try #require(try record.run(branches[0].id)?.cells.last)
        #expect(cell.changes["lr"] == "0.0005" && cell.changes["resume"]?.hasSuffix("checkpoint-2") == true)
        let missing = try tunelab(["branch", "1", "--from-step", "3", "--db", db])
        #expect(missing.status != 0 && missing.err.contains("no checkpoint at step 3 (checkpoints at steps: 2, 4"), "\(missing.err)")
        let badKey = try tunelab(["branch", "1", "--from-step", "2", "--set", "train.r=8", "--db", db])
        #expect(badKey.status != 0 && badKey.err.contains("r cannot change"), "\(badKey.err)")
    }

    @Test func recordExportsAsJSONAndCSV() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try train(["--max-steps", "2", "--out", dir + "/a"]).status == 0)
        #expect(try train(["--max-steps", "2", "--seed", "7", "--out", dir + "/b"]).status == 0)
        let show = try json(try tunelab(["show", "1", "--json", "--db", db]).out)
        let cells = try #require(show["cells"] as? [[String: Any]])
        #expect(cells.count == 3 && (cells[2]["metrics"] as? [String: Any])?["loss"] != nil)
        let diff = try json(try tunelab(["diff", "1", "2", "--json", "--db", db]).out)
        let params = try #require(diff["params"] as? [[String: String]])
        #expect(params.contains { $0["key"] == "train.seed" && $0["a"] == "3407" && $0["b"] == "7" }, "\(params)")
        let csv = try tunelab(["export-record", "1", "--format", "csv", "--db", db])
        let lines = csv.out.split(separator: "\n")
        #expect(lines.first == "section,cell,kind,key,step,value")
        #expect(lines.contains { $0.hasPrefix("metric,3,train,loss,2,") } && lines.contains("param,3,train,lr,,0.001"), "\(csv.out.prefix(400))")
        let file = dir + "/r.json"
        #expect(try tunelab(["export-record", "1", "--format", "json", "-o", file, "--db", db]).status == 0)
        #expect((try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any])?["id"] as? Int == 1)
    }

    @Test func badFlagsNameTheFlag() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try tunelab(["train", "--db", db, "--lrr", "1e-4"])
        #expect(r.status != 0 && r.err.contains("--lrr: unknown option (did you mean '--lr'?)"), "\(r.err)")
        let z = try tunelab(["train", "--db", db, "--lr", "0"])
        #expect(z.status != 0 && z.err.contains("--lr (train.lr): must be greater than 0"), "\(z.err)")
        #expect(!FileManager.default.fileExists(atPath: db), "nothing is recorded for flags that do not parse")
        let v = try tunelab(["--version"])
        let notebookVersion = try #require(try String(contentsOfFile: repo + "/Sources/Session/RunRecorder.swift", encoding: .utf8)
            .split(separator: "\n").first { $0.contains("static let current = ") })
        #expect(notebookVersion.contains("\"\(v.out.trimmingCharacters(in: .whitespacesAndNewlines))\""))
    }
}

/// `tunelab lint` and the lint's gate on training.
@Suite(.serialized) struct LintCommandTests {
    @Test func lintReportsShowsTokensAndGatesTraining() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tunelab-lint-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = fixtures.path + "/tiny-llama3"
        let ok = try tunelab(["lint", "--model", model, "--max-seq-length", "320", "--json"])
        #expect(ok.status == 0, "\(ok.err)")
        let j = try json(ok.out)
        #expect(j["errors"] as? Int == 0 && (j["findings"] as? [[String: Any]])?.contains { $0["code"] as? String == "think-cut" } == true, "\(ok.out)")
        let show = try tunelab(["lint", "--model", model, "--max-seq-length", "500", "--show", "0", "--histogram", dir + "/h.png"])
        #expect(show.out.contains("row 0: ") && show.out.contains("⟦") && show.out.contains("<EOS:"), "\(show.out)")
        #expect(FileManager.default.fileExists(atPath: dir + "/h.png"))
        // Data whose rows all lose their EOS: the lint fails, and training refuses unless told.
        let cut = try tunelab(["lint", "--model", model, "--max-seq-length", "250"])
        #expect(cut.status == 1 && cut.out.contains("error: train: no row keeps its EOS"), "\(cut.out)\n\(cut.err)")
        let refused = try tunelab(["train", "--no-record", "--model", model, "--max-seq-length", "250", "--max-steps", "1", "--out", dir + "/a"])
        #expect(refused.status != 0 && refused.err.contains("train.ignore_lint: the format cell's lint found errors"), "\(refused.err)")
        let forced = try tunelab(["train", "--no-record", "--model", model, "--max-seq-length", "250", "--max-steps", "1",
                                  "--ignore-lint", "--out", dir + "/b"])
        #expect(forced.status == 0, "\(forced.err)")
    }
}
