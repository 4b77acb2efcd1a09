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
        guard fm.fileExists(atPath: configPath) else {
            throw fail(configPath, fm.fileExists(atPath: directory) ? "no such file (is this a PEFT adapter folder?)" : "no such file (adapter folder missing?)")
        }
        // The JSON is read and checked in ModelFiles (bounds-checked); only typed values come back.
        let peft: PEFTAdapterConfig
        do {
            peft = try PEFTAdapterConfig.read(path: configPath, knownModules: LoRATarget.allCases.map(\.moduleName))
        } catch { throw LoRAError("\(error)") }
        let rank = peft.rank
        let targets = peft.targetModules.compactMap { m in LoRATarget.allCases.first { $0.moduleName == m } }
        let config = LoRAConfig(rank: rank, alpha: peft.alpha, dropout: peft.dropout, targets: targets, useRSLoRA: peft.useRSLoRA)
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
