/// RoPE frequency scaling (HF `rope_scaling` / `rope_parameters`). `lowFreqFactor`,
/// `highFreqFactor` and `originalMaxPositionEmbeddings` matter for type "llama3" only; when the
/// source does not give them they are 1, 4 and maxPositionEmbeddings.
public struct RopeScaling: Sendable, Equatable {
    public var type: String
    public var factor: Double
    public var lowFreqFactor: Double
    public var highFreqFactor: Double
    public var originalMaxPositionEmbeddings: Int

    public init(type: String, factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalMaxPositionEmbeddings: Int) {
        self.type = type
        self.factor = factor
        self.lowFreqFactor = lowFreqFactor
        self.highFreqFactor = highFreqFactor
        self.originalMaxPositionEmbeddings = originalMaxPositionEmbeddings
    }
}

/// Hyper-parameters of a Llama or Qwen2 decoder, read from a HF config.json or GGUF metadata.
public struct ModelConfig: Sendable, Equatable {
    /// "llama" or "qwen2".
    public var architecture: String
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numLayers: Int
    public var numHeads: Int
    public var numKVHeads: Int
    public var headDim: Int
    public var maxPositionEmbeddings: Int
    public var rmsNormEps: Double
    public var ropeTheta: Double
    public var ropeScaling: RopeScaling?
    public var tieWordEmbeddings: Bool
    /// q/k/v projections have biases (always for qwen2).
    public var attentionBias: Bool
    public var bosTokenId: Int?
    public var eosTokenIds: [Int]

    public static let supportedArchitectures = ["llama", "qwen2"]

    /// Reads a HF config.json (LlamaForCausalLM / Qwen2ForCausalLM). Accepts both the
    /// transformers 4 keys (`rope_theta`, `rope_scaling`) and transformers 5 `rope_parameters`.
    public static func fromHF(configPath: String) throws -> ModelConfig {
        let root = try JSONValue.parse(fileAt: configPath, what: "config")
        guard let c = root.object else { throw ModelFileError(configPath, "config is not a JSON object") }
        func fail(_ message: String) -> ModelFileError { ModelFileError(configPath, message) }

        let modelType = c["model_type"]?.string
        let architectures = c["architectures"]?.array?.compactMap(\.string) ?? []
        let byClass = ["LlamaForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2"]
        let arch: String
        if let modelType, supportedArchitectures.contains(modelType) {
            arch = modelType
        } else if modelType == nil, let a = architectures.lazy.compactMap({ byClass[$0] }).first {
            arch = a
        } else {
            throw fail("unsupported architecture (model_type \(modelType.map { "\"\($0)\"" } ?? "missing"), architectures \(architectures)); supported: LlamaForCausalLM (llama), Qwen2ForCausalLM (qwen2)")
        }

        func int(_ key: String) throws -> Int {
            guard let v = c[key], let i = v.int else {
                throw fail(c[key] == nil ? "missing \"\(key)\"" : "\"\(key)\" is not an integer")
            }
            return i
        }
        func optionalInt(_ key: String) throws -> Int? {
            guard let v = c[key], !v.isNull else { return nil }
            guard let i = v.int else { throw fail("\"\(key)\" is not an integer") }
            return i
        }
        func double(_ dict: [String: JSONValue], _ key: String, _ where_: String) throws -> Double? {
            guard let v = dict[key], !v.isNull else { return nil }
            guard let d = v.double else { throw fail("\(where_)\"\(key)\" is not a number") }
            return d
        }

        let hidden = try int("hidden_size")
        let heads = try int("num_attention_heads")
        // transformers 5 folds rope_theta and the scaling into rope_parameters.
        let ropeParameters = c["rope_parameters"]?.object
        let scaling = c["rope_scaling"]?.object ?? ropeParameters
        let theta = try double(c, "rope_theta", "") ?? ropeParameters.flatMap { try? double($0, "rope_theta", "rope_parameters.") } ?? 10000
        let maxPositions = try int("max_position_embeddings")
        var ropeScaling: RopeScaling? = nil
        if let scaling {
            let type = scaling["rope_type"]?.string ?? scaling["type"]?.string ?? "default"
            if type != "default" {
                guard let factor = try double(scaling, "factor", "rope_scaling.") else { throw fail("rope_scaling of type \(type) has no factor") }
                ropeScaling = RopeScaling(
                    type: type, factor: factor,
                    lowFreqFactor: try double(scaling, "low_freq_factor", "rope_scaling.") ?? 1,
                    highFreqFactor: try double(scaling, "high_freq_factor", "rope_scaling.") ?? 4,
                    originalMaxPositionEmbeddings: scaling["original_max_position_embeddings"]?.int ?? maxPositions)
            }
        }
        var eos: [Int] = []
        switch c["eos_token_id"] {
        case nil, .null?: break
        case .array(let items)?:
            eos = try items.map { guard let i = $0.int else { throw fail("\"eos_token_id\" holds a non-integer") }; return i }
        case let v?:
            guard let i = v.int else { throw fail("\"eos_token_id\" is not an integer or a list") }
            eos = [i]
        }
        func bool(_ key: String, default value: Bool) throws -> Bool {
            guard let v = c[key], !v.isNull else { return value }
            guard let b = v.bool else { throw fail("\"\(key)\" is not a boolean") }
            return b
        }

        let config = ModelConfig(
            architecture: arch,
            vocabSize: try int("vocab_size"),
            hiddenSize: hidden,
            intermediateSize: try int("intermediate_size"),
            numLayers: try int("num_hidden_layers"),
            numHeads: heads,
            numKVHeads: try optionalInt("num_key_value_heads") ?? heads,
            headDim: try optionalInt("head_dim") ?? (heads > 0 ? hidden / heads : 0),
            maxPositionEmbeddings: maxPositions,
            rmsNormEps: try double(c, "rms_norm_eps", "") ?? 1e-6,
            ropeTheta: theta,
            ropeScaling: ropeScaling,
            tieWordEmbeddings: try bool("tie_word_embeddings", default: false),
            attentionBias: arch == "qwen2" ? true : try bool("attention_bias", default: false),
            bosTokenId: try optionalInt("bos_token_id"),
            eosTokenIds: eos)
        try config.validate(configPath)
        return config
    }

    /// Reads `general.architecture` and the `{arch}.*` keys. Tied embeddings = no output.weight
    /// tensor; q/k/v biases = a blk.0.attn_q.bias tensor. llama.cpp stores Llama 3 RoPE scaling as a
    /// `rope_freqs.weight` tensor, not as metadata: ropeScaling is set only from
    /// `{arch}.rope.scaling.*` keys.
    public static func fromGGUF(_ file: GGUFFile) throws -> ModelConfig {
        let m = file.metadata
        func fail(_ message: String) -> ModelFileError { ModelFileError(file.path, message) }
        guard let arch = m["general.architecture"]?.string else { throw fail("missing metadata general.architecture") }
        guard supportedArchitectures.contains(arch) else {
            throw fail("unsupported architecture \"\(arch)\" (supported: \(supportedArchitectures.joined(separator: ", ")))")
        }
        func int(_ key: String) throws -> Int? {
            guard let v = m[key] else { return nil }
            guard let i = v.int else { throw fail("metadata \(key) is \(v.typeName), expected an integer") }
            return i
        }
        func required(_ key: String) throws -> Int {
            guard let i = try int(key) else { throw fail("missing metadata \(key)") }
            return i
        }
        func double(_ key: String) throws -> Double? {
            guard let v = m[key] else { return nil }
            guard let d = v.double else { throw fail("metadata \(key) is \(v.typeName), expected a number") }
            return d
        }

        let hidden = try required("\(arch).embedding_length")
        let heads = try required("\(arch).attention.head_count")
        let maxPositions = try required("\(arch).context_length")
        let vocab = try int("\(arch).vocab_size")
            ?? m["tokenizer.ggml.tokens"]?.array?.count
            ?? file.tensors["token_embd.weight"]?.shape.first
        guard let vocab else { throw fail("cannot tell the vocabulary size (no \(arch).vocab_size, tokens or token_embd.weight)") }
        guard let eps = try double("\(arch).attention.layer_norm_rms_epsilon") else {
            throw fail("missing metadata \(arch).attention.layer_norm_rms_epsilon")
        }

        var ropeScaling: RopeScaling? = nil
        if let type = m["\(arch).rope.scaling.type"]?.string, type != "none" {
            guard let factor = try double("\(arch).rope.scaling.factor") else {
                throw fail("\(arch).rope.scaling.type is \(type) but \(arch).rope.scaling.factor is missing")
            }
            ropeScaling = RopeScaling(type: type, factor: factor, lowFreqFactor: 1, highFreqFactor: 4,
                                      originalMaxPositionEmbeddings: try int("\(arch).rope.scaling.original_context_length") ?? maxPositions)
        }
        var eos: [Int] = []
        for key in ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"] {
            if let id = try int(key), !eos.contains(id) { eos.append(id) }
        }

        let config = ModelConfig(
            architecture: arch,
            vocabSize: vocab,
            hiddenSize: hidden,
            intermediateSize: try required("\(arch).feed_forward_length"),
            numLayers: try required("\(arch).block_count"),
            numHeads: heads,
            numKVHeads: try int("\(arch).attention.head_count_kv") ?? heads,
            headDim: try int("\(arch).attention.key_length") ?? (heads > 0 ? hidden / heads : 0),
            maxPositionEmbeddings: maxPositions,
            rmsNormEps: eps,
            ropeTheta: try double("\(arch).rope.freq_base") ?? 10000,
            ropeScaling: ropeScaling,
            tieWordEmbeddings: file.tensors["output.weight"] == nil,
            attentionBias: file.tensors["blk.0.attn_q.bias"] != nil,
            bosTokenId: try int("tokenizer.ggml.bos_token_id"),
            eosTokenIds: eos)
        try config.validate(file.path)
        return config
    }

    /// Sizes the forward pass relies on; a clear error here beats an out-of-bounds crash later.
    func validate(_ path: String) throws {
        func check(_ ok: Bool, _ message: String) throws { if !ok { throw ModelFileError(path, message) } }
        try check(vocabSize > 0 && hiddenSize > 0 && intermediateSize > 0 && numLayers > 0 && maxPositionEmbeddings > 0,
                  "sizes must be positive (vocab \(vocabSize), hidden \(hiddenSize), intermediate \(intermediateSize), layers \(numLayers), context \(maxPositionEmbeddings))")
        try check(numHeads > 0 && numKVHeads > 0 && numHeads % numKVHeads == 0,
                  "attention heads \(numHeads) must be a positive multiple of the key/value heads \(numKVHeads)")
        try check(headDim > 0 && headDim % 2 == 0, "head dimension \(headDim) must be positive and even (RoPE rotates pairs)")
        try check(rmsNormEps > 0 && ropeTheta > 0, "rms_norm_eps \(rmsNormEps) and rope theta \(ropeTheta) must be positive")
    }
}
