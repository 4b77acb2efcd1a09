import Foundation
import Kernels

/// Shape of causal grouped-query attention: `heads` query heads share `kvHeads` key/value heads
/// (query head h reads kv head h / (heads / kvHeads)), scale 1/√headDim.
struct AttentionShape {
    let heads: Int, kvHeads: Int, headDim: Int
    var qWidth: Int { heads * headDim }
    var kvWidth: Int { kvHeads * headDim }
    var group: Int { heads / kvHeads }
}

extension Ops {
    /// Queries per block: a block of queries only sees keys up to its last row, so the masked
    /// upper triangle of S is (mostly) never computed — about half the attention FLOPs on long
    /// sequences.
    static let attentionBlock = 64

    /// Causal GQA over one sequence of T tokens: q [T × nh·hd], k, v [T × nkv·hd] (RoPE already
    /// applied) → out [T × nh·hd]. Caches the softmax probabilities `probs` [nh × T × T]
    /// (row i holds P[i, 0…i], zeros above the diagonal) for the backward, which also needs q, k, v.
    /// For packed batches call once per sequence with pointers offset to its first row.
    static func attentionForward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                 out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
                                 tokens T: Int, shape: AttentionShape) {
        guard T > 0 else { return }
        let hd = shape.headDim, qw = shape.qWidth, kvw = shape.kvWidth
        let scale = 1 / Float(hd).squareRoot()
        for head in 0..<shape.heads {
            let kvh = head / shape.group
            let p = probs + head * T * T
            var i0 = 0
            while i0 < T {
                let m = min(attentionBlock, T - i0), visible = i0 + m
                // S = scale · Q_h K_hᵀ over the visible keys, then causal softmax per row.
                BLAS.gemm(transB: true, m: m, n: visible, k: hd, alpha: scale, a: q + i0 * qw + head * hd, lda: qw,
                          b: k + kvh * hd, ldb: kvw, c: p + i0 * T, ldc: T)
                Parallel.forEachRange(m, minPerWorker: 8) { r in
                    for i in r {
                        let row = p + (i0 + i) * T
                        Vec.softmax(row, i0 + i + 1)
                        (row + i0 + i + 1).initialize(repeating: 0, count: T - (i0 + i + 1))
                    }
                }
                // O_h = P V_h
                BLAS.gemm(m: m, n: hd, k: visible, a: p + i0 * T, lda: T, b: v + kvh * hd, ldb: kvw,
                          c: out + i0 * qw + head * hd, ldc: qw)
                i0 += m
            }
        }
    }

    /// Given dout [T × nh·hd], writes dq [T × nh·hd] and dk, dv [T × nkv·hd] (all overwritten;
    /// dk/dv sum over the query heads of each group). Per head, with P from the forward:
    /// dV += Pᵀ dO, dP = dO Vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)), dQ = scale · dS K, dK += scale · dSᵀ Q.
    /// `scratch` holds T × T floats.
    static func attentionBackward(dout: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
                                  v: UnsafePointer<Float>, probs: UnsafePointer<Float>,
                                  dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                                  dv: UnsafeMutablePointer<Float>, scratch ds: UnsafeMutablePointer<Float>,
                                  tokens T: Int, shape: AttentionShape) {
        guard T > 0 else { return }
        let hd = shape.headDim, qw = shape.qWidth, kvw = shape.kvWidth
        let scale = 1 / Float(hd).squareRoot()
        dk.initialize(repeating: 0, count: T * kvw)
        dv.initialize(repeating: 0, count: T * kvw)
        for head in 0..<shape.heads {
            let kvh = head / shape.group
            let p = probs + head * T * T
            let dO = dout + head * hd
            var i0 = 0
            while i0 < T {
                let m = min(attentionBlock, T - i0), visible = i0 + m
                let pb = p + i0 * T, db = ds + i0 * T
                // dV_h[0..<visible] += P_blockᵀ dO_block
                BLAS.gemm(transA: true, m: visible, n: hd, k: m, a: pb, lda: T, b: dO + i0 * qw, ldb: qw, beta: 1,
                          c: dv + kvh * hd, ldc: kvw)
                // dP = dO_block V_hᵀ
                BLAS.gemm(transB: true, m: m, n: visible, k: hd, a: dO + i0 * qw, lda: qw, b: v + kvh * hd, ldb: kvw,
                          c: db, ldc: T)
                // dS = P ⊙ (dP − Σ_j dP P) on the causal part (P is zero above the diagonal).
                Parallel.forEachRange(m, minPerWorker: 8) { r in
                    for ii in r {
                        let i = i0 + ii
                        let pr = p + i * T, dr = ds + i * T
                        var s: Float = 0
                        for j in 0...i { s += pr[j] * dr[j] }
                        for j in 0...i { dr[j] = pr[j] * (dr[j] - s) }
                        for j in (i + 1)..<visible { dr[j] = 0 }
                    }
                }
                // dQ_block = scale · dS K_h ; dK_h[0..<visible] += scale · dSᵀ Q_block
                BLAS.gemm(m: m, n: hd, k: visible, alpha: scale, a: db, lda: T, b: k + kvh * hd, ldb: kvw,
                          c: dq + i0 * qw + head * hd, ldc: qw)
                BLAS.gemm(transA: true, m: visible, n: hd, k: m, alpha: scale, a: db, lda: T, b: q + i0 * qw + head * hd,
                          ldb: qw, beta: 1, c: dk + kvh * hd, ldc: kvw)
                i0 += m
            }
        }
    }
}
