import Foundation
import Kernels
import ModelFiles
import Transformer

/// Growable 64-byte aligned Float storage, reused from step to step so training allocates
/// its activations once.
final class FloatBuffer {
    private(set) var pointer: UnsafeMutablePointer<Float>
    private(set) var capacity: Int

    /// Empty: memory comes with the first `get`.
    init() {
        capacity = 0
        pointer = LargeBuffer.placeholder.assumingMemoryBound(to: Float.self)
    }
    deinit { LargeBuffer.free(pointer) }

    /// At least n floats (contents undefined after growth). A size the machine cannot give is an
    /// `AllocationError` (the model adds which micro-batch asked for it).
    func get(_ n: Int) throws -> UnsafeMutablePointer<Float> {
        if n > capacity {
            LargeBuffer.free(pointer)
            pointer = LargeBuffer.placeholder.assumingMemoryBound(to: Float.self)
            capacity = 0
            pointer = try LargeBuffer.allocate(floats: max(n, 16), for: "\(n) floats of activations")
            capacity = n
        }
        return pointer
    }
    func zeroed(_ n: Int) throws -> UnsafeMutablePointer<Float> {
        let p = try get(n); p.initialize(repeating: 0, count: n); return p
    }
}

/// What a decoder layer's backward needs from its forward (per micro-batch of M rows):
/// the residual stream entering the layer and after attention, the projections q/k (after
/// RoPE), v, the attention output, the MLP's gate and up, the norms' 1/rms, and the LoRA caches.
final class LayerActivations {
    let xIn = FloatBuffer(), xMid = FloatBuffer()
    let q = FloatBuffer(), k = FloatBuffer(), v = FloatBuffer(), att = FloatBuffer()
    let g = FloatBuffer(), u = FloatBuffer()
    let inv1 = FloatBuffer(), inv2 = FloatBuffer()
    /// The attention probabilities of every segment, when the step keeps them (see
    /// `LoRAModel.attentionCacheBytes`); otherwise the backward recomputes them.
    let probs = FloatBuffer()
    var lora: [LoRACache] = Array(repeating: LoRACache(), count: LoRATarget.allCases.count)
    /// Dropout RNG state at the start of the layer (gradient checkpointing replays it).
    var rng = SeededRNG(seed: 0)
}

/// A causal LM with frozen base weights and trainable LoRA pairs (or none: the base model
/// alone): forward and hand-written backward of a whole micro-batch, accumulating the
/// adapter's gradients.
///
/// A micro-batch is a list of sequences laid end to end as M rows (no padding): every
/// projection runs once over all M rows; attention runs per segment. Parameters are kept flat
/// in a fixed order (`adapter.keys`, A then B) shared with the optimiser and checkpoints.
///
/// The memory plan is the saved activations (llm.c's); the row routines — `RMSNorm`,
/// `RoPETable`, `Attention`, `SwiGLU`, `Linear` per `Projection` — are the ones the inference
/// driver (`Transformer.Forward`, with its KV cache) calls.
final class LoRAModel {
    let weights: ModelWeights
    let config: ModelConfig
    /// nil: no adapter (every projection is the frozen base's).
    let loraConfig: LoRAConfig?
    /// Store only each layer's input and recompute the layer in the backward.
    var gradientCheckpointing: Bool
    /// false: every projection is the frozen base's (the reference model of DPO/GRPO: the same
    /// weights with the adapter disabled, as PEFT's `disable_adapter()`). Forward only.
    var adapterEnabled = true
    /// Trainable tensors, in `keys` order: params[2i] = A, params[2i + 1] = B.
    var params: [[Float]]
    var grads: [[Float]]
    let keys: [(layer: Int, target: LoRATarget)]
    /// slot[layer][target.index] → i (A at params[2i]) or nil when not adapted.
    private let slot: [[Int?]]
    private let shapes: [LoRAShape]

    private let scratch = Scratch()
    private let rope: RoPE
    private var layerActs: [LayerActivations] = []
    private let work = LayerActivations()
    // Step-local buffers.
    private let x = FloatBuffer(), h = FloatBuffer(), tmp = FloatBuffer(), act = FloatBuffer()
    private let dx = FloatBuffer(), dh = FloatBuffer(), dq = FloatBuffer(), dk = FloatBuffer(), dv = FloatBuffer()
    private let datt = FloatBuffer(), dg = FloatBuffer(), du = FloatBuffer(), probs = FloatBuffer(), ds = FloatBuffer()
    private let finalIn = FloatBuffer(), finalInv = FloatBuffer(), dropBuf = FloatBuffer()
    private let lossWorkspace = CrossEntropyWorkspace()
    private let loraGroup = LoRAGroupWorkspace()

    /// Rows of the LM head per cross-entropy chunk (bounds the logits buffer to chunk × vocab:
    /// 100 MB for SmolLM2). The head's two products run at 135 GFLOP/s with 128-row chunks and
    /// 158 with 512 (2 threads, measured with its exact shapes).
    var lossChunk = 512
    /// Keep each layer's attention probabilities from the forward for the backward when all
    /// layers' together take at most this many bytes (b4×256 on SmolLM2: 283 MB; b1×1024:
    /// 1.1 GB); beyond it (long sequences) they are recomputed, as with gradient checkpointing.
    /// Keeping them saves a quarter of the attention products.
    var attentionCacheBytes = LoRAModel.defaultAttentionCacheBytes
    static let defaultAttentionCacheBytes = 1_200_000_000

    /// Whether all layers' attention probabilities for these segment lengths fit in `budget` bytes.
    static func probabilitiesFit(_ config: ModelConfig, segmentLengths: [Int], budget: Int) -> Bool {
        config.numLayers * segmentLengths.reduce(0) { $0 + config.numHeads * $1 * $1 } * 4 <= budget
    }
    /// The LM head in fp32 (SmolLM2: 49152 × 576, 113 MB): every chunk of every micro-batch
    /// multiplies by all of it twice, so dequantising it once beats dequantising it per chunk.
    /// The 30 layers' projections stay quantised (each is dequantised once per product).
    /// With a bf16 base the head is kept in bf16 only (57 MB) and `lmHead` stays as stored.
    private let lmHead: Linear
    private let lmHeadBF16: HalfBuffer?
    /// What the frozen products compute in; `bf16Base` holds their bf16 buffers.
    let computeDType: ComputeDType
    private let bf16Base: BF16Base?

    /// `adapter` nil: the base model alone (no parameters; its loss is the base model's).
    init(weights: ModelWeights, adapter: LoRAAdapter?, gradientCheckpointing: Bool = false,
         computeDType: ComputeDType = .fp32) throws {
        try adapter?.validate(for: weights.config)
        self.weights = weights
        config = weights.config
        loraConfig = adapter?.config
        self.gradientCheckpointing = gradientCheckpointing
        keys = adapter?.keys ?? []
        var p: [[Float]] = [], shp: [LoRAShape] = []
        var sl = [[Int?]](repeating: [Int?](repeating: nil, count: LoRATarget.allCases.count), count: config.numLayers)
        if let adapter {
            for (i, key) in keys.enumerated() {
                let w = adapter.layers[key.layer][key.target]!
                p.append(w.a); p.append(w.b)
                sl[key.layer][key.target.index] = i
                shp.append(LoRAShape(inFeatures: w.inFeatures, outFeatures: w.outFeatures, rank: w.rank,
                                     scaling: adapter.config.scaling, dropout: Float(adapter.config.dropout)))
            }
        }
        params = p
        grads = p.map { [Float](repeating: 0, count: $0.count) }
        slot = sl
        shapes = shp
        rope = RoPE(config: config, freqFactors: weights.ropeFreqFactors)
        self.computeDType = computeDType
        if computeDType == .bf16 {
            let base = BF16Base()
            let head = HalfBuffer()
            try BF16Base.dequantize(weights.lmHead, into: try head.get(weights.lmHead.rows * weights.lmHead.cols))
            bf16Base = base; lmHeadBF16 = head; lmHead = weights.lmHead
        } else {
            bf16Base = nil; lmHeadBF16 = nil; lmHead = try weights.lmHead.materialized()
        }
    }

    /// A frozen projection computed in this model's compute dtype.
    private func frozen(_ w: Linear) -> FrozenLinear {
        FrozenLinear(linear: w, scratch: scratch, bf16: bf16Base)
    }

    /// The current parameters as an adapter (a model built without one has none: the trainer
    /// always builds it with one).
    var adapter: LoRAAdapter {
        guard let loraConfig else { preconditionFailure("LoRAModel built without an adapter has no adapter to return") }
        var layers = [[LoRATarget: LoRAWeights]](repeating: [:], count: config.numLayers)
        for (i, key) in keys.enumerated() {
            let s = shapes[i]
            layers[key.layer][key.target] = try! LoRAWeights(inFeatures: s.inFeatures, outFeatures: s.outFeatures,
                                                             rank: s.rank, a: params[2 * i], b: params[2 * i + 1])
        }
        return LoRAAdapter(config: loraConfig, layers: layers)
    }

    func zeroGrads() {
        for i in grads.indices { grads[i].withUnsafeMutableBufferPointer { $0.initialize(repeating: 0) } }
    }

    // MARK: whole model

    /// Forward and backward of one micro-batch: adds gradScale · ∂(summed loss)/∂θ to `grads`
    /// and returns the summed loss and the number of trained positions. With `backward` false
    /// only the loss is computed (evaluation: no dropout, nothing kept).
    func run(_ batch: [TrainSequence], gradScale: Float = 1, backward: Bool = true,
             dropoutRNG rng: inout SeededRNG) throws -> (loss: Double, count: Int) {
        try run(batch, backward: backward, dropoutRNG: &rng) { p in
            try Ops.crossEntropy(h: p.h, tokens: p.m, dim: p.dim, head: p.head, targets: p.targets, chunk: p.chunk,
                                 gradScale: gradScale, dh: p.dh, workspace: p.workspace)
        } ?? (0, 0)
    }

    /// The LM head's input rows of a micro-batch, handed to an objective: it reads `h` through
    /// `head` and, when training, accumulates ∂L/∂h into `dh` (zeroed for it); the model's
    /// backward then starts from `dh`.
    struct HeadPass {
        let h: UnsafePointer<Float>
        let m: Int, dim: Int
        let head: FrozenLinear
        /// The batch's shifted targets, end to end (−100 where untrained).
        let targets: [Int]
        let chunk: Int
        let workspace: CrossEntropyWorkspace
        /// nil when not training.
        let dh: UnsafeMutablePointer<Float>?
    }

    /// Forward of one micro-batch to the LM head's input, `objective` on it, and (with
    /// `backward`) the backward from the gradient the objective left in `dh`, accumulating into
    /// `grads`. nil for an empty batch. Cross-entropy (SFT), DPO and GRPO differ only in the
    /// objective.
    func run<R>(_ batch: [TrainSequence], backward: Bool, dropoutRNG rng: inout SeededRNG,
                objective: (HeadPass) throws -> R) throws -> R? {
        do {
            return try runUnnamed(batch, backward: backward, dropoutRNG: &rng, objective: objective)
        } catch let e as AllocationError {
            // Name what set the size: the micro-batch's rows come from the batch size and the
            // sequence length.
            let rows = batch.reduce(0) { $0 + $1.ids.count }
            throw e.for(e.purpose + " in a micro-batch of \(batch.count) sequences, \(rows) tokens (batch_size × max_seq_length); lower batch_size or max_seq_length")
        }
    }

    private func runUnnamed<R>(_ batch: [TrainSequence], backward: Bool, dropoutRNG rng: inout SeededRNG,
                               objective: (HeadPass) throws -> R) throws -> R? {
        precondition(!backward || adapterEnabled, "LoRAModel: no backward with the adapter disabled")
        guard let pass = try forward(batch, training: backward, rng: &rng) else { return nil }
        let c = config, d = c.hiddenSize, m = pass.m, training = backward
        let (attn, rope, fin, inv, hf) = (pass.attention, pass.rope, pass.normIn, pass.invRMS, pass.normOut)
        let targets = batch.flatMap(\.targets)
        var head = frozen(lmHead)
        head.phase = .head
        head.bf16Weights = lmHeadBF16.map { UnsafePointer($0.pointer) }
        let dhf = training ? try dh.zeroed(m * d) : nil
        let result = try StepProfile.measure(.head) {
            try objective(HeadPass(h: hf, m: m, dim: d, head: head, targets: targets, chunk: lossChunk,
                                   workspace: lossWorkspace, dh: dhf))
        }
        guard let dhf else { return result }
        let dx = try self.dx.zeroed(m * d)
        weights.finalNorm.withUnsafeBufferPointer { w in
            RMSNorm.backward(dhf, fin, w.baseAddress!, invRMS: inv, dx: dx, tokens: m, dim: d)
        }
        for li in stride(from: c.numLayers - 1, through: 0, by: -1) {
            let a: LayerActivations
            if gradientCheckpointing {
                a = work
                let xr = try self.x.get(m * d)   // the forward's residual buffer is free now
                xr.update(from: layerActs[li].xIn.pointer, count: m * d)
                var r = layerActs[li].rng
                try layerForward(li, xr, m: m, attn: attn, rope: rope, acts: a, training: true, rng: &r)
            } else {
                a = layerActs[li]
            }
            try layerBackward(li, dx, m: m, attn: attn, rope: rope, acts: a)
        }
        return result
    }

    /// The rows of a forward pass up to the LM head: the final norm's input, its 1/rms and output.
    private struct Pass {
        let m: Int
        let attention: AttentionPlan
        let rope: RoPETable
        let normIn: UnsafeMutablePointer<Float>, invRMS: UnsafeMutablePointer<Float>, normOut: UnsafeMutablePointer<Float>
    }

    /// Embeddings → every decoder layer (keeping what the backward needs when `training`) →
    /// final norm. nil for an empty batch.
    private func forward(_ batch: [TrainSequence], training: Bool, rng: inout SeededRNG) throws -> Pass? {
        let c = config, d = c.hiddenSize
        let ids = batch.flatMap(\.ids)
        let m = ids.count
        guard m > 0 else { return nil }
        for (i, t) in ids.enumerated() where t < 0 || t >= c.vocabSize {
            throw OpsError("token id \(t) at row \(i) of the batch is outside the vocabulary (0..<\(c.vocabSize))")
        }
        var segments: [Range<Int>] = [], positions = [Int](repeating: 0, count: m)
        var off = 0
        for s in batch {
            for seg in s.segments {
                let r = (seg.lowerBound + off)..<(seg.upperBound + off)
                segments.append(r)
                for (j, row) in r.enumerated() { positions[row] = j }
            }
            off += s.ids.count
        }
        // Where each segment's nh × T × T probabilities start in a layer's cache.
        var probOffsets: [Int] = [], probTotal = 0
        for r in segments { probOffsets.append(probTotal); probTotal += c.numHeads * r.count * r.count }
        let keepProbs = training && !gradientCheckpointing
            && LoRAModel.probabilitiesFit(c, segmentLengths: segments.map(\.count), budget: attentionCacheBytes)
        let attn = AttentionPlan(segments: segments, probOffsets: probOffsets, probTotal: probTotal, keepProbs: keepProbs)
        let rope = self.rope.table(positions: positions)
        if training {
            while layerActs.count < c.numLayers { layerActs.append(LayerActivations()) }
        }

        let x = try self.x.get(m * d)
        for (i, t) in ids.enumerated() { weights.embedding.dequantizeRows(t, 1, into: x + i * d) }

        for li in 0..<c.numLayers {
            let a = training && !gradientCheckpointing ? layerActs[li] : work
            if training && gradientCheckpointing {
                // Keep only the layer input (and the dropout stream position) for recomputation.
                try layerActs[li].xIn.get(m * d).update(from: x, count: m * d)
                layerActs[li].rng = rng
            }
            try layerForward(li, x, m: m, attn: attn, rope: rope, acts: a, training: training, rng: &rng)
        }

        // Final norm (the loss reads only the trained rows of its output).
        let fin = try finalIn.get(m * d), inv = try finalInv.get(m)
        let hf = try h.get(m * d)
        fin.update(from: x, count: m * d)
        weights.finalNorm.withUnsafeBufferPointer { w in
            RMSNorm.forward(fin, w.baseAddress!, eps: Float(c.rmsNormEps), hf, invRMS: inv, tokens: m, dim: d)
        }
        return Pass(m: m, attention: attn, rope: rope, normIn: fin, invRMS: inv, normOut: hf)
    }

    /// Logits [rows × vocab] of every row of `batch` through the training forward (no dropout,
    /// nothing kept): what the loss is computed from, for comparison with inference.
    func logits(_ batch: [TrainSequence]) throws -> [Float] {
        var rng = SeededRNG(seed: 0)   // unused: no dropout outside training
        guard let pass = try forward(batch, training: false, rng: &rng) else { return [] }
        var out = [Float](repeating: 0, count: pass.m * config.vocabSize)
        try out.withUnsafeMutableBufferPointer { o in
            var head = frozen(lmHead)
            head.bf16Weights = lmHeadBF16.map { UnsafePointer($0.pointer) }
            try head.forward(pass.normOut, m: pass.m, o.baseAddress!)
        }
        return out
    }

    // MARK: one decoder layer

    /// x ← x + attn(norm(x)); x ← x + mlp(norm(x)), saving what the backward needs in `acts`.
    private func layerForward(_ li: Int, _ x: UnsafeMutablePointer<Float>, m: Int, attn: AttentionPlan,
                              rope: RoPETable, acts a: LayerActivations, training: Bool, rng: inout SeededRNG) throws {
        let c = config, L = weights.layers[li]
        let d = c.hiddenSize, qw = c.numHeads * c.headDim, kvw = c.numKVHeads * c.headDim, ff = c.intermediateSize
        let eps = Float(c.rmsNormEps)
        let shape = AttentionShape(c)

        let xIn = try a.xIn.get(m * d)
        if xIn != x { xIn.update(from: x, count: m * d) }
        let h = try self.h.get(m * d), inv1 = try a.inv1.get(m)
        L.attnNorm.withUnsafeBufferPointer { w in
            RMSNorm.forward(xIn, w.baseAddress!, eps: eps, h, invRMS: inv1, tokens: m, dim: d)
        }
        let q = try a.q.get(m * qw), k = try a.k.get(m * kvw), v = try a.v.get(m * kvw)
        try projectGroup([.q, .k, .v], li, h, m, [q, k, v], a, training, &rng)
        rope.forward(q, heads: c.numHeads, headDim: c.headDim)
        rope.forward(k, heads: c.numKVHeads, headDim: c.headDim)
        let att = try a.att.get(m * qw)
        try StepProfile.measure(.attention) {
            let kept = attn.keepProbs ? try a.probs.get(attn.probTotal) : nil
            for (i, s) in attn.segments.enumerated() {
                let T = s.count
                let p = try kept.map { $0 + attn.probOffsets[i] } ?? probs.get(c.numHeads * T * T)
                Attention.forward(q: q + s.lowerBound * qw, k: k + s.lowerBound * kvw, v: v + s.lowerBound * kvw,
                                  out: att + s.lowerBound * qw, probs: p, tokens: T, shape: shape)
            }
        }
        let o = try tmp.get(m * d)
        try project(.o, li, att, m, o, a, training, &rng)
        Vec.add(o, x, m * d)
        let xMid = try a.xMid.get(m * d)
        xMid.update(from: x, count: m * d)

        let inv2 = try a.inv2.get(m)
        L.mlpNorm.withUnsafeBufferPointer { w in
            RMSNorm.forward(xMid, w.baseAddress!, eps: eps, h, invRMS: inv2, tokens: m, dim: d)
        }
        let g = try a.g.get(m * ff), u = try a.u.get(m * ff)
        try projectGroup([.gate, .up], li, h, m, [g, u], a, training, &rng)
        let act = try self.act.get(m * ff)
        SwiGLU.forward(g, u, act, count: m * ff)
        let down = try tmp.get(m * d)
        try project(.down, li, act, m, down, a, training, &rng)
        Vec.add(down, x, m * d)
    }

    /// dx (the residual stream's gradient after the layer) becomes the gradient before it;
    /// the layer's LoRA gradients are accumulated.
    private func layerBackward(_ li: Int, _ dx: UnsafeMutablePointer<Float>, m: Int, attn: AttentionPlan,
                               rope: RoPETable, acts a: LayerActivations) throws {
        let c = config, L = weights.layers[li]
        let d = c.hiddenSize, qw = c.numHeads * c.headDim, kvw = c.numKVHeads * c.headDim, ff = c.intermediateSize
        let eps = Float(c.rmsNormEps)
        let shape = AttentionShape(c)
        let h = try self.h.get(m * d), dh = try self.dh.get(m * d)

        // MLP: x_out = x_mid + down(silu(gate(n)) ⊙ up(n)), n = norm(x_mid).
        let xMid = a.xMid.pointer, g = a.g.pointer, u = a.u.pointer
        L.mlpNorm.withUnsafeBufferPointer { w in RMSNorm.forward(xMid, w.baseAddress!, eps: eps, h, invRMS: nil, tokens: m, dim: d) }
        let act = try self.act.get(m * ff)
        SwiGLU.forward(g, u, act, count: m * ff)
        let dact = try dg.zeroed(m * ff)
        try projectBackward(.down, li, dy: dx, x: act, m, dx: dact, a)
        let du = try self.du.get(m * ff)
        SwiGLU.backward(dact, g, u, dg: dact, du: du, count: m * ff)
        dh.initialize(repeating: 0, count: m * d)
        try projectGroupBackward([.gate, .up], li, dys: [dact, du], x: h, m, dx: dh, a)
        L.mlpNorm.withUnsafeBufferPointer { w in
            RMSNorm.backward(dh, xMid, w.baseAddress!, invRMS: a.inv2.pointer, dx: dx, tokens: m, dim: d)
        }

        // Attention: x_mid = x_in + o(attn(rope(q(n)), rope(k(n)), v(n))), n = norm(x_in).
        let xIn = a.xIn.pointer
        L.attnNorm.withUnsafeBufferPointer { w in RMSNorm.forward(xIn, w.baseAddress!, eps: eps, h, invRMS: nil, tokens: m, dim: d) }
        let datt = try self.datt.zeroed(m * qw)
        try projectBackward(.o, li, dy: dx, x: a.att.pointer, m, dx: datt, a)
        let dq = try self.dq.get(m * qw), dk = try self.dk.get(m * kvw), dv = try self.dv.get(m * kvw)
        let q = a.q.pointer, k = a.k.pointer, v = a.v.pointer
        try StepProfile.measure(.attention) {
            for (i, s) in attn.segments.enumerated() {
                let T = s.count, r0 = s.lowerBound
                let p: UnsafeMutablePointer<Float>
                if attn.keepProbs {
                    p = a.probs.pointer + attn.probOffsets[i]
                } else {
                    // Recompute P (too large to keep for every layer at this length).
                    p = try probs.get(c.numHeads * T * T)
                    Attention.forward(q: q + r0 * qw, k: k + r0 * kvw, v: v + r0 * kvw, out: try tmp.get(T * qw), probs: p,
                                      tokens: T, shape: shape)
                }
                Attention.backward(dout: datt + r0 * qw, q: q + r0 * qw, k: k + r0 * kvw, v: v + r0 * kvw, probs: p,
                                   dq: dq + r0 * qw, dk: dk + r0 * kvw, dv: dv + r0 * kvw, scratch: try ds.get(c.numHeads * T * T),
                                   tokens: T, shape: shape)
            }
        }
        rope.backward(dq, heads: c.numHeads, headDim: c.headDim)
        rope.backward(dk, heads: c.numKVHeads, headDim: c.headDim)
        dh.initialize(repeating: 0, count: m * d)
        try projectGroupBackward([.q, .k, .v], li, dys: [dq, dk, dv], x: h, m, dx: dh, a)
        L.attnNorm.withUnsafeBufferPointer { w in
            RMSNorm.backward(dh, xIn, w.baseAddress!, invRMS: a.inv1.pointer, dx: dx, tokens: m, dim: d)
        }
    }

    // MARK: projections

    /// y = W x (+ LoRA when this projection is adapted).
    private func project(_ t: LoRATarget, _ li: Int, _ x: UnsafePointer<Float>, _ m: Int,
                         _ y: UnsafeMutablePointer<Float>, _ a: LayerActivations, _ training: Bool,
                         _ rng: inout SeededRNG) throws {
        let frozen = self.frozen(weights.layers[li][t])
        guard adapterEnabled, let i = slot[li][t.index] else { try frozen.forward(x, m: m, y); return }
        var s = shapes[i]
        if !training { s = LoRAShape(inFeatures: s.inFeatures, outFeatures: s.outFeatures, rank: s.rank, scaling: s.scaling, dropout: 0) }
        try params[2 * i].withUnsafeBufferPointer { pa in try params[2 * i + 1].withUnsafeBufferPointer { pb in
            try StepProfile.measure(.lora) {
                try Ops.loraLinearForward(x, m: m, w: frozen, a: pa.baseAddress!, b: pb.baseAddress!, shape: s, rng: &rng,
                                      y, cache: &a.lora[t.index])
            }
        } }
    }

    /// dx += dy W (+ the LoRA path); accumulates the pair's gradients.
    private func projectBackward(_ t: LoRATarget, _ li: Int, dy: UnsafePointer<Float>,
                                 x: UnsafePointer<Float>, _ m: Int, dx: UnsafeMutablePointer<Float>, _ a: LayerActivations) throws {
        let frozen = self.frozen(weights.layers[li][t])
        guard let i = slot[li][t.index] else { try frozen.backwardInput(dy, m: m, dx); return }
        let s = shapes[i]
        try params[2 * i].withUnsafeBufferPointer { pa in try params[2 * i + 1].withUnsafeBufferPointer { pb in
            try grads[2 * i].withUnsafeMutableBufferPointer { ga in try grads[2 * i + 1].withUnsafeMutableBufferPointer { gb in
                try StepProfile.measure(.lora) {
                    try Ops.loraLinearBackward(dy, x: x, m: m, w: frozen, a: pa.baseAddress!, b: pb.baseAddress!, shape: s,
                                           cache: a.lora[t.index], dx: dx, da: ga.baseAddress!, db: gb.baseAddress!)
                }
            } }
        } }
    }

    /// Projections that read the same input (q/k/v, gate/up): their LoRA products run grouped
    /// (`Ops.loraGroupForward`) when all are adapted and there is no dropout (each member draws
    /// its own dropout mask, as in PEFT, so with dropout they run one by one).
    private func grouped(_ ts: [LoRATarget], _ li: Int, training: Bool) -> [Int]? {
        let ids = ts.compactMap { slot[li][$0.index] }
        guard adapterEnabled, ids.count == ts.count, ids.count > 1, !training || loraConfig?.dropout == 0 else { return nil }
        return ids
    }

    private func projectGroup(_ ts: [LoRATarget], _ li: Int, _ x: UnsafePointer<Float>, _ m: Int,
                              _ ys: [UnsafeMutablePointer<Float>], _ a: LayerActivations, _ training: Bool,
                              _ rng: inout SeededRNG) throws {
        guard let ids = grouped(ts, li, training: training) else {
            for (j, t) in ts.enumerated() { try project(t, li, x, m, ys[j], a, training, &rng) }
            return
        }
        try withPointers(ids.flatMap { [2 * $0, 2 * $0 + 1] }) { ab in
            let members = groupMembers(ids, ts, li, ab)
            var caches = ts.map { a.lora[$0.index] }
            try StepProfile.measure(.lora) {
                try Ops.loraGroupForward(x, m: m, members: members, outputs: ys, caches: &caches, workspace: loraGroup)
            }
            for (j, t) in ts.enumerated() { a.lora[t.index] = caches[j] }
        }
    }

    private func projectGroupBackward(_ ts: [LoRATarget], _ li: Int, dys: [UnsafePointer<Float>],
                                      x: UnsafePointer<Float>, _ m: Int, dx: UnsafeMutablePointer<Float>,
                                      _ a: LayerActivations) throws {
        guard let ids = grouped(ts, li, training: true) else {
            for (j, t) in ts.enumerated() { try projectBackward(t, li, dy: dys[j], x: x, m, dx: dx, a) }
            return
        }
        let pairs = ids.flatMap { [2 * $0, 2 * $0 + 1] }
        try withPointers(pairs) { ab in
            let members = groupMembers(ids, ts, li, ab)
            let caches = ts.map { a.lora[$0.index] }
            try withGradPointers(pairs) { g in
                try StepProfile.measure(.lora) {
                    try Ops.loraGroupBackward(dys, x: x, m: m, members: members, caches: caches, dx: dx,
                                          da: ids.indices.map { g[2 * $0] }, db: ids.indices.map { g[2 * $0 + 1] },
                                          workspace: loraGroup)
                }
            }
        }
    }

    /// A group's members from their slots and [A_1, B_1, A_2, B_2, …]; no dropout on the grouped path.
    private func groupMembers(_ ids: [Int], _ ts: [LoRATarget], _ li: Int,
                              _ ab: [UnsafePointer<Float>]) -> [LoRAMember<FrozenLinear>] {
        ids.indices.map { j in
            let s = shapes[ids[j]]
            return LoRAMember(w: frozen(weights.layers[li][ts[j]]), a: ab[2 * j], b: ab[2 * j + 1],
                              shape: LoRAShape(inFeatures: s.inFeatures, outFeatures: s.outFeatures, rank: s.rank,
                                               scaling: s.scaling, dropout: 0))
        }
    }

    /// Base addresses of several parameter (or gradient) arrays at once, valid inside `body`.
    private func withPointers<R>(_ ids: [Int], _ acc: [UnsafePointer<Float>] = [],
                                 _ body: ([UnsafePointer<Float>]) throws -> R) rethrows -> R {
        guard acc.count < ids.count else { return try body(acc) }
        return try params[ids[acc.count]].withUnsafeBufferPointer { p in
            guard let base = p.baseAddress else { preconditionFailure("empty LoRA parameter") }
            return try withPointers(ids, acc + [base], body)
        }
    }
    private func withGradPointers<R>(_ ids: [Int], _ acc: [UnsafeMutablePointer<Float>] = [],
                                     _ body: ([UnsafeMutablePointer<Float>]) throws -> R) rethrows -> R {
        guard acc.count < ids.count else { return try body(acc) }
        return try grads[ids[acc.count]].withUnsafeMutableBufferPointer { g in
            guard let base = g.baseAddress else { preconditionFailure("empty LoRA gradient") }
            return try withGradPointers(ids, acc + [base], body)
        }
    }
}

/// Whether a training micro-batch of sequences with these lengths keeps its attention
/// probabilities from the forward (otherwise the backward recomputes them), with the default budget.
public func trainingKeepsAttentionProbabilities(_ config: ModelConfig, sequenceLengths: [Int],
                                                gradientCheckpointing: Bool) -> Bool {
    !gradientCheckpointing
        && LoRAModel.probabilitiesFit(config, segmentLengths: sequenceLengths, budget: LoRAModel.defaultAttentionCacheBytes)
}

/// Keys a query row attends to on average, as the causal blocked attention computes them
/// (each 64-row query block sees every key up to its own last row): T/2 + 32 for whole blocks.
public func attentionKeysPerQuery(sequenceLength T: Int) -> Double {
    let B = Attention.block
    var keys = 0, i0 = 0
    while i0 < T { let m = min(B, T - i0); keys += m * (i0 + m); i0 += m }
    return T > 0 ? Double(keys) / Double(T) : 0
}

/// A micro-batch's attention segments and where their probabilities live.
struct AttentionPlan {
    let segments: [Range<Int>]
    let probOffsets: [Int]
    /// Floats of one layer's kept probabilities (all segments).
    let probTotal: Int
    let keepProbs: Bool
}

/// Upper bounds of what training takes in memory, by what sets it (in Double: absurd settings
/// must not overflow). From the buffers `LoRAModel` keeps: per layer and row the saved
/// activations (x in and after attention, q, k, v, the attention output, gate, up, two 1/rms,
/// each adapted projection's x·Aᵀ and, with dropout, its mask), the step's working rows, one
/// sequence's attention probabilities and their gradient, and one loss chunk of logits.
public enum TrainingMemory {
    /// Activations of one micro-batch of `rows` rows whose longest sequence has `longest`.
    public static func activationBytes(_ c: ModelConfig, lora: LoRAConfig?, rows: Int, longest: Int,
                                       gradientCheckpointing: Bool, lossChunk: Int = 512) -> Double {
        let d = Double(c.hiddenSize), qw = Double(c.numHeads * c.headDim), kvw = Double(c.numKVHeads * c.headDim)
        let ff = Double(c.intermediateSize), m = Double(rows), T = Double(longest)
        let adapted = lora.map { l in Double(l.targets.count) * (Double(l.rank) + (l.dropout > 0 ? max(d, ff) : 0)) } ?? 0
        let perLayerRow = gradientCheckpointing ? d : 2 * d + 2 * qw + 2 * kvw + 2 * ff + 2 + adapted
        let saved = Double(c.numLayers) * m * perLayerRow
        let working = m * (8 * d + 3 * qw + 3 * kvw + 4 * ff)
        let attention = 2 * Double(c.numHeads) * T * T
        let logits = min(m, Double(lossChunk)) * (Double(c.vocabSize) + 2 * d)
        return 4 * (saved + working + attention + logits)
    }

    /// The adapter's parameters, gradients and AdamW's two moments.
    public static func adapterBytes(_ c: ModelConfig, lora: LoRAConfig) -> Double {
        let perLayer = lora.targets.reduce(0.0) { s, t in
            let (din, dout) = t.shape(in: c)
            return s + Double(lora.rank) * Double(din + dout)
        }
        return 4 * 4 * Double(c.numLayers) * perLayer
    }
}
