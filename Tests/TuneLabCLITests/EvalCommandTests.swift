import Foundation
import Testing
@testable import Record

/// `tunelab eval` generates answers to held-out rows, records each with its row and scores and
/// every score with its card; batching changes nothing; `compare` and `diff` read them back.
@Suite(.serialized) struct EvalCommandTests {
    let dir: String
    var db: String { dir + "/record.sqlite" }
    var repo: String { fixtures.deletingLastPathComponent().deletingLastPathComponent().path }
    var medqa: String { repo + "/../shared/data/medical_o1_en_160.json" }

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("tunelab-eval-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func eval(_ extra: [String]) throws -> (status: Int32, out: String, err: String) {
        try tunelab(["eval", "--db", db, "--data", medqa, "--max-rows", "5", "--max-new-tokens", "20", "--threads", "2"] + extra)
    }

    @Test func answersAreRecordedScoredAndIndependentOfTheBatch() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let all = "loss,bleu4,rouge1,rouge2,rougeL,think_format,stops_on_eos,mean_length,accuracy"
        let one = try eval(["--metrics", all, "--batch", "1"])
        #expect(one.status == 0, "\(one.err)")
        let two = try eval(["--metrics", all, "--batch", "2"])
        #expect(two.status == 0, "\(two.err)")
        // Sampled answers: row i draws with seed + i whatever the batch.
        let s1 = try eval(["--metrics", "rougeL", "--batch", "1", "--temperature", "0.9", "--seed", "7"])
        let s3 = try eval(["--metrics", "rougeL", "--batch", "3", "--temperature", "0.9", "--seed", "7"])
        #expect(s1.status == 0 && s3.status == 0, "\(s1.err)\n\(s3.err)")

        let record = try ExperimentDB(path: db)
        func answers(_ run: Int64) throws -> (cell: CellRecord, gens: [GenerationRecord]) {
            let r = try #require(try record.run(run))
            #expect(r.cells.map(\.kind) == ["load", "format", "eval"])
            return (r.cells[2], try record.generations(cellID: r.cells[2].id))
        }
        let (cell, a) = try answers(1), b = try answers(2).gens
        #expect(a.count == 5 && b.count == 5)
        #expect(a.map(\.outputIDs) == b.map(\.outputIDs) && a.map(\.output) == b.map(\.output))
        #expect(a.allSatisfy { $0.outputIDs?.count == $0.nTokens && $0.settings["row"] != nil })
        let sa = try answers(3).gens, sb = try answers(4).gens
        #expect(sa.map(\.outputIDs) == sb.map(\.outputIDs))
        // Negative control: another seed samples other answers.
        #expect(sa.map(\.outputIDs) != a.map(\.outputIDs))

        // Every score has its card; the means are those of the per-row scores, rounded as LLaMA-Factory.
        let cards = try #require(cell.details["metric_cards"])
        for name in ["bleu4", "rouge1", "rouge2", "rougeL", "think_format", "stops_on_eos", "mean_output_tokens", "accuracy"] {
            #expect(cards.contains("\"\(name)\""), "\(name) has no card: \(cards)")
            #expect(try record.metrics(cellID: cell.id, name: name).count == 1, "\(name)")
        }
        #expect(cards.contains("NLTK") && cards.contains("jieba"))
        func recorded(_ name: String) throws -> Double { try #require(try record.metrics(cellID: cell.id, name: name).last?.value) }
        for m in ["bleu4", "rouge1", "rougeL"] {
            let rows = a.map { Double($0.settings["score." + m] ?? "nan")! }
            #expect(abs(rows.reduce(0, +) / Double(rows.count) - (try recorded(m))) < 1e-9, "\(m)")
        }
        let right = a.filter { $0.settings["score.choice"] == $0.settings["score.gold"] }.count
        #expect(try recorded("accuracy") == Double(right) / 5)
        #expect(try recorded("stops_on_eos") == Double(a.filter(\.stoppedOnEOS).count) / 5)
        #expect(try recorded("mean_output_tokens") == Double(a.map(\.nTokens).reduce(0, +)) / 5)
        #expect(try record.metrics(cellID: cell.id, name: "base_eval_loss").count == 1)

        // Replayed at 1 and 3 threads: the same answers, token for token.
        for threads in [1, 3] {
            let rep = try tunelab(["replay", "2", "--db", db, "--threads", "\(threads)"])
            #expect(rep.status == 0 && rep.out.contains("bit-identical"), "\(threads): \(rep.out)\n\(rep.err)")
        }

        // compare: both runs' answers by row, with scores.
        let cmp = try tunelab(["compare", "--db", db, "1", "3"])
        #expect(cmp.status == 0, "\(cmp.err)")
        #expect(cmp.out.contains("rougeL") && cmp.out.contains("row \(a[0].settings["row"]!):") && cmp.out.contains("gold="), "\(cmp.out)")
    }

    @Test func diffComparesScoresOnlyUnderTheSameCard() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = repo + "/notebooks/data/medical-cot-sample.jsonl"
        for model in ["default", "default", fixtures.path + "/tiny-llama3"] {
            let r = try tunelab(["eval", "--db", db, "--model", model, "--data", data, "--val-fraction", "0.5", "--max-rows", "2",
                                 "--max-new-tokens", "6", "--metrics", "mean_length"])
            #expect(r.status == 0, "\(r.err)")
        }
        // Same model: the card matches (no "not comparable"); another tokenizer counts other tokens.
        let same = try tunelab(["diff", "--db", db, "1", "2"])
        #expect(same.status == 0 && !same.out.contains("not comparable"), "\(same.out)")
        let other = try tunelab(["diff", "--db", db, "1", "3"])
        #expect(other.out.contains("mean_output_tokens (not comparable: tokenisation differs)"), "\(other.out)")
        let json = try tunelab(["diff", "--db", db, "1", "3", "--json"])
        #expect(json.out.contains("not comparable"), "\(json.out)")
    }

    /// Ctrl-C during `tunelab eval`: it stops between batches, exits 130, records the answers
    /// finished so far (each equal to the same row's answer in an uninterrupted run) and no
    /// scores; the cell and run are recorded as interrupted and the database is intact.
    @Test func interruptKeepsTheFinishedAnswers() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let args = ["eval", "--db", db, "--data", medqa, "--max-rows", "16", "--max-new-tokens", "48", "--threads", "2",
                    "--metrics", "rougeL", "--batch", "2"]
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Binary.path)
        p.arguments = args
        let err = Pipe()
        p.standardOutput = Pipe(); p.standardError = err
        try p.run()
        // Interrupted once the first batch's answers are done (eval's progress goes to stderr).
        var seen = ""
        let deadline = Date().addingTimeInterval(120)
        while !seen.contains("eval: 2/16 answers") && Date() < deadline && p.isRunning {
            let d = err.fileHandleForReading.availableData
            if d.isEmpty { break }
            seen += String(decoding: d, as: UTF8.self)
        }
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        seen += String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(p.terminationStatus == 130, "\(seen)")
        #expect(seen.contains("eval interrupted after"), "\(seen)")

        let record = try ExperimentDB(path: db)
        #expect(try record.integrityCheck() == "ok")
        let run = try #require(try record.run(1))
        #expect(run.summary.status == .interrupted)
        let cell = try #require(run.cells.last)
        #expect(cell.kind == "eval" && cell.outcome == .interrupted)
        let kept = try record.generations(cellID: cell.id)
        #expect(kept.count > 0 && kept.count < 16, "\(kept.count) answers recorded")
        #expect(try record.metrics(cellID: cell.id, name: "rougeL").isEmpty, "an interrupted eval records no score")

        // The same rows uninterrupted: the kept answers are theirs.
        let full = try tunelab(args)
        #expect(full.status == 0, "\(full.err)")
        let all = try record.generations(cellID: try #require(try record.run(2)?.cells.last).id)
        #expect(all.count == 16)
        #expect(kept.map(\.outputIDs) == all.prefix(kept.count).map(\.outputIDs))
        #expect(kept.map { $0.settings["row"] } == all.prefix(kept.count).map { $0.settings["row"] })
    }
}
