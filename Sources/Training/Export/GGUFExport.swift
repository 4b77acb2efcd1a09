import Foundation
import Kernels
import ModelFiles
import Tokenization
import Transformer

/// Element type of the matrices in an exported GGUF (llama.cpp's `--outtype` / quantize type).
/// Norms, biases and other 1-D tensors always stay F32 (convert_hf_to_gguf's rule).
public enum GGUFQuant: String, CaseIterable, Sendable {
    case f32, f16, q8_0, q4_0

    public var tensorType: TensorType {
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        case .q8_0: return .q8_0
        case .q4_0: return .q4_0
        }
    }

    /// The type a matrix of `cols` columns is written in: rows that are not whole blocks stay
    /// f16 (gguf-py's QuantError fallback).
    public func matrixType(cols: Int) -> TensorType { cols % tensorType.blockSize == 0 ? tensorType : .f16 }

    /// gguf-py `LlamaFileType` (general.file_type).
    public var fileType: UInt32 {
        switch self {
        case .f32: return 0   // ALL_F32
        case .f16: return 1   // MOSTLY_F16
        case .q4_0: return 2  // MOSTLY_Q4_0
        case .q8_0: return 7  // MOSTLY_Q8_0
        }
    }
}

public struct GGUFExportOptions: Sendable {
    public var quant: GGUFQuant
    /// Replace existing output files.
    public var force: Bool
    /// Also write an Ollama `Modelfile` next to the GGUF.
    public var modelfile: Bool
    /// general.name (default: the source's general.name, else its file or folder name).
    public var name: String?

    public init(quant: GGUFQuant = .f16, force: Bool = false, modelfile: Bool = false, name: String? = nil) {
        self.quant = quant; self.force = force; self.modelfile = modelfile; self.name = name
    }
}

public struct ExportError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// llama.cpp's tensor name for a projection (`blk.N.<name>.weight`).
extension LoRATarget {
    public var ggufName: String {
        switch self {
        case .q: return "attn_q"
        case .k: return "attn_k"
        case .v: return "attn_v"
        case .o: return "attn_output"
        case .gate: return "ffn_gate"
        case .up: return "ffn_up"
        case .down: return "ffn_down"
        }
    }
}

/// Writes `model` with `adapter` merged (W' = W + scaling·B·A; an unmerged delta already on the
/// model's weights is folded in too) as a GGUF file llama.cpp loads: the architecture metadata
/// convert_hf_to_gguf.py writes for `llama` / `qwen2`, llama.cpp tensor names, Q/K rows in
/// llama.cpp's interleaved RoPE order for Llama (TuneLab holds every model in HF order, whatever
/// the source), the tokenizer with its chat template and special ids, and the matrices in
/// `options.quant`. With `options.modelfile` an Ollama Modelfile is written next to it.
/// Returns the files written (the GGUF first) with their sha256.
public func exportGGUF(model: LanguageModel, adapter: LoRAAdapter?, to path: String,
                       options: GGUFExportOptions = GGUFExportOptions()) throws -> [WrittenFile] {
    try exportGGUF(model: model, adapter: adapter, to: path, options: options, permuteQK: true)
}

/// `permuteQK: false` leaves Llama's Q/K rows in HF order: a wrong file, for the tests' negative control.
func exportGGUF(model: LanguageModel, adapter: LoRAAdapter?, to path: String, options: GGUFExportOptions,
                permuteQK: Bool) throws -> [WrittenFile] {
    let w = model.weights, c = model.config
    if let adapter { try adapter.validate(for: c) }
    let modelfilePath = modelfileURL(forGGUF: path).path
    if !options.force, FileManager.default.fileExists(atPath: path) {
        throw ExportError("\(path): already exists; pass --force to replace it")  // before any work
    }
    // Work out the Modelfile first: an unsupported chat template fails before anything is written.
    var modelfileText: String? = nil
    if options.modelfile {
        modelfileText = try ollamaModelfile(model: model, ggufFileName: URL(fileURLWithPath: path).lastPathComponent)
        if !options.force, FileManager.default.fileExists(atPath: modelfilePath) {
            throw ExportError("\(modelfilePath): already exists; pass --force to replace it")
        }
    }

    let llama = c.architecture == "llama" && permuteQK
    let scaling = adapter?.config.scaling ?? 0
    var tensors: [GGUFTensorSource] = []
    func matrixType(_ cols: Int) -> TensorType { options.quant.matrixType(cols: cols) }
    func matrix(_ name: String, _ l: Linear, _ delta: LoRAWeights?, permuteHeads: Int? = nil) {
        tensors.append(.floats(name, shape: [l.rows, l.cols], type: matrixType(l.cols)) {
            var m = mergedWeight(l, delta, scaling: scaling)
            try checkFinite(m, name, model.path)
            if let h = permuteHeads { m = permuteForGGUF(m, rows: l.rows, cols: l.cols, heads: h) }
            return m
        })
    }
    func vector(_ name: String, _ v: [Float], permuteHeads: Int? = nil) {
        tensors.append(.floats(name, shape: [v.count], type: .f32) {
            try checkFinite(v, name, model.path)
            return permuteHeads.map { permuteForGGUF(v, rows: v.count, cols: 1, heads: $0) } ?? v
        })
    }

    tensors.append(.floats("token_embd.weight", shape: [w.embedding.rows, w.embedding.cols], type: matrixType(w.embedding.cols)) {
        mergedWeight(w.embedding, nil, scaling: 0)
    })
    for (i, l) in w.layers.enumerated() {
        let p = "blk.\(i)."
        let ad = adapter?.layers[i] ?? [:]
        vector(p + "attn_norm.weight", l.attnNorm)
        for (t, lin) in [(LoRATarget.q, l.q), (.k, l.k), (.v, l.v), (.o, l.o), (.gate, l.gate), (.up, l.up), (.down, l.down)] {
            let heads: Int? = llama && t == .q ? c.numHeads : llama && t == .k ? c.numKVHeads : nil
            matrix(p + t.ggufName + ".weight", lin, ad[t], permuteHeads: heads)
            if let b = lin.bias { vector(p + t.ggufName + ".bias", b, permuteHeads: heads) }
        }
        vector(p + "ffn_norm.weight", l.mlpNorm)
    }
    vector("output_norm.weight", w.finalNorm)
    if w.lmHead !== w.embedding {
        tensors.append(.floats("output.weight", shape: [w.lmHead.rows, w.lmHead.cols], type: matrixType(w.lmHead.cols)) {
            mergedWeight(w.lmHead, nil, scaling: 0)
        })
    }
    var ropeFactors = w.ropeFreqFactors
    if ropeFactors == nil, let s = c.ropeScaling, s.type == "llama3" {
        ropeFactors = llama3RopeFactors(s, theta: c.ropeTheta, headDim: c.headDim)
    }
    if let ff = ropeFactors { vector("rope_freqs.weight", ff) }

    let metadata = try modelMetadata(model: model, quant: options.quant, name: options.name)
    let gguf = try writeGGUF(path: path, metadata: metadata, tensors: tensors, force: options.force)
    var files = [gguf]
    if let text = modelfileText {
        let out = try AtomicFile(path: modelfilePath)
        do {
            try out.write(Array(text.utf8))
            files.append(try out.commit(replace: options.force))
        } catch {
            out.abandon()
            throw error
        }
    }
    return files
}

/// Writes `adapter` as a GGUF LoRA that llama.cpp's `--lora` loads, as convert_lora_to_gguf.py
/// writes it: general.type "adapter", adapter.type "lora", adapter.lora.alpha, and per adapted
/// projection `blk.N.<name>.weight.lora_a` [r × in] and `.lora_b` [out × r] (F32 by default),
/// B's rows in llama.cpp's Q/K order for Llama. llama.cpp scales by alpha / r (rank read from
/// lora_a), so an rsLoRA adapter (alpha / √r) is written with alpha·√r, the same product.
public func exportLoRAGGUF(adapter: LoRAAdapter, model: LanguageModel, to path: String,
                           type: GGUFQuant = .f32, force: Bool = false, name: String? = nil) throws -> WrittenFile {
    let c = model.config
    try adapter.validate(for: c)
    let llama = c.architecture == "llama"
    let qt = type.tensorType
    var tensors: [GGUFTensorSource] = []
    for (i, layer) in adapter.layers.enumerated() {
        for t in adapter.config.targets {
            guard let lw = layer[t] else { continue }
            let base = "blk.\(i).\(t.ggufName).weight"
            let heads: Int? = llama && t == .q ? c.numHeads : llama && t == .k ? c.numKVHeads : nil
            tensors.append(.floats(base + ".lora_a", shape: [lw.rank, lw.inFeatures], type: lw.inFeatures % qt.blockSize == 0 ? qt : .f16) { lw.a })
            tensors.append(.floats(base + ".lora_b", shape: [lw.outFeatures, lw.rank], type: lw.rank % qt.blockSize == 0 ? qt : .f16) {
                heads.map { permuteForGGUF(lw.b, rows: lw.outFeatures, cols: lw.rank, heads: $0) } ?? lw.b
            })
        }
    }
    let alpha = Double(adapter.config.scaling) * Double(adapter.config.rank)
    var meta: [(key: String, value: GGUFValue)] = [
        ("general.architecture", .string(c.architecture)),
        ("general.type", .string("adapter")),
        ("adapter.type", .string("lora")),
        ("general.name", .string(name ?? sourceName(model) + "-lora")),
        ("adapter.lora.alpha", .float32(Float(alpha))),
        ("general.quantization_version", .uint32(2)),
    ]
    if type != .f32 { meta.insert(("general.file_type", .uint32(type.fileType)), at: 5) }
    return try writeGGUF(path: path, metadata: meta, tensors: tensors, force: force)
}

/// llama.cpp's `LlamaModel.permute` on rows (HF rotate-half order → GGUF interleaved order):
/// within each head, GGUF row 2j+s is HF row s·(hd/2)+j. `cols` values per row.
func permuteForGGUF(_ m: [Float], rows: Int, cols: Int, heads: Int) -> [Float] {
    let hd = rows / heads, half = hd / 2
    var out = [Float](repeating: 0, count: m.count)
    for h in 0..<heads {
        for j in 0..<half {
            for s in 0..<2 {
                let dst = (h * hd + 2 * j + s) * cols, src = (h * hd + s * half + j) * cols
                for c in 0..<cols { out[dst + c] = m[src + c] }
            }
        }
    }
    return out
}

private func checkFinite(_ v: [Float], _ name: String, _ path: String) throws {
    if let i = v.firstIndex(where: { !$0.isFinite }) {
        throw ExportError("\(path): \(name) holds a non-finite value (\(v[i]) at element \(i)); nothing was written")
    }
}

/// convert_hf_to_gguf's `LlamaModel.generate_extra_tensors`: per-frequency divisors for a
/// Llama-3 rope_scaling, in Float32 as torch computes them.
func llama3RopeFactors(_ s: RopeScaling, theta: Double, headDim: Int) -> [Float] {
    let old = Float(s.originalMaxPositionEmbeddings)
    let low = Float(s.lowFreqFactor), high = Float(s.highFreqFactor), factor = Float(s.factor)
    let lowWavelen = old / low, highWavelen = old / high
    return (0..<headDim / 2).map { i in
        let freq = 1 / powf(Float(theta), Float(2 * i) / Float(headDim))
        let wavelen = 2 * Float.pi / freq
        if wavelen < highWavelen { return 1 }
        if wavelen > lowWavelen { return factor }
        let smooth = (old / wavelen - low) / (high - low)
        return 1 / ((1 - smooth) / factor + smooth)
    }
}

/// general.name of the source GGUF, else its file or folder name.
func sourceName(_ model: LanguageModel) -> String {
    if model.format == "gguf", let g = try? GGUFFile(path: model.path), let n = g.metadata["general.name"]?.string { return n }
    var name = URL(fileURLWithPath: model.path).lastPathComponent
    if name.hasSuffix(".gguf") { name.removeLast(5) }
    return name
}

/// The metadata convert_hf_to_gguf.py writes, in its order: general.*, the architecture's
/// hyper-parameters, file type, the tokenizer, quantization version.
func modelMetadata(model: LanguageModel, quant: GGUFQuant, name: String?) throws -> [(key: String, value: GGUFValue)] {
    let c = model.config, a = c.architecture
    var m: [(key: String, value: GGUFValue)] = [
        ("general.architecture", .string(a)),
        ("general.type", .string("model")),
        ("general.name", .string(name ?? sourceName(model))),
    ]
    var source: GGUFFile? = nil
    if model.format == "gguf" {
        do { source = try GGUFFile(path: model.path) } catch { throw ExportError("\(error)") }
        // The source's descriptive general.* keys (organization, license, …) travel; what this export decides does not.
        let decided: Set<String> = ["general.architecture", "general.type", "general.name", "general.file_type",
                                    "general.quantization_version", "general.alignment"]
        for k in source!.metadataKeys where k.hasPrefix("general.") && !decided.contains(k) {
            m.append((k, source!.metadata[k]!))
        }
    }
    func u32(_ k: String, _ v: Int) { m.append(("\(a).\(k)", .uint32(UInt32(v)))) }
    u32("block_count", c.numLayers)
    u32("context_length", c.maxPositionEmbeddings)
    u32("embedding_length", c.hiddenSize)
    u32("feed_forward_length", c.intermediateSize)
    u32("attention.head_count", c.numHeads)
    u32("attention.head_count_kv", c.numKVHeads)
    if let s = c.ropeScaling {
        switch s.type {
        case "linear":
            m.append(("\(a).rope.scaling.type", .string("linear")))
            m.append(("\(a).rope.scaling.factor", .float32(Float(s.factor))))
        case "yarn":
            m.append(("\(a).rope.scaling.type", .string("yarn")))
            m.append(("\(a).rope.scaling.factor", .float32(Float(s.factor))))
            u32("rope.scaling.original_context_length", s.originalMaxPositionEmbeddings)
        case "llama3":
            break  // a rope_freqs.weight tensor, as convert_hf_to_gguf writes it
        default:
            throw ExportError("\(model.path): rope_scaling type \"\(s.type)\" cannot be written to GGUF (supported: linear, yarn, llama3)")
        }
    }
    m.append(("\(a).rope.freq_base", .float32(Float(c.ropeTheta))))
    m.append(("\(a).attention.layer_norm_rms_epsilon", .float32(Float(c.rmsNormEps))))
    if c.headDim * c.numHeads != c.hiddenSize {
        u32("attention.key_length", c.headDim)
        u32("attention.value_length", c.headDim)
    }
    m.append(("general.file_type", .uint32(quant.fileType)))
    if a == "llama" {
        u32("vocab_size", c.vocabSize)
        u32("rope.dimension_count", c.headDim)
    }
    if let source {
        // The tokenizer travels as the source file stored it (what TuneLab's tokenizer was loaded from).
        for k in source.metadataKeys where k.hasPrefix("tokenizer.") { m.append((k, source.metadata[k]!)) }
    } else {
        do { m += try Tokenizer.ggufMetadata(directory: model.path, vocabSize: c.vocabSize) } catch { throw ExportError("\(error)") }
    }
    m.append(("general.quantization_version", .uint32(2)))
    return m
}
