import Foundation
import Testing
@testable import Record

/// `tunelab train --method grpo` on the tiny Llama-3 model: a recorded run of a load and a grpo
/// cell whose completions are all recorded with their rewards and advantages, that replays bit
/// for bit (completions token by token), resumes onto the same curve (also inside a generation
/// used for two steps), and refuses bad input — a reward program that is missing, crashes,
/// hangs or prints garbage, a prompt too long — naming the row or the flag, keeping what was
/// recorded before.
@Suite(.serialized) struct GRPOCommandTests {
    let dir: String
    var db: String { dir + "/record.sqlite" }
    var repo: String { fixtures.deletingLastPathComponent().deletingLastPathComponent().path }
    var model: String { fixtures.path + "/tiny-llama3" }
    var data: String { dir + "/prompts.jsonl" }

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("tunelab-grpo-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: repo + "/notebooks/data/grpo-sample.jsonl", toPath: data)
    }

    /// A reward program in /bin/sh (every machine has it): `body` runs once per step.
    func script(_ name: String, _ body: String) throws -> String {
        let path = dir + "/" + name
        try ("#!/bin/sh\n" + body + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A score that depends on the completion: its JSON line's length mod 5.
    var lengthScore: String { "while IFS= read -r line; do echo $(( ${#line} % 5 )); done" }

    /// `tunelab train --method grpo` with small settings; a flag in `extra` replaces the default one.
    func grpo(_ extra: [String], data: String? = nil) throws -> (status: Int32, out: String, err: String) {
        let defaults: [(String, String)] = [("--num-generations", "4"), ("--batch-size", "4"), ("--grad-accum", "2"),
                                            ("--max-completion-length", "12"), ("--r", "4"), ("--lora-alpha", "8"), ("--lr", "5e-3"),
                                            ("--rewards", "length"), ("--length-target", "4"), ("--length-cache", "8"),
                                            ("--threads", "2"), ("--save-every", "0")]
        let given = Set(extra.filter { $0.hasPrefix("--") })
        return try tunelab(["train", "--method", "grpo", "--db", db, "--model", model, "--data", data ?? self.data]
                           + defaults.filter { !given.contains($0.0) }.flatMap { [$0.0, $0.1] } + extra)
    }

    @Test func grpoIsARecordedRunThatReplaysAndResumes() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let score = try script("score.sh", lengthScore)
        let r = try grpo(["--max-steps", "4", "--num-iterations", "2", "--beta", "0.04", "--save-every", "1", "--reward-command", "sh \(score)",
                          "--out", dir + "/a", "--json"])
        #expect(r.status == 0, "\(r.err)")
        let j = try json(r.out)
        let losses = try #require(j["loss"] as? [Double])
        #expect(losses.count == 4 && j["completions"] as? Int == 16, "two generations of 8 completions: \(j)")

        let record = try ExperimentDB(path: db)
        let run = try #require(try record.run(1))
        #expect(run.cells.map(\.kind) == ["load", "grpo"])
        let cell = run.cells[1]
        #expect(cell.files.keys.contains(score), "the reward program is hashed into the record: \(cell.files.keys.sorted())")
        let names = Set(try record.metricNames(cellID: cell.id))
        for n in ["loss", "reward", "reward_std", "rewards/length/mean", "rewards/command/std", "frac_reward_zero_std", "kl",
                  "clip_ratio/region_mean", "completions/mean_length", "time/generation_s", "time/training_s", "grad_norm"] {
            #expect(names.contains(n), "metric \(n) not recorded (have \(names.sorted()))")
        }
        // Reward metrics on the steps that generated (1 and 3), the loss on every step.
        #expect(try record.metrics(cellID: cell.id, name: "reward").map(\.step) == [1, 3])
        #expect(try record.metrics(cellID: cell.id, name: "loss").count == 4)
        let comps = try record.completions(cellID: cell.id)
        #expect(comps.count == 16 && Set(comps.map(\.step)) == [1, 3] && Set(comps.map(\.seed)).count == 16)
        for g in stride(from: 0, to: 16, by: 4) {
            let group = comps[g..<(g + 4)]
            #expect(Set(group.map(\.row)).count == 1 && group.map(\.generation) == [0, 1, 2, 3])
            #expect(abs(group.reduce(0) { $0 + $1.advantage }) < 1e-9, "a group's advantages sum to 0")
            for c in group {
                #expect(c.rewards.keys.sorted() == ["command", "length"] && c.completionIDs.count <= 12)
                #expect(abs(c.reward - ((c.rewards["length"] ?? 0) + (c.rewards["command"] ?? 0))) < 1e-12)
            }
        }
        // Zero-std groups are counted as TRL does: the share of groups whose rewards are all equal.
        let zero = try record.metrics(cellID: cell.id, name: "frac_reward_zero_std").map(\.value)
        let expected = stride(from: 0, to: 16, by: 4).map { g in Set(comps[g..<(g + 4)].map(\.reward)).count == 1 ? 1.0 : 0.0 }
        #expect(zero == [(expected[0] + expected[1]) / 2, (expected[2] + expected[3]) / 2], "\(zero) vs \(expected)")

        let rep = try tunelab(["replay", "1", "--db", db])
        #expect(rep.status == 0 && rep.out.contains("bit-identical") && rep.out.contains("16 completions"), "\(rep.out)\n\(rep.err)")

        // Resuming after step 1 (the generation is reused by step 2, so it comes from the
        // checkpoint) and after step 2 continues the same curve and samples the same completions.
        for from in [1, 2] {
            let resumed = try grpo(["--max-steps", "4", "--num-iterations", "2", "--beta", "0.04", "--reward-command", "sh \(score)",
                                    "--out", dir + "/b\(from)", "--json", "--resume", dir + "/a/checkpoint-\(from)"])
            #expect(resumed.status == 0, "\(resumed.err)")
            #expect(try json(resumed.out)["loss"] as? [Double] == Array(losses.suffix(4 - from)), "resumed from step \(from)")
            let runID = try record.listRuns().first!.id
            let again = try record.completions(cellID: try #require(try record.run(runID)).cells[1].id)
            #expect(again.map(\.completionIDs) == comps.filter { $0.step == 3 }.map(\.completionIDs), "resumed from step \(from)")
        }

        let show = try tunelab(["show", "1", "--db", db])
        #expect(show.status == 0 && show.out.contains("16 completions over 2 generations"), "\(show.out)")
        let export = try tunelab(["export-record", "1", "--db", db, "--format", "json"])
        let cells = try #require(try json(export.out)["cells"] as? [[String: Any]])
        #expect((cells[1]["completions"] as? [[String: Any]])?.count == 16, "export-record holds the completions")

        let plot = try tunelab(["plot", "1", "--db", db, "--metric", "reward", "-o", dir + "/r.png"])
        #expect(plot.status == 0 && FileManager.default.fileExists(atPath: dir + "/r.png"), "\(plot.err)")
        #expect(FileManager.default.fileExists(atPath: dir + "/a/rewards.png"))
    }

    /// Completions decoded one at a time equal those decoded as one batch (only speed differs).
    @Test func generationBatchChangesNothingButSpeed() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for b in ["0", "1", "3"] {
            let r = try grpo(["--max-steps", "1", "--generation-batch", b, "--out", dir + "/g\(b)"])
            #expect(r.status == 0, "\(r.err)")
        }
        let record = try ExperimentDB(path: db)
        let all = try (1...3).map { id in try record.completions(cellID: try #require(try record.run(Int64(id))).cells[1].id) }
        #expect(all[0].count == 8 && all[1] == all[0] && all[2] == all[0])
        let losses = try (1...3).map { id in try record.metrics(runID: Int64(id), name: "loss").map(\.value) }
        #expect(losses[1] == losses[0] && losses[2] == losses[0])
    }

    @Test func badInputIsRefusedNamingTheRowOrFlag() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A program that works for step 1 and crashes on step 2: step 1 stays recorded.
        let crash = try script("crash.sh", "if [ -e \(dir)/ran ]; then echo 0.5; exit 3; fi\ntouch \(dir)/ran\n" + lengthScore)
        let c = try grpo(["--max-steps", "3", "--reward-command", "sh \(crash)", "--out", dir + "/c"])
        #expect(c.status != 0 && c.err.contains("exited with status 3 after answering 1 of 8 at row"), "\(c.err)")
        let record = try ExperimentDB(path: db)
        let run = try #require(try record.run(1))
        #expect(run.summary.status == .failed && run.cells[1].outcome == .error)
        #expect(try record.completions(cellID: run.cells[1].id).count == 8, "step 1's completions are kept")
        #expect(try record.metrics(cellID: run.cells[1].id, name: "loss").map(\.step) == [1], "step 1's metrics are kept")

        let hang = try script("hang.sh", "exec sleep 30")
        let t0 = Date()
        let h = try grpo(["--max-steps", "1", "--reward-command", "sh \(hang)", "--reward-timeout", "1", "--out", dir + "/h"])
        #expect(h.status != 0 && h.err.contains("did not finish within reward_timeout = 1 s (answered 0 of 8, waiting for row"), "\(h.err)")
        #expect(Date().timeIntervalSince(t0) < 15)

        let garbage = try script("garbage.sh", "while IFS= read -r line; do echo abc; done")
        let g = try grpo(["--max-steps", "1", "--reward-command", "sh \(garbage)", "--out", dir + "/x"])
        #expect(g.status != 0 && g.err.contains("line 1 of its output, \"abc\", is not a finite number; it scores row"), "\(g.err)")
        let short = try script("short.sh", "echo 1")
        let s = try grpo(["--max-steps", "1", "--reward-command", "sh \(short)", "--out", dir + "/y"])
        #expect(s.status != 0 && s.err.contains("answered 1 of 8 completions; no number for row"), "\(s.err)")

        let missing = try grpo(["--max-steps", "1", "--reward-command", "no-such-scorer-xyz"])
        #expect(missing.status != 0 && missing.err.contains("--reward-command (grpo.reward_command): no-such-scorer-xyz: no such program on PATH"), "\(missing.err)")
        let noFile = try grpo(["--max-steps", "1", "--reward-command", "sh \(dir)/nope.sh"])
        #expect(noFile.status != 0 && noFile.err.contains("nope.sh: no such file"), "\(noFile.err)")
        let long = try grpo(["--max-steps", "1", "--max-prompt-length", "20"])
        #expect(long.status != 0 && long.err.contains("--max-prompt-length (grpo.max_prompt_length)") && long.err.contains("row 0: the prompt is"), "\(long.err)")
        let gold = try grpo(["--max-steps", "1", "--rewards", "answer_match", "--answer-column", "gold"])
        #expect(gold.status != 0 && gold.err.contains("grpo.answer_column") && gold.err.contains("row 0 has no \"gold\""), "\(gold.err)")
        let groups = try grpo(["--max-steps", "1", "--num-generations", "3"])
        #expect(groups.status != 0 && groups.err.contains("--num-generations (grpo.num_generations): 3 does not divide"), "\(groups.err)")
    }
}
