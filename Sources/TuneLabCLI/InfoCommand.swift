import ArgumentParser
import Foundation
import ModelFiles
import Transformer

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Architecture, sizes, quantisation types, tokenizer and chat template of a model.")
    @OptionGroup var options: ModelOptions

    func run() throws {
        let lm = try loadModel(options)
        let c = lm.config
        var types: [String: Int] = [:]
        var params = 0
        let w = lm.weights
        var mats = [w.embedding]
        if w.lmHead !== w.embedding { mats.append(w.lmHead) }
        for l in w.layers { mats += [l.q, l.k, l.v, l.o, l.gate, l.up, l.down] }
        for m in mats { types["\(m.type)", default: 0] += 1; params += m.rows * m.cols }
        params += w.finalNorm.count + w.layers.reduce(0) { $0 + $1.attnNorm.count + $1.mlpNorm.count }
        let fileBytes = fileSize(lm.path)
        let tok = lm.tokenizer
        var info: [String: Any] = [
            "path": lm.path, "format": lm.format, "architecture": c.architecture,
            "layers": c.numLayers, "hidden_size": c.hiddenSize, "intermediate_size": c.intermediateSize,
            "heads": c.numHeads, "kv_heads": c.numKVHeads, "head_dim": c.headDim, "vocab_size": c.vocabSize,
            "max_position_embeddings": c.maxPositionEmbeddings, "rope_theta": c.ropeTheta,
            "rms_norm_eps": c.rmsNormEps, "tie_word_embeddings": c.tieWordEmbeddings, "attention_bias": c.attentionBias,
            "parameters": params, "matrix_types": types, "weight_bytes": w.weightBytes, "file_bytes": fileBytes,
            "tokenizer": [
                "vocab_size": tok.vocabSize, "bos": tok.bosToken ?? NSNull(), "eos": tok.eosToken ?? NSNull(),
                "end_of_turn_ids": tok.endOfTurnTokenIds.sorted(),
            ] as [String: Any],
            "chat_template": tok.chatTemplate ?? NSNull(),
        ]
        if let s = c.ropeScaling {
            info["rope_scaling"] = ["type": s.type, "factor": s.factor, "low_freq_factor": s.lowFreqFactor,
                                    "high_freq_factor": s.highFreqFactor,
                                    "original_max_position_embeddings": s.originalMaxPositionEmbeddings]
        }
        if options.json { writeJSON(info); return }
        print("""
        path          \(lm.path) (\(lm.format), \(String(format: "%.1f", Double(fileBytes) / 1e6)) MB)
        architecture  \(c.architecture): \(c.numLayers) layers, hidden \(c.hiddenSize), MLP \(c.intermediateSize)
        attention     \(c.numHeads) heads, \(c.numKVHeads) KV heads, head dim \(c.headDim)\(c.attentionBias ? ", QKV bias" : "")
        positions     max \(c.maxPositionEmbeddings), RoPE θ \(c.ropeTheta)\(c.ropeScaling.map { ", scaling \($0.type) ×\($0.factor)" } ?? "")
        vocabulary    \(c.vocabSize)\(c.tieWordEmbeddings ? ", tied embeddings" : ", separate LM head")
        parameters    \(String(format: "%.1f", Double(params) / 1e6)) M; matrices: \(types.sorted { $0.key < $1.key }.map { "\($0.value)×\($0.key)" }.joined(separator: ", "))
        tokenizer     \(tok.vocabSize) tokens, BOS \(tok.bosToken ?? "none"), EOS \(tok.eosToken ?? "none"), end-of-turn ids \(tok.endOfTurnTokenIds.sorted())
        chat template \(tok.chatTemplate == nil ? "none" : "")
        """)
        if let t = tok.chatTemplate { print(t) }
    }
}

func fileSize(_ path: String) -> Int {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { return 0 }
    if !isDir.boolValue { return ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0 }
    let files = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
    return files.reduce(0) { $0 + fileSize(path + "/" + $1) }
}
