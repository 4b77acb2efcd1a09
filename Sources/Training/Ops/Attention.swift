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
            // S = scale · Q_h K_hᵀ, then causal softmax per row.
            BLAS.gemm(transB: true, m: T, n: T, k: hd, alpha: scale, a: q + head * hd, lda: qw,
                      b: k + kvh * hd, ldb: kvw, c: p, ldc: T)
            for i in 0..<T {
                let row = p + i * T
                Vec.softmax(row, i + 1)
                for j in (i + 1)..<T { row[j] = 0 }
            }
            // O_h = P V_h
            BLAS.gemm(m: T, n: hd, k: T, a: p, lda: T, b: v + kvh * hd, ldb: kvw, c: out + head * hd, ldc: qw)
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
            // dV_h += Pᵀ dO_h
            BLAS.gemm(transA: true, m: T, n: hd, k: T, a: p, lda: T, b: dO, ldb: qw, beta: 1, c: dv + kvh * hd, ldc: kvw)
            // dP = dO_h V_hᵀ
            BLAS.gemm(transB: true, m: T, n: T, k: hd, a: dO, lda: qw, b: v + kvh * hd, ldb: kvw, c: ds, ldc: T)
            // dS = P ⊙ (dP − Σ_j dP P), only on the causal part (P is zero above the diagonal).
            for i in 0..<T {
                let pr = p + i * T, dr = ds + i * T
                var s: Float = 0
                for j in 0...i { s += pr[j] * dr[j] }
                for j in 0...i { dr[j] = pr[j] * (dr[j] - s) }
                for j in (i + 1)..<T { dr[j] = 0 }
            }
            // dQ_h = scale · dS K_h ; dK_h += scale · dSᵀ Q_h
            BLAS.gemm(m: T, n: hd, k: T, alpha: scale, a: ds, lda: T, b: k + kvh * hd, ldb: kvw, c: dq + head * hd, ldc: qw)
            BLAS.gemm(transA: true, m: T, n: hd, k: T, alpha: scale, a: ds, lda: T, b: q + head * hd, ldb: qw,
                      beta: 1, c: dk + kvh * hd, ldc: kvw)
        }
    }
}
