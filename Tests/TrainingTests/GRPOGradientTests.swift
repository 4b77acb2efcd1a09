import Foundation
import Kernels
import Testing
@testable import Training

/// Gradient checks of what GRPO adds: the token log-probs at a sampling temperature, and the
/// clipped surrogate with its KL term — against central finite differences of Double
/// re-implementations written here, each check shown to reject a 1% error and a sign flip —
/// plus the group advantages and the normalisers at known values.

private func uniform(_ rng: inout SeededRNG, _ n: Int, _ scale: Float = 1) -> [Float] {
    (0..<n).map { _ in (rng.nextFloat() * 2 - 1) * scale }
}

private func centralDifferences(_ x: [Double], eps: Double = 1e-5, _ f: ([Double]) -> Double) -> [Double] {
    var x = x, g = [Double](repeating: 0, count: x.count)
    for i in x.indices {
        let x0 = x[i]
        x[i] = x0 + eps; let fp = f(x)
        x[i] = x0 - eps; let fm = f(x)
        x[i] = x0
        g[i] = (fp - fm) / (2 * eps)
    }
    return g
}

private func relL2(_ a: [Double], _ b: [Double]) -> Double {
    var num = 0.0, den = 0.0
    for (x, y) in zip(a, b) { num += (x - y) * (x - y); den += y * y }
    return num.squareRoot() / max(den.squareRoot(), 1e-30)
}

private func expectGradient(_ name: String, _ analytic: [Double], _ numeric: [Double], tol: Double = 1e-3,
                            sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(numeric.contains { $0 != 0 }, "\(name): numeric gradient is all zero", sourceLocation: sourceLocation)
    #expect(relL2(analytic, numeric) <= tol, "\(name): relative error \(relL2(analytic, numeric))", sourceLocation: sourceLocation)
    #expect(relL2(analytic.map { $0 * 1.01 }, numeric) > tol, "\(name): a 1% error went undetected", sourceLocation: sourceLocation)
    var flipped = analytic
    if let i = flipped.indices.max(by: { abs(flipped[$0]) < abs(flipped[$1]) }) { flipped[i] = -flipped[i] }
    #expect(relL2(flipped, numeric) > tol, "\(name): a sign flip went undetected", sourceLocation: sourceLocation)
}

/// log softmax(z/T)[y] at each trained position, in Double, from the definition.
private func refLogProbs(h: [Double], w: [Double], targets: [Int], T: Int, d: Int, V: Int, temperature: Double) -> [Double] {
    (0..<T).map { t in
        guard targets[t] != -100 else { return 0 }
        var z = [Double](repeating: 0, count: V)
        for o in 0..<V { for i in 0..<d { z[o] += h[t * d + i] * w[o * d + i] }; z[o] /= temperature }
        let m = z.max()!
        return z[targets[t]] - (m + log(z.reduce(0) { $0 + exp($1 - m) }))
    }
}

/// TRL v1.9.0's per-token loss, written out in Double (the formula `GRPOLoss` documents).
private func refTokenLoss(_ lp: Double, old: Double, ref: Double, a: Double, epsLo: Double, epsHi: Double, beta: Double) -> Double {
    let r = exp(lp - old)
    var l = -min(r * a, min(max(r, 1 - epsLo), 1 + epsHi) * a)
    if beta != 0 { l += beta * (exp(ref - lp) - (ref - lp) - 1) }
    return l
}

@Suite struct GRPOGradientTests {
    @Test func tokenLogProbsAtATemperature() throws {
        var rng = SeededRNG(seed: 21)
        let T = 6, d = 8, V = 23
        let head = DenseMatrix(rows: V, cols: d, data: uniform(&rng, V * d))
        let h = uniform(&rng, T * d, 2)
        let targets = [3, -100, 22, 0, 9, 5]
        let g = uniform(&rng, T, 2)
        for temp: Float in [0.7, 1.3] {
            let lp = try Ops.tokenLogProbs(h: h, tokens: T, dim: d, head: head, targets: targets, chunk: T, temperature: temp)
            let ref = refLogProbs(h: h.map(Double.init), w: head.data.map(Double.init), targets: targets, T: T, d: d, V: V,
                                  temperature: Double(temp))
            for t in 0..<T { #expect(abs(lp[t] - ref[t]) <= 1e-5 * max(1, abs(ref[t])), "T \(temp) position \(t): \(lp[t]) vs \(ref[t])") }
            var dh = [Float](repeating: 0, count: T * d)
            let again = try Ops.tokenLogProbs(h: h, tokens: T, dim: d, head: head, targets: targets, chunk: 2, temperature: temp,
                                              dLogProb: g, dh: &dh)
            expectSameUpToCallShape(again, lp, "T \(temp): chunk 2 vs chunk \(T)")
            let numeric = centralDifferences(h.map(Double.init)) { x in
                let l = refLogProbs(h: x, w: head.data.map(Double.init), targets: targets, T: T, d: d, V: V, temperature: Double(temp))
                return (0..<T).reduce(0) { $0 + Double(g[$1]) * l[$1] }
            }
            expectGradient("Σ g·log softmax(z/\(temp)) → dh", dh.map(Double.init), numeric)
            // The training path: one forward keeps J = ∂log π/∂h, then dh = g · J.
            var jacobian = [Float](repeating: 0, count: T * d), fromJ = [Float](repeating: 0, count: T * d)
            let third = try Ops.tokenLogProbs(h: h, tokens: T, dim: d, head: head, targets: targets, chunk: 4, temperature: temp,
                                              jacobian: &jacobian)
            expectSameUpToCallShape(third, lp, "T \(temp): the jacobian pass's log-probs")
            Ops.addScaledRows(jacobian, g, dim: d, into: &fromJ)
            expectGradient("g · J at \(temp) → dh", fromJ.map(Double.init), numeric)
            #expect(jacobian[1 * d..<2 * d].allSatisfy { $0 == 0 }, "an untrained position has no jacobian row")
        }
        // T = 1 is the op without a temperature, bit for bit (DPO's and SFT's numbers do not move).
        var a = [Float](repeating: 0, count: T * d), b = a
        let x = try Ops.tokenLogProbs(h: h, tokens: T, dim: d, head: head, targets: targets, chunk: 3, dLogProb: g, dh: &a)
        let y = try Ops.tokenLogProbs(h: h, tokens: T, dim: d, head: head, targets: targets, chunk: 3, temperature: 1, dLogProb: g, dh: &b)
        do { let same = x == y && a == b; #expect(same) }
        #expect(throws: OpsError.self) { try Ops.tokenLogProbs(h: h, tokens: T, dim: d, head: head, targets: targets, chunk: 3, temperature: 0) }
    }

    /// ∂ℓ/∂log π of the clipped surrogate (+ KL) at points inside and outside the clip range,
    /// for both signs of A, against finite differences of the formula; its value equals it too.
    @Test func tokenLossDerivatives() {
        let losses = [GRPOLoss(type: .dapo, epsilon: 0.2, epsilonHigh: nil, beta: 0), GRPOLoss(type: .grpo, epsilon: 0.2, epsilonHigh: 0.28, beta: 0.04),
                      GRPOLoss(type: .drGRPO, epsilon: 0.1, epsilonHigh: nil, beta: 0.5)]
        // (log π, log π_old, ref, A): ratio 1.05 (inside), 1.5 (above), 0.6 (below), for A > 0 and A < 0.
        let points: [(Double, Double, Double, Double)] = [
            (-1.2, -1.25, -1.0, 0.8), (-1.2, -1.25, -1.4, -0.7), (-0.5, -0.9055, -0.3, 1.3), (-0.5, -0.9055, -0.8, -1.1),
            (-2.0, -1.489, -2.2, 0.9), (-2.0, -1.489, -1.7, -0.6),
        ]
        for loss in losses {
            var analytic: [Double] = [], numeric: [Double] = []
            for (lp, old, ref, a) in points {
                let t = loss.token(logProb: lp, old: old, ref: ref, advantage: a)
                let f = { (x: Double) in refTokenLoss(x, old: old, ref: ref, a: a, epsLo: loss.epsilon, epsHi: loss.epsilonHigh, beta: loss.beta) }
                #expect(abs(t.loss - f(lp)) < 1e-14, "\(loss.type) at \(lp), \(old): \(t.loss) vs \(f(lp))")
                analytic.append(t.dLogProb)
                numeric.append(centralDifferences([lp], eps: 1e-7) { f($0[0]) }[0])
            }
            expectGradient("GRPO token loss \(loss.type) β \(loss.beta)", analytic, numeric, tol: 1e-6)
        }
        // Clipped away with β = 0: no gradient, and flagged as TRL counts it.
        let plain = GRPOLoss.fixture
        let high = plain.token(logProb: -0.5, old: -0.9055, ref: nil, advantage: 1.3)
        #expect(high.dLogProb == 0 && high.highClipped && !high.lowClipped)
        let low = plain.token(logProb: -2.0, old: -1.489, ref: nil, advantage: -0.6)
        #expect(low.dLogProb == 0 && low.lowClipped && !low.highClipped)
        // Above the range with A < 0 the unclipped branch is the min: the gradient flows, no flag.
        let through = plain.token(logProb: -0.5, old: -0.9055, ref: nil, advantage: -1.1)
        #expect(through.dLogProb != 0 && !through.highClipped && !through.lowClipped)
        // On-policy (π_old = π): ratio 1, the branches tie, the gradient is −A (the policy gradient), the loss −A.
        let on = plain.token(logProb: -1.7, old: -1.7, ref: nil, advantage: 0.75)
        #expect(on.loss == -0.75 && on.dLogProb == -0.75)
    }

    /// Unbiased group std, +1e-4, zero-std groups, weights; TRL's numbers at hand-computed points.
    @Test func groupAdvantages() throws {
        let values: [[Double]] = [[1, 0], [0, 0], [1, 1], [0, 1], [0.5, 2], [0.5, 2], [0.5, 2], [0.5, 2]]
        let r = try GroupAdvantages.compute(values: values, weights: [1, 0.5], groupSize: 4)
        #expect(r.rewards == [1, 0, 1.5, 0.5, 1.5, 1.5, 1.5, 1.5])
        // Group 1: mean 0.75, unbiased std sqrt(((.25)²+(.75)²+(.75)²+(.25)²)/3) = sqrt(1.25/3).
        let std = (1.25 / 3).squareRoot()
        for (i, x) in [1.0, 0, 1.5, 0.5].enumerated() { #expect(abs(r.advantages[i] - (x - 0.75) / (std + 1e-4)) < 1e-15) }
        #expect(r.advantages[4...].allSatisfy { $0 == 0 } && r.zeroStd == [false, false, false, false, true, true, true, true])
        #expect(r.fractionZeroStd == 0.5)
        // A group's advantages sum to 0: with equal lengths and ratio 1, grpo's loss is 0 whatever the rewards.
        #expect(abs(r.advantages[0..<4].reduce(0, +)) < 1e-12)
        #expect(throws: TrainError.self) { try GroupAdvantages.compute(values: [[1], [2], [3]], weights: [1], groupSize: 2) }
        #expect(throws: TrainError.self) { try GroupAdvantages.compute(values: [[1]], weights: [1], groupSize: 1) }
        let (m, s) = GroupAdvantages.meanStd([1, 2, 3, 4])
        #expect(m == 2.5 && abs(s - (5.0 / 3).squareRoot()) < 1e-15)
    }

    @Test func normalisers() {
        func w(_ t: GRPOLossType) -> Double {
            GRPOLoss(type: t, epsilon: 0.2, epsilonHigh: nil, beta: 0).tokenWeight(completionTokens: 10, microBatchSize: 4, microBatches: 2, maxCompletionLength: 64, stepTokens: 300)
        }
        #expect(w(.grpo) == 1.0 / (4 * 10 * 2))
        #expect(w(.drGRPO) == 1.0 / (4 * 64 * 2))
        #expect(w(.dapo) == 1.0 / 300)
    }

    @Test func settingsAreChecked() {
        func config(_ f: (inout GRPOConfig) -> Void) -> GRPOConfig {
            var c = GRPOConfig.fixture; f(&c); return c
        }
        #expect(throws: Never.self) { try config { _ in }.validate() }
        #expect(throws: TrainError.self) { try config { $0.numGenerations = 3 }.validate() }   // 2 × 4 completions
        #expect(throws: TrainError.self) { try config { $0.numGenerations = 1 }.validate() }
        #expect(throws: TrainError.self) { try config { $0.sampling.temperature = 0 }.validate() }
        #expect(throws: TrainError.self) { try config { $0.reference = .adapter }.validate() }   // β = 0: no reference
        #expect(throws: TrainError.self) { try GRPOLoss(type: .dapo, epsilon: 1, epsilonHigh: nil, beta: 0).validate() }
        #expect(throws: TrainError.self) { try GRPOLoss(type: .dapo, epsilon: 0.2, epsilonHigh: nil, beta: -1).validate() }
    }
}
