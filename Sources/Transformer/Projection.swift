import Foundation
import ModelFiles

/// The seven linear projections of a Llama / Qwen2 decoder layer: the one name inference,
/// training (LoRA targets are projections), adapters and file formats use for them.
public enum Projection: String, CaseIterable, Codable, Sendable {
    case q, k, v, o, gate, up, down

    /// Position in `allCases` (index of per-projection tables).
    public var index: Int {
        switch self { case .q: 0; case .k: 1; case .v: 2; case .o: 3; case .gate: 4; case .up: 5; case .down: 6 }
    }

    /// The module's path inside a HF decoder layer (PEFT's `target_modules` use the last part).
    public var modulePath: String {
        switch self {
        case .q: "self_attn.q_proj"
        case .k: "self_attn.k_proj"
        case .v: "self_attn.v_proj"
        case .o: "self_attn.o_proj"
        case .gate: "mlp.gate_proj"
        case .up: "mlp.up_proj"
        case .down: "mlp.down_proj"
        }
    }
    /// PEFT's short module name, e.g. `q_proj`.
    public var moduleName: String { String(modulePath.split(separator: ".").last!) }

    /// The weight's name inside a GGUF block (`blk.N.<name>.weight`).
    var ggufName: String {
        switch self {
        case .q: "attn_q"
        case .k: "attn_k"
        case .v: "attn_v"
        case .o: "attn_output"
        case .gate: "ffn_gate"
        case .up: "ffn_up"
        case .down: "ffn_down"
        }
    }

    /// Accepts the short form (`q`) and the module name (`q_proj`).
    public init?(name: String) {
        let n = name.trimmingCharacters(in: .whitespaces).lowercased()
        if let t = Projection(rawValue: n) { self = t; return }
        guard let t = Projection.allCases.first(where: { $0.moduleName == n }) else { return nil }
        self = t
    }

    /// (inFeatures, outFeatures) of this projection in a model.
    public func shape(in c: ModelConfig) -> (inFeatures: Int, outFeatures: Int) {
        let d = c.hiddenSize, qw = c.numHeads * c.headDim, kvw = c.numKVHeads * c.headDim, ff = c.intermediateSize
        switch self {
        case .q: return (d, qw)
        case .k, .v: return (d, kvw)
        case .o: return (qw, d)
        case .gate, .up: return (d, ff)
        case .down: return (ff, d)
        }
    }
}

extension LayerWeights {
    /// The layer's weight for `p`.
    public subscript(p: Projection) -> Linear {
        get {
            switch p {
            case .q: q
            case .k: k
            case .v: v
            case .o: o
            case .gate: gate
            case .up: up
            case .down: down
            }
        }
        set {
            switch p {
            case .q: q = newValue
            case .k: k = newValue
            case .v: v = newValue
            case .o: o = newValue
            case .gate: gate = newValue
            case .up: up = newValue
            case .down: down = newValue
            }
        }
    }
}
