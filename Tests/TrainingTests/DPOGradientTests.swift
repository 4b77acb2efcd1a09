import Foundation
import Kernels
import Testing
@testable import Training

/// Gradient checks of what DPO (and later GRPO) add on top of the SFT ops: the weighted
/// log-prob op through the LM head, and each DPO loss's derivative with respect to the sequence
/// log-probs — against central finite differences of Double re-implementations written here,
/// each check shown to reject a 1% error and a sign flip.

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

/// Accepts `analytic` within `tol` of `numeric`, and proves the check can fail.
private func expectGradient(_ name: String, _ analytic: [Double], _ numeric: [Double], tol: Double = 1e-3,
                            sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(numeric.contains { $0 != 0 }, "\(name): numeric gradient is all zero", sourceLocation: sourceLocation)
    #expect(relL2(analytic, numeric) <= tol, "\(name): relative error \(relL2(analytic, numeric))", sourceLocation: sourceLocation)
    #expect(relL2(analytic.map { $0 * 1.01 }, numeric) > tol, "\(name): a 1% error went undetected", sourceLocation: sourceLocation)
    var flipped = analytic
    if let i = flipped.indices.max(by: { abs(flipped[$0]) < abs(flipped[$1]) }) { flipped[i] = -flipped[i] }
    #expect(relL2(flipped, numeric) > tol, "\(name): a sign flip went undetected", sourceLocation: sourceLocation)
}

/// log π(y_t) at each trained position, in Double, written from the definition.
private func refLogProbs(h: [Double], w: [Double], targets: [Int], T: Int, d: Int, V: Int) -> [Double] {
    (0..<T).map { t in
        guard targets[t] != -100 else { return 0 }
        var z = [Double](repeating: 0, count: V)
        for o in 0..<V { for i in 0..<d { z[o] += h[t * d + i] * w[o * d + i] } }
        let m = z.max()!
        return z[targets[t]] - (m + log(z.reduce(0) { $0 + exp($1 - m) }))
    }
}

@Suite struct DPOGradientTests {
    @Test func tokenLogProbsForwardAndWeightedBackward() throws {
        var rng = SeededRNG(seed: 15)
        let T = 7, d = 9, V = 19
        let head = DenseMatrix(rows: V, cols: d, data: uniform(&rng, V * d))
        let h = uniform(&rng, T * d, 2)
        let targets = [4, -100, 18, 0, 7, -100, 3]
        let g = uniform(&rng, T, 3)   // ∂L/∂log π per position (weights of untrained ones are ignored)
        let lp = try Ops.tokenLogProbs(h: h, tokens: T, dim: d, head: head, targets: targets, chunk: T)
        let ref = refLogProbs(h: h.map(Double.init), w: head.data.map(Double.init), targets: targets, T: T, d: d, V: V)
        for t in 0..<T { #expect(abs(lp[t] - ref[t]) <= 1e-5 * max(1, abs(ref[t])), "position \(t): \(lp[t]) vs \(ref[t])") }
        #expect(lp[1] == 0 && lp[5] == 0)

        // Backward accumulates g_t · ∂log π_t/∂h into dh: start from non-zero values.
        let dh0 = uniform(&rng, T * d)
        var dh = dh0
        let again = try Ops.tokenLogProbs(h: h, tokens: T, dim: d, head: head, targets: targets, chunk: T, dLogProb: g, dh: &dh)
        do { let same = again == lp; #expect(same, "the backward call returns the forward's log-probs bit for bit") }
        for t in [1, 5] { #expect(Array(dh[(t * d)..<(t * d + d)]) == Array(dh0[(t * d)..<(t * d + d)])) }
        let numeric = centralDifferences(h.map(Double.init)) { x in
            let l = refLogProbs(h: x, w: head.data.map(Double.init), targets: targets, T: T, d: d, V: V)
            return (0..<T).reduce(0) { $0 + Double(g[$1]) * l[$1] }
        }
        expectGradient("Σ g·log π → dh", zip(dh, dh0).map { Double($0 - $1) }, numeric)

        // Chunking and worker splits change nothing, bit for bit (chunking: where `BLAS.shapeStable`).
        for chunk in [1, 2, 3, 100] {
            var dc = dh0
            let c = try Ops.tokenLogProbs(h: h, tokens: T, dim: d, head: head, targets: targets, chunk: chunk, dLogProb: g, dh: &dc)
            expectSameUpToCallShape(c, lp, "chunk \(chunk): log π")
            expectSameUpToCallShape(dc, dh, "chunk \(chunk): dh")
        }
    }

    /// log π is the negated cross-entropy term, bit for bit, and g = −gradScale gives the
    /// cross-entropy's gradient exactly: SFT and DPO read the LM head the same way.
    @Test func tokenLogProbsAreNegatedCrossEntropy() throws {
        var rng = SeededRNG(seed: 16)
        let T = 5, d = 8, V = 4099 + 7   // more than one 4096-wide partial sum
        let head = DenseMatrix(rows: V, cols: d, data: uniform(&rng, V * d, 0.5))
        let h = uniform(&rng, T * d, 2)
        let targets = [1, 4100, -100, 17, 2]
        let scale: Float = 0.25
        var dhCE = [Float](repeating: 0, count: T * d), dhLP = dhCE
        let ce = try Ops.crossEntropy(h: h, tokens: T, dim: d, head: head, targets: targets, chunk: 2, gradScale: scale, dh: &dhCE)
        let lp = try Ops.tokenLogProbs(h: h, tokens: T, dim: d, head: head, targets: targets, chunk: 2,
                                       dLogProb: [Float](repeating: -scale, count: T), dh: &dhLP)
        #expect(-lp.reduce(0, +) == ce.loss)
        do { let same = dhLP == dhCE; #expect(same) }
    }

    @Test func shapeErrorsAreReported() {
        let head = DenseMatrix(rows: 3, cols: 2, data: [Float](repeating: 0.1, count: 6))
        let h: [Float] = [1, 2, 3, 4]
        #expect(throws: OpsError.self) { try Ops.tokenLogProbs(h: h, tokens: 2, dim: 2, head: head, targets: [0], chunk: 2) }
        #expect(throws: OpsError.self) { try Ops.tokenLogProbs(h: h, tokens: 2, dim: 2, head: head, targets: [0, 3], chunk: 2) }
        var dh = [Float](repeating: 0, count: 4)
        #expect(throws: OpsError.self) {
            try Ops.tokenLogProbs(h: h, tokens: 2, dim: 2, head: head, targets: [0, 1], chunk: 2, dLogProb: [1], dh: &dh)
        }
    }

    /// Each loss type's ∂L/∂(policy log-prob sums) against finite differences of the TRL v0.28
    /// formula written here in Double; plus the formula's values at known points.
    @Test func dpoLossDerivatives() {
        func ref(_ type: DPOLossType, beta: Double, eps: Double, _ x: [Double], ref r: [Double], n: [Int]) -> Double {
            var (pw, pl, rw, rl) = (x[0], x[1], r[0], r[1])
            if type == .ipo { pw /= Double(n[0]); rw /= Double(n[0]); pl /= Double(n[1]); rl /= Double(n[1]) }
            let z = (pw - pl) - (rw - rl)
            func logsig(_ v: Double) -> Double { -log(1 + exp(-v)) }
            switch type {
            case .sigmoid: return -logsig(beta * z) * (1 - eps) - logsig(-beta * z) * eps
            case .hinge: return max(0, 1 - beta * z)
            case .ipo: return (z - 1 / (2 * beta)) * (z - 1 / (2 * beta))
            }
        }
        let cases: [(DPOLossType, Double, Double)] = [(.sigmoid, 0.1, 0), (.sigmoid, 0.5, 0.2), (.hinge, 0.1, 0), (.ipo, 0.1, 0), (.ipo, 2, 0)]
        let points: [([Double], [Double], [Int])] = [([-40.5, -52.25], [-41, -50], [17, 23]), ([-80, -30], [-79, -35], [40, 12])]
        for (type, beta, eps) in cases {
            let loss = DPOLoss(beta: beta, type: type, labelSmoothing: eps)
            for (x, r, n) in points {
                let p = DPOLoss.PairLogProbs(chosen: x[0], rejected: x[1], refChosen: r[0], refRejected: r[1],
                                             chosenTokens: n[0], rejectedTokens: n[1])
                let res = loss.pair(p)
                let f = ref(type, beta: beta, eps: eps, x, ref: r, n: n)
                #expect(abs(res.loss - f) <= 1e-12 * max(1, abs(f)), "\(type) β \(beta): \(res.loss) vs \(f)")
                let numeric = centralDifferences(x, eps: 1e-6) { ref(type, beta: beta, eps: eps, $0, ref: r, n: n) }
                expectGradient("\(type) β \(beta) ε \(eps) at \(x)", [res.dChosen, res.dRejected], numeric, tol: 1e-6)
            }
        }
        // Known values: Δ = 0 gives log 2 (sigmoid), 1 (hinge), 1/(4β²) (ipo); rewards are β × log-ratios.
        let zero = DPOLoss.PairLogProbs(chosen: -3, rejected: -4, refChosen: -3, refRejected: -4, chosenTokens: 2, rejectedTokens: 2)
        #expect(abs(DPOLoss(type: .sigmoid).pair(zero).loss - log(2)) < 1e-15)
        #expect(DPOLoss(type: .hinge).pair(zero).loss == 1)
        #expect(abs(DPOLoss(beta: 0.1, type: .ipo).pair(zero).loss - 25) < 1e-12)
        let moved = DPOLoss(beta: 0.1).pair(.init(chosen: -3, rejected: -6, refChosen: -4, refRejected: -4, chosenTokens: 2, rejectedTokens: 2))
        #expect(abs(moved.rewardChosen - 0.1) < 1e-15 && abs(moved.rewardRejected + 0.2) < 1e-15)
        // Far past the hinge: no gradient.
        let far = DPOLoss(beta: 0.1, type: .hinge).pair(.init(chosen: 0, rejected: -100, refChosen: 0, refRejected: 0, chosenTokens: 1, rejectedTokens: 1))
        #expect(far.loss == 0 && far.dChosen == 0 && far.dRejected == 0)
    }

    @Test func lossSettingsAreChecked() {
        #expect(throws: TrainError.self) { try DPOLoss(beta: 0).validate() }
        #expect(throws: TrainError.self) { try DPOLoss(labelSmoothing: 0.5).validate() }
        #expect(throws: TrainError.self) { try DPOLoss(type: .ipo, labelSmoothing: 0.1).validate() }
        #expect(throws: Never.self) { try DPOLoss(type: .sigmoid, labelSmoothing: 0.1).validate() }
    }
}
