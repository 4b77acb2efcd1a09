import Foundation
import Kernels
import ModelFiles

/// Inference forward pass (fp32 activations): embeddings → N × (RMSNorm, GQA attention with
/// RoPE, residual, RMSNorm, SwiGLU MLP, residual) → RMSNorm → LM head. Prefill and decode are
/// the same code: `tokens` are appended after the positions already in `cache`. Several
/// sequences, each with its own cache, can run in one call (`callAsFunction(batch:)`): their
/// rows go through each projection as one product, attention runs per sequence.
///
/// The memory plan is the KV cache (llama2.c's RunState); the row routines — `RMSNorm`,
/// `RoPETable`, `Attention.block`, `SwiGLU`, `Linear` per `Projection` — are the ones the
/// training driver (`LoRAModel`) calls with its saved activations.
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
        KVCache(layers: config.numLayers, heads: config.numKVHeads, headDim: config.headDim)
    }

    public enum Logits { case last, all }

    /// Attention scores held at once (floats), across the (sequence, head, query block) items
    /// that run in parallel: a long prompt runs its items in waves of at most this much.
    static let scoreBudget = 4 << 20
    /// Multiply-adds below which a wave of attention items runs on the calling thread (one
    /// sequence's decode step: 0.7 M at 640 positions): handing ~30 such jobs per token to the
    /// other worker cost more than it saved on a busy machine (decode 4–10% slower, measured
    /// with `bench infer`). Items give the same results on either path.
    static let parallelAttentionWork = 2_000_000

    /// Runs `tokens` at positions cache.count…; returns logits [n × vocab] (`.all`) or
    /// [vocab] for the last token (`.last`).
    public func callAsFunction(_ tokens: [Int], cache: KVCache, logits which: Logits = .last) throws -> [Float] {
        var out: [Float] = []
        try withScratch { try run([(tokens, cache)], logits: which, scratch: $0, into: &out) }
        return out
    }

    /// One step of several sequences: `batch[s].tokens` are appended to `batch[s].cache` (every
    /// cache a different one). Returns the last row's logits of each sequence, [batch.count × vocab].
    ///
    /// When every sequence brings one token (a decode step), each projection computes every
    /// row with the same quantised row-dot kernel one token alone would use, and attention runs
    /// per sequence: a sequence's logits are bit-identical to decoding it alone.
    public func callAsFunction(batch: [(tokens: [Int], cache: KVCache)]) throws -> [Float] {
        var out: [Float] = []
        try callAsFunction(batch: batch, into: &out)
        return out
    }

    /// `callAsFunction(batch:)` writing the logits into `logits` (resized to batch.count × vocab
    /// when it has another size): a decode loop that passes the same array every step
    /// allocates nothing (a fresh 1.5 MB array per step of 8 sequences cost ~10% of the step
    /// in page faults).
    public func callAsFunction(batch: [(tokens: [Int], cache: KVCache)], into logits: inout [Float]) throws {
        try withScratch { try run(batch, logits: .last, scratch: $0, into: &logits) }
    }

    private func withScratch<R>(_ body: (Scratch) throws -> R) rethrows -> R {
        poolLock.lock()
        let scratch = pool.popLast() ?? Scratch()
        poolLock.unlock()
        defer { poolLock.lock(); pool.append(scratch); poolLock.unlock() }
        return try body(scratch)
    }

    /// A sequence's rows in a call: rows start..<start+count, positions p0….
    private struct Segment { let start: Int, count: Int, p0: Int, cache: KVCache }

    private func run(_ batch: [(tokens: [Int], cache: KVCache)], logits which: Logits, scratch: Scratch,
                     into out: inout [Float]) throws {
        do {
            try runUnnamed(batch, logits: which, scratch: scratch, into: &out)
        } catch let e as AllocationError {
            let positions = batch.map { $0.cache.count + $0.tokens.count }.max() ?? 0
            throw e.for(e.purpose + " running \(batch.count) sequence(s) up to position \(positions) (prompt length + max_new_tokens)")
        }
    }

    private func runUnnamed(_ batch: [(tokens: [Int], cache: KVCache)], logits which: Logits, scratch: Scratch,
                            into out: inout [Float]) throws {
        let c = config
        var seen = Set<ObjectIdentifier>()
        for (_, cache) in batch where !seen.insert(ObjectIdentifier(cache)).inserted {
            throw ModelLoadError("the same KV cache appears twice in one batch")
        }
        for (tokens, _) in batch {
            for t in tokens where t < 0 || t >= c.vocabSize {
                throw ModelLoadError("token id \(t) is outside the vocabulary (0..<\(c.vocabSize))")
            }
        }
        var segs: [Segment] = [], positions: [Int] = []
        for (tokens, cache) in batch where !tokens.isEmpty {
            segs.append(Segment(start: positions.count, count: tokens.count, p0: cache.count, cache: cache))
            positions += cache.count..<(cache.count + tokens.count)
            try cache.reserve(tokens.count)
        }
        let n = positions.count
        guard n > 0 else { out = []; return }
        let d = c.hiddenSize, hd = c.headDim, nh = c.numHeads, nkv = c.numKVHeads
        let qw = nh * hd, kvw = nkv * hd, ff = c.intermediateSize
        let eps = Float(c.rmsNormEps)
        // A decode step: per-row products, so each row is computed as it would be alone.
        let rowDots = segs.allSatisfy { $0.count == 1 }

        let x = try scratch.buffer(.x, n * d), h = try scratch.buffer(.h, n * d)
        let q = try scratch.buffer(.q, n * qw), att = try scratch.buffer(.att, n * qw)
        let k = try scratch.buffer(.k, n * kvw), v = try scratch.buffer(.v, n * kvw)
        let g = try scratch.buffer(.gate, n * ff), u = try scratch.buffer(.up, n * ff)

        var row = 0
        for (tokens, _) in batch {
            for t in tokens { weights.embedding.dequantizeRows(t, 1, into: x + row * d); row += 1 }
        }
        let table = rope.table(positions: positions)

        for (li, L) in weights.layers.enumerated() {
            L.attnNorm.withUnsafeBufferPointer { RMSNorm.forward(x, $0.baseAddress!, eps: eps, h, invRMS: nil, tokens: n, dim: d) }
            try L.q.forward(h, m: n, q, scratch: scratch, rowDots: rowDots)
            try L.k.forward(h, m: n, k, scratch: scratch, rowDots: rowDots)
            try L.v.forward(h, m: n, v, scratch: scratch, rowDots: rowDots)
            table.forward(q, heads: nh, headDim: hd)
            table.forward(k, heads: nkv, headDim: hd)
            for s in segs { s.cache.store(layer: li, keys: k + s.start * kvw, values: v + s.start * kvw, rows: s.count) }
            try attention(q: q, out: att, segments: segs, layer: li, scratch: scratch)
            try L.o.forward(att, m: n, h, scratch: scratch, rowDots: rowDots)
            Vec.add(h, x, n * d)

            L.mlpNorm.withUnsafeBufferPointer { RMSNorm.forward(x, $0.baseAddress!, eps: eps, h, invRMS: nil, tokens: n, dim: d) }
            try L.gate.forward(h, m: n, g, scratch: scratch, rowDots: rowDots)
            try L.up.forward(h, m: n, u, scratch: scratch, rowDots: rowDots)
            SwiGLU.forward(g, u, g, count: n * ff)
            try L.down.forward(g, m: n, h, scratch: scratch, rowDots: rowDots)
            Vec.add(h, x, n * d)
        }
        for s in segs { s.cache.advance(s.count) }

        // Rows that reach the LM head: every row, or the last of each sequence.
        let rows = which == .all ? Array(0..<n) : segs.map { $0.start + $0.count - 1 }
        let xo = try scratch.buffer(.act, rows.count * d)
        for (i, r) in rows.enumerated() { (xo + i * d).update(from: x + r * d, count: d) }
        weights.finalNorm.withUnsafeBufferPointer {
            RMSNorm.forward(xo, $0.baseAddress!, eps: eps, h, invRMS: nil, tokens: rows.count, dim: d)
        }
        if out.count != rows.count * c.vocabSize { out = [Float](repeating: 0, count: rows.count * c.vocabSize) }
        try out.withUnsafeMutableBufferPointer { o in
            try weights.lmHead.forward(h, m: rows.count, o.baseAddress!, scratch: scratch, rowDots: rowDots)
        }
    }

    /// Causal grouped-query attention of each segment's new queries against its cache (which
    /// already holds the new keys and values): one `Attention.block` per (segment, head, query
    /// block), run in parallel, largest first.
    private func attention(q: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, segments: [Segment],
                           layer li: Int, scratch: Scratch) throws {
        let shape = AttentionShape(config)
        let hd = shape.headDim, qw = shape.qWidth, B = Attention.block
        // An item is one query block of one sequence for `heads` query heads. A decode step (one
        // row per sequence) takes a KV head's whole group of query heads in one item, so its keys
        // and values are read from memory once and reread from cache by the group's other heads
        // (with 8 sequences at ~450 positions the caches are ~160 MB, far past the L3). Each head
        // is computed as alone, so the results do not depend on the grouping.
        struct Item { let seg: Int, heads: Range<Int>, i0: Int, rows: Int, visible: Int }
        let grouped = segments.allSatisfy { $0.count == 1 }
        let perItem = grouped ? shape.group : 1
        var items: [Item] = []
        for (si, s) in segments.enumerated() {
            var i0 = 0
            while i0 < s.count {
                let m = min(B, s.count - i0)
                for h0 in stride(from: 0, to: shape.heads, by: perItem) {
                    items.append(Item(seg: si, heads: h0..<(h0 + perItem), i0: i0, rows: m, visible: s.p0 + i0 + m))
                }
                i0 += m
            }
        }
        items.sort { $0.rows * $0.visible > $1.rows * $1.visible }
        var first = 0
        while first < items.count {
            // A wave of items whose scores fit the budget (at least one item).
            var offsets: [Int] = [], total = 0, end = first
            while end < items.count && (end == first || total + items[end].rows * items[end].visible <= Forward.scoreBudget) {
                offsets.append(total); total += items[end].rows * items[end].visible; end += 1
            }
            let scores = try scratch.buffer(.scores, total)
            let wave = first
            let work = items[first..<end].reduce(0) { $0 + 2 * $1.heads.count * $1.rows * $1.visible * hd }
            let run: (Int, (Int) -> Void) -> Void = work < Forward.parallelAttentionWork
                ? { n, body in for j in 0..<n { body(j) } } : Parallel.forEachItem
            run(end - first) { j in
                let it = items[wave + j], s = segments[it.seg]
                let r0 = s.start + it.i0
                // The item's heads in turn, each with the item's score rows (one head at a time).
                for head in it.heads {
                    let kvh = head / shape.group
                    Attention.block(q: q + r0 * qw + head * hd, ldq: qw,
                                    k: s.cache.keys(li, head: kvh), v: s.cache.values(li, head: kvh), ldkv: hd,
                                    rows: it.rows, firstPosition: s.p0 + it.i0, headDim: hd, scale: shape.scale,
                                    probs: scores + offsets[j], ldp: it.visible, out: out + r0 * qw + head * hd, ldo: qw)
                }
            }
            first = end
        }
    }
}
