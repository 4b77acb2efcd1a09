import Foundation
import Testing

/// `tunelab train` / `generate --adapter` / `merge` as a user runs them, on the tiny Llama-3 model.
@Suite(.serialized) struct TrainCommandTests {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tunelab-train-cli-\(getpid())").path
    var repo: String { fixtures.deletingLastPathComponent().deletingLastPathComponent().path }
    var model: String { fixtures.path + "/tiny-llama3" }

    func train(_ extra: [String]) throws -> (status: Int32, out: String, err: String) {
        try tunelab(["train", "--model", model, "--data", repo + "/notebooks/data/medical-cot-sample.jsonl",
                     "--template", repo + "/notebooks/templates/medical-cot.txt", "--max-seq-length", "400",
                     "--r", "4", "--lora-alpha", "8", "--batch-size", "2", "--grad-accum", "2", "--lr", "1e-3",
                     "--warmup-steps", "1", "--threads", "2"] + extra)
    }

    @Test func trainResumeGenerateAndMerge() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let full = try train(["--max-steps", "4", "--save-every", "2", "--out", dir + "/full", "--json"])
        #expect(full.status == 0, "\(full.err)")
        let j = try json(full.out)
        let losses = try #require(j["loss"] as? [Double])
        #expect(losses.count == 4)
        #expect(FileManager.default.fileExists(atPath: dir + "/full/adapter/adapter_config.json"))
        let lines = try String(contentsOfFile: dir + "/full/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 4 && lines[0].contains("\"grad_norm\""))

        let resumed = try train(["--max-steps", "4", "--save-every", "2", "--out", dir + "/resumed", "--json",
                                 "--resume", dir + "/full/checkpoint-2"])
        #expect(resumed.status == 0, "\(resumed.err)")
        #expect(try json(resumed.out)["loss"] as? [Double] == Array(losses.suffix(2)))

        let wrong = try train(["--max-steps", "4", "--lr", "5e-4", "--out", dir + "/wrong", "--resume", dir + "/full/checkpoint-2"])
        #expect(wrong.status != 0 && wrong.err.contains("lr"), "\(wrong.err)")
        let zero = try train(["--max-steps", "4", "--lr", "0", "--out", dir + "/zero"])
        #expect(zero.status != 0 && zero.err.contains("lr"), "\(zero.err)")

        let text = "A patient has fever and flank pain."
        func nll(_ args: [String]) throws -> Double {
            let r = try tunelab(["score", "--text", text, "--json"] + args)
            #expect(r.status == 0, "\(r.err)")
            return try #require(try json(r.out)["nll"] as? Double)
        }
        let base = try nll(["--model", model])
        let tuned = try nll(["--model", model, "--adapter", dir + "/full/adapter"])
        #expect(base != tuned, "the adapter changes nothing")
        let gen = try tunelab(["generate", "--model", model, "--adapter", dir + "/full/adapter", "--prompt", "Fever",
                               "--max-new-tokens", "4", "--ignore-eos"])
        #expect(gen.status == 0, "\(gen.err)")

        let merged = try tunelab(["merge", "--model", model, "--adapter", dir + "/full/adapter", "--out", dir + "/merged"])
        #expect(merged.status == 0, "\(merged.err)")
        let fromMerged = try nll(["--model", dir + "/merged"])
        #expect(abs(fromMerged - tuned) / tuned < 1e-5, "merged \(fromMerged) vs unmerged \(tuned)")
    }
}
