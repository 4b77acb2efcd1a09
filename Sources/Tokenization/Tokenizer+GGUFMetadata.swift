import Foundation
import ModelFiles

extension Tokenizer {
    /// The `tokenizer.*` GGUF metadata of a Hugging Face model folder's byte-level BPE tokenizer,
    /// as llama.cpp's `convert_hf_to_gguf.py` writes it (`_set_vocab_gpt2` + gguf-py's
    /// `SpecialVocab`): model "gpt2", the pre-tokenizer name llama.cpp knows it by, tokens padded
    /// to `vocabSize` with `[PAD{i}]` (type UNUSED), token types (added special or `<|…|>`-looking
    /// tokens CONTROL, other added tokens USER_DEFINED, the rest NORMAL), merges as "a b", the
    /// special-token ids (tokenizer_config.json names, else config.json ids), add_bos/add_eos and
    /// the chat template.
    public static func ggufMetadata(directory: String, vocabSize: Int) throws -> [(key: String, value: GGUFValue)] {
        let dir = URL(fileURLWithPath: directory)
        let jsonPath = dir.appendingPathComponent("tokenizer.json").path
        let configPath = dir.appendingPathComponent("tokenizer_config.json").path
        let fm = FileManager.default
        let root = try readJSONObject(jsonPath)
        var d = try definition(tokenizerJSON: root, path: jsonPath)
        var tc: [String: Any] = [:]
        if fm.fileExists(atPath: configPath) {
            tc = try readJSONObject(configPath)
            try applyConfig(tc, path: configPath, to: &d)
        }
        let jinja = dir.appendingPathComponent("chat_template.jinja").path
        if d.chatTemplate == nil, fm.fileExists(atPath: jinja) {
            d.chatTemplate = try readTextFile(jinja)
            d.chatTemplateOrigin = jinja
        }
        _ = try Tokenizer(definition: d)  // same validation as loading
        func fail(_ m: String) -> TokenizerError { TokenizerError.file(jsonPath, m) }

        guard let pre = ggufPreName(rules: d.splitRules, nfc: d.nfc) else {
            throw fail("cannot export to GGUF: this pre-tokenizer (\(d.splitRules)) has no llama.cpp tokenizer.ggml.pre name")
        }
        guard d.tokens.count <= vocabSize else {
            throw fail("the tokenizer has \(d.tokens.count) ids but the model's vocab_size is \(vocabSize)")
        }
        let added = Dictionary(d.addedTokens.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var tokens: [GGUFValue] = [], types: [GGUFValue] = []
        tokens.reserveCapacity(vocabSize)
        types.reserveCapacity(vocabSize)
        for i in 0..<vocabSize {
            guard i < d.tokens.count, let t = d.tokens[i] else {
                tokens.append(.string("[PAD\(i)]")); types.append(.int32(5))  // UNUSED
                continue
            }
            tokens.append(.string(t))
            if let a = added[i] {
                types.append(.int32(a.special || looksSpecial(t) ? 3 : 4))  // CONTROL : USER_DEFINED
            } else {
                types.append(.int32(1))  // NORMAL
            }
        }
        // gguf-py encodes a space inside a merge part as U+0120 + … (chr(ord(' ') + 256)).
        func part(_ s: String) -> String { s.replacingOccurrences(of: " ", with: "\u{120}") }
        let merges = d.merges.map { GGUFValue.string(part($0.0) + " " + part($0.1)) }

        var out: [(key: String, value: GGUFValue)] = [
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string(pre)),
            ("tokenizer.ggml.tokens", .array(tokens)),
            ("tokenizer.ggml.token_type", .array(types)),
        ]
        if !merges.isEmpty { out.append(("tokenizer.ggml.merges", .array(merges))) }

        // SpecialVocab: names from tokenizer_config.json matched against tokenizer.json's
        // added_tokens, then config.json's *_token_id for types still unset.
        let hfConfigPath = dir.appendingPathComponent("config.json").path
        let hfConfig = fm.fileExists(atPath: hfConfigPath) ? try readJSONObject(hfConfigPath) : [:]
        let addedList = (root["added_tokens"] as? [Any] ?? []).compactMap { $0 as? [String: Any] }
        for (typ, key) in [("bos", "bos_token_id"), ("eos", "eos_token_id"), ("unk", "unknown_token_id"),
                           ("sep", "seperator_token_id"), ("pad", "padding_token_id"), ("cls", "cls_token_id"),
                           ("mask", "mask_token_id")] {
            var name = tc["\(typ)_token"] as? String
            if name == nil, let o = tc["\(typ)_token"] as? [String: Any] { name = o["content"] as? String }
            var id: Int? = nil
            if let name {
                id = addedList.first { $0["content"] as? String == name }.flatMap { ($0["id"] as? NSNumber)?.intValue }
            }
            if id == nil, !(hfConfig["\(typ)_token_id"] is Bool), let n = hfConfig["\(typ)_token_id"] as? Int { id = n }
            if let id, id >= 0, id < vocabSize { out.append(("tokenizer.ggml.\(key)", .uint32(UInt32(id)))) }
        }
        out.append(("tokenizer.ggml.add_bos_token", .bool(!d.prefixIds.isEmpty)))
        out.append(("tokenizer.ggml.add_eos_token", .bool(!d.suffixIds.isEmpty)))
        if let t = d.chatTemplate, !t.isEmpty { out.append(("tokenizer.chat_template", .string(t))) }
        return out
    }

    /// The llama.cpp `tokenizer.ggml.pre` name of a pre-tokenizer (the inverse of ggufPreTokenizer).
    static func ggufPreName(rules: [SplitRule], nfc: Bool) -> String? {
        for name in ["smollm", "gpt2", "llama-bpe", "qwen2", "deepseek-r1-qwen"] {
            if let p = ggufPreTokenizer(name), p.rules == rules, p.nfc == nfc { return name }
        }
        return nil
    }

    /// convert_hf_to_gguf's `does_token_look_special` for byte-level vocabularies.
    static func looksSpecial(_ t: String) -> Bool {
        ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].contains(t)
            || (t.hasPrefix("<|") && t.hasSuffix("|>"))
            || (t.hasPrefix("<｜") && t.hasSuffix("｜>"))
            || (t.hasPrefix("<unused") && t.hasSuffix(">"))
    }
}
