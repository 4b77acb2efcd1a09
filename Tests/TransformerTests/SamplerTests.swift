import Testing
@testable import Transformer

/// Against transformers' logits processors (scripts/make_sampling_references.py).
@Test func samplerMatchesTransformersWarpers() throws {
    let cases = try #require(try Fixtures.json("sampling/warpers.json") as? [[String: Any]])
    #expect(cases.count >= 20)
    for (n, c) in cases.enumerated() {
        var logits = (c["logits"] as! [Double]).map(Float.init)
        let history = c["history"] as! [Int]
        let params = SamplingParams(temperature: Float(c["temperature"] as! Double), topK: c["top_k"] as! Int,
                                    topP: Float(c["top_p"] as! Double),
                                    repetitionPenalty: Float(c["repetition_penalty"] as! Double), seed: 1)
        let sampler = Sampler(params)
        let (ids, probs) = sampler.candidates(&logits, history: history)
        let penalised = (c["penalised"] as! [Double]).map(Float.init)
        for i in 0..<logits.count { #expect(abs(logits[i] - penalised[i]) <= 1e-6 * max(1, abs(penalised[i])), "case \(n) id \(i)") }
        #expect(Set(ids) == Set(c["allowed"] as! [Int]), "case \(n)")
        #expect(abs(probs.reduce(0, +) - 1) < 1e-9)
    }
}

@Test func samplingIsReproducibleAndFollowsTheDistribution() {
    let logits: [Float] = [2, 1, 0, -1]
    var a = Sampler(SamplingParams(temperature: 1, seed: 42)), b = Sampler(SamplingParams(temperature: 1, seed: 42))
    var counts = [0, 0, 0, 0]
    for _ in 0..<20000 {
        var l1 = logits, l2 = logits
        let x = a.next(&l1, history: []), y = b.next(&l2, history: [])
        #expect(x == y)
        counts[x] += 1
    }
    // Softmax of [2,1,0,-1] = [.6439, .2369, .0871, .0321]
    let expected = [0.6439, 0.2369, 0.0871, 0.0321]
    for i in 0..<4 { #expect(abs(Double(counts[i]) / 20000 - expected[i]) < 0.015) }
}

@Test func greedyPicksFirstMaximum() {
    var l: [Float] = [0, 3, 3, 1]
    var s = Sampler(SamplingParams())
    #expect(s.next(&l, history: []) == 1)
}

@Test func invalidSamplingSettingsAreRejected() {
    #expect(throws: GenerationError.self) { try SamplingParams(temperature: -1).validate() }
    #expect(throws: GenerationError.self) { try SamplingParams(temperature: 1, topP: 0).validate() }
    #expect(throws: GenerationError.self) { try SamplingParams(repetitionPenalty: 0).validate() }
}
