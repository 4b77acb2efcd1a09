import Foundation
import Kernels

/// Label of a position that is not trained (HF's ignore_index).
let ignoreIndex = -100

extension Ops {
    /// Next-token cross-entropy through the frozen LM head, forward and backward in one pass.
    ///
    /// `targets[t]` is the token h[t] must predict (already shifted: HF's labels[t + 1]) or −100.
    /// Trained positions are gathered in chunks of at most `chunk`; per chunk the logits
    /// [c × vocab] are computed once, turned into the loss and, in place, into
    /// dlogits = gradScale · (softmax − onehot), then dh[t] += dlogits · W (accumulates: dh is the
    /// residual stream's gradient). Untrained positions skip the LM head entirely. With `dh` nil
    /// only the loss is computed (evaluation).
    ///
    /// Returns the summed (not averaged) loss, accumulated in Double in position order, and the
    /// number of trained positions; gradScale is typically 1 / (trained tokens in the whole
    /// optimiser step). Throws when a target is outside the vocabulary.
    /// `workspace` holds the chunk's logits between calls: fresh memory is slow to fault in
    /// under this machine's hypervisor (a new 100 MB logits buffer per micro-batch cost 6% of a
    /// b4×256 step in kernel page clearing).
    static func crossEntropy(h: UnsafePointer<Float>, tokens T: Int, dim d: Int, head: some FrozenMatrix,
                             targets: [Int], chunk: Int, gradScale: Float = 1,
                             dh: UnsafeMutablePointer<Float>?,
                             workspace: CrossEntropyWorkspace = CrossEntropyWorkspace()) throws -> (loss: Double, count: Int) {
        let V = head.rows
        guard targets.count == T else {
            throw OpsError("cross-entropy: \(targets.count) targets for \(T) positions")
        }
        guard head.cols == d else { throw OpsError("cross-entropy: LM head has \(head.cols) inputs, hidden size is \(d)") }
        guard chunk > 0 else { throw OpsError("cross-entropy: chunk size must be positive, got \(chunk)") }
        var rows: [Int] = []
        for (t, y) in targets.enumerated() where y != ignoreIndex {
            guard y >= 0 && y < V else {
                throw OpsError("cross-entropy: target \(y) at position \(t) is outside the vocabulary (0..<\(V))")
            }
            rows.append(t)
        }
        guard !rows.isEmpty else { return (0, 0) }
        // Equal chunks of at most `chunk` rows (880 trained rows at chunk 512: 2 × 440, not
        // 512 + 368): the head's products run faster the taller they are.
        let chunks = (rows.count + chunk - 1) / chunk
        let c = (rows.count + chunks - 1) / chunks
        let hc = try workspace.h.get(c * d), gc = try workspace.g.get(c * d), logits = try workspace.logits.get(c * V)
        let rowLoss = UnsafeMutablePointer<Double>.allocate(capacity: c)
        defer { rowLoss.deallocate() }
        var loss: Double = 0
        var start = 0
        while start < rows.count {
            let n = min(c, rows.count - start)
            for i in 0..<n { (hc + i * d).update(from: h + rows[start + i] * d, count: d) }
            try head.forward(hc, m: n, logits)
            // Rows are independent: split them over workers, then add their losses in order
            // (the total does not depend on the worker count).
            let wantGrad = dh != nil
            Parallel.forEachRange(n, minPerWorker: 4) { range in
                for i in range {
                    let l = logits + i * V, y = targets[rows[start + i]]
                    let mx = Vec.max(l, V)
                    let ly = l[y]
                    // Exponentials in place (each computed once); 4096-wide partial sums in Double.
                    var s: Double = 0
                    var j = 0
                    while j < V {
                        let n = min(4096, V - j)
                        s += Double(Vec.expShifted(l + j, mx, l + j, n))
                        j += n
                    }
                    rowLoss[i] = (Double(mx) + Foundation.log(s)) - Double(ly)
                    if wantGrad {
                        Vec.scale(l, gradScale / Float(s), V)
                        l[y] -= gradScale
                    }
                }
            }
            for i in 0..<n { loss += rowLoss[i] }
            if let dh {
                gc.initialize(repeating: 0, count: n * d)
                try head.backwardInput(logits, m: n, gc)
                for i in 0..<n { Vec.add(gc + i * d, dh + rows[start + i] * d, d) }
            }
            start += n
        }
        return (loss, rows.count)
    }
}

/// Buffers of `Ops.crossEntropy` kept from call to call (the logits of one chunk: chunk × vocab).
final class CrossEntropyWorkspace {
    let h = FloatBuffer(), g = FloatBuffer(), logits = FloatBuffer()
    /// ∂log π(y_t)/∂h[t] per position (`tokenLogProbs`' `jacobian`), T × d.
    let jacobian = FloatBuffer()
}
