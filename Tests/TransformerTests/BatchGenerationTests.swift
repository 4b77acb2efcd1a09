import Foundation
import Testing
@testable import Transformer

/// Batched decoding (`generateBatch`, `Forward.callAsFunction(batch:)`) against decoding each
/// sequence alone: same logits bit for bit, hence the same greedy and seeded-sampled tokens.
@Suite(.serialized) struct BatchGeneration {
    static let texts = [
        "The patient reports", "def fibonacci(n):", "Water boils at", "In 1969, the first",
        "A 45-year-old man presents with chest pain radiating to the left arm. The most likely diagnosis is",
        "Translate to French: good morning",
    ]

    /// Every row of a Q4_1 (SmolLM2) and a Q8_0 (its LM head) product on the row-dot path is
    /// bit-identical to that row alone, for m = 9 (two four-vector groups and a single one).
    /// Negative control: the same nine rows through sgemm (the prefill path) are not.
    @Test func rowDotProductsDoNotDependOnTheBatch() throws {
        let lm = try #require(Models.smol, "default model missing: run scripts/setup.sh")
        for lin in [lm.weights.layers[0].gate, lm.weights.lmHead] {
            let m = 9, rows = lin.rows, cols = lin.cols
            var rng = SystemRandomNumberGenerator()
            let x = (0..<(m * cols)).map { _ in Float.random(in: -1...1, using: &rng) }
            let scratch = Scratch()
            func product(_ rowDots: Bool, _ rowsOf: Range<Int>) -> [Float] {
                var y = [Float](repeating: 0, count: rowsOf.count * rows)
                x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer {
                    try! lin.forward(xp.baseAddress! + rowsOf.lowerBound * cols, m: rowsOf.count, $0.baseAddress!,
                                scratch: scratch, rowDots: rowDots)
                } }
                return y
            }
            let alone = (0..<m).flatMap { product(false, $0..<($0 + 1)) }
            do { let same = product(true, 0..<m) == alone; #expect(same, "\(lin.type): batched row dots differ from one row at a time") }
            #expect(product(false, 0..<m) != alone, "\(lin.type): the sgemm path should round differently (control)")
        }
    }

    /// Six sequences (more than `Linear.gemvMaxRows`, at different positions) stepped as one
    /// batch give each the logits of its own one-token step, bit for bit.
    @Test func batchedStepLogitsAreBitIdentical() throws {
        let lm = try #require(Models.smol)
        let prompts = Self.texts.map { lm.tokenizer.encode($0) }
        #expect(prompts.count > Linear.gemvMaxRows)
        let v = lm.config.vocabSize
        let alone = prompts.map { _ in lm.forward.makeCache() }, together = prompts.map { _ in lm.forward.makeCache() }
        var next: [Int] = []
        for (i, p) in prompts.enumerated() {
            let a = try lm.forward(p, cache: alone[i]), b = try lm.forward(p, cache: together[i])
            do { let same = a == b; #expect(same) }
            next.append(Sampler.argmax(a))
        }
        for step in 0..<3 {
            let batched = try lm.forward(batch: prompts.indices.map { ([next[$0]], together[$0]) })
            #expect(batched.count == prompts.count * v)
            for i in prompts.indices {
                let one = try lm.forward([next[i]], cache: alone[i])
                let row = Array(batched[(i * v)..<((i + 1) * v)])
                do { let same = row == one; #expect(same, "step \(step), sequence \(i)") }
                next[i] = Sampler.argmax(one)
            }
        }
    }

    /// Greedy: the same ids, text and stop reason as one at a time, with sequences stopping at
    /// different steps (a stop string ends some early; the others run to the token limit).
    @Test func greedyBatchMatchesOneAtATime() throws {
        let lm = try #require(Models.smol)
        let prompts = Self.texts.map { lm.tokenizer.encode($0) }
        let batch = try lm.generateBatch(prompts: prompts, maxNewTokens: 20, stopStrings: ["."], stopOnEndOfTurn: true)
        var stops = Set<Int>()
        for (i, p) in prompts.enumerated() {
            let one = try lm.generate(promptIds: p, maxNewTokens: 20, stopStrings: ["."], stopOnEndOfTurn: true)
            #expect(batch[i].ids == one.ids, "sequence \(i)")
            #expect(batch[i].text == one.text && batch[i].stop == one.stop, "sequence \(i)")
            stops.insert(one.ids.count)
        }
        #expect(stops.count > 1, "the sequences should end at different steps")
    }

    /// Seeded sampling: sequence i with seed i samples what `generate` samples with seed i
    /// (its own RNG stream), and the seeds matter (the same prompt under two seeds differs).
    @Test func seededSamplingMatchesPerSequenceSeed() throws {
        let lm = try #require(Models.smol)
        let prompt = lm.tokenizer.encode("The patient reports")
        let prompts = [prompt, prompt, lm.tokenizer.encode("Water boils at"), prompt, prompt]
        let seeds: [UInt64] = [1, 2, 3, 3407, 5]
        let p = SamplingParams(temperature: 0.8, topK: 40, topP: 0.9, repetitionPenalty: 1.1, seed: 99)
        let batch = try lm.generateBatch(prompts: prompts, maxNewTokens: 16, sampling: p, seeds: seeds, stopOnEndOfTurn: false)
        for i in prompts.indices {
            var q = p; q.seed = seeds[i]
            let one = try lm.generate(promptIds: prompts[i], maxNewTokens: 16, sampling: q, stopOnEndOfTurn: false)
            #expect(batch[i].ids == one.ids && batch[i].endToken == one.endToken, "sequence \(i), seed \(seeds[i])")
        }
        #expect(batch[0].ids != batch[1].ids)
        // A repeated prompt is prefilled once; the copies start from the same cache and logits.
        let same = try lm.generateBatch(prompts: [prompt, prompt, prompt], maxNewTokens: 16, sampling: p, seeds: [1, 2, 1], stopOnEndOfTurn: false)
        #expect(same[0].ids == batch[0].ids && same[1].ids == batch[1].ids && same[2].ids == same[0].ids)
    }

    @Test func badInputIsRefused() throws {
        let lm = try #require(Models.smol)
        let ids = lm.tokenizer.encode("Hello")
        #expect(throws: GenerationError.self) { try lm.generateBatch(prompts: [ids, ids], maxNewTokens: 4, seeds: [1]) }
        #expect(throws: GenerationError.self) { try lm.generateBatch(prompts: [ids, []], maxNewTokens: 4) }
        let c = lm.forward.makeCache()
        #expect(throws: ModelLoadError.self) { try lm.forward(batch: [([1], c), ([2], c)]) }
        #expect(try lm.generateBatch(prompts: [], maxNewTokens: 4).isEmpty)
    }
}
