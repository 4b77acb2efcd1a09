import Foundation
import Kernels
import QuantDot512
import ModelFiles

/// Shape of causal grouped-query attention: `heads` query heads share `kvHeads` key/value heads
/// (query head h reads kv head h / (heads / kvHeads)), scale 1/√headDim.
package struct AttentionShape: Sendable {
    package let heads: Int, kvHeads: Int, headDim: Int
    package init(heads: Int, kvHeads: Int, headDim: Int) {
        self.heads = heads; self.kvHeads = kvHeads; self.headDim = headDim
    }
    package init(_ c: ModelConfig) { self.init(heads: c.numHeads, kvHeads: c.numKVHeads, headDim: c.headDim) }
    package var qWidth: Int { heads * headDim }
    package var kvWidth: Int { kvHeads * headDim }
    package var group: Int { heads / kvHeads }
    package var scale: Float { 1 / Float(headDim).squareRoot() }
}

/// Causal grouped-query attention. `block` is the routine both drivers call per (head, query
/// block): the inference driver against the KV cache (`Forward`), the training driver over a
/// sequence's rows with its probabilities kept for the backward (`forward` / `backward` below).
package enum Attention {
    /// Queries (and keys) per block: a block of queries only sees keys up to its last row, so
    /// the masked upper triangle of S is (mostly) never computed — about half the attention
    /// FLOPs on long sequences. Blocks are also the unit of parallel work: each runs whole on
    /// one worker with single-threaded products inside (one product per 64×64 tile split over
    /// threads cost more in hand-over than it gained).
    package static let block = 64

    /// One head's block of m query rows, row i at position p0 + i, against keys/values at
    /// positions 0 ..< p0 + m (`visible`):
    ///     S = scale · Q Kᵀ                      [m × visible]
    ///     P[i, j] = softmax_j≤p0+i (S[i, j]),   P[i, j] = 0 for p0+i < j < visible
    ///     O = P V                               [m × hd]
    /// Rows of q, k/v, p and out are ldq, ldkv, ldp (≥ visible) and ldo floats apart. P is
    /// written (overwritten) at `probs`; O overwrites `out`.
    @inline(__always)
    package static func block(q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                              ldkv: Int, rows m: Int, firstPosition p0: Int, headDim hd: Int, scale: Float,
                              probs p: UnsafeMutablePointer<Float>, ldp: Int, out: UnsafeMutablePointer<Float>, ldo: Int) {
        let visible = p0 + m
        if m == 1 && hd % 16 == 0 {
            // The same source compiled twice (see DecodeAttention.swift): the same bits either way.
            if CPUFeatures.avx512 {
                QuantDot512.decodeAttentionRow(q: q, k: k, v: v, ldkv: ldkv, visible: visible, headDim: hd, scale: scale, probs: p, out: out)
            } else {
                DecodeAttention.row(q: q, k: k, v: v, ldkv: ldkv, visible: visible, headDim: hd, scale: scale, probs: p, out: out)
            }
            return
        }
        BLAS.gemm(transB: true, m: m, n: visible, k: hd, alpha: scale, a: q, lda: ldq, b: k, ldb: ldkv, c: p, ldc: ldp)
        for i in 0..<m {
            let row = p + i * ldp
            Vec.softmax(row, p0 + i + 1)
            (row + p0 + i + 1).initialize(repeating: 0, count: m - (i + 1))
        }
        BLAS.gemm(m: m, n: hd, k: visible, a: p, lda: ldp, b: v, ldb: ldkv, c: out, ldc: ldo)
    }

    /// Causal GQA over one sequence of T tokens: q [T × nh·hd], k, v [T × nkv·hd] (RoPE already
    /// applied) → out [T × nh·hd]. Caches the softmax probabilities `probs` [nh × T × T]
    /// (row i holds P[i, 0…i] and zeros up to the end of its block; the rest is never read) for
    /// the backward, which also needs q, k, v.
    /// For packed batches call once per sequence with pointers offset to its first row.
    package static func forward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
                                tokens T: Int, shape: AttentionShape) {
        guard T > 0 else { return }
        let hd = shape.headDim, qw = shape.qWidth, kvw = shape.kvWidth, B = block
        let blocks = (T + B - 1) / B
        // Items in decreasing cost (last query block first) so the dynamic hand-out balances.
        Parallel.forEachItem(shape.heads * blocks) { item in
            let head = item % shape.heads, blk = blocks - 1 - item / shape.heads
            let kvh = head / shape.group, i0 = blk * B
            block(q: q + i0 * qw + head * hd, ldq: qw, k: k + kvh * hd, v: v + kvh * hd, ldkv: kvw,
                  rows: min(B, T - i0), firstPosition: i0, headDim: hd, scale: shape.scale,
                  probs: probs + head * T * T + i0 * T, ldp: T, out: out + i0 * qw + head * hd, ldo: qw)
        }
    }

    /// Given dout [T × nh·hd], writes dq [T × nh·hd] and dk, dv [T × nkv·hd] (all overwritten;
    /// dk/dv sum over the query heads of each group). Per head, with P from the forward:
    /// dP = dO Vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)), dQ = scale · dS K, then per key block
    /// dV = Σ_heads Pᵀ dO and dK = scale · Σ_heads dSᵀ Q. The two passes write disjoint rows, so
    /// each block runs on one worker without locks. `scratch` holds nh × T × T floats (dS).
    package static func backward(dout: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
                                 v: UnsafePointer<Float>, probs: UnsafePointer<Float>,
                                 dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                                 dv: UnsafeMutablePointer<Float>, scratch ds: UnsafeMutablePointer<Float>,
                                 tokens T: Int, shape: AttentionShape) {
        guard T > 0 else { return }
        let hd = shape.headDim, qw = shape.qWidth, kvw = shape.kvWidth, B = block
        let scale = shape.scale
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
