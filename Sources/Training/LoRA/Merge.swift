import Foundation
import Kernels
import ModelFiles
import Tokenization
import Transformer

/// Element type of the merged model's matrices (norms and biases too, as transformers saves).
public enum MergeDType: String, CaseIterable, Sendable {
    case f32, f16, bf16

    var safetensorsName: String { ["F32", "F16", "BF16"][MergeDType.allCases.firstIndex(of: self)!] }
    var torchName: String { ["float32", "float16", "bfloat16"][MergeDType.allCases.firstIndex(of: self)!] }
    var bytes: Int { self == .f32 ? 4 : 2 }
}

/// Writes `model` with `adapter` merged (W' = W + scaling·B·A, as PEFT's merge_and_unload) as a
/// Hugging Face model folder that transformers' `from_pretrained` and `LanguageModel.load` read:
/// config.json, generation_config.json, model.safetensors and the tokenizer (copied from a model
/// folder, exported from a GGUF file's metadata). Quantised base weights are dequantised.
/// Everything is written to `<outputDirectory>.tmp` and renamed at the end, so an interrupted
/// merge never leaves a half-written model folder behind.
public func mergeAdapter(model: LanguageModel, adapter: LoRAAdapter, outputDirectory: String,
                         dtype: MergeDType = .f32) throws {
    let w = model.weights
    let c = model.config
    try adapter.validate(for: c)
    var out = outputDirectory
    while out.count > 1 && out.hasSuffix("/") { out.removeLast() }
    let fm = FileManager.default
    guard !fm.fileExists(atPath: out) else {
        throw LoRAError("\(out): already exists; merge into a new folder (or delete it first)")
    }
    let tmp = out + ".tmp"
    if fm.fileExists(atPath: tmp) { try? fm.removeItem(atPath: tmp) }  // left over from an interrupted merge
    do { try fm.createDirectory(atPath: tmp, withIntermediateDirectories: true) } catch {
        throw LoRAError("\(tmp): cannot create folder: \(error.localizedDescription)")
    }
    var done = false
    defer { if !done { try? fm.removeItem(atPath: tmp) } }

    // Llama-3 RoPE scaling lives in a GGUF as a rope_freqs tensor; HF needs it as config keys.
    var ropeScaling = c.ropeScaling
    if ropeScaling == nil, let ff = w.ropeFreqFactors {
        ropeScaling = try llama3Scaling(freqFactors: ff, theta: c.ropeTheta, headDim: c.headDim, path: model.path)
    }
    let tied = w.lmHead === w.embedding
    let hasQKVBias = c.architecture == "qwen2" || w.layers.contains { $0.q.bias != nil || $0.k.bias != nil || $0.v.bias != nil }

    // Tensors are produced one at a time while writing: peak memory is one dequantised matrix.
    var tensors: [MergeTensor] = []
    func matrix(_ name: String, _ l: Linear, _ delta: LoRAWeights?) {
        tensors.append(MergeTensor(name: name, shape: [l.rows, l.cols]) {
            mergedWeight(l, delta, scaling: adapter.config.scaling)
        })
    }
    func vector(_ name: String, _ v: [Float]) { tensors.append(MergeTensor(name: name, shape: [v.count]) { v }) }

    matrix("model.embed_tokens.weight", w.embedding, nil)
    for (i, l) in w.layers.enumerated() {
        let p = "model.layers.\(i)."
        let ad = adapter.layers[i]
        vector(p + "input_layernorm.weight", l.attnNorm)
        vector(p + "post_attention_layernorm.weight", l.mlpNorm)
        for t in LoRATarget.allCases { matrix(p + t.modulePath + ".weight", l[t], ad[t]) }
        if hasQKVBias {
            for t in [LoRATarget.q, .k, .v] {
                vector(p + t.modulePath + ".bias", l[t].bias ?? [Float](repeating: 0, count: l[t].rows))
            }
            // Llama's attention_bias also gives o_proj a bias; Qwen2 has none there.
            if c.architecture != "qwen2" { vector(p + "self_attn.o_proj.bias", [Float](repeating: 0, count: l.o.rows)) }
        }
    }
    vector("model.norm.weight", w.finalNorm)
    if !tied { matrix("lm_head.weight", w.lmHead, nil) }

    try writeMergedSafetensors(path: tmp + "/model.safetensors", tensors: tensors, dtype: dtype)
    try writeFileAtomically(path: tmp + "/config.json", bytes: Array(hfConfigJSON(
        c, ropeScaling: ropeScaling, tied: tied, attentionBias: hasQKVBias, dtype: dtype,
        padTokenId: model.tokenizer.padTokenId).utf8))
    // A model folder's own generation_config.json keeps its sampling defaults; a GGUF gets the eos ids.
    let generationConfig = model.path + "/generation_config.json"
    if model.format != "gguf", fm.fileExists(atPath: generationConfig) {
        do { try fm.copyItem(atPath: generationConfig, toPath: tmp + "/generation_config.json") } catch {
            throw LoRAError("\(generationConfig): cannot copy into \(tmp): \(error.localizedDescription)")
        }
    } else {
        try writeFileAtomically(path: tmp + "/generation_config.json", bytes: Array(generationConfigJSON(c).utf8))
    }

    if model.format == "gguf" {
        let gguf: GGUFFile
        do { gguf = try GGUFFile(path: model.path) } catch { throw LoRAError("\(error)") }
        do { try Tokenizer.exportHuggingFace(gguf: gguf, directory: tmp, modelMaxLength: c.maxPositionEmbeddings) } catch {
            throw LoRAError("\(error)")
        }
    } else {
        var copied = 0
        for name in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                     "vocab.json", "merges.txt", "added_tokens.json"] {
            let src = model.path + "/" + name
            guard fm.fileExists(atPath: src) else { continue }
            do { try fm.copyItem(atPath: src, toPath: tmp + "/" + name) } catch {
                throw LoRAError("\(src): cannot copy into \(tmp): \(error.localizedDescription)")
            }
            copied += 1
        }
        guard copied > 0 else { throw LoRAError("\(model.path): no tokenizer files to copy into the merged model") }
    }
    guard rename(tmp, out) == 0 else {
        throw LoRAError("\(out): cannot rename \(tmp) into place: \(String(cString: strerror(errno)))")
    }
    done = true
}

/// The merged fp32 matrix W + scaling·B·A (+ the Linear's own unmerged delta, if any).
func mergedWeight(_ l: Linear, _ delta: LoRAWeights?, scaling: Float) -> [Float] {
    var m = [Float](repeating: 0, count: l.rows * l.cols)
    m.withUnsafeMutableBufferPointer { wp in
        l.dequantizeRows(0, l.rows, into: wp.baseAddress!)
        func add(_ b: [Float], _ a: [Float], rank: Int, _ s: Float) {
            b.withUnsafeBufferPointer { bp in
                a.withUnsafeBufferPointer { ap in
                    BLAS.gemm(m: l.rows, n: l.cols, k: rank, alpha: s, a: bp.baseAddress!, lda: rank,
                              b: ap.baseAddress!, ldb: l.cols, beta: 1, c: wp.baseAddress!, ldc: l.cols)
                }
            }
        }
        if let d = delta { add(d.b, d.a, rank: d.rank, scaling) }
        if let d = l.lora { add(d.b, d.a, rank: d.rank, d.scaling) }
    }
    return m
}

struct MergeTensor {
    let name: String
    let shape: [Int]
    let values: () throws -> [Float]
}

/// A safetensors file as the safetensors library writes it (tensors sorted by name, compact
/// header padded with spaces to 8 bytes, `{"format": "pt"}` metadata as transformers saves),
/// converting each tensor to `dtype` (round-to-nearest-even, as torch's `.to()`) when written.
func writeMergedSafetensors(path: String, tensors: [MergeTensor], dtype: MergeDType) throws {
    let ordered = tensors.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    var json = "{\"__metadata__\":{\"format\":\"pt\"}"
    var offset = 0
    for t in ordered {
        let end = offset + dtype.bytes * t.shape.reduce(1, *)
        json += ",\"\(t.name)\":{\"dtype\":\"\(dtype.safetensorsName)\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(end)]}"
        offset = end
    }
    json += "}"
    var header = Array(json.utf8)
    header += [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)

    guard FileManager.default.createFile(atPath: path, contents: nil), let file = FileHandle(forWritingAtPath: path) else {
        throw LoRAError("\(path): cannot create file")
    }
    defer { try? file.close() }
    do {
        var length = UInt64(header.count).littleEndian
        try file.write(contentsOf: Data(bytes: &length, count: 8))
        try file.write(contentsOf: Data(header))
        for t in ordered {
            let v = try t.values()
            guard v.count == t.shape.reduce(1, *) else { throw LoRAError("\(path): tensor '\(t.name)' has \(v.count) values for shape \(t.shape)") }
            switch dtype {
            // Little-endian hosts only (as the rest of ModelFiles): the in-memory bytes are the file's.
            case .f32:
                try v.withUnsafeBytes { try file.write(contentsOf: $0) }
            case .f16:
                try v.map { Float16($0).bitPattern }.withUnsafeBytes { try file.write(contentsOf: $0) }
            case .bf16:
                try v.map(bfloat16Bits).withUnsafeBytes { try file.write(contentsOf: $0) }
            }
        }
        try file.synchronize()
    } catch let e as LoRAError { throw e } catch {
        throw LoRAError("\(path): write failed: \(error.localizedDescription)")
    }
}

/// Float → bfloat16 with round-to-nearest-even (torch's conversion); NaN stays a quiet NaN.
func bfloat16Bits(_ x: Float) -> UInt16 {
    if x.isNaN { return 0x7FC0 }
    let b = x.bitPattern
    return UInt16(truncatingIfNeeded: (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16)
}

/// config.json for LlamaForCausalLM / Qwen2ForCausalLM, keys sorted and indented as
/// transformers' `save_pretrained` writes them.
func hfConfigJSON(_ c: ModelConfig, ropeScaling: RopeScaling?, tied: Bool, attentionBias: Bool, dtype: MergeDType,
                  padTokenId: Int?) -> String {
    let qwen = c.architecture == "qwen2"
    func int(_ i: Int?) -> String { i.map(String.init) ?? "null" }
    var e: [String: String] = [
        "architectures": "[\n    \"\(qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM")\"\n  ]",
        "attention_dropout": "0.0",
        "bos_token_id": int(c.bosTokenId),
        "dtype": "\"\(dtype.torchName)\"",
        "eos_token_id": c.eosTokenIds.count == 1 ? String(c.eosTokenIds[0])
            : c.eosTokenIds.isEmpty ? "null" : "[\n    " + c.eosTokenIds.map(String.init).joined(separator: ",\n    ") + "\n  ]",
        "head_dim": String(c.headDim),
        "hidden_act": "\"silu\"",
        "hidden_size": String(c.hiddenSize),
        "initializer_range": "0.02",
        "intermediate_size": String(c.intermediateSize),
        "max_position_embeddings": String(c.maxPositionEmbeddings),
        "model_type": "\"\(c.architecture)\"",
        "num_attention_heads": String(c.numHeads),
        "num_hidden_layers": String(c.numLayers),
        "num_key_value_heads": String(c.numKVHeads),
        "pad_token_id": int(padTokenId),
        "rms_norm_eps": configFloat(c.rmsNormEps),
        "rope_theta": configFloat(c.ropeTheta),
        "tie_word_embeddings": tied ? "true" : "false",
        "use_cache": "true",
        "vocab_size": String(c.vocabSize),
    ]
    if qwen {
        e["max_window_layers"] = String(c.numLayers)
        e["sliding_window"] = "null"
        e["use_sliding_window"] = "false"
    } else {
        e["attention_bias"] = attentionBias ? "true" : "false"
        e["mlp_bias"] = "false"
        e["pretraining_tp"] = "1"
    }
    if let s = ropeScaling {
        var r: [(String, String)] = [("factor", pythonFloat(s.factor)), ("rope_type", jsonStringLiteral(s.type, asciiOnly: true))]
        if s.type == "llama3" {
            r += [("high_freq_factor", pythonFloat(s.highFreqFactor)), ("low_freq_factor", pythonFloat(s.lowFreqFactor))]
        }
        if s.type != "linear" { r.append(("original_max_position_embeddings", String(s.originalMaxPositionEmbeddings))) }
        e["rope_scaling"] = "{\n" + r.sorted { $0.0 < $1.0 }.map { "    \"\($0.0)\": \($0.1)" }.joined(separator: ",\n") + "\n  }"
    } else {
        e["rope_scaling"] = "null"
    }
    return "{\n" + e.keys.sorted().map { "  \"\($0)\": \(e[$0]!)" }.joined(separator: ",\n") + "\n}\n"
}

/// GGUF stores eps and theta as float32 (1e-5 becomes 9.99999974737875e-06): print a value that is
/// exactly a float32 as that float32's shortest decimal, which transformers rounds back to the same float32.
func configFloat(_ x: Double) -> String {
    guard x.isFinite, Double(Float(x)) == x, let d = Double("\(Float(x))") else { return pythonFloat(x) }
    return pythonFloat(d)
}

func generationConfigJSON(_ c: ModelConfig) -> String {
    var e: [(String, String)] = []
    if let b = c.bosTokenId { e.append(("bos_token_id", String(b))) }
    if c.eosTokenIds.count == 1 {
        e.append(("eos_token_id", String(c.eosTokenIds[0])))
    } else if !c.eosTokenIds.isEmpty {
        e.append(("eos_token_id", "[\n    " + c.eosTokenIds.map(String.init).joined(separator: ",\n    ") + "\n  ]"))
    }
    return "{\n" + e.map { "  \"\($0.0)\": \($0.1)" }.joined(separator: ",\n") + (e.isEmpty ? "" : "\n") + "}\n"
}

/// The Llama-3 `rope_scaling` whose per-frequency divisors are `freqFactors` (llama.cpp's
/// rope_freqs.weight, made by convert_hf_to_gguf from factor, low/high_freq_factor and
/// original_max_position_embeddings). Only the two wavelength thresholds and the factor are
/// determined by the divisors; candidates are tried (Llama-3.x's low 1 / high 4 first, an
/// integer original context) and the first that reproduces every divisor is returned.
func llama3Scaling(freqFactors ff: [Float], theta: Double, headDim: Int, path: String) throws -> RopeScaling? {
    let half = headDim / 2
    guard ff.count == half else {
        throw LoRAError("\(path): rope_freqs.weight has \(ff.count) values, expected head_dim/2 = \(half)")
    }
    let factors = ff.map(Double.init)
    guard let factor = factors.max(), factors.allSatisfy({ $0.isFinite && $0 > 0 }) else {
        throw LoRAError("\(path): rope_freqs.weight holds non-positive or non-finite values")
    }
    if factors.allSatisfy({ abs($0 - 1) < 1e-6 }) { return nil }
    let wavelen = (0..<half).map { 2 * Double.pi * pow(theta, Double(2 * $0) / Double(headDim)) }
    func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-5 * max(abs(a), abs(b)) }
    func predicted(_ s: RopeScaling) -> [Double] {
        let old = Double(s.originalMaxPositionEmbeddings)
        let lowW = old / s.lowFreqFactor, highW = old / s.highFreqFactor
        return wavelen.map { wl in
            if wl < highW { return 1 }
            if wl > lowW { return s.factor }
            let smooth = (old / wl - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor)
            return 1 / ((1 - smooth) / s.factor + smooth)
        }
    }
    // Interior (interpolated) frequencies: smooth = (old/wl − low)/(high − low), from each divisor.
    var interior: [(wl: Double, smooth: Double)] = []
    for (i, f) in factors.enumerated() where !close(f, 1) && !close(f, factor) {
        interior.append((wavelen[i], (1 / f - 1 / factor) / (1 - 1 / factor)))
    }
    var candidates: [RopeScaling] = []
    func add(old: Double, low: Double, high: Double) {
        guard old.isFinite, old >= 1, old < 1e9, low > 0, high > low else { return }
        let o = old.rounded()
        // Rescaling (old, low, high) together leaves every divisor unchanged: make old an integer.
        let k = o / old
        candidates.append(RopeScaling(type: "llama3", factor: factor, lowFreqFactor: low, highFreqFactor: high,
                                      originalMaxPositionEmbeddings: Int(o)))
        candidates.append(RopeScaling(type: "llama3", factor: factor, lowFreqFactor: low * k, highFreqFactor: high * k,
                                      originalMaxPositionEmbeddings: Int(o)))
    }
    if let p = interior.first {
        add(old: p.wl * (3 * p.smooth + 1), low: 1, high: 4)
    }
    if interior.count >= 2, let p = interior.first, let q = interior.last, p.wl != q.wl {
        // smooth = a/wl + b with low = 1: b = −1/(high − 1), a = old/(high − 1).
        let a = (p.smooth - q.smooth) / (1 / p.wl - 1 / q.wl), b = p.smooth - a / p.wl
        if b < 0 { add(old: -a / b, low: 1, high: 1 - 1 / b) }
    }
    let highs = zip(wavelen, factors).filter { close($0.1, 1) }.map(\.0)
    let lows = zip(wavelen, factors).filter { close($0.1, factor) }.map(\.0)
    let maxHigh = highs.max() ?? 0, minLow = lows.min() ?? Double.infinity
    for old in [8192.0, 2 * maxHigh + 1, (maxHigh + min(minLow, 4 * maxHigh + 4)) / 2] where old.isFinite {
        if interior.count == 1, let p = interior.first {
            add(old: old, low: 1, high: 1 + (old / p.wl - 1) / p.smooth)
        } else if interior.isEmpty {
            add(old: old, low: 1, high: 4)
            add(old: old, low: 1, high: max(old / ((maxHigh + old) / 2), 1.0001))
        }
    }
    for s in candidates where zip(predicted(s), factors).allSatisfy({ close($0, $1) }) {
        return s
    }
    throw LoRAError("\(path): rope_freqs.weight \(ff) is not a Llama-3 RoPE scaling that config.json can express; cannot write a Hugging Face config for it")
}
