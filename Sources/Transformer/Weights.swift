import Foundation
import Kernels
import ModelFiles

/// One decoder block's frozen weights.
public struct LayerWeights: @unchecked Sendable {
    public var attnNorm: [Float]
    public var q: Linear, k: Linear, v: Linear, o: Linear
    public var mlpNorm: [Float]
    public var gate: Linear, up: Linear, down: Linear
}

/// All frozen weights of a Llama / Qwen2 causal LM, in Hugging Face layout (rotate-half RoPE).
public final class ModelWeights: @unchecked Sendable {
    public let config: ModelConfig
    public let embedding: Linear          // [vocab × hidden]; rows are looked up by token id
    public var layers: [LayerWeights]
    public let finalNorm: [Float]
    public let lmHead: Linear             // the embedding itself when tied
    /// Per-frequency RoPE divisors from a GGUF `rope_freqs.weight` tensor, if present.
    public var ropeFreqFactors: [Float]? = nil
    private let files: [AnyObject]

    init(config: ModelConfig, embedding: Linear, layers: [LayerWeights], finalNorm: [Float], lmHead: Linear, files: [AnyObject]) {
        self.config = config; self.embedding = embedding; self.layers = layers
        self.finalNorm = finalNorm; self.lmHead = lmHead; self.files = files
    }

    /// Replaces every matrix by an fp32 copy ("dequantise at load"): more memory, no per-token
    /// dequantisation. Kept for the benchmark that justifies the default.
    public func materialize() throws -> ModelWeights {
        let ls = try layers.map { l in
            var m = l
            for p in Projection.allCases { m[p] = try l[p].materialized() }
            return m
        }
        let emb = try embedding.materialized()
        let head = lmHead === embedding ? emb : try lmHead.materialized()
        let m = ModelWeights(config: config, embedding: emb, layers: ls, finalNorm: finalNorm, lmHead: head, files: files)
        m.ropeFreqFactors = ropeFreqFactors
        return m
    }

    /// The same frozen weights with an unmerged LoRA delta on some projections:
    /// `delta(layer, projection)` (nil leaves it as is).
    public func withLoRA(_ delta: (Int, Projection) -> LoRADelta?) throws -> ModelWeights {
        var ls: [LayerWeights] = []
        for (i, l) in layers.enumerated() {
            var m = l
            for p in Projection.allCases { m[p] = try l[p].withLoRA(delta(i, p)) }
            ls.append(m)
        }
        let m = ModelWeights(config: config, embedding: embedding, layers: ls, finalNorm: finalNorm, lmHead: lmHead, files: files)
        m.ropeFreqFactors = ropeFreqFactors
        return m
    }

    /// Every matrix replaced by `f(layer, projection, matrix)`: layer and projection are nil for
    /// the embedding and the LM head (a tied head stays the embedding).
    public func mapMatrices(_ f: (Int?, Projection?, Linear) throws -> Linear) rethrows -> ModelWeights {
        var ls: [LayerWeights] = []
        for (i, l) in layers.enumerated() {
            var m = l
            for p in Projection.allCases { m[p] = try f(i, p, l[p]) }
            ls.append(m)
        }
        let emb = try f(nil, nil, embedding)
        let head = lmHead === embedding ? emb : try f(nil, nil, lmHead)
        let m = ModelWeights(config: config, embedding: emb, layers: ls, finalNorm: finalNorm, lmHead: head, files: files)
        m.ropeFreqFactors = ropeFreqFactors
        return m
    }

    /// Bytes of weight data the model reads (its quantised size).
    public var weightBytes: Int {
        var n = embedding.rows * embedding.rowBytes
        if lmHead !== embedding { n += lmHead.rows * lmHead.rowBytes }
        for l in layers {
            for p in Projection.allCases { n += l[p].rows * l[p].rowBytes }
        }
        return n
    }

    // MARK: loading

    /// Where tensors come from: a GGUF file or a set of safetensors files, under HF or GGUF names.
    struct Source {
        let lookup: (String) throws -> TensorInfo?
        let owner: AnyObject
        let path: String
    }

    static func load(config: ModelConfig, source: Source, ggufNames: Bool) throws -> ModelWeights {
        func name(_ hf: String, _ gg: String) -> String { ggufNames ? gg : hf }
        func tensor(_ n: String) throws -> TensorInfo {
            guard let t = try source.lookup(n) else {
                throw ModelLoadError("\(source.path): missing tensor '\(n)'")
            }
            return t
        }
        func vector(_ n: String, _ count: Int) throws -> [Float] {
            let t = try tensor(n)
            guard t.count == count else { throw ModelLoadError("\(source.path): tensor '\(n)' has \(t.count) elements, expected \(count)") }
            return try floats(t, source.path)
        }
        func linear(_ n: String, rows: Int, cols: Int, bias: String? = nil, permuteHeads: Int? = nil) throws -> Linear {
            let t = try tensor(n)
            guard t.shape.count == 2, t.shape[0] == rows, t.shape[1] == cols else {
                throw ModelLoadError("\(source.path): tensor '\(n)' has shape \(t.shape), expected [\(rows), \(cols)]")
            }
            guard cols % t.type.blockSize == 0 else {
                throw ModelLoadError("\(source.path): tensor '\(n)': row length \(cols) is not a multiple of the \(t.type) block size")
            }
            var b: [Float]? = nil
            if let bias, let bt = try source.lookup(bias) {
                guard bt.count == rows else { throw ModelLoadError("\(source.path): bias '\(bias)' has \(bt.count) elements, expected \(rows)") }
                b = try floats(bt, source.path)
            }
            if let heads = permuteHeads {
                return try unpermuteRows(t, rows: rows, cols: cols, heads: heads, bias: b)
            }
            return Linear(rows: rows, cols: cols, type: t.type, data: t.data, owner: source.owner, bias: b)
        }

        let c = config
        let d = c.hiddenSize, hd = c.headDim
        // llama.cpp's converter interleaves the two RoPE halves of Q and K rows for Llama
        // models; undo it so one rotate-half RoPE serves every source.
        let permute = ggufNames && c.architecture == "llama"
        var layers: [LayerWeights] = []
        for i in 0..<c.numLayers {
            let hp = "model.layers.\(i).", gp = "blk.\(i)."
            func nm(_ hf: String, _ gg: String) -> String { name(hp + hf, gp + gg) }
            func proj(_ p: Projection) throws -> Linear {
                let (cols, rows) = p.shape(in: c)
                let heads: Int? = switch p { case .q: c.numHeads; case .k: c.numKVHeads; default: nil }
                // Qwen2's q/k/v carry a bias; no supported model has one elsewhere.
                let biased = [.q, .k, .v].contains(p)
                return try linear(nm(p.modulePath + ".weight", p.ggufName + ".weight"), rows: rows, cols: cols,
                                  bias: biased ? nm(p.modulePath + ".bias", p.ggufName + ".bias") : nil,
                                  permuteHeads: permute ? heads : nil)
            }
            layers.append(LayerWeights(
                attnNorm: try vector(nm("input_layernorm.weight", "attn_norm.weight"), d),
                q: try proj(.q), k: try proj(.k), v: try proj(.v), o: try proj(.o),
                mlpNorm: try vector(nm("post_attention_layernorm.weight", "ffn_norm.weight"), d),
                gate: try proj(.gate), up: try proj(.up), down: try proj(.down)))
        }
        let emb = try linear(name("model.embed_tokens.weight", "token_embd.weight"), rows: c.vocabSize, cols: d)
        let headName = name("lm_head.weight", "output.weight")
        let head: Linear
        if !c.tieWordEmbeddings, try source.lookup(headName) != nil {
            head = try linear(headName, rows: c.vocabSize, cols: d)
        } else {
            head = emb
        }
        let m = ModelWeights(config: c, embedding: emb, layers: layers,
                             finalNorm: try vector(name("model.norm.weight", "output_norm.weight"), d),
                             lmHead: head, files: [source.owner])
        if ggufNames, try source.lookup("rope_freqs.weight") != nil {
            m.ropeFreqFactors = try vector("rope_freqs.weight", hd / 2)
        }
        return m
    }

    /// Inverse of llama.cpp's `permute`: within each head, GGUF row 2j+s holds HF row s·(hd/2)+j.
    private static func unpermuteRows(_ t: TensorInfo, rows: Int, cols: Int, heads: Int, bias: [Float]?) throws -> Linear {
        let rb = t.type.rowBytes(cols)
        let buf = try OwnedBuffer(bytes: rows * rb, for: "tensor '\(t.name)' in llama.cpp's row order")
        let hd = rows / heads, half = hd / 2
        var b2 = bias
        for h in 0..<heads {
            for j in 0..<half {
                for s in 0..<2 {
                    let src = h * hd + 2 * j + s, dst = h * hd + s * half + j
                    (buf.pointer + dst * rb).copyMemory(from: t.data + src * rb, byteCount: rb)
                    if let bias, b2 != nil { b2?[dst] = bias[src] }
                }
            }
        }
        return Linear(rows: rows, cols: cols, type: t.type, data: UnsafeRawPointer(buf.pointer), owner: buf, bias: b2)
    }

    static func floats(_ t: TensorInfo, _ path: String) throws -> [Float] {
        guard t.count % t.type.blockSize == 0 else {
            throw ModelLoadError("\(path): tensor '\(t.name)' has \(t.count) elements, not whole \(t.type) blocks")
        }
        var out = [Float](repeating: 0, count: t.count)
        out.withUnsafeMutableBufferPointer { dequantize(t.type, t.data, count: t.count, into: $0.baseAddress!) }
        return out
    }
}

public struct ModelLoadError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}
