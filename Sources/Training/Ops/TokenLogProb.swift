import Foundation
import Kernels

extension Ops {
    /// Log-probability of each target token through the frozen LM head, forward and (weighted)
    /// backward in one function — the building block of sequence-level objectives (DPO's summed
    /// completion log-probs, GRPO's per-token ratios).
    ///
    /// Forward, at every trained position t (`targets[t] != −100`; already shifted as in
    /// `crossEntropy`), with logits z = W h[t]:
    ///     log π(y_t) = z[y_t] − logsumexp(z)
    /// Backward, when `dLogProb` (g_t = ∂L/∂log π(y_t), one per position) and `dh` are given:
    ///     ∂L/∂z = g_t · (onehot(y_t) − softmax(z)),   dh[t] += (∂L/∂z) · W      (accumulates)
    /// i.e. the cross-entropy gradient (softmax − onehot) scaled by −g_t. A sequence-level loss
    /// L(Σ_t log π(y_t)) passes g_t = ∂L/∂(sum) on every trained position of the sequence.
    ///
    /// With `temperature` T ≠ 1 the logits are divided by T first (z/T, as TRL's GRPO scores the
    /// policy at its sampling temperature), and the backward carries the chain rule's 1/T:
    ///     ∂L/∂z = (g_t / T) · (onehot(y_t) − softmax(z/T)).
    /// T = 1 leaves the logits untouched (no division), so DPO's and SFT's numbers do not move.
    ///
    /// Returns log π per position (0 where untrained), each computed in Double from the Float
    /// logits exactly as `crossEntropy` computes its loss (the two are negatives, bit for bit).
    /// The objective needs every log-prob of the micro-batch before any gradient is known; rather
    /// than run the LM head again once the g_t are known, a training forward passes `jacobian`
    /// (T × d) and gets J[t] = ∂log π(y_t)/∂h[t] = ((onehot(y_t) − softmax(z/T)) / T) · W at every
    /// trained position (the backward above with g_t = 1; rows of untrained positions are left
    /// as they were), so that dh[t] += g_t · J[t] later (`addScaledRows`). A backward call with
    /// `dLogProb` recomputes the logits and returns the same values again.
    /// Untrained positions skip the LM head; rows are split over workers and written per row,
    /// so the result does not depend on the worker count.
    static func tokenLogProbs(h: UnsafePointer<Float>, tokens T: Int, dim d: Int, head: some FrozenMatrix,
                              targets: [Int], chunk: Int, temperature: Float = 1, dLogProb: [Float]? = nil,
                              dh: UnsafeMutablePointer<Float>? = nil, jacobian: UnsafeMutablePointer<Float>? = nil,
                              workspace: CrossEntropyWorkspace = CrossEntropyWorkspace()) throws -> [Double] {
        let V = head.rows
        guard targets.count == T else { throw OpsError("token log-probs: \(targets.count) targets for \(T) positions") }
        guard head.cols == d else { throw OpsError("token log-probs: LM head has \(head.cols) inputs, hidden size is \(d)") }
        guard chunk > 0 else { throw OpsError("token log-probs: chunk size must be positive, got \(chunk)") }
        guard temperature > 0, temperature.isFinite else { throw OpsError("token log-probs: temperature must be > 0, got \(temperature)") }
        if let g = dLogProb, g.count != T { throw OpsError("token log-probs: \(g.count) gradients for \(T) positions") }
        if (dLogProb == nil) != (dh == nil) { throw OpsError("token log-probs: the backward needs both dLogProb and dh") }
        if jacobian != nil && dh != nil { throw OpsError("token log-probs: a call gives either the jacobian or the backward") }
        var rows: [Int] = []
        for (t, y) in targets.enumerated() where y != ignoreIndex {
            guard y >= 0 && y < V else {
                throw OpsError("token log-probs: target \(y) at position \(t) is outside the vocabulary (0..<\(V))")
            }
            rows.append(t)
        }
        var out = [Double](repeating: 0, count: T)
        guard !rows.isEmpty else { return out }
        let chunks = (rows.count + chunk - 1) / chunk
        let c = (rows.count + chunks - 1) / chunks
        let hc = try workspace.h.get(c * d), gc = try workspace.g.get(c * d), logits = try workspace.logits.get(c * V)
        var start = 0
        try out.withUnsafeMutableBufferPointer { lp in
            let lp = lp.baseAddress!
            while start < rows.count {
                let n = min(c, rows.count - start)
                for i in 0..<n { (hc + i * d).update(from: h + rows[start + i] * d, count: d) }
                try head.forward(hc, m: n, logits)
                Parallel.forEachRange(n, minPerWorker: 4) { range in
                    for i in range {
                        let t = rows[start + i], l = logits + i * V, y = targets[t]
                        if temperature != 1 { Vec.divide(l, temperature, V) }
                        let mx = Vec.max(l, V)
                        let ly = l[y]
                        var s: Double = 0
                        var j = 0
                        while j < V {
                            let n = min(4096, V - j)
                            s += Double(Vec.expShifted(l + j, mx, l + j, n))
                            j += n
                        }
                        lp[t] = Double(ly) - (Double(mx) + Foundation.log(s))
                        if var g = jacobian != nil ? 1 : dLogProb?[t] {
                            if temperature != 1 { g /= temperature }   // ∂(z/T)/∂z
                            Vec.scale(l, -g / Float(s), V)   // −g · softmax
                            l[y] += g
                        }
                    }
                }
                if let dh {
                    gc.initialize(repeating: 0, count: n * d)
                    try head.backwardInput(logits, m: n, gc)
                    for i in 0..<n { Vec.add(gc + i * d, dh + rows[start + i] * d, d) }
                } else if let jacobian {
                    gc.initialize(repeating: 0, count: n * d)
                    try head.backwardInput(logits, m: n, gc)
                    for i in 0..<n { (jacobian + rows[start + i] * d).update(from: gc + i * d, count: d) }
                }
                start += n
            }
        }
        return out
    }

    /// dh[t] += g[t] · J[t] for every position with g[t] ≠ 0: the backward of `tokenLogProbs`
    /// from the jacobian its forward kept.
    static func addScaledRows(_ jacobian: UnsafePointer<Float>, _ g: [Float], dim d: Int, into dh: UnsafeMutablePointer<Float>) {
        Parallel.forEachRange(g.count, minPerWorker: 64) { range in
            for t in range where g[t] != 0 { Vec.axpy(g[t], jacobian + t * d, dh + t * d, d) }
        }
    }

    /// Σ of per-position values over each range of positions (a sequence laid end to end in the
    /// micro-batch), added in position order in Double.
    static func sums(_ values: [Double], over ranges: [Range<Int>]) -> [Double] {
        ranges.map { r in r.reduce(0) { $0 + values[$1] } }
    }
}
