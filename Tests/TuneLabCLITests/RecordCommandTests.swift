import Foundation
import Plot
import Record
import Testing

/// `tunelab runs/show/diff/plot` on a record written through the Record API.
@Suite(.serialized) final class RecordCommands {
    /// Three runs: 1 and 2 differ only in lr (2 was changed with :set), 3 failed before logging.
    static func makeRecord(_ path: String) throws -> (losses1: [Double], losses2: [Double]) {
        let db = try ExperimentDB(path: path)
        defer { db.close() }
        let env = RunEnvironment(toolVersion: "0.1.0", gitCommit: "0123456789abcdef", hostCPU: "Test CPU", threads: 2,
                                 blas: "OpenBLAS test", extra: ["os": "Linux"])
        let nb = try db.notebookID(path: "notebooks/medical-cot.md", sha256: String(repeating: "ab", count: 32), title: "Medical CoT", content: "# Medical CoT\n")
        let base = ["r": "16", "lora_alpha": "16", "max_steps": "20", "scheduler": "linear", "seed": "3407"]
        var curves: [[Double]] = []
        for (i, lr) in ["0.0002", "0.0001"].enumerated() {
            let run = try db.createRun(notebookID: nb, environment: env)
            let load = try db.startCell(runID: run, cellIndex: 1, kind: "load", params: ["model": "default", "threads": "0"],
                                        files: ["models/smol.gguf": String(repeating: "c", count: 64)])
            try db.finishCell(load, outcome: .ok, durationSeconds: 1.5)
            var params = base
            params["lr"] = lr
            let train = try db.startCell(runID: run, cellIndex: 3, kind: "train", params: params,
                                         changes: i == 1 ? ["lr": lr] : [:], seed: 3407)
            let w = db.metricWriter(runID: run, cellID: train)
            var losses: [Double] = []
            for step in 1...20 {
                let loss = 2.5 * exp(-Double(step) * (i == 0 ? 0.08 : 0.04)) + 0.5
                losses.append(loss)
                try w.add(step: step, ["loss": loss, "grad_norm": 1.0 / Double(step), "lr": Double(lr)!])
                if step % 10 == 0 { try w.add(step: step, name: "eval_loss", value: loss + 0.1) }
            }
            try w.close()
            try db.addArtifact(cellID: train, path: "runs/run-\(run)/adapter.safetensors", kind: "lora", sha256: String(repeating: "d", count: 64), bytes: 2_359_296)
            try db.finishCell(train, outcome: .ok, durationSeconds: 83)
            let infer = try db.startCell(runID: run, cellIndex: 4, kind: "infer", params: ["question": "What causes fever?"])
            try db.addGeneration(cellID: infer, prompt: "What causes fever?", output: "Infection, usually.", nTokens: 5, stoppedOnEOS: true, tokensPerSecond: 42)
            try db.finishCell(infer, outcome: .ok)
            try db.finishRun(run, status: .completed)
            curves.append(losses)
        }
        let run3 = try db.createRun(notebookID: nb, environment: env)
        var params = base
        params["lr"] = "0.0002"
        params["r"] = "8"
        let t3 = try db.startCell(runID: run3, cellIndex: 3, kind: "train", params: params)
        try db.finishCell(t3, outcome: .error, error: "out of memory")
        try db.finishRun(run3, status: .failed, error: "cell 3 failed")
        // Run 4: a REPL session that trained twice, the second time after `:set train.lr=0.001`.
        let run4 = try db.createRun(kind: .repl, environment: env)
        for (i, lr) in ["0.0002", "0.001"].enumerated() {
            var p = base
            p["lr"] = lr
            let cell = try db.startCell(runID: run4, cellIndex: i + 1, kind: "train", params: p, changes: i == 1 ? ["lr": lr] : [:])
            let w = db.metricWriter(runID: run4, cellID: cell)
            for step in 1...10 { try w.add(step: step, name: "loss", value: 3.0 - Double(step) * (i == 0 ? 0.1 : 0.2)) }
            try w.close()
            try db.finishCell(cell, outcome: .ok)
        }
        try db.finishRun(run4, status: .completed)
        return (curves[0], curves[1])
    }

    let dir: URL
    let db: String
    let losses: (losses1: [Double], losses2: [Double])

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("record-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        db = dir.appendingPathComponent("exp.sqlite").path
        losses = try Self.makeRecord(db)
    }

    deinit { try? FileManager.default.removeItem(at: dir) }

    @Test func runsListsNewestFirstWithDifferingParams() throws {
        let r = try tunelab(["runs", "--db", db])
        #expect(r.status == 0, "\(r.err)")
        let lines = r.out.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines.count == 5)
        #expect(lines[0].hasPrefix("id  notebook") && lines[0].contains("final loss") && lines[0].contains("key params"))
        // The session's key params are those of its last train cell.
        #expect(lines[1].hasPrefix("4  (repl)") && lines[1].hasSuffix("lr=0.001 r=16"))
        #expect(lines[2].hasPrefix("3  medical-cot.md") && lines[2].contains("failed") && lines[2].hasSuffix("lr=0.0002 r=8"))
        #expect(lines[3].hasPrefix("2  ") && lines[3].contains("completed") && lines[3].contains(String(format: "%.4f", losses.losses2.last!))
                && lines[3].hasSuffix("lr=0.0001 r=16"))
        #expect(lines[4].hasPrefix("1  ") && lines[4].contains(String(format: "%.4f", losses.losses1.last!)) && lines[4].contains(" 20 "))
        let j = try #require(try JSONSerialization.jsonObject(with: Data(try tunelab(["runs", "--json", "--db", db]).out.utf8)) as? [[String: Any]])
        #expect(j.map { $0["id"] as? Int } == [4, 3, 2, 1])
        #expect((j[2]["final_loss"] as? Double) == losses.losses2.last)
        #expect(j[3]["last_step"] as? Int == 20)
    }

    @Test func showHasParamsSeedsHashesEnvironmentMetricsArtifacts() throws {
        let r = try tunelab(["show", "2", "--db", db])
        #expect(r.status == 0, "\(r.err)")
        for s in ["run 2  completed", "notebooks/medical-cot.md", "\"Medical CoT\"", "sha256 abababababababab", "tunelab 0.1.0",
                  "git 0123456789ab", "2 threads", "os=Linux", "[3] train  ok", "seed 3407", "changed: lr=0.0001", "lr=0.0001",
                  "file models/smol.gguf  sha256 cccccccccccccccc", "runs/run-2/adapter.safetensors  2.2 MB",
                  "What causes fever? -> Infection, usually.", "42.0 tok/s"] {
            #expect(r.out.contains(s), "missing '\(s)' in:\n\(r.out)")
        }
        // Metrics summary: points, first/last/min from the logged curve.
        let lossLine = try #require(r.out.split(separator: "\n").first { $0.hasPrefix("loss ") })
        #expect(lossLine.contains(" 20 ") && lossLine.contains("1-20"))
        #expect(lossLine.contains(String(format: "%.4f", losses.losses2.first!)) && lossLine.contains(String(format: "%.4f @ 20", losses.losses2.min()!)))
        #expect(r.out.contains("eval_loss"))
        let failed = try tunelab(["show", "3", "--db", db])
        #expect(failed.out.contains("error        cell 3 failed") && failed.out.contains("error: out of memory"))
        let missing = try tunelab(["show", "99", "--db", db])
        #expect(missing.status != 0 && missing.err.contains("no run 99"))
    }

    @Test func diffShowsOnlyWhatDiffers() throws {
        let r = try tunelab(["diff", "1", "2", "--db", db])
        #expect(r.status == 0, "\(r.err)")
        let lines = r.out.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("train.lr ") && $0.contains("0.0002") && $0.hasSuffix("0.0001") })
        #expect(!r.out.contains("train.r ") && !r.out.contains("load.model"))
        #expect(lines.contains { $0.hasPrefix("final loss") && $0.contains(String(format: "%.4f", losses.losses1.last!)) })
        #expect(!r.out.contains("status"))  // both completed
        let d13 = try tunelab(["diff", "1", "3", "--db", db]).out
        #expect(d13.contains("train.r ") && d13.contains("load.model") && d13.contains("status"))
    }

    @Test func plotDrawsOneColourPerRun() throws {
        let png = dir.appendingPathComponent("out/curves.png").path
        let r = try tunelab(["plot", "1", "2", "--metric", "loss", "-o", png, "--db", db])
        #expect(r.status == 0, "\(r.err)")
        let img = try Image.readPNG(path: png)
        #expect(img.width == 1000 && img.height == 600)
        var counts: [Color: Int] = [:]
        for y in 0..<img.height { for x in 0..<img.width { counts[img[x: x, y: y], default: 0] += 1 } }
        // Fully covered curve pixels take the series colour exactly: one palette colour per run.
        #expect(counts[Color.palette(0), default: 0] > 200)
        #expect(counts[Color.palette(1), default: 0] > 200)
        #expect(counts[Color.palette(2), default: 0] == 0)
        #expect(counts[.white, default: 0] > img.width * img.height / 2)

        let smooth = dir.appendingPathComponent("smooth.png").path
        #expect(try tunelab(["plot", "1", "2", "--metric", "grad_norm", "--smooth", "--log-y", "-o", smooth, "--db", db, "--width", "640", "--height", "400"]).status == 0)
        #expect(try Image.readPNG(path: smooth).width == 640)

        // A session that trained twice: one curve per train cell.
        let session = dir.appendingPathComponent("session.png").path
        #expect(try tunelab(["plot", "4", "-o", session, "--db", db]).status == 0)
        var seen = Set<Color>()
        let simg = try Image.readPNG(path: session)
        for y in 0..<simg.height { for x in 0..<simg.width { seen.insert(simg[x: x, y: y]) } }
        #expect(seen.contains(Color.palette(0)) && seen.contains(Color.palette(1)) && !seen.contains(Color.palette(2)))

        let none = try tunelab(["plot", "3", "--db", db, "-o", dir.appendingPathComponent("none.png").path])
        #expect(none.status != 0 && none.err.contains("logged 'loss'"))
        #expect(try tunelab(["plot", "--db", db]).status != 0)
    }

    @Test func missingRecordIsAnErrorAndNotCreated() throws {
        let path = dir.appendingPathComponent("nope/none.sqlite").path
        let r = try tunelab(["runs", "--db", path])
        #expect(r.status != 0 && r.err.contains(path))
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}
