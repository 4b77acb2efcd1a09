import Foundation
import Testing

/// `tunelab bench train --profile` on the tiny Llama-3 model: the numbers are the benchmark's
/// business, but the report must be complete and its phase breakdown must account for the step.
@Suite struct BenchCommandTests {
    var repo: String { fixtures.deletingLastPathComponent().deletingLastPathComponent().path }

    @Test func benchTrainProfileAccountsForTheStep() throws {
        let r = try tunelab(["bench", "train", "--model", fixtures.path + "/tiny-llama3",
                             "--data", repo + "/notebooks/data/medical-cot-sample.jsonl",
                             "--template", repo + "/notebooks/templates/medical-cot.txt",
                             "--batch-size", "2", "--seq-len", "96", "--steps", "2", "--warmup", "1",
                             "--r", "4", "--threads", "2", "--profile", "--json"])
        #expect(r.status == 0, "\(r.err)")
        let j = try json(r.out)
        let tps = try #require(j["tokens_per_s"] as? Double)
        #expect(tps > 0)
        #expect((j["gflop_per_token"] as? Double ?? 0) > 0)
        let steps = try #require(j["step_seconds"] as? [Double])
        #expect(steps.count == 2)
        let phases = try #require(j["profile_seconds_per_step"] as? [String: Double])
        #expect(Set(phases.keys) == ["frozen", "lora", "attention", "head", "other"])
        #expect(phases.values.allSatisfy { $0 >= 0 } && phases["frozen"]! > 0 && phases["attention"]! > 0)
        // The phases nest without double counting: together they are the step's wall time.
        let perStep = steps.reduce(0, +) / Double(steps.count)
        let total = phases.values.reduce(0, +)
        #expect(abs(total - perStep) <= 0.1 * perStep + 0.002, "phases \(total) s vs step \(perStep) s")
    }
}
