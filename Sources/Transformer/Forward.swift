import Foundation
import Kernels
import ModelFiles

/// Inference forward pass (fp32 activations): embeddings → N × (RMSNorm, GQA attention with
/// RoPE, residual, RMSNorm, SwiGLU MLP, residual) → RMSNorm → LM head. Prefill and decode are
/// the same code: `tokens` are appended after the positions already in `cache`.
public final class Forward: @unchecked Sendable {
    public let weights: ModelWeights
    public let rope: RoPE
    /// Scratch buffers are taken from a pool per call, so one model can serve concurrent
    /// forward passes (each with its own cache) without sharing intermediate buffers.
    private var pool: [Scratch] = []
    private let poolLock = NSLock()

    public init(weights: ModelWeights) {
        self.weights = weights
        rope = RoPE(config: weights.config, freqFactors: weights.ropeFreqFactors)
    }

    public var config: ModelConfig { weights.config }

    public func makeCache() -> KVCache {
        KVCache(layers: config.numLayers, width: config.numKVHeads * config.headDim)
    }

    public enum Logits { case last, all }

    /// Queries per attention block in a prompt pass.
    static let queryBlock = 128

    /// Runs `tokens` at positions cache.count…; returns logits [n × vocab] (`.all`) or
    /// [vocab] for the last token (`.last`).
    public func callAsFunction(_ tokens: [Int], cache: KVCache, logits which: Logits = .last) throws -> [Float] {
        poolLock.lock()
        let scratch = pool.popLast() ?? Scratch()
        poolLock.unlock()
        defer { poolLock.lock(); pool.append(scratch); poolLock.unlock() }
        return try run(tokens, cache: cache, logits: which, scratch: scratch)
    }

    private func run(_ tokens: [Int], cache: KVCache, logits which: Logits, scratch: Scratch) throws -> [Float] {
        let c = config
        let n = tokens.count
        guard n > 0 else { return [] }
        for t in tokens where t < 0 || t >= c.vocabSize {
            throw ModelLoadError("token id \(t) is outside the vocabulary (0..<\(c.vocabSize))")
        }
        let d = c.hiddenSize, hd = c.headDim, nh = c.numHeads, nkv = c.numKVHeads
        let qw = nh * hd, kvw = nkv * hd, ff = c.intermediateSize
        let eps = Float(c.rmsNormEps)
        let p0 = cache.count
        cache.reserve(n)
        let total = p0 + n

        let x = scratch.buffer(.x, n * d), h = scratch.buffer(.h, n * d)
        let q = scratch.buffer(.q, n * qw), att = scratch.buffer(.att, n * qw)
        let g = scratch.buffer(.gate, n * ff), u = scratch.buffer(.up, n * ff)

        for (i, t) in tokens.enumerated() { weights.embedding.dequantizeRows(t, 1, into: x + i * d) }

        // RoPE tables for the new positions.
        let half = hd / 2
        var cosT = [Float](repeating: 0, count: n * half), sinT = cosT
        cosT.withUnsafeMutableBufferPointer { cp in sinT.withUnsafeMutableBufferPointer { sp in
            for i in 0..<n { rope.angles(p0 + i, cp.baseAddress! + i * half, sp.baseAddress! + i * half) }
        } }

        for (li, L) in weights.layers.enumerated() {
            let kc = cache.keys[li] + p0 * kvw, vc = cache.values[li] + p0 * kvw
            L.attnNorm.withUnsafeBufferPointer { w in
                for i in 0..<n { Vec.rmsNorm(x + i * d, w.baseAddress!, eps, h + i * d, d) }
            }
            L.q.forward(h, m: n, q, scratch: scratch)
            L.k.forward(h, m: n, kc, scratch: scratch)   // written straight into the cache
            L.v.forward(h, m: n, vc, scratch: scratch)
            cosT.withUnsafeBufferPointer { cp in sinT.withUnsafeBufferPointer { sp in
                for i in 0..<n {
                    RoPE.rotate(q + i * qw, heads: nh, headDim: hd, cp.baseAddress! + i * half, sp.baseAddress! + i * half)
                    RoPE.rotate(kc + i * kvw, heads: nkv, headDim: hd, cp.baseAddress! + i * half, sp.baseAddress! + i * half)
                }
            } }
            attention(q: q, keys: cache.keys[li], values: cache.values[li], out: att, n: n, p0: p0, total: total, scratch: scratch)
            L.o.forward(att, m: n, h, scratch: scratch)
            Vec.add(h, x, n * d)

            L.mlpNorm.withUnsafeBufferPointer { w in
                for i in 0..<n { Vec.rmsNorm(x + i * d, w.baseAddress!, eps, h + i * d, d) }
            }
            L.gate.forward(h, m: n, g, scratch: scratch)
            L.up.forward(h, m: n, u, scratch: scratch)
            Parallel.forEachRange(n * ff, minPerWorker: 4096) { r in
                Vec.siluMul(g + r.lowerBound, u + r.lowerBound, g + r.lowerBound, r.count)
            }
            L.down.forward(g, m: n, h, scratch: scratch)
            Vec.add(h, x, n * d)
        }
        cache.advance(n)

        let rows = which == .all ? n : 1
        let first = n - rows
        weights.finalNorm.withUnsafeBufferPointer { w in
            for i in 0..<rows { Vec.rmsNorm(x + (first + i) * d, w.baseAddress!, eps, h + i * d, d) }
        }
        var out = [Float](repeating: 0, count: rows * c.vocabSize)
        out.withUnsafeMutableBufferPointer { o in
            weights.lmHead.forward(h, m: rows, o.baseAddress!, scratch: scratch)
        }
        return out
    }

    /// Causal grouped-query attention of n new queries against `total` cached positions.
    /// Per head: S = Q Kᵀ / √hd (sgemm), causal softmax per row, O = P V (sgemm).
    private func attention(q: UnsafeMutablePointer<Float>, keys: UnsafeMutablePointer<Float>,
                           values: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>,
                           n: Int, p0: Int, total: Int, scratch: Scratch) {
        let c = config
        let hd = c.headDim, nh = c.numHeads, nkv = c.numKVHeads
        let qw = nh * hd, kvw = nkv * hd, group = nh / nkv
        let scale = 1 / Float(hd).squareRoot()
        let s = scratch.buffer(.scores, min(n, Forward.queryBlock) * total)
        for head in 0..<nh {
            let kvh = head / group
            // Query blocks see only keys up to their last position: the causal upper
            // triangle is never computed (half the attention FLOPs on a long prompt).
            var i0 = 0
            while i0 < n {
                let m = min(Forward.queryBlock, n - i0)
                let visibleKeys = p0 + i0 + m
                BLAS.gemm(transB: true, m: m, n: visibleKeys, k: hd, alpha: scale, a: q + i0 * qw + head * hd, lda: qw,
                          b: keys + kvh * hd, ldb: kvw, c: s, ldc: visibleKeys)
                Parallel.forEachRange(m, minPerWorker: 32) { r in
                    for i in r {
                        let row = s + i * visibleKeys
                        let visible = p0 + i0 + i + 1
                        Vec.softmax(row, visible)
                        for j in visible..<visibleKeys { row[j] = 0 }
                    }
                }
                BLAS.gemm(m: m, n: hd, k: visibleKeys, a: s, lda: visibleKeys, b: values + kvh * hd, ldb: kvw,
                          c: out + i0 * qw + head * hd, ldc: qw)
                i0 += m
            }
        }
    }
}
