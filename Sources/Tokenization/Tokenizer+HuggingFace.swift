import Foundation

extension Tokenizer {
    /// Loads a HF `tokenizer.json` (byte-level BPE only) and, when given, its
    /// `tokenizer_config.json` for bos/eos/pad tokens, add_bos_token and the chat template.
    public static func load(tokenizerJSON: String, tokenizerConfig: String? = nil) throws -> Tokenizer {
        let root = try readJSONObject(tokenizerJSON)
        var config: [String: Any] = [:]
        if let path = tokenizerConfig { config = try readJSONObject(path) }
        var d = try definition(tokenizerJSON: root, path: tokenizerJSON)
        try applyConfig(config, path: tokenizerConfig ?? "", to: &d)
        return try Tokenizer(definition: d)
    }

    /// Loads `tokenizer.json` from a model directory, with `tokenizer_config.json` and
    /// `chat_template.jinja` when present.
    public static func load(directory: String) throws -> Tokenizer {
        let dir = URL(fileURLWithPath: directory)
        let json = dir.appendingPathComponent("tokenizer.json").path
        let config = dir.appendingPathComponent("tokenizer_config.json").path
        let fm = FileManager.default
        var d = try definition(tokenizerJSON: readJSONObject(json), path: json)
        if fm.fileExists(atPath: config) { try applyConfig(readJSONObject(config), path: config, to: &d) }
        let jinja = dir.appendingPathComponent("chat_template.jinja").path
        if d.chatTemplate == nil, fm.fileExists(atPath: jinja) {
            d.chatTemplate = try readTextFile(jinja)
            d.chatTemplateOrigin = jinja
        }
        return try Tokenizer(definition: d)
    }

    /// A UTF-8 text file (chat_template.jinja): unreadable or invalid UTF-8 is an error, not a
    /// template silently left out.
    static func readTextFile(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw TokenizerError.file(path, "cannot read file") }
        guard let text = String(data: data, encoding: .utf8) else { throw TokenizerError.file(path, "not valid UTF-8") }
        return text
    }

    static func readJSONObject(_ path: String) throws -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TokenizerError.file(path, "cannot read file")
        }
        let obj: Any
        do {
            obj = try JSONSerialization.jsonObject(with: data)
        } catch {
            let ns = error as NSError
            throw TokenizerError.file(path, "invalid JSON (\((ns.userInfo[NSDebugDescriptionErrorKey] as? String) ?? ns.localizedDescription))")
        }
        guard let dict = obj as? [String: Any] else { throw TokenizerError.file(path, "top level is not a JSON object") }
        return dict
    }

    /// The tokenizer described by a parsed tokenizer.json.
    static func definition(tokenizerJSON root: [String: Any], path: String) throws -> TokenizerDefinition {
        func fail(_ msg: String) -> TokenizerError { TokenizerError.file(path, msg) }

        guard let model = root["model"] as? [String: Any] else { throw fail("missing key \"model\"") }
        let type = model["type"] as? String ?? (model["merges"] != nil ? "BPE" : "?")
        guard type == "BPE" else {
            throw fail("model.type \"\(type)\" is not supported (only byte-level BPE tokenizers are)")
        }
        if model["byte_fallback"] as? Bool == true {
            throw fail("model.byte_fallback is true: SentencePiece-style BPE is not supported (only byte-level BPE)")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let s = model[key] as? String, !s.isEmpty { throw fail("model.\(key) \"\(s)\" is not supported") }
        }
        guard let vocab = model["vocab"] as? [String: Any] else { throw fail("missing key \"model.vocab\"") }
        guard let mergesAny = model["merges"] as? [Any] else { throw fail("missing key \"model.merges\"") }

        // Vocabulary and added tokens share one id space.
        var vocabIds: [(String, Int)] = []
        vocabIds.reserveCapacity(vocab.count)
        var maxId = -1
        for (tok, v) in vocab {
            guard let id = (v as? NSNumber)?.intValue, id >= 0 else {
                throw fail("model.vocab[\"\(tok)\"] is not a non-negative integer id")
            }
            vocabIds.append((tok, id))
            maxId = max(maxId, id)
        }
        var added: [AddedTokenSpec] = []
        for (i, any) in ((root["added_tokens"] as? [Any]) ?? []).enumerated() {
            guard let t = any as? [String: Any], let id = (t["id"] as? NSNumber)?.intValue, id >= 0,
                  let content = t["content"] as? String else {
                throw fail("added_tokens[\(i)] needs an integer \"id\" and a string \"content\"")
            }
            added.append(AddedTokenSpec(
                id: id, content: content, special: t["special"] as? Bool ?? false,
                lstrip: t["lstrip"] as? Bool ?? false, rstrip: t["rstrip"] as? Bool ?? false,
                singleWord: t["single_word"] as? Bool ?? false))
            maxId = max(maxId, id)
        }
        guard maxId < 10_000_000 else { throw fail("token id \(maxId) is implausibly large") }
        var tokens = [String?](repeating: nil, count: maxId + 1)
        for (t, id) in vocabIds { tokens[id] = t }
        for a in added { tokens[a.id] = a.content }

        var merges: [(String, String)] = []
        merges.reserveCapacity(mergesAny.count)
        for (i, m) in mergesAny.enumerated() {
            if let s = m as? String {
                let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw fail("model.merges[\(i)] \"\(s)\" is not two tokens separated by a space") }
                merges.append((String(parts[0]), String(parts[1])))
            } else if let p = m as? [Any], p.count == 2, let a = p[0] as? String, let b = p[1] as? String {
                merges.append((a, b))
            } else {
                throw fail("model.merges[\(i)] is neither \"a b\" nor [\"a\", \"b\"]")
            }
        }

        var d = TokenizerDefinition(source: path, tokens: tokens, merges: merges, mergesKey: "model.merges",
                                    addedTokens: added, splitRules: [])
        d.ignoreMerges = model["ignore_merges"] as? Bool ?? false
        d.nfc = try normalizerIsNFC(root["normalizer"], fail)
        d.splitRules = try splitRules(root["pre_tokenizer"], fail)
        try checkDecoder(root["decoder"], fail)
        (d.prefixIds, d.suffixIds) = try postProcessorIds(root["post_processor"], fail)
        return d
    }

    private static func normalizerIsNFC(_ any: Any?, _ fail: (String) -> TokenizerError) throws -> Bool {
        guard let n = any as? [String: Any] else { return false }  // null
        switch n["type"] as? String {
        case "NFC": return true
        case "Sequence":
            var nfc = false
            for sub in (n["normalizers"] as? [Any]) ?? [] { nfc = try normalizerIsNFC(sub, fail) || nfc }
            return nfc
        default:
            throw fail("normalizer \"\(n["type"] ?? "?")\" is not supported (only none or NFC)")
        }
    }

    static func splitRules(_ any: Any?, _ fail: (String) -> TokenizerError) throws -> [SplitRule] {
        guard let p = any as? [String: Any] else {
            throw fail("pre_tokenizer is missing: byte-level BPE needs a ByteLevel pre-tokenizer")
        }
        let parts: [Any] = p["type"] as? String == "Sequence" ? (p["pretokenizers"] as? [Any] ?? []) : [p]
        var rules: [SplitRule] = []
        var sawByteLevel = false
        for (i, any) in parts.enumerated() {
            let where_ = "pre_tokenizer" + (parts.count > 1 || p["type"] as? String == "Sequence" ? ".pretokenizers[\(i)]" : "")
            guard let q = any as? [String: Any], let type = q["type"] as? String else { throw fail("\(where_) has no type") }
            switch type {
            case "ByteLevel":
                if q["add_prefix_space"] as? Bool == true {
                    throw fail("\(where_): ByteLevel add_prefix_space=true is not supported")
                }
                if q["use_regex"] as? Bool ?? true { rules.append(.gpt2) }
                sawByteLevel = true
            case "Digits":
                guard q["individual_digits"] as? Bool == true else {
                    throw fail("\(where_): Digits with individual_digits=false is not supported")
                }
                rules.append(.digits)
            case "Split":
                let behavior = q["behavior"] as? String ?? ""
                guard behavior == "Isolated", q["invert"] as? Bool != true else {
                    throw fail("\(where_): Split behavior \"\(behavior)\" is not supported (only Isolated)")
                }
                guard let pat = q["pattern"] as? [String: Any], let regex = pat["Regex"] as? String else {
                    throw fail("\(where_): Split needs a {\"Regex\": …} pattern")
                }
                guard let rule = SplitRule.forPattern(regex) else {
                    throw fail("\(where_): Split regex \(regex.debugDescription) is not one of the supported GPT-2 / Llama-3 / Qwen2 / DeepSeek-V3 patterns")
                }
                rules.append(rule)
            default:
                throw fail("\(where_): pre-tokenizer \"\(type)\" is not supported")
            }
        }
        guard sawByteLevel else { throw fail("pre_tokenizer has no ByteLevel step: only byte-level BPE is supported") }
        return rules
    }

    private static func checkDecoder(_ any: Any?, _ fail: (String) -> TokenizerError) throws {
        guard let d = any as? [String: Any] else { return }
        let type = d["type"] as? String ?? "?"
        if type == "ByteLevel" { return }
        if type == "Sequence", let subs = d["decoders"] as? [Any], subs.count == 1 {
            return try checkDecoder(subs[0], fail)
        }
        throw fail("decoder \"\(type)\" is not supported (only ByteLevel)")
    }

    /// Ids a TemplateProcessing post-processor puts around a single sequence.
    private static func postProcessorIds(_ any: Any?, _ fail: (String) -> TokenizerError) throws -> ([Int], [Int]) {
        guard let p = any as? [String: Any] else { return ([], []) }
        switch p["type"] as? String {
        case "Sequence":
            var pre: [Int] = [], suf: [Int] = []
            for sub in (p["processors"] as? [Any]) ?? [] {
                let (a, b) = try postProcessorIds(sub, fail)
                pre += a
                suf += b
            }
            return (pre, suf)
        case "TemplateProcessing":
            let specials = p["special_tokens"] as? [String: Any] ?? [:]
            var pre: [Int] = [], suf: [Int] = []
            var seenSequence = false
            for item in (p["single"] as? [Any]) ?? [] {
                guard let it = item as? [String: Any] else { continue }
                if it["Sequence"] != nil { seenSequence = true; continue }
                guard let sp = it["SpecialToken"] as? [String: Any], let name = sp["id"] as? String else { continue }
                guard let entry = specials[name] as? [String: Any], let ids = entry["ids"] as? [Any] else {
                    throw fail("post_processor.special_tokens has no entry for \"\(name)\"")
                }
                let values = ids.compactMap { ($0 as? NSNumber)?.intValue }
                if seenSequence { suf += values } else { pre += values }
            }
            return (pre, suf)
        case "ByteLevel", nil:
            return ([], [])
        case let other?:
            throw fail("post_processor \"\(other)\" is not supported (only ByteLevel / TemplateProcessing)")
        }
    }

    /// bos/eos/pad, add_bos_token / add_eos_token and chat_template from tokenizer_config.json.
    static func applyConfig(_ config: [String: Any], path: String, to d: inout TokenizerDefinition) throws {
        func tokenName(_ key: String) -> String? {
            if let s = config[key] as? String { return s }
            if let o = config[key] as? [String: Any] { return o["content"] as? String }
            return nil
        }
        func resolve(_ key: String) throws -> Int? {
            guard let name = tokenName(key) else { return nil }
            guard let id = d.id(of: name) else { throw TokenizerError.file(path, "\(key) \"\(name)\" is not in the vocabulary") }
            return id
        }
        d.bosTokenId = try resolve("bos_token")
        d.eosTokenId = try resolve("eos_token")
        d.padTokenId = try resolve("pad_token")
        // The post-processor is what HF applies; add_bos_token only adds what it lacks.
        if config["add_bos_token"] as? Bool == true, let bos = d.bosTokenId, d.prefixIds.first != bos {
            d.prefixIds.insert(bos, at: 0)
        }
        if config["add_eos_token"] as? Bool == true, let eos = d.eosTokenId, d.suffixIds.last != eos {
            d.suffixIds.append(eos)
        }
        if let t = config["chat_template"] as? String {
            d.chatTemplate = t
            d.chatTemplateOrigin = path
        } else if let list = config["chat_template"] as? [Any] {
            // [{"name": "default", "template": "…"}, …]
            let named = list.compactMap { $0 as? [String: Any] }
            d.chatTemplate = (named.first { $0["name"] as? String == "default" } ?? named.first)?["template"] as? String
            d.chatTemplateOrigin = path
        }
    }
}
