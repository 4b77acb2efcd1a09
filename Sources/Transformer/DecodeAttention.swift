import Kernels

// Compiled twice: here (-target-cpu haswell) and, through a link, in QuantDot512
// (skylake-avx512), where its 16-lane vectors are single registers. Each lane's operations are
// the same in both, so are the bits (QuantDot512Tests compares them).

enum DecodeAttention {
    /// `Attention.block` for one query row (a decode step) seeing `visible` keys: S_j = scale · (q · k_j),
    /// P = softmax(S), O = Σ_j P_j v_j, each a plain loop in a fixed order (no sgemm call, which
    /// for one row spent most of its time copying K and V into its panels). A row's result
    /// depends only on its own q and cache, so a batched decode step equals one-at-a-time.
    @inline(__always)
    static func row(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, ldkv: Int,
                    visible: Int, headDim hd: Int, scale: Float, probs p: UnsafeMutablePointer<Float>,
                    out: UnsafeMutablePointer<Float>) {
        typealias V = Vec.V
        let chunks = hd / 16
        // q · k_j: even chunks into one accumulator, odd ones into another, then a tree sum.
        @inline(__always) func dot(_ kj: UnsafePointer<Float>, _ chunks: Int) -> Float {
            var a = V(), b = V(), c = 0
            while c + 2 <= chunks {
                a.addProduct(Vec.load(q + 16 * c), Vec.load(kj + 16 * c))
                b.addProduct(Vec.load(q + 16 * c + 16), Vec.load(kj + 16 * c + 16))
                c += 2
            }
            if c < chunks { a.addProduct(Vec.load(q + 16 * c), Vec.load(kj + 16 * c)) }
            return Lanes.sum(a + b)
        }
        if hd == 64 {
            for j in 0..<visible { p[j] = scale * dot(k + j * ldkv, 4) }
        } else {
            for j in 0..<visible { p[j] = scale * dot(k + j * ldkv, chunks) }
        }
        Vec.softmax(p, visible)
        // out[c] = Σ_j p_j v_j[c], per 16-lane chunk, j in order (four chunks at once when
        // hd = 64: the same operations per chunk, more of them in flight).
        var c = 0
        if hd == 64 {
            var a0 = V(), a1 = V(), a2 = V(), a3 = V()
            for j in 0..<visible {
                let vj = v + j * ldkv, pj = V(repeating: p[j])
                a0.addProduct(pj, Vec.load(vj)); a1.addProduct(pj, Vec.load(vj + 16))
                a2.addProduct(pj, Vec.load(vj + 32)); a3.addProduct(pj, Vec.load(vj + 48))
            }
            Vec.store(a0, out); Vec.store(a1, out + 16); Vec.store(a2, out + 32); Vec.store(a3, out + 48)
            c = chunks
        }
        while c < chunks {
            var a = V()
            for j in 0..<visible { a.addProduct(V(repeating: p[j]), Vec.load(v + j * ldkv + 16 * c)) }
            Vec.store(a, out + 16 * c)
            c += 1
        }
    }
}
