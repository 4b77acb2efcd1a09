import Foundation
import ChatTemplate
import ModelFiles
import Transformer

/// The export cell's round trip: the file just written is read back by TuneLab's own reader and
/// compared with what it should hold.
public struct RoundTripReport: Sendable {
    /// Merged exports: largest |Δlogit| between the file read back and the same merged weights
    /// encoded in memory as the export encodes them (every position and id of the check prompts).
    /// The same bytes run by the same kernels: 0 unless the file is wrong.
    public var fileMaxAbs: Float = 0
    /// What the encoding costs (informational): largest and mean |Δlogit| between the file and
    /// the base running the adapter unmerged.
    public var maxAbs: Float = 0
    public var meanAbs: Double = 0
    /// Greedy continuations (16 tokens per prompt) of the file and of the base + adapter agree.
    public var greedySame = true
    public var firstDivergence = ""
    /// Tensors compared exactly (a LoRA GGUF), nil for a merged export.
    public var tensorsCompared: Int?
    /// Problems found (empty = passed).
    public var problems: [String] = []
    public var passed: Bool { problems.isEmpty }

    public var summary: String {
        if passed, let n = tensorsCompared { return "round trip ok: \(n) tensors read back identical" }
        return passed ? String(format: "round trip ok: logits equal to the encoded weights' (max |Δ| %g); against base + adapter max |Δlogit| %.3g, mean %.3g, greedy %@",
                               fileMaxAbs, maxAbs, meanAbs, greedySame ? "identical" : "parts (\(firstDivergence))")
               : "round trip FAILED: " + problems.joined(separator: "; ")
    }
}

/// Prompts whose logits and greedy continuations the round trip compares: English, a chat turn
/// through the model's template (so template and special tokens are read back too) and Chinese.
func roundTripPrompts(_ lm: LanguageModel) throws -> [[Int]] {
    var texts = ["The capital of France is", "患者出现发热、咳嗽三天，最可能的诊断是"]
    if lm.chatTemplate != nil {
        texts.append(try lm.renderChat([ChatMessage(role: "user", content: "What is the first-line treatment for hypertension?")]))
    }
    return texts.map { lm.tokenizer.encode($0, addSpecialTokens: true) }
}

/// Reads the merged GGUF at `path` back and compares it with what it should hold: tokenizer (the
/// check prompts' ids), end-of-sequence and end-of-turn ids, chat template, and logits equal to
/// those of `base` + `adapter` merged and encoded in `quant` in memory. Also measures (without
/// failing) how far the file lies from the base running the adapter unmerged.
public func checkMergedGGUF(at path: String, base: LanguageModel, adapter: LoRAAdapter?, quant: GGUFQuant) throws -> RoundTripReport {
    var r = RoundTripReport()
    let back: LanguageModel
    do { back = try LanguageModel.load(path) } catch {
        r.problems.append("\(path) does not load: \(error)")
        return r
    }
    let scaling = adapter?.config.scaling ?? 0
    let encoded = try base.replacingWeights(try base.weights.mapMatrices { layer, p, l in
        let delta = layer.flatMap { i in p.flatMap { adapter?.layers[i][$0] } }
        return try l.replaced(by: mergedWeight(l, delta, scaling: scaling), type: quant.matrixType(cols: l.cols))
    })
    let unmerged = try adapter.map { try base.replacingWeights($0.applied(to: base.weights)) } ?? base
    if back.tokenizer.eosTokenId != base.tokenizer.eosTokenId {
        r.problems.append("eos id \(back.tokenizer.eosTokenId.map(String.init) ?? "none") read back, \(base.tokenizer.eosTokenId.map(String.init) ?? "none") written")
    }
    if back.tokenizer.endOfTurnTokenIds != base.tokenizer.endOfTurnTokenIds {
        r.problems.append("end-of-turn ids \(back.tokenizer.endOfTurnTokenIds.sorted()) read back, \(base.tokenizer.endOfTurnTokenIds.sorted()) written")
    }
    if (back.chatTemplate == nil) != (base.chatTemplate == nil) || back.tokenizer.chatTemplate != base.tokenizer.chatTemplate {
        r.problems.append("the chat template read back differs from the model's")
    }
    var sum = 0.0, count = 0
    for ids in try roundTripPrompts(base) {
        if back.tokenizer.encode(base.tokenizer.decode(ids), addSpecialTokens: false) != ids {
            r.problems.append("the tokenizer read back splits a check prompt differently")
        }
        let got = try back.forward(ids, cache: back.forward.makeCache(), logits: .all)
        let want = try encoded.forward(ids, cache: encoded.forward.makeCache(), logits: .all)
        let ref = try unmerged.forward(ids, cache: unmerged.forward.makeCache(), logits: .all)
        for i in got.indices {
            let f = abs(got[i] - want[i]), d = abs(got[i] - ref[i])
            r.fileMaxAbs = max(r.fileMaxAbs, f.isNaN ? .infinity : f)
            r.maxAbs = max(r.maxAbs, d.isNaN ? .infinity : d); sum += Double(d)
        }
        count += got.count
        let cb = back.forward.makeCache(), cu = unmerged.forward.makeCache()
        var lb = try back.forward(ids, cache: cb), lu = try unmerged.forward(ids, cache: cu)
        for k in 0..<16 {
            let tb = argmax(lb), tu = argmax(lu)
            if tb != tu {
                if r.greedySame { r.firstDivergence = "token \(k): \(tb) from the file, \(tu) from base + adapter, whose margin is \(lu[tu] - lu[tb])" }
                r.greedySame = false
                break
            }
            lb = try back.forward([tb], cache: cb); lu = try unmerged.forward([tu], cache: cu)
        }
    }
    r.meanAbs = count > 0 ? sum / Double(count) : 0
    if r.fileMaxAbs != 0 {
        r.problems.append("the file's logits differ from the merged weights encoded as \(quant.rawValue) by up to \(r.fileMaxAbs)")
    }
    return r
}

/// Reads the LoRA GGUF at `path` back: metadata, and every A and B exactly as the adapter holds
/// them (B's rows in llama.cpp's Q/K order for Llama).
public func checkLoRAGGUF(at path: String, adapter: LoRAAdapter, model: LanguageModel) throws -> RoundTripReport {
    var r = RoundTripReport()
    let g: GGUFFile
    do { g = try GGUFFile(path: path) } catch {
        r.problems.append("\(path) does not load: \(error)")
        return r
    }
    if g.metadata["general.type"]?.string != "adapter" || g.metadata["adapter.type"]?.string != "lora" {
        r.problems.append("not marked as a LoRA adapter (general.type / adapter.type)")
    }
    let alpha = Double(adapter.config.scaling) * Double(adapter.config.rank)
    if let a = g.metadata["adapter.lora.alpha"]?.double, abs(a - alpha) <= 1e-6 * max(1, alpha) {} else {
        r.problems.append("adapter.lora.alpha is not \(alpha)")
    }
    let c = model.config, llama = c.architecture == "llama"
    var n = 0
    for (i, layer) in adapter.layers.enumerated() {
        for t in adapter.config.targets {
            guard let lw = layer[t] else { continue }
            let name = "blk.\(i).\(t.ggufName).weight"
            let heads: Int? = llama && t == .q ? c.numHeads : llama && t == .k ? c.numKVHeads : nil
            let b = heads.map { permuteForGGUF(lw.b, rows: lw.outFeatures, cols: lw.rank, heads: $0) } ?? lw.b
            do {
                if try g.tensor(name + ".lora_a").floats() != lw.a { r.problems.append("\(name).lora_a differs") }
                if try g.tensor(name + ".lora_b").floats() != b { r.problems.append("\(name).lora_b differs") }
            } catch { r.problems.append("\(error)") }
            n += 2
        }
    }
    r.tensorsCompared = n
    if g.tensorNames.count != n { r.problems.append("\(g.tensorNames.count) tensors read back, \(n) written") }
    return r
}

private func argmax(_ v: [Float]) -> Int {
    var best = 0
    for i in v.indices where v[i] > v[best] { best = i }
    return best
}

/// What the export cell writes (`format`): with `merge`, a Hugging Face folder (safetensors) or
/// a GGUF model; without, a PEFT adapter folder (safetensors) or a GGUF LoRA.
public enum ExportFormat: String, CaseIterable, Sendable {
    case safetensors, gguf
}
