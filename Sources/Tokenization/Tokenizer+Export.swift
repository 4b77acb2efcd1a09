import Foundation
import ModelFiles

extension Tokenizer {
    /// Writes the tokenizer stored in a GGUF file as Hugging Face `tokenizer.json` and
    /// `tokenizer_config.json` in `directory` (what a merged model folder needs so that both
    /// transformers and `Tokenizer.load(directory:)` give the same ids as the GGUF tokenizer).
    public static func exportHuggingFace(gguf: GGUFFile, directory: String, modelMaxLength: Int? = nil) throws {
        let files = try huggingFaceFiles(gguf: gguf, modelMaxLength: modelMaxLength)
        try writeAtomically(directory + "/tokenizer.json", files.tokenizerJSON)
        try writeAtomically(directory + "/tokenizer_config.json", files.tokenizerConfigJSON)
    }

    /// The text of `tokenizer.json` and `tokenizer_config.json` for a GGUF file's tokenizer.
    public static func huggingFaceFiles(gguf: GGUFFile, modelMaxLength: Int? = nil) throws -> (tokenizerJSON: String, tokenizerConfigJSON: String) {
        let d = try definition(gguf: gguf.metadata, path: gguf.path)
        _ = try Tokenizer(definition: d)  // same validation as loading
        return (try tokenizerJSON(d), tokenizerConfigJSON(d, modelMaxLength: modelMaxLength))
    }

    /// tokenizer.json as the HF `tokenizers` library writes it (same key order, 2-space indent).
    static func tokenizerJSON(_ d: TokenizerDefinition) throws -> String {
        func fail(_ m: String) -> TokenizerError { TokenizerError.file(d.source, m) }
        var o = "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": ["
        o += d.addedTokens.sorted { $0.id < $1.id }.map { a in
            "\n    {\n      \"id\": \(a.id),\n      \"content\": \(jsonStringLiteral(a.content)),\n      \"single_word\": \(a.singleWord),\n"
                + "      \"lstrip\": \(a.lstrip),\n      \"rstrip\": \(a.rstrip),\n      \"normalized\": \(!a.special),\n      \"special\": \(a.special)\n    }"
        }.joined(separator: ",")
        o += d.addedTokens.isEmpty ? "],\n" : "\n  ],\n"
        o += "  \"normalizer\": " + (d.nfc ? "{\n    \"type\": \"NFC\"\n  }" : "null") + ",\n"

        // Pre-tokenizer: the Split / Digits steps, then ByteLevel (whose own regex is the GPT-2 split).
        var steps: [String] = []
        var byteLevelRegex = false
        for (i, r) in d.splitRules.enumerated() {
            let split: (String) -> String = { p in
                "{\n        \"type\": \"Split\",\n        \"pattern\": {\n          \"Regex\": \(jsonStringLiteral(p))\n        },\n"
                    + "        \"behavior\": \"Isolated\",\n        \"invert\": false\n      }"
            }
            switch r {
            case .gpt2:
                guard i == d.splitRules.count - 1 else { throw fail("cannot export: the GPT-2 split is not the last pre-tokenizer step") }
                byteLevelRegex = true
            case .digits: steps.append("{\n        \"type\": \"Digits\",\n        \"individual_digits\": true\n      }")
            case .llama3: steps.append(split(SplitRule.llama3Pattern))
            case .qwen2: steps.append(split(SplitRule.qwen2Pattern))
            case .deepseekDigits: steps.append(split(SplitRule.deepseekDigitsPattern))
            case .deepseekCJK: steps.append(split(SplitRule.deepseekCJKPattern))
            case .deepseekMain: steps.append(split(SplitRule.deepseekMainPattern))
            }
        }
        steps.append("{\n        \"type\": \"ByteLevel\",\n        \"add_prefix_space\": false,\n        \"trim_offsets\": true,\n"
                     + "        \"use_regex\": \(byteLevelRegex)\n      }")
        o += "  \"pre_tokenizer\": {\n    \"type\": \"Sequence\",\n    \"pretokenizers\": [\n      "
            + steps.joined(separator: ",\n      ") + "\n    ]\n  },\n"

        // Post-processor: the ids encode(addSpecialTokens: true) puts around the text.
        if d.prefixIds.isEmpty && d.suffixIds.isEmpty {
            o += "  \"post_processor\": {\n    \"type\": \"ByteLevel\",\n    \"add_prefix_space\": true,\n    \"trim_offsets\": false,\n    \"use_regex\": true\n  },\n"
        } else {
            func name(_ id: Int) throws -> String {
                guard id >= 0, id < d.tokens.count, let t = d.tokens[id] else { throw fail("cannot export: special token id \(id) has no token") }
                return t
            }
            func special(_ id: Int, _ typeID: Int) throws -> String {
                "{\n        \"SpecialToken\": {\n          \"id\": \(jsonStringLiteral(try name(id))),\n          \"type_id\": \(typeID)\n        }\n      }"
            }
            func sequence(_ s: String, _ typeID: Int) -> String {
                "{\n        \"Sequence\": {\n          \"id\": \"\(s)\",\n          \"type_id\": \(typeID)\n        }\n      }"
            }
            let single = try d.prefixIds.map { try special($0, 0) } + [sequence("A", 0)] + d.suffixIds.map { try special($0, 0) }
            let pair = single + (try d.prefixIds.map { try special($0, 1) }) + [sequence("B", 1)] + (try d.suffixIds.map { try special($0, 1) })
            var seen: [Int] = []
            for id in d.prefixIds + d.suffixIds where !seen.contains(id) { seen.append(id) }
            let specials = try seen.map { id in
                let t = jsonStringLiteral(try name(id))
                return "\(t): {\n        \"id\": \(t),\n        \"ids\": [\n          \(id)\n        ],\n        \"tokens\": [\n          \(t)\n        ]\n      }"
            }
            o += "  \"post_processor\": {\n    \"type\": \"TemplateProcessing\",\n    \"single\": [\n      " + single.joined(separator: ",\n      ")
                + "\n    ],\n    \"pair\": [\n      " + pair.joined(separator: ",\n      ") + "\n    ],\n    \"special_tokens\": {\n      "
                + specials.joined(separator: ",\n      ") + "\n    }\n  },\n"
        }
        o += "  \"decoder\": {\n    \"type\": \"ByteLevel\",\n    \"add_prefix_space\": true,\n    \"trim_offsets\": true,\n    \"use_regex\": true\n  },\n"

        o += "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n    \"continuing_subword_prefix\": null,\n"
            + "    \"end_of_word_suffix\": null,\n    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n    \"ignore_merges\": \(d.ignoreMerges),\n    \"vocab\": {"
        // Every id in the vocabulary (added tokens too, as in SmolLM2's file); a token string may
        // appear once only, since the vocabulary is a JSON object keyed by it.
        var seenTokens = Set<String>()
        var vocab: [String] = []
        vocab.reserveCapacity(d.tokens.count)
        let addedIds = Set(d.addedTokens.map(\.id))
        for (id, t) in d.tokens.enumerated() {
            guard let t else { throw fail("cannot export: id \(id) has no token (tokenizer.json needs contiguous ids)") }
            guard seenTokens.insert(t).inserted else {
                if addedIds.contains(id) { continue }  // reachable through added_tokens
                throw fail("cannot export: token \(t.debugDescription) (id \(id)) appears twice in tokenizer.ggml.tokens")
            }
            vocab.append("\n      \(jsonStringLiteral(t)): \(id)")
        }
        o += vocab.joined(separator: ",") + "\n    },\n    \"merges\": ["
        o += d.merges.map { "\n      [\n        \(jsonStringLiteral($0.0)),\n        \(jsonStringLiteral($0.1))\n      ]" }.joined(separator: ",")
        o += d.merges.isEmpty ? "]\n  }\n}" : "\n    ]\n  }\n}"
        return o
    }

    /// tokenizer_config.json: special tokens by content, the chat template, and every added token.
    static func tokenizerConfigJSON(_ d: TokenizerDefinition, modelMaxLength: Int?) -> String {
        func tokenText(_ id: Int?) -> String {
            guard let id, id >= 0, id < d.tokens.count, let t = d.tokens[id] else { return "null" }
            return jsonStringLiteral(t)
        }
        var e: [(String, String)] = []
        let decoder = d.addedTokens.sorted { $0.id < $1.id }.map { a in
            "    \"\(a.id)\": {\n      \"content\": \(jsonStringLiteral(a.content)),\n      \"lstrip\": \(a.lstrip),\n      \"normalized\": \(!a.special),\n"
                + "      \"rstrip\": \(a.rstrip),\n      \"single_word\": \(a.singleWord),\n      \"special\": \(a.special)\n    }"
        }
        e.append(("added_tokens_decoder", decoder.isEmpty ? "{}" : "{\n" + decoder.joined(separator: ",\n") + "\n  }"))
        e.append(("bos_token", tokenText(d.bosTokenId)))
        if let t = d.chatTemplate { e.append(("chat_template", jsonStringLiteral(t))) }
        e.append(("clean_up_tokenization_spaces", "false"))
        e.append(("eos_token", tokenText(d.eosTokenId)))
        if let n = modelMaxLength { e.append(("model_max_length", String(n))) }
        if d.padTokenId != nil { e.append(("pad_token", tokenText(d.padTokenId))) }
        e.append(("tokenizer_class", "\"PreTrainedTokenizerFast\""))
        return "{\n" + e.map { "  \"\($0.0)\": \($0.1)" }.joined(separator: ",\n") + "\n}\n"
    }

    private static func writeAtomically(_ path: String, _ text: String) throws {
        let url = URL(fileURLWithPath: path)
        let temp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(UInt32.random(in: 0 ... .max))")
        do {
            try Data(text.utf8).write(to: temp)
        } catch {
            throw TokenizerError.file(path, "cannot write: \(error.localizedDescription)")
        }
        guard rename(temp.path, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temp)
            throw TokenizerError.file(path, "cannot rename \(temp.path) into place: \(reason)")
        }
    }
}
