import Foundation
import Testing
@testable import Record

/// `tunelab train --method dpo` on the tiny Llama-3 model: a recorded run of a load and a dpo
/// cell, with TRL's metric names, that replays bit for bit, resumes onto the same curve, and
/// refuses bad input naming the flag or the row.
@Suite(.serialized) struct DPOCommandTests {
    let dir: String
    var db: String { dir + "/record.sqlite" }
    var repo: String { fixtures.deletingLastPathComponent().deletingLastPathComponent().path }
    var model: String { fixtures.path + "/tiny-llama3" }
    var data: String { dir + "/pairs.jsonl" }

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("tunelab-dpo-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: repo + "/notebooks/data/preference-sample.jsonl", toPath: data)
    }

    /// `tunelab train --method dpo` with small settings; a flag in `extra` replaces the default one.
    func dpo(_ extra: [String], data: String? = nil) throws -> (status: Int32, out: String, err: String) {
        let defaults: [(String, String)] = [("--max-length", "96"), ("--max-prompt-length", "48"), ("--r", "4"), ("--lora-alpha", "8"),
                                            ("--batch-size", "2"), ("--grad-accum", "2"), ("--lr", "5e-3"), ("--warmup-steps", "1"),
                                            ("--threads", "2"), ("--val-fraction", "0.2"), ("--eval-every", "2")]
        let given = Set(extra.filter { $0.hasPrefix("--") })
        return try tunelab(["train", "--method", "dpo", "--db", db, "--model", model, "--data", data ?? self.data]
                           + defaults.filter { !given.contains($0.0) }.flatMap { [$0.0, $0.1] } + extra)
    }

    @Test func dpoIsARecordedRunThatReplaysAndResumes() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try dpo(["--max-steps", "4", "--save-every", "2", "--out", dir + "/a", "--json"])
        #expect(r.status == 0, "\(r.err)")
        let j = try json(r.out)
        let losses = try #require(j["loss"] as? [Double])
        #expect(losses.count == 4 && abs(losses[0] - log(2)) < 1e-6, "a fresh adapter equals the reference: first loss log 2, got \(losses)")
        // The held-out pairs' loss (the same pairs each time) falls below log 2.
        let evalLoss = try #require(j["eval_loss"] as? [Double])
        #expect(evalLoss.count == 2 && evalLoss[1] < evalLoss[0] && evalLoss[0] < log(2), "\(evalLoss)")

        let record = try ExperimentDB(path: db)
        let run = try #require(try record.run(1))
        #expect(run.cells.map(\.kind) == ["load", "dpo"])
        #expect(run.summary.command?.contains("--method dpo") == true)
        let names = Set(try record.metricNames(cellID: run.cells[1].id))
        for n in ["loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "grad_norm", "lr",
                  "eval_loss", "eval_rewards/margins"] {
            #expect(names.contains(n), "metric \(n) not recorded (have \(names.sorted()))")
        }
        #expect(run.cells[1].details["pairs"] == "24" && run.cells[1].details["validation_pairs"] == "5", "\(run.cells[1].details)")
        let margins = try record.metrics(cellID: run.cells[1].id, name: "rewards/margins")
        #expect(margins.count == 4 && abs(margins[0].value) < 1e-6, "step 1: policy = reference, margin 0, got \(margins.first?.value ?? .nan)")

        // At the recorded thread count (small products still depend on it until the kernels' fixed
        // reduction order covers them; SFT on short sequences shows the same).
        let rep = try tunelab(["replay", "1", "--db", db])
        #expect(rep.status == 0 && rep.out.contains("bit-identical") && rep.out.contains("rewards/margins"), "\(rep.out)\n\(rep.err)")

        // Resuming from step 2 continues the same curve (reference log-probs come from the checkpoint).
        let resumed = try dpo(["--max-steps", "4", "--out", dir + "/b", "--json", "--resume", dir + "/a/checkpoint-2"])
        #expect(resumed.status == 0, "\(resumed.err)")
        #expect(try json(resumed.out)["loss"] as? [Double] == Array(losses.suffix(2)))

        let plot = try tunelab(["plot", "1", "--db", db, "--metric", "rewards/margins", "-o", dir + "/m.png"])
        #expect(plot.status == 0 && FileManager.default.fileExists(atPath: dir + "/m.png"), "\(plot.err)")
    }

    /// SFT → DPO: the dpo cell starts from a train run's adapter; with `reference = adapter` the
    /// reference is that adapter, so the first step's margin is 0 again.
    @Test func startsFromAnSFTAdapter() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sft = try tunelab(["train", "--db", db, "--model", model, "--data", repo + "/notebooks/data/medical-cot-sample.jsonl",
                               "--template-text", "Q: {Question}\nA: {Response}", "--max-seq-length", "120", "--r", "4", "--lora-alpha", "8", "--max-steps", "2", "--threads", "2",
                               "--lr", "1e-2", "--out", dir + "/sft"])
        #expect(sft.status == 0, "\(sft.err)")
        let a = try dpo(["--max-steps", "1", "--adapter", dir + "/sft/adapter", "--reference", "adapter", "--out", dir + "/d", "--json"])
        #expect(a.status == 0, "\(a.err)")
        #expect(abs(((try json(a.out)["loss"] as? [Double])?.first ?? 0) - log(2)) < 1e-6, "reference = the starting adapter: first loss log 2")
        let rep = try tunelab(["replay", "2", "--db", db])
        #expect(rep.status == 0 && rep.out.contains("bit-identical"), "\(rep.out)\n\(rep.err)")
        let b = try dpo(["--max-steps", "1", "--adapter", dir + "/sft/adapter", "--reference", "base", "--out", dir + "/e", "--json"])
        #expect(b.status == 0, "\(b.err)")
        #expect(abs(((try json(b.out)["loss"] as? [Double])?.first ?? 0) - log(2)) > 1e-6, "against the base, the SFT adapter is not neutral")
        let clash = try dpo(["--max-steps", "1", "--adapter", dir + "/sft/adapter", "--r", "8", "--out", dir + "/f"])
        #expect(clash.status != 0 && clash.err.contains("dpo.r") && clash.err.contains("starting adapter"), "\(clash.err)")
    }

    @Test func badInputIsRefusedNamingFlagOrRow() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let empty = dir + "/empty-side.jsonl"
        try "{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"b\"}\n{\"prompt\": \"q\", \"chosen\": \"\", \"rejected\": \"b\"}\n"
            .write(toFile: empty, atomically: true, encoding: .utf8)
        let e = try dpo(["--max-steps", "1", "--out", dir + "/x"], data: empty)
        #expect(e.status != 0 && e.err.contains("line 2 (row 1)") && e.err.contains("\"chosen\" is empty"), "\(e.err)")
        let ls = try dpo(["--max-steps", "1", "--loss-type", "hinge", "--label-smoothing", "0.1"])
        #expect(ls.status != 0 && ls.err.contains("--label-smoothing (dpo.label_smoothing)"), "\(ls.err)")
        let ref = try dpo(["--max-steps", "1", "--reference", "adapter"])
        #expect(ref.status != 0 && ref.err.contains("dpo.reference"), "\(ref.err)")
        let long = try dpo(["--max-steps", "1", "--max-prompt-length", "0", "--max-length", "8"])
        #expect(long.status != 0 && long.err.contains("row 0") && long.err.contains("no room for a completion"), "\(long.err)")
        let same = dir + "/same.jsonl"
        try String(repeating: "{\"prompt\": \"p\", \"chosen\": \"a b\", \"rejected\": \"a b\"}\n{\"prompt\": \"q\", \"chosen\": \"x\", \"rejected\": \"y\"}\n", count: 2)
            .write(toFile: same, atomically: true, encoding: .utf8)
        let w = try dpo(["--max-steps", "1", "--val-fraction", "0", "--out", dir + "/s"], data: same)
        #expect(w.status == 0 && w.err.contains("2 pair(s) with chosen == rejected (rows 0, 2)"), "\(w.err)")
    }
}
