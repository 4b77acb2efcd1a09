import Foundation
import ModelFiles

// Hugging Face PEFT's on-disk LoRA format: `adapter_config.json` (LoraConfig.to_dict, written
// with json.dumps(indent=2, sort_keys=True)) and `adapter_model.safetensors` with tensors named
// `base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight` (A [r × in], B [out × r]).

extension LoRAAdapter {
    static let peftConfigFile = "adapter_config.json"
    static let peftWeightsFile = "adapter_model.safetensors"

    /// PEFT's tensor name for one factor of one adapted projection.
    static func peftTensorName(layer: Int, target: LoRATarget, factor: String) -> String {
        "base_model.model.model.layers.\(layer).\(target.modulePath).lora_\(factor).weight"
    }

    /// Writes the adapter as PEFT 0.21 saves it (`PeftModel.save_pretrained`): the config's keys
    /// and defaults as LoraConfig writes them, F32 tensors with `{"format": "pt"}` metadata, so
    /// `PeftModel.from_pretrained(base, directory)` loads it. Each file is replaced atomically.
    public func save(directory: String, baseModel: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw LoRAError("\(directory): cannot create the adapter folder: \(error.localizedDescription)")
        }
        var tensors: [(name: String, shape: [Int], data: [Float])] = []
        for (i, layer) in layers.enumerated() {
            for t in config.targets {
                guard let w = layer[t] else { throw LoRAError("adapter layer \(i) has no \(t.moduleName) pair to save") }
                tensors.append((Self.peftTensorName(layer: i, target: t, factor: "A"), [w.rank, w.inFeatures], w.a))
                tensors.append((Self.peftTensorName(layer: i, target: t, factor: "B"), [w.outFeatures, w.rank], w.b))
            }
        }
        try writeSafetensors(path: directory + "/" + Self.peftWeightsFile, tensors: tensors, metadata: ["format": "pt"])
        try writeFileAtomically(path: directory + "/" + Self.peftConfigFile,
                                bytes: Array(peftConfigJSON(baseModel: baseModel).utf8))
    }

    /// adapter_config.json text, byte-compatible with Python's json.dumps(indent=2, sort_keys=True)
    /// of PEFT 0.21.2's LoraConfig (target_modules sorted; PEFT writes its set in arbitrary order).
    func peftConfigJSON(baseModel: String) -> String {
        let c = config
        let modules = c.targets.map(\.moduleName).sorted()
        let alpha: String = c.alpha == c.alpha.rounded() && abs(c.alpha) < 1e15 ? String(Int(c.alpha)) : pythonFloat(c.alpha)
        let entries: [(String, String)] = [
            ("alora_invocation_tokens", "null"),
            ("alpha_pattern", "{}"),
            ("arrow_config", "null"),
            ("auto_mapping", "null"),
            ("base_model_name_or_path", jsonStringLiteral(baseModel, asciiOnly: true)),
            ("bias", "\"none\""),
            ("corda_config", "null"),
            ("ensure_weight_tying", "false"),
            ("eva_config", "null"),
            ("exclude_modules", "null"),
            ("fan_in_fan_out", "false"),
            ("inference_mode", "true"),
            ("init_lora_weights", "true"),
            ("kasa_config", "null"),
            ("layer_replication", "null"),
            ("layers_pattern", "null"),
            ("layers_to_transform", "null"),
            ("loftq_config", "{}"),
            ("lora_alpha", alpha),
            ("lora_bias", "false"),
            ("lora_dropout", pythonFloat(c.dropout)),
            ("lora_ga_config", "null"),
            ("megatron_config", "null"),
            ("megatron_core", "\"megatron.core\""),
            ("modules_to_save", "null"),
            ("monteclora_config", "null"),
            ("peft_type", "\"LORA\""),
            ("peft_version", "\"0.21.2\""),
            ("qalora_group_size", "16"),
            ("r", String(c.rank)),
            ("rank_pattern", "{}"),
            ("revision", "null"),
            ("target_modules", "[\n" + modules.map { "    \"\($0)\"" }.joined(separator: ",\n") + "\n  ]"),
            ("target_parameters", "null"),
            ("task_type", "\"CAUSAL_LM\""),
            ("trainable_token_indices", "null"),
            ("use_bdlora", "null"),
            ("use_dora", "false"),
            ("use_qalora", "false"),
            ("use_rslora", c.useRSLoRA ? "true" : "false"),
            ("velora_config", "null"),
        ]
        return "{\n" + entries.map { "  \"\($0.0)\": \($0.1)" }.joined(separator: ",\n") + "\n}"
    }

    /// Reads a PEFT LoRA adapter folder for `model`. Accepts F32/F16/BF16 tensors and names with
    /// or without PEFT's `.default` adapter-name infix; rejects what would change the maths
    /// unnoticed (DoRA, per-module ranks/alphas, trained biases, extra saved modules, …).
    public static func load(directory: String, model: ModelConfig) throws -> LoRAAdapter {
        let configPath = directory + "/" + peftConfigFile
        let weightsPath = directory + "/" + peftWeightsFile
        func fail(_ path: String, _ message: String) -> LoRAError { LoRAError("\(path): \(message)") }
        let fm = FileManager.default
        guard let data = fm.contents(atPath: configPath) else {
            throw fail(configPath, fm.fileExists(atPath: directory) ? "cannot read the file (is this a PEFT adapter folder?)" : "no such file (adapter folder missing?)")
        }
        let root: [String: PEFTJSON]
        do {
            guard case .object(let r) = try JSONDecoder().decode(PEFTJSON.self, from: data) else {
                throw fail(configPath, "top level is not a JSON object")
            }
            root = r
        } catch let e as LoRAError { throw e } catch {
            throw fail(configPath, "invalid JSON (\(error))")
        }
        func cfgFail(_ key: String, _ message: String) -> LoRAError { fail(configPath, "\"\(key)\" \(message)") }
        func present(_ key: String) -> PEFTJSON? {
            guard let v = root[key], v != .null else { return nil }
            return v
        }
        func number(_ key: String) throws -> Double? {
            guard let v = present(key) else { return nil }
            guard case .number(let d) = v else { throw cfgFail(key, "is not a number") }
            return d
        }
        func bool(_ key: String) throws -> Bool? {
            guard let v = present(key) else { return nil }
            guard case .bool(let b) = v else { throw cfgFail(key, "is not true/false") }
            return b
        }
        func isEmptyish(_ key: String) -> Bool {
            switch present(key) {
            case nil: return true
            case .object(let o)?: return o.isEmpty
            case .array(let a)?: return a.isEmpty
            default: return false
            }
        }

        if let t = present("peft_type") {
            guard case .string(let s) = t, s.uppercased() == "LORA" else { throw cfgFail("peft_type", "is \(t), only LORA adapters are supported") }
        }
        guard let rNumber = try number("r") else { throw cfgFail("r", "is missing") }
        guard let rank = Int(exactly: rNumber), rank > 0 else { throw cfgFail("r", "must be a positive integer, got \(PEFTJSON.number(rNumber))") }
        let alpha = try number("lora_alpha") ?? 8  // LoraConfig's default
        let dropout = try number("lora_dropout") ?? 0
        let rslora = try bool("use_rslora") ?? false
        if try bool("use_dora") == true { throw cfgFail("use_dora", "is true: DoRA adapters are not supported") }
        if let b = present("bias") {
            guard case .string(let s) = b else { throw cfgFail("bias", "is not a string") }
            guard s == "none" else { throw cfgFail("bias", "is \"\(s)\": adapters with trained biases are not supported (only \"none\")") }
        }
        if try bool("lora_bias") == true { throw cfgFail("lora_bias", "is true: LoRA biases are not supported") }
        if try bool("fan_in_fan_out") == true { throw cfgFail("fan_in_fan_out", "is true: transposed (Conv1D) weights are not supported") }
        for key in ["rank_pattern", "alpha_pattern"] where !isEmptyish(key) {
            throw cfgFail(key, "is not empty: per-module ranks / alphas are not supported")
        }
        for key in ["modules_to_save", "layers_to_transform", "layer_replication", "trainable_token_indices", "target_parameters"] where !isEmptyish(key) {
            throw cfgFail(key, "is set: not supported (TuneLab adapts every decoder layer's projections and nothing else)")
        }
        // LoRA variants whose forward is not x + scaling·B·A·x (VeLoRA only changes the backward pass).
        for key in ["kasa_config", "alora_invocation_tokens", "monteclora_config", "use_bdlora", "arrow_config"] where !isEmptyish(key) {
            if case .bool(false)? = present(key) { continue }
            throw cfgFail(key, "is set: this LoRA variant is not supported (plain LoRA / rsLoRA only)")
        }
        if try bool("use_qalora") == true { throw cfgFail("use_qalora", "is true: QALoRA adapters are not supported") }

        var targets: [LoRATarget] = []
        switch present("target_modules") {
        case .array(let list)?:
            for item in list {
                guard case .string(let name) = item else { throw cfgFail("target_modules", "holds a non-string \(item)") }
                // PEFT matches by suffix: "q_proj", "self_attn.q_proj" and "model.layers.0.self_attn.q_proj" all name q.
                let last = String(name.split(separator: ".").last ?? "")
                guard let t = LoRATarget.allCases.first(where: { $0.moduleName == last }) else {
                    throw cfgFail("target_modules", "names \"\(name)\", which is not a decoder projection (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)")
                }
                if !targets.contains(t) { targets.append(t) }
            }
        case .string(let s)?:
            throw cfgFail("target_modules", "is the regular expression \(s.debugDescription); only a list of module names is supported")
        case nil:
            throw cfgFail("target_modules", "is missing")
        case let other?:
            throw cfgFail("target_modules", "is \(other), expected a list of module names")
        }
        let config = LoRAConfig(rank: rank, alpha: alpha, dropout: dropout, targets: targets, useRSLoRA: rslora)
        do { try config.validate() } catch { throw fail(configPath, "\(error)") }

        guard fm.fileExists(atPath: weightsPath) else {
            let bin = fm.fileExists(atPath: directory + "/adapter_model.bin")
            throw fail(weightsPath, bin ? "no such file (only adapter_model.bin, a pickle, which is not supported: re-save with safe_serialization=True)" : "no such file")
        }
        let archive: SafetensorsArchive
        do { archive = try SafetensorsArchive(path: weightsPath) } catch { throw LoRAError("\(error)") }

        // Map every tensor to (layer, target, factor); anything else is an error, not silently dropped.
        var found: [String: TensorInfo] = [:]
        for name in archive.tensorNames {
            guard let key = peftKey(name), key.layer < model.numLayers, targets.contains(key.target),
                  let info = archive.tensors[name] else {
                throw fail(weightsPath, "tensor '\(name)' is not a lora_A/lora_B weight of a configured target (\(targets.map(\.moduleName).joined(separator: ", "))) in layers 0..<\(model.numLayers)")
            }
            let canonical = peftTensorName(layer: key.layer, target: key.target, factor: key.factor)
            if let other = found.updateValue(info, forKey: canonical) {
                throw fail(weightsPath, "tensors '\(other.name)' and '\(name)' are the same weight (saved twice, with and without the adapter name)")
            }
        }
        var layers: [[LoRATarget: LoRAWeights]] = []
        for i in 0..<model.numLayers {
            var l: [LoRATarget: LoRAWeights] = [:]
            for t in config.targets {
                let (din, dout) = t.shape(in: model)
                func tensor(_ factor: String, _ shape: [Int]) throws -> [Float] {
                    let name = peftTensorName(layer: i, target: t, factor: factor)
                    guard let info = found[name] else { throw fail(weightsPath, "missing tensor '\(name)'") }
                    guard info.shape == shape else {
                        throw fail(weightsPath, "tensor '\(info.name)' has shape \(info.shape), expected \(shape) (r=\(rank), \(t.moduleName) is \(dout)×\(din) in the model)")
                    }
                    return info.floats()
                }
                l[t] = try LoRAWeights(inFeatures: din, outFeatures: dout, rank: rank,
                                       a: tensor("A", [rank, din]), b: tensor("B", [dout, rank]))
            }
            layers.append(l)
        }
        let adapter = LoRAAdapter(config: config, layers: layers)
        do { try adapter.validate(for: model) } catch { throw LoRAError("\(directory): \(error)") }
        return adapter
    }

    /// Parses `[base_model.model.]model.layers.{i}.{self_attn|mlp}.{x}_proj.lora_{A|B}[.{adapter}].weight`.
    static func peftKey(_ name: String) -> (layer: Int, target: LoRATarget, factor: String)? {
        var parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if parts.starts(with: ["base_model", "model"]) { parts.removeFirst(2) }
        guard parts.count == 7 || parts.count == 8, parts[0] == "model", parts[1] == "layers",
              let layer = Int(parts[2]), layer >= 0, String(layer) == parts[2], parts.last == "weight",
              parts[5] == "lora_A" || parts[5] == "lora_B" else { return nil }
        guard let target = LoRATarget.allCases.first(where: { $0.modulePath == parts[3] + "." + parts[4] }) else { return nil }
        return (layer, target, parts[5] == "lora_A" ? "A" : "B")
    }
}

/// Python's repr of a float as json.dumps writes it (shortest round-trip, ".0" on integers,
/// exponent form with a two-digit exponent).
func pythonFloat(_ x: Double) -> String {
    if x.isNaN { return "NaN" }
    if x.isInfinite { return x > 0 ? "Infinity" : "-Infinity" }
    var s = "\(x)"  // Swift: shortest round-trip, "1e-05", "0.05", "5.0", "1e+16"
    if let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
        var mantissa = String(s[..<e]), exp = String(s[s.index(after: e)...])
        if mantissa.hasSuffix(".0") { mantissa.removeLast(2) }
        var sign = "+"
        if exp.hasPrefix("-") { sign = "-"; exp.removeFirst() } else if exp.hasPrefix("+") { exp.removeFirst() }
        if exp.count < 2 { exp = "0" + exp }
        s = mantissa + "e" + sign + exp
    }
    return s
}

/// Just enough JSON to tell booleans from numbers (JSONSerialization conflates them on Linux).
enum PEFTJSON: Decodable, Equatable, CustomStringConvertible {
    case null, bool(Bool), number(Double), string(String), array([PEFTJSON]), object([String: PEFTJSON])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([PEFTJSON].self) { self = .array(a) }
        else { self = .object(try c.decode([String: PEFTJSON].self)) }
    }

    var description: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return "\(b)"
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? "\(Int(d))" : "\(d)"
        case .string(let s): return s.debugDescription
        case .array(let a): return "[" + a.map(\.description).joined(separator: ", ") + "]"
        case .object(let o): return "{" + o.keys.sorted().map { "\($0.debugDescription): \(o[$0]!)" }.joined(separator: ", ") + "}"
        }
    }
}
