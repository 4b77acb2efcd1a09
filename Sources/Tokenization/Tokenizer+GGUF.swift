import ModelFiles

extension Tokenizer {
    /// Loads the tokenizer stored in a GGUF file's `tokenizer.ggml.*` metadata (model "gpt2",
    /// i.e. byte-level BPE), with the pre-tokenizer named by `tokenizer.ggml.pre` set up as the
    /// model's HF tokenizer.json does it (HF is the reference, not llama.cpp's approximations).
    public static func load(gguf: GGUFFile) throws -> Tokenizer {
        try Tokenizer(definition: definition(gguf: gguf.metadata, path: gguf.path))
    }

    /// GGUF `tokenizer.ggml.pre` → HF pre-tokenizer steps, normalizer, ignore_merges.
    static func ggufPreTokenizer(_ pre: String) -> (rules: [SplitRule], nfc: Bool, ignoreMerges: Bool)? {
        switch pre {
        case "gpt2", "default": return ([.gpt2], false, false)
        case "smollm", "starcoder": return ([.digits, .gpt2], false, false)
        case "llama-bpe", "llama3": return ([.llama3], false, true)
        case "qwen2": return ([.qwen2], true, false)
        case "deepseek-r1-qwen", "deepseek-v3": return ([.deepseekDigits, .deepseekCJK, .deepseekMain], false, false)
        default: return nil
        }
    }

    static func definition(gguf meta: [String: GGUFValue], path: String) throws -> TokenizerDefinition {
        func fail(_ msg: String) -> TokenizerError { TokenizerError.file(path, msg) }
        func optionalInt(_ key: String) throws -> Int? {
            guard let v = meta[key] else { return nil }
            guard let i = v.int else { throw fail("\(key) is \(v.typeName), expected an integer") }
            return i
        }

        guard let model = meta["tokenizer.ggml.model"]?.string else {
            throw fail("missing key tokenizer.ggml.model (no tokenizer in this file)")
        }
        guard model == "gpt2" else {
            throw fail("tokenizer.ggml.model \"\(model)\" is not supported (only \"gpt2\", byte-level BPE)")
        }
        let preName = meta["tokenizer.ggml.pre"]?.string ?? "default"
        guard let (rules, nfc, ignoreMerges) = ggufPreTokenizer(preName) else {
            throw fail("tokenizer.ggml.pre \"\(preName)\" is not supported (gpt2, smollm, starcoder, llama-bpe, qwen2, deepseek-r1-qwen, deepseek-v3)")
        }
        guard let tokens = meta["tokenizer.ggml.tokens"]?.stringArray else {
            throw fail("missing or malformed key tokenizer.ggml.tokens (expected an array of strings)")
        }
        guard let mergeStrings = meta["tokenizer.ggml.merges"]?.stringArray else {
            throw fail("missing or malformed key tokenizer.ggml.merges (expected an array of strings)")
        }
        var merges: [(String, String)] = []
        merges.reserveCapacity(mergeStrings.count)
        for (i, m) in mergeStrings.enumerated() {
            let parts = m.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw fail("tokenizer.ggml.merges[\(i)] \"\(m)\" is not two tokens separated by a space") }
            merges.append((String(parts[0]), String(parts[1])))
        }
        var types = [Int](repeating: 1, count: tokens.count)
        if let v = meta["tokenizer.ggml.token_type"] {
            guard let t = v.intArray, t.count == tokens.count else {
                throw fail("tokenizer.ggml.token_type must be \(tokens.count) integers")
            }
            types = t
        }
        // Control tokens (3) are special; user-defined ones (4) are added tokens matched in text.
        var added: [AddedTokenSpec] = []
        for (id, type) in types.enumerated() where type == 3 || type == 4 {
            added.append(AddedTokenSpec(id: id, content: tokens[id], special: type == 3))
        }

        var d = TokenizerDefinition(source: path, tokens: tokens, merges: merges, mergesKey: "tokenizer.ggml.merges",
                                    addedTokens: added, splitRules: rules)
        d.nfc = nfc
        d.ignoreMerges = ignoreMerges
        d.bosTokenId = try optionalInt("tokenizer.ggml.bos_token_id")
        d.eosTokenId = try optionalInt("tokenizer.ggml.eos_token_id")
        d.padTokenId = try optionalInt("tokenizer.ggml.padding_token_id")
        for key in ["tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"] {
            if let id = try optionalInt(key) { d.extraEndOfTurnIds.append(id) }
        }
        if let ids = meta["tokenizer.ggml.eos_token_ids"]?.intArray { d.extraEndOfTurnIds += ids }
        if meta["tokenizer.ggml.add_bos_token"]?.bool == true {
            guard let bos = d.bosTokenId else { throw fail("tokenizer.ggml.add_bos_token is true but tokenizer.ggml.bos_token_id is missing") }
            d.prefixIds = [bos]
        }
        if meta["tokenizer.ggml.add_eos_token"]?.bool == true {
            guard let eos = d.eosTokenId else { throw fail("tokenizer.ggml.add_eos_token is true but tokenizer.ggml.eos_token_id is missing") }
            d.suffixIds = [eos]
        }
        d.chatTemplate = meta["tokenizer.chat_template"]?.string
        d.chatTemplateOrigin = "\(path) (tokenizer.chat_template)"
        return d
    }
}
