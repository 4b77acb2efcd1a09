import Kernels

/// Shape and hyper-parameters of one LoRA-adapted linear: y = x Wᵀ + (α/r) · (drop(x) Aᵀ) Bᵀ
/// with W [out × in] frozen, A [r × in], B [out × r] trained (PEFT's lora_A / lora_B layout).
struct LoRAShape {
    let inFeatures: Int, outFeatures: Int, rank: Int
    /// The factor on B·A: alpha/r, or alpha/√r with rsLoRA.
    let scaling: Float
    /// Dropout probability on the LoRA input path (PEFT lora_dropout); 0 disables it.
    let dropout: Float

    init(inFeatures: Int, outFeatures: Int, rank: Int, alpha: Float, dropout: Float) {
        self.init(inFeatures: inFeatures, outFeatures: outFeatures, rank: rank, scaling: alpha / Float(rank), dropout: dropout)
    }
    init(inFeatures: Int, outFeatures: Int, rank: Int, scaling: Float, dropout: Float) {
        self.inFeatures = inFeatures; self.outFeatures = outFeatures; self.rank = rank
        self.scaling = scaling; self.dropout = dropout
    }
}

/// What `loraLinearForward` keeps for the backward: xa = drop(x) Aᵀ [m × r] and, with dropout,
/// the mask [m × in] (0 or 1/(1−p) per element; empty when p = 0).
struct LoRACache {
    var xa: [Float] = []
    var mask: [Float] = []
}

extension Ops {
    /// y [m × out] = W(x) + scaling · (drop(x) Aᵀ) Bᵀ  (overwrites y). The dropout mask is drawn
    /// from `rng` (element kept when nextFloat() ≥ p) only when p > 0.
    static func loraLinearForward(_ x: UnsafePointer<Float>, m: Int, w: some FrozenMatrix,
                                  a: UnsafePointer<Float>, b: UnsafePointer<Float>, shape s: LoRAShape,
                                  rng: inout SeededRNG, _ y: UnsafeMutablePointer<Float>, cache: inout LoRACache) {
        let din = s.inFeatures, dout = s.outFeatures, r = s.rank
        w.forward(x, m: m, y)
        guard m > 0 else { cache = LoRACache(); return }
        cache.xa = [Float](repeating: 0, count: m * r)
        if s.dropout > 0 {
            let keep = 1 / (1 - s.dropout)
            cache.mask = (0..<(m * din)).map { _ in rng.nextFloat() >= s.dropout ? keep : 0 }
            var xd = [Float](repeating: 0, count: m * din)
            for i in 0..<(m * din) { xd[i] = x[i] * cache.mask[i] }
            xd.withUnsafeBufferPointer { xp in cache.xa.withUnsafeMutableBufferPointer { xa in
                BLAS.gemm(transB: true, m: m, n: r, k: din, a: xp.baseAddress!, lda: din, b: a, ldb: din,
                          c: xa.baseAddress!, ldc: r)
            } }
        } else {
            cache.mask = []
            cache.xa.withUnsafeMutableBufferPointer { xa in
                BLAS.gemm(transB: true, m: m, n: r, k: din, a: x, lda: din, b: a, ldb: din, c: xa.baseAddress!, ldc: r)
            }
        }
        cache.xa.withUnsafeBufferPointer { xa in
            BLAS.gemm(transB: true, m: m, n: dout, k: r, alpha: s.scaling, a: xa.baseAddress!, lda: r, b: b, ldb: r,
                      beta: 1, c: y, ldc: dout)
        }
    }

    /// Accumulates (+=) all three gradients: dB += scaling · dyᵀ xa; dA += (scaling · dy B)ᵀ drop(x);
    /// dx += dy W + ((scaling · dy B) A) ⊙ mask  (x's gradient sums over the projections sharing it,
    /// e.g. q/k/v, and dA/dB over micro-batches).
    static func loraLinearBackward(_ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, m: Int, w: some FrozenMatrix,
                                   a: UnsafePointer<Float>, b: UnsafePointer<Float>, shape s: LoRAShape,
                                   cache: LoRACache, dx: UnsafeMutablePointer<Float>,
                                   da: UnsafeMutablePointer<Float>, db: UnsafeMutablePointer<Float>) {
        guard m > 0 else { return }
        let din = s.inFeatures, dout = s.outFeatures, r = s.rank
        w.backwardInput(dy, m: m, dx)
        // dxa = scaling · dy B   [m × r]
        var dxa = [Float](repeating: 0, count: m * r)
        dxa.withUnsafeMutableBufferPointer { g in
            BLAS.gemm(m: m, n: r, k: dout, alpha: s.scaling, a: dy, lda: dout, b: b, ldb: r, c: g.baseAddress!, ldc: r)
        }
        cache.xa.withUnsafeBufferPointer { xa in
            BLAS.gemm(transA: true, m: dout, n: r, k: m, alpha: s.scaling, a: dy, lda: dout, b: xa.baseAddress!, ldb: r,
                      beta: 1, c: db, ldc: r)
        }
        dxa.withUnsafeBufferPointer { gp in
            let g = gp.baseAddress!
            if cache.mask.isEmpty {
                BLAS.gemm(transA: true, m: r, n: din, k: m, a: g, lda: r, b: x, ldb: din, beta: 1, c: da, ldc: din)
                BLAS.gemm(m: m, n: din, k: r, a: g, lda: r, b: a, ldb: din, beta: 1, c: dx, ldc: din)
            } else {
                cache.mask.withUnsafeBufferPointer { mp in
                    let mask = mp.baseAddress!
                    var t = [Float](repeating: 0, count: m * din)
                    t.withUnsafeMutableBufferPointer { tp in
                        let t = tp.baseAddress!
                        for i in 0..<(m * din) { t[i] = x[i] * mask[i] }   // drop(x) again
                        BLAS.gemm(transA: true, m: r, n: din, k: m, a: g, lda: r, b: t, ldb: din, beta: 1, c: da, ldc: din)
                        BLAS.gemm(m: m, n: din, k: r, a: g, lda: r, b: a, ldb: din, c: t, ldc: din)
                        for i in 0..<(m * din) { dx[i] += t[i] * mask[i] }
                    }
                }
            }
        }
    }
}
