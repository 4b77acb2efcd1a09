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
    /// bit-identical to that row alone, for m = 2, 7, 9 and 13 (the kernel takes vectors 8, 4
    /// and 1 at a time, a last group of 2–3 or 5–7 padded with zero vectors: every mix of
    /// groups). Negative control: the same rows through sgemm
    /// (the prefill path) are not.
    @Test(arguments: [2, 7, 9, 13]) func rowDotProductsDoNotDependOnTheBatch(m: Int) throws {
        let lm = try #require(Models.smol, "default model missing: run scripts/setup.sh")
        for lin in [lm.weights.layers[0].gate, lm.weights.lmHead] {
            let rows = lin.rows, cols = lin.cols
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
            if m > Linear.gemvMaxRows {
                #expect(product(false, 0..<m) != alone, "\(lin.type): the sgemm path should round differently (control)")
            }
        }
    }

    /// A decode step's attention row (`Attention.block` with one query row, head size 64: the
    /// plain-loop path) against Float64, at 1, 17 and 300 visible keys, with keys and values
    /// ldkv = 192 floats apart as in the KV cache.
    @Test(arguments: [1, 17, 300]) func decodeAttentionRowMatchesFloat64(visible: Int) {
        let hd = 64, ldkv = 192, scale = 1 / Float(hd).squareRoot()
        var rng = SplitMix(seed: UInt64(visible))
        let q = (0..<hd).map { _ in rng.float() * 2 }
        let k = (0..<(visible * ldkv)).map { _ in rng.float() * 2 }, v = (0..<(visible * ldkv)).map { _ in rng.float() }
        var probs = [Float](repeating: .nan, count: visible), out = [Float](repeating: .nan, count: hd)
        Attention.block(q: q, ldq: hd, k: k, v: v, ldkv: ldkv, rows: 1, firstPosition: visible - 1, headDim: hd, scale: scale,
                        probs: &probs, ldp: visible, out: &out, ldo: hd)
        var s = (0..<visible).map { j in Double(scale) * (0..<hd).reduce(0.0) { $0 + Double(q[$1]) * Double(k[j * ldkv + $1]) } }
        let mx = s.max()!
        s = s.map { exp($0 - mx) }
        let z = s.reduce(0, +)
        let ref = (0..<hd).map { c in (0..<visible).reduce(0.0) { $0 + s[$1] / z * Double(v[$1 * ldkv + c]) } }
        let err = zip(out, ref).map { abs(Double($0) - $1) }.max()!
        let perr = zip(probs, s).map { abs(Double($0) - $1 / z) }.max()!
        #expect(err <= 1e-5 && perr <= 1e-6, "visible \(visible): out error \(err), probability error \(perr)")
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

    /// The reusable-buffer form of a batched step fills the caller's array with what the
    /// array-returning form returns, and resizes it when the batch shrinks.
    @Test func batchedStepIntoABufferEqualsTheReturnedLogits() throws {
        let lm = try #require(Models.smol)
        let prompts = Self.texts.prefix(3).map { lm.tokenizer.encode($0) }
        let a = prompts.map { _ in lm.forward.makeCache() }, b = prompts.map { _ in lm.forward.makeCache() }
        for (i, p) in prompts.enumerated() { _ = try lm.forward(p, cache: a[i]); _ = try lm.forward(p, cache: b[i]) }
        var buffer = [Float](repeating: .nan, count: 7)
        try lm.forward(batch: prompts.indices.map { ([1], a[$0]) }, into: &buffer)
        let returned = try lm.forward(batch: prompts.indices.map { ([1], b[$0]) })
        do { let same = buffer == returned; #expect(same) }
        try lm.forward(batch: [([2], a[0])], into: &buffer)
        let one = try lm.forward(batch: [([2], b[0])])
        do { let same = buffer == one; #expect(same && buffer.count == lm.config.vocabSize) }
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

/// A small deterministic generator for test inputs (floats in [-0.5, 0.5)).
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state = state &+ 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func float() -> Float { Float(next() >> 40) / Float(1 << 24) - 0.5 }
}
