#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A PEFT LoRA adapter's `adapter_config.json`, read and checked here (in the bounds-checked
/// ModelFiles target) so that Training receives only typed, validated values. Rejects what would
/// change the maths unnoticed (DoRA, per-module ranks/alphas, trained biases, extra saved
/// modules, LoRA variants).
public struct PEFTAdapterConfig: Sendable, Equatable {
    public var rank: Int
    public var alpha: Double
    public var dropout: Double
    public var useRSLoRA: Bool
    /// `target_modules` reduced to their last dotted component (PEFT matches by suffix), in file
    /// order without repeats; each one of `knownModules`.
    public var targetModules: [String]

    /// Larger than any real adapter's config (a few KB); a bigger file is refused before parsing.
    public static let maxFileBytes = 1 << 20

    public static func read(path: String, knownModules: [String]) throws -> PEFTAdapterConfig {
        let file = try MappedFile(path: path)
        guard file.count <= maxFileBytes else {
            throw ModelFileError(path, "is \(file.count) bytes; an adapter_config.json is at most \(maxFileBytes)")
        }
        return try parse(Data(file.bytes), path: path, knownModules: knownModules)
    }

    public static func parse(_ data: Data, path: String, knownModules: [String]) throws -> PEFTAdapterConfig {
        func fail(_ message: String) -> ModelFileError { ModelFileError(path, message) }
        let root: [String: PEFTJSON]
        do {
            guard case .object(let r) = try JSONDecoder().decode(PEFTJSON.self, from: data) else {
                throw fail("top level is not a JSON object")
            }
            root = r
        } catch let e as ModelFileError { throw e } catch {
            throw fail("invalid JSON (\(JSONValue.describe(error, data: data)))")
        }
        func cfgFail(_ key: String, _ message: String) -> ModelFileError { fail("\"\(key)\" \(message)") }
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
            guard case .string(let s) = t, s.uppercased() == "LORA" else { throw cfgFail("peft_type", "is \(t.brief), only LORA adapters are supported") }
        }
        guard let rNumber = try number("r") else { throw cfgFail("r", "is missing") }
        guard let rank = Int(exactly: rNumber), rank > 0 else { throw cfgFail("r", "must be a positive integer, got \(PEFTJSON.number(rNumber))") }
        let alpha = try number("lora_alpha") ?? 8  // LoraConfig's default
        let dropout = try number("lora_dropout") ?? 0
        let rslora = try bool("use_rslora") ?? false
        if try bool("use_dora") == true { throw cfgFail("use_dora", "is true: DoRA adapters are not supported") }
        if let b = present("bias") {
            guard case .string(let s) = b else { throw cfgFail("bias", "is not a string") }
            guard s == "none" else { throw cfgFail("bias", "is \(PEFTJSON.string(s).brief): adapters with trained biases are not supported (only \"none\")") }
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

        var modules: [String] = []
        switch present("target_modules") {
        case .array(let list)?:
            for item in list {
                guard case .string(let name) = item else { throw cfgFail("target_modules", "holds a non-string \(item.brief)") }
                // PEFT matches by suffix: "q_proj", "self_attn.q_proj" and "model.layers.0.self_attn.q_proj" all name q.
                let last = String(name.split(separator: ".").last ?? "")
                guard knownModules.contains(last) else {
                    throw cfgFail("target_modules", "names \(PEFTJSON.string(name).brief), which is not a decoder projection (\(knownModules.joined(separator: ", ")))")
                }
                if !modules.contains(last) { modules.append(last) }
            }
        case .string(let s)?:
            throw cfgFail("target_modules", "is the regular expression \(PEFTJSON.string(s).brief); only a list of module names is supported")
        case nil:
            throw cfgFail("target_modules", "is missing")
        case let other?:
            throw cfgFail("target_modules", "is \(other.brief), expected a list of module names")
        }
        return PEFTAdapterConfig(rank: rank, alpha: alpha, dropout: dropout, useRSLoRA: rslora, targetModules: modules)
    }
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
        case .object(let o): return "{" + o.keys.sorted().map { "\($0.debugDescription): \(o[$0] ?? .null)" }.joined(separator: ", ") + "}"
        }
    }

    /// The value as error messages quote it: at most 200 characters.
    var brief: String {
        let s = description
        return s.count <= 200 ? s : String(s.prefix(200)) + "…"
    }
}
