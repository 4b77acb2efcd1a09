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
    /// Queries (and keys) per block: a block of queries only sees keys up to its last row, so
    /// the masked upper triangle of S is (mostly) never computed — about half the attention
    /// FLOPs on long sequences. Blocks are also the unit of parallel work: each runs whole on
    /// one worker with single-threaded products inside (one product per 64×64 tile split over
    /// threads cost more in hand-over than it gained).
    static let attentionBlock = 64

    /// Causal GQA over one sequence of T tokens: q [T × nh·hd], k, v [T × nkv·hd] (RoPE already
    /// applied) → out [T × nh·hd]. Caches the softmax probabilities `probs` [nh × T × T]
    /// (row i holds P[i, 0…i] and zeros up to the end of its block; the rest is never read) for
    /// the backward, which also needs q, k, v.
    /// For packed batches call once per sequence with pointers offset to its first row.
    static func attentionForward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                 out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
                                 tokens T: Int, shape: AttentionShape) {
        guard T > 0 else { return }
        let hd = shape.headDim, qw = shape.qWidth, kvw = shape.kvWidth, B = attentionBlock
        let scale = 1 / Float(hd).squareRoot()
        let blocks = (T + B - 1) / B
        // Items in decreasing cost (last query block first) so the dynamic hand-out balances.
        Parallel.forEachItem(shape.heads * blocks) { item in
            let head = item % shape.heads, blk = blocks - 1 - item / shape.heads
            let kvh = head / shape.group, p = probs + head * T * T
            let i0 = blk * B, m = min(B, T - i0), visible = i0 + m
            // S = scale · Q_h K_hᵀ over the visible keys, then causal softmax per row.
            BLAS.gemm(transB: true, m: m, n: visible, k: hd, alpha: scale, a: q + i0 * qw + head * hd, lda: qw,
                      b: k + kvh * hd, ldb: kvw, c: p + i0 * T, ldc: T)
            for i in i0..<visible {
                let row = p + i * T
                Vec.softmax(row, i + 1)
                (row + i + 1).initialize(repeating: 0, count: visible - (i + 1))
            }
            // O_h = P V_h
            BLAS.gemm(m: m, n: hd, k: visible, a: p + i0 * T, lda: T, b: v + kvh * hd, ldb: kvw,
                      c: out + i0 * qw + head * hd, ldc: qw)
        }
    }

    /// Given dout [T × nh·hd], writes dq [T × nh·hd] and dk, dv [T × nkv·hd] (all overwritten;
    /// dk/dv sum over the query heads of each group). Per head, with P from the forward:
    /// dP = dO Vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)), dQ = scale · dS K, then per key block
    /// dV = Σ_heads Pᵀ dO and dK = scale · Σ_heads dSᵀ Q. The two passes write disjoint rows, so
    /// each block runs on one worker without locks. `scratch` holds nh × T × T floats (dS).
    static func attentionBackward(dout: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
                                  v: UnsafePointer<Float>, probs: UnsafePointer<Float>,
                                  dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                                  dv: UnsafeMutablePointer<Float>, scratch ds: UnsafeMutablePointer<Float>,
                                  tokens T: Int, shape: AttentionShape) {
        guard T > 0 else { return }
        let hd = shape.headDim, qw = shape.qWidth, kvw = shape.kvWidth, B = attentionBlock
        let scale = 1 / Float(hd).squareRoot()
        let blocks = (T + B - 1) / B
        // Pass 1, per (head, query block): dS rows and dQ rows.
        Parallel.forEachItem(shape.heads * blocks) { item in
            let head = item % shape.heads, blk = blocks - 1 - item / shape.heads
            let kvh = head / shape.group
            let p = probs + head * T * T, d = ds + head * T * T
            let i0 = blk * B, m = min(B, T - i0), visible = i0 + m
            // dP = dO_block V_hᵀ
            BLAS.gemm(transB: true, m: m, n: visible, k: hd, a: dout + i0 * qw + head * hd, lda: qw,
                      b: v + kvh * hd, ldb: kvw, c: d + i0 * T, ldc: T)
            // dS = P ⊙ (dP − Σ_j dP P) on the causal part; zero above the diagonal.
            for i in i0..<visible {
                let pr = p + i * T, dr = d + i * T
                let s = Vec.dot(pr, dr, i + 1)
                for j in 0...i { dr[j] = pr[j] * (dr[j] - s) }
                (dr + i + 1).initialize(repeating: 0, count: visible - (i + 1))
            }
            // dQ_block = scale · dS K_h
            BLAS.gemm(m: m, n: hd, k: visible, alpha: scale, a: d + i0 * T, lda: T, b: k + kvh * hd, ldb: kvw,
                      c: dq + i0 * qw + head * hd, ldc: qw)
        }
        // Pass 2, per (kv head, key block): only query rows ≥ the block's first key see it.
        Parallel.forEachItem(shape.kvHeads * blocks) { item in
            let kvh = item % shape.kvHeads, blk = item / shape.kvHeads
            let j0 = blk * B, n = min(B, T - j0), rows = T - j0
            for g in 0..<shape.group {
                let head = kvh * shape.group + g
                let p = probs + head * T * T, d = ds + head * T * T
                let beta: Float = g == 0 ? 0 : 1
                // dV_h[j0..<j0+n] (+)= P[j0..<T, j0..<j0+n]ᵀ dO_h[j0..<T]
                BLAS.gemm(transA: true, m: n, n: hd, k: rows, a: p + j0 * T + j0, lda: T, b: dout + j0 * qw + head * hd,
                          ldb: qw, beta: beta, c: dv + j0 * kvw + kvh * hd, ldc: kvw)
                // dK_h[j0..<j0+n] (+)= scale · dS[j0..<T, j0..<j0+n]ᵀ Q_h[j0..<T]
                BLAS.gemm(transA: true, m: n, n: hd, k: rows, alpha: scale, a: d + j0 * T + j0, lda: T,
                          b: q + j0 * qw + head * hd, ldb: qw, beta: beta, c: dk + j0 * kvw + kvh * hd, ldc: kvw)
            }
        }
    }
}
