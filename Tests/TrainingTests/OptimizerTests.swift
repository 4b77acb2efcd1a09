import Foundation
import Testing
@testable import Training

/// References: Tests/Fixtures/optimizer/adamw.json from scripts/make_optimizer_references.py
/// (torch.optim.AdamW(foreach=False), clip_grad_norm_, transformers.get_scheduler; torch 2.15 CPU).
struct AdamWReference: Decodable {
    struct Schedule: Decodable { let name: String; let warmup_steps: Int; let total_steps: Int }
    struct Case: Decodable {
        let name: String
        let lr: Double
        let betas: [Double]
        let eps: Double
        let weight_decay: Double
        let schedule: Schedule?
        let max_norm: Double?
        let lrs: [Double]
        let pre_clip_norms: [UInt32]?
        let params: [[[UInt32]]]
        var config: AdamWConfig { AdamWConfig(lr: lr, beta1: betas[0], beta2: betas[1], eps: eps, weightDecay: weight_decay) }
    }
    let tensors: [Int]
    let steps: Int
    let init_: [[UInt32]]
    let grads: [[[UInt32]]]
    let cases: [Case]
    enum CodingKeys: String, CodingKey { case tensors, steps, init_ = "init", grads, cases }

    static func load() throws -> AdamWReference {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../Fixtures/optimizer/adamw.json")
        return try JSONDecoder().decode(AdamWReference.self, from: Data(contentsOf: url))
    }
    var initial: [[Float]] { init_.map { $0.map(Float.init(bitPattern:)) } }
    func gradients(step: Int) -> [[Float]] { grads[step].map { $0.map(Float.init(bitPattern:)) } }
}

private func ulps(_ a: Float, _ b: Float) -> Int {
    func key(_ x: Float) -> Int { let i = Int(Int32(bitPattern: x.bitPattern)); return i < 0 ? Int(Int32.min) - i : i }
    return abs(key(a) - key(b))
}

@Suite struct OptimizerTests {
    /// torch's CPU float sqrt (MKL) is not correctly rounded and ours is, so parameters agree to a
    /// few ulp (not bits); every other op follows torch's order and fusing exactly.
    @Test func adamWMatchesTorch() throws {
        let ref = try AdamWReference.load()
        let cases = ref.cases.filter { $0.max_norm == nil }
        #expect(cases.count == 3)
        for c in cases {
            let opt = try AdamW(parameterCounts: ref.tensors, config: c.config)
            var params = ref.initial
            var worstUlp = 0, worstRel = 0.0, mismatches = 0, total = 0
            for s in 0..<ref.steps {
                try opt.step(parameters: &params, gradients: ref.gradients(step: s), lr: c.lrs[s])
                for t in params.indices {
                    for (x, w) in zip(params[t], c.params[s][t]) {
                        let want = Float(bitPattern: w)
                        total += 1
                        if x.bitPattern != w { mismatches += 1 }
                        worstUlp = max(worstUlp, ulps(x, want))
                        // allclose(rtol 1e-6, atol 1e-8): a parameter crossing zero has few significant bits left
                        worstRel = max(worstRel, Double(abs(x - want)) / (Double(abs(want)) + 1e-2))
                    }
                }
            }
            #expect(worstRel <= 1e-6, "\(c.name): off by \(worstRel) relative")
            #expect(mismatches * 20 <= total, "\(c.name): only \(total - mismatches)/\(total) values bit-exact")
            print("\(c.name): \(total - mismatches)/\(total) bit-exact, worst \(worstUlp) ulp, rel \(worstRel)")
        }
    }

    /// Clipping + transformers schedule + AdamW, as a training loop does it.
    @Test func clippedScheduledAdamWMatchesTorch() throws {
        let ref = try AdamWReference.load()
        let cases = ref.cases.filter { $0.max_norm != nil }
        #expect(cases.count == 2)
        for c in cases {
            let sc = try #require(c.schedule)
            let schedule = try LRSchedule(name: sc.name, baseLR: c.lr, totalSteps: sc.total_steps, warmup: .steps(sc.warmup_steps))
            let opt = try AdamW(parameterCounts: ref.tensors, config: c.config)
            var params = ref.initial
            var worstNorm = 0.0, worstParam = 0.0, exactNorms = 0
            for s in 0..<ref.steps {
                var g = ref.gradients(step: s)
                let norm = try GradClip.clip(&g, maxNorm: try #require(c.max_norm))
                let want = Float(bitPattern: try #require(c.pre_clip_norms)[s])
                if norm == want { exactNorms += 1 }
                worstNorm = max(worstNorm, Double(abs(norm - want) / want))
                let lr = schedule.lr(at: s)
                #expect(lr == c.lrs[s], "\(c.name) step \(s): lr \(lr) vs transformers \(c.lrs[s])")
                try opt.step(parameters: &params, gradients: g, lr: lr)
                for t in params.indices {
                    for (x, w) in zip(params[t], c.params[s][t]) {
                        let want = Float(bitPattern: w)
                        worstParam = max(worstParam, Double(abs(x - want)) / (Double(abs(want)) + 1e-2))
                    }
                }
            }
            #expect(worstNorm <= 1e-6, "\(c.name): pre-clip norm off by \(worstNorm) relative")
            #expect(worstParam <= 1e-6, "\(c.name): parameters off by \(worstParam) relative")
            print("\(c.name): \(exactNorms)/\(ref.steps) norms bit-exact, max param rel err \(worstParam)")
        }
    }

    @Test func clipLeavesSmallGradientsAlone() throws {
        var g: [[Float]] = [[3, 0], [0, 4]]      // norm 5
        let n = try GradClip.clip(&g, maxNorm: 10)
        #expect(n == 5)
        #expect(g == [[3, 0], [0, 4]])
        let m = try GradClip.clip(&g, maxNorm: 1)
        #expect(m == 5)
        let after = g.joined().reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
        #expect(abs(after - 1) < 1e-6)
        #expect(throws: OptimizerError.self) { try GradClip.clip(&g, maxNorm: 0) }
    }

    /// Save after k steps → restore into a fresh optimizer → continue = the uninterrupted run,
    /// bit for bit, through the binary form and through Codable (JSON).
    @Test(arguments: ["binary", "json"])
    func saveRestoreResumesExactly(format: String) throws {
        let ref = try AdamWReference.load()
        let c = ref.cases[1]
        let straight = try AdamW(parameterCounts: ref.tensors, config: c.config)
        var a = ref.initial
        for s in 0..<ref.steps { try straight.step(parameters: &a, gradients: ref.gradients(step: s), lr: c.lr) }

        var first: AdamW? = try AdamW(parameterCounts: ref.tensors, config: c.config)
        var b = ref.initial
        for s in 0..<4 { try first!.step(parameters: &b, gradients: ref.gradients(step: s), lr: c.lr) }
        let saved: Data = format == "binary" ? first!.state.serialized() : try JSONEncoder().encode(first!.state)
        let snapshot = first!.state
        first = nil
        let state = format == "binary" ? try AdamWState(serialized: saved) : try JSONDecoder().decode(AdamWState.self, from: saved)
        #expect(state == snapshot)
        let resumed = try AdamW(state: state)
        for s in 4..<ref.steps { try resumed.step(parameters: &b, gradients: ref.gradients(step: s), lr: c.lr) }
        #expect(a.map { $0.map(\.bitPattern) } == b.map { $0.map(\.bitPattern) })
        #expect(resumed.state == straight.state)
    }

    @Test func corruptStateIsRejectedNotCrashing() throws {
        let opt = try AdamW(parameterCounts: [3, 2], config: AdamWConfig())
        var p: [[Float]] = [[1, 2, 3], [4, 5]]
        try opt.step(parameters: &p, gradients: [[0.1, 0.2, 0.3], [0.4, 0.5]], lr: 1e-3)
        let good = opt.state.serialized()
        #expect(try AdamWState(serialized: good) == opt.state)
        for len in 0..<good.count {
            #expect(throws: OptimizerError.self) { try AdamWState(serialized: good.prefix(len)) }
        }
        #expect(throws: OptimizerError.self) { try AdamWState(serialized: good + Data([0])) }
        var huge = good
        huge.replaceSubrange(52..<60, with: Data(repeating: 0xFF, count: 8))   // tensor count
        #expect(throws: OptimizerError.self) { try AdamWState(serialized: huge) }
    }

    @Test func validationNamesTheParameter() throws {
        func message(_ config: AdamWConfig) -> String {
            do { _ = try AdamW(parameterCounts: [1], config: config); return "" } catch { return "\(error)" }
        }
        #expect(message(AdamWConfig(lr: 0)).contains("lr"))
        #expect(message(AdamWConfig(lr: -1e-3)).contains("lr"))
        #expect(message(AdamWConfig(weightDecay: -0.1)).contains("weight_decay"))
        #expect(message(AdamWConfig(beta1: 1)).contains("beta1"))
        #expect(message(AdamWConfig(beta1: -0.1)).contains("beta1"))
        #expect(message(AdamWConfig(beta2: 1.5)).contains("beta2"))
        #expect(message(AdamWConfig(eps: -1)).contains("eps"))
        #expect(message(AdamWConfig(lr: .nan)).contains("lr"))
        #expect(message(AdamWConfig()) == "")

        let opt = try AdamW(parameterCounts: [2], config: AdamWConfig())
        var p: [[Float]] = [[1, 2, 3]]
        #expect(throws: OptimizerError.self) { try opt.step(parameters: &p, gradients: [[1, 2, 3]], lr: 1e-3) }
        p = [[1, 2]]
        #expect(throws: OptimizerError.self) { try opt.step(parameters: &p, gradients: [[1, 2]], lr: -1) }
        #expect(opt.state.tensors[0].step == 0)
    }
}
