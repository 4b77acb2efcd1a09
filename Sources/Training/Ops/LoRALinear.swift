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
                                  rng: inout SeededRNG, _ y: UnsafeMutablePointer<Float>, cache: inout LoRACache) throws {
        let din = s.inFeatures, dout = s.outFeatures, r = s.rank
        try w.forward(x, m: m, y)
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
                                   da: UnsafeMutablePointer<Float>, db: UnsafeMutablePointer<Float>) throws {
        guard m > 0 else { return }
        let din = s.inFeatures, dout = s.outFeatures, r = s.rank
        try w.backwardInput(dy, m: m, dx)
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

/// One LoRA-adapted projection of a group that reads the same input (q/k/v, gate/up).
struct LoRAMember<W: FrozenMatrix> {
    let w: W
    let a: UnsafePointer<Float>, b: UnsafePointer<Float>
    let shape: LoRAShape
}

/// Reusable buffers of the grouped LoRA products (kept between calls: fresh memory is slow to
/// fault in, and these run 60 times a step).
final class LoRAGroupWorkspace {
    /// [A_1; A_2; …] (Σr × in), x·[A_1; …]ᵀ and its gradient (m × Σr), the stacked dA (Σr × in).
    let aCat = FloatBuffer(), xaCat = FloatBuffer(), dxaCat = FloatBuffer(), daCat = FloatBuffer()

    /// Copies the members' A matrices into one (Σr × in) and returns it with each member's first row.
    fileprivate func stackA<W>(_ members: [LoRAMember<W>]) throws -> (UnsafeMutablePointer<Float>, [Int]) {
        let din = members[0].shape.inFeatures
        var offsets: [Int] = [], total = 0
        for mb in members { offsets.append(total); total += mb.shape.rank }
        let p = try aCat.get(total * din)
        for (mb, off) in zip(members, offsets) { (p + off * din).update(from: mb.a, count: mb.shape.rank * din) }
        return (p, offsets)
    }
}

extension Ops {
    /// `loraLinearForward` of every member at once, without dropout: each y_t = W_t(x) + s_t·(x A_tᵀ) B_tᵀ,
    /// where x·[A_1; A_2; …]ᵀ is one product (x is packed once, not once per member; the same
    /// for dA and dx in the backward). `caches[t].xa` holds member t's x A_tᵀ as before.
    static func loraGroupForward<W>(_ x: UnsafePointer<Float>, m: Int, members: [LoRAMember<W>],
                                    outputs: [UnsafeMutablePointer<Float>], caches: inout [LoRACache],
                                    workspace ws: LoRAGroupWorkspace) throws {
        precondition(members.count == outputs.count && members.count == caches.count)
        precondition(members.allSatisfy { $0.shape.dropout == 0 && $0.shape.inFeatures == members[0].shape.inFeatures })
        for (mb, y) in zip(members, outputs) { try mb.w.forward(x, m: m, y) }
        guard m > 0 else { caches = caches.map { _ in LoRACache() }; return }
        let din = members[0].shape.inFeatures
        let (aCat, offsets) = try ws.stackA(members)
        let R = members.reduce(0) { $0 + $1.shape.rank }
        let xa = try ws.xaCat.get(m * R)
        BLAS.gemm(transB: true, m: m, n: R, k: din, a: x, lda: din, b: aCat, ldb: din, c: xa, ldc: R)
        for (t, mb) in members.enumerated() {
            let r = mb.shape.rank, dout = mb.shape.outFeatures, off = offsets[t]
            BLAS.gemm(transB: true, m: m, n: dout, k: r, alpha: mb.shape.scaling, a: xa + off, lda: R, b: mb.b, ldb: r,
                      beta: 1, c: outputs[t], ldc: dout)
            var own = [Float](repeating: 0, count: m * r)
            own.withUnsafeMutableBufferPointer { o in
                for i in 0..<m { (o.baseAddress! + i * r).update(from: xa + i * R + off, count: r) }
            }
            caches[t] = LoRACache(xa: own, mask: [])
        }
    }

    /// `loraLinearBackward` of every member at once (same accumulation: dx, dA_t, dB_t all +=).
    static func loraGroupBackward<W>(_ dys: [UnsafePointer<Float>], x: UnsafePointer<Float>, m: Int,
                                     members: [LoRAMember<W>], caches: [LoRACache], dx: UnsafeMutablePointer<Float>,
                                     da: [UnsafeMutablePointer<Float>], db: [UnsafeMutablePointer<Float>],
                                     workspace ws: LoRAGroupWorkspace) throws {
        guard m > 0 else { return }
        let din = members[0].shape.inFeatures
        let (aCat, offsets) = try ws.stackA(members)
        let R = members.reduce(0) { $0 + $1.shape.rank }
        let dxa = try ws.dxaCat.get(m * R)
        for (t, mb) in members.enumerated() {
            let s = mb.shape, r = s.rank, dout = s.outFeatures
            try mb.w.backwardInput(dys[t], m: m, dx)
            // dxa_t = scaling · dy_t B_t, into its columns of the stacked gradient.
            BLAS.gemm(m: m, n: r, k: dout, alpha: s.scaling, a: dys[t], lda: dout, b: mb.b, ldb: r,
                      c: dxa + offsets[t], ldc: R)
            caches[t].xa.withUnsafeBufferPointer { xa in
                BLAS.gemm(transA: true, m: dout, n: r, k: m, alpha: s.scaling, a: dys[t], lda: dout, b: xa.baseAddress!,
                          ldb: r, beta: 1, c: db[t], ldc: r)
            }
        }
        // [dA_1; dA_2; …] = dxaᵀ x in one product, then into each member's gradient.
        let daCat = try ws.daCat.get(R * din)
        BLAS.gemm(transA: true, m: R, n: din, k: m, a: dxa, lda: R, b: x, ldb: din, c: daCat, ldc: din)
        for (t, mb) in members.enumerated() { Vec.add(daCat + offsets[t] * din, da[t], mb.shape.rank * din) }
        BLAS.gemm(m: m, n: din, k: R, a: dxa, lda: R, b: aCat, ldb: din, beta: 1, c: dx, ldc: din)
    }
}
