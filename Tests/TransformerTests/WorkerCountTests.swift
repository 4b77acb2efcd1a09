import Foundation
import Kernels
import Testing
@testable import Transformer

/// Inference gives bit-identical logits at 1, 2, 3 and 8 workers: a prompt's forward (SmolLM2's
/// 600-token prompt takes the k-split in attention's P·V of its last query blocks; the
/// projections split by rows) and greedy decoding after it (one-row products, rows of the
/// quantised matrices spread over workers).
@Suite(.serialized) struct WorkerCountInferenceTests {
    static let workerCounts = [1, 2, 3, 8]

    @Test(arguments: ["smollm2", "tiny-llama3", "tiny-qwen2"])
    func promptAndGreedyDecodeLogitsAreBitIdenticalAtEveryWorkerCount(model: String) throws {
        let lm = try #require(model == "smollm2" ? Models.smol : model == "tiny-llama3" ? Models.tinyLlama : Models.tinyQwen)
        var rng = SeededRNG(seed: 23)
        let prompt = (0..<(model == "smollm2" ? 600 : 300)).map { _ in Int(rng.next() % UInt64(lm.config.vocabSize)) }
        func run() throws -> [[Float]] {
            let cache = lm.forward.makeCache()
            var logits = try lm.forward(prompt, cache: cache)
            var all = [logits]
            for _ in 0..<6 {
                let next = logits.indices.max { logits[$0] < logits[$1] }!
                logits = try lm.forward([next], cache: cache)
                all.append(logits)
            }
            return all
        }
        let runs = try Self.workerCounts.map { w in try Parallel.withWorkers(w) { try run() } }
        for (w, r) in zip(Self.workerCounts, runs).dropFirst() {
            // (Compared outside #expect: its diff of two 49152-wide rows takes minutes.)
            let samePrompt = r[0] == runs[0][0], sameDecode = r == runs[0]
            #expect(samePrompt, "\(model): prompt logits at \(w) workers differ from 1 worker")
            #expect(sameDecode, "\(model): decode logits at \(w) workers differ from 1 worker")
        }
    }
}
