import Foundation
import Kernels
import ModelFiles
import Transformer

/// A projection LoRA adapts: LoRA targets are `Transformer.Projection`s (their PEFT module
/// names, `modulePath` / `moduleName`, come from there).
public typealias LoRATarget = Projection

public struct LoRAError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// LoRA hyper-parameters (PEFT's LoraConfig subset that changes the maths).
public struct LoRAConfig: Codable, Equatable, Sendable {
    public var rank: Int
    public var alpha: Double
    public var dropout: Double
    /// Adapted projections, kept in `LoRATarget.allCases` order.
    public var targets: [LoRATarget]
    /// rsLoRA: scale alpha/√r instead of alpha/r.
    public var useRSLoRA: Bool

    /// No defaults: the notebook schema holds them (`r`, `lora_alpha`, …).
    public init(rank: Int, alpha: Double, dropout: Double, targets: [LoRATarget], useRSLoRA: Bool) {
        self.rank = rank; self.alpha = alpha; self.dropout = dropout
        self.targets = LoRATarget.allCases.filter { targets.contains($0) }
        self.useRSLoRA = useRSLoRA
    }

    /// The factor on B·A (PEFT computes it in Python floats, i.e. Double).
    public var scaling: Float {
        Float(useRSLoRA ? alpha / Double(rank).squareRoot() : alpha / Double(rank))
    }

    public func validate() throws {
        guard rank > 0 else { throw LoRAError("LoRA rank r must be positive, got \(rank)") }
        guard alpha > 0, alpha.isFinite else { throw LoRAError("lora_alpha must be positive, got \(alpha)") }
        guard dropout >= 0, dropout < 1 else { throw LoRAError("lora_dropout must be in [0, 1), got \(dropout)") }
        guard !targets.isEmpty else { throw LoRAError("LoRA needs at least one target module (q,k,v,o,gate,up,down)") }
    }
}

/// The trained pair of one adapted projection: ΔW = scaling · B A.
public struct LoRAWeights: Equatable, Sendable {
    public let inFeatures: Int, outFeatures: Int, rank: Int
    /// [rank × in] (PEFT `lora_A.weight`).
    public var a: [Float]
    /// [out × rank] (PEFT `lora_B.weight`).
    public var b: [Float]

    public init(inFeatures: Int, outFeatures: Int, rank: Int, a: [Float], b: [Float]) throws {
        guard a.count == rank * inFeatures, b.count == outFeatures * rank else {
            throw LoRAError("LoRA pair: A has \(a.count) values for \(rank)×\(inFeatures), B has \(b.count) for \(outFeatures)×\(rank)")
        }
        self.inFeatures = inFeatures; self.outFeatures = outFeatures; self.rank = rank; self.a = a; self.b = b
    }
}

/// A LoRA adapter for a whole model: one pair per (layer, target).
public struct LoRAAdapter: Equatable, Sendable {
    public var config: LoRAConfig
    /// `layers[i][target]`; every layer holds every configured target.
    public var layers: [[LoRATarget: LoRAWeights]]

    public init(config: LoRAConfig, layers: [[LoRATarget: LoRAWeights]]) {
        self.config = config; self.layers = layers
    }

    /// PEFT's default initialisation: A ~ kaiming_uniform(a=√5) = U(−1/√in, 1/√in), B = 0,
    /// drawn in parameter order (layer, target) from `rng`.
    public static func initialized(config: LoRAConfig, model: ModelConfig, rng: inout SeededRNG) throws -> LoRAAdapter {
        try config.validate()
        var layers: [[LoRATarget: LoRAWeights]] = []
        for _ in 0..<model.numLayers {
            var l: [LoRATarget: LoRAWeights] = [:]
            for t in config.targets {
                let (din, dout) = t.shape(in: model)
                let bound = 1 / Float(din).squareRoot()
                let a = (0..<(config.rank * din)).map { _ in (2 * rng.nextFloat() - 1) * bound }
                l[t] = try LoRAWeights(inFeatures: din, outFeatures: dout, rank: config.rank, a: a,
                                       b: [Float](repeating: 0, count: dout * config.rank))
            }
            layers.append(l)
        }
        return LoRAAdapter(config: config, layers: layers)
    }

    /// The fixed parameter order used by the optimiser, checkpoints and gradient lists:
    /// layer by layer, targets in `LoRATarget.allCases` order, A before B.
    public var keys: [(layer: Int, target: LoRATarget)] {
        layers.indices.flatMap { i in config.targets.map { (i, $0) } }
    }

    /// Trainable parameter count.
    public var parameterCount: Int {
        layers.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.a.count + $1.b.count } }
    }

    /// Checks that every pair matches `model`'s shapes and the adapter's rank and targets.
    public func validate(for model: ModelConfig) throws {
        try config.validate()
        guard layers.count == model.numLayers else {
            throw LoRAError("adapter has \(layers.count) layers, the model has \(model.numLayers)")
        }
        for (i, l) in layers.enumerated() {
            guard Set(l.keys) == Set(config.targets) else {
                throw LoRAError("adapter layer \(i) adapts \(l.keys.map(\.rawValue).sorted()), config says \(config.targets.map(\.rawValue))")
            }
            for (t, w) in l {
                let (din, dout) = t.shape(in: model)
                guard w.inFeatures == din, w.outFeatures == dout, w.rank == config.rank else {
                    throw LoRAError("adapter layer \(i) \(t.moduleName): A is \(w.rank)×\(w.inFeatures), B is \(w.outFeatures)×\(w.rank); the model needs r=\(config.rank), in \(din), out \(dout)")
                }
            }
        }
    }
}


extension LoRAAdapter {
    /// `weights` with this adapter added, unmerged (the base stays as stored, e.g. quantised):
    /// what inference with `--adapter` runs on.
    public func applied(to weights: ModelWeights) throws -> ModelWeights {
        try validate(for: weights.config)
        let s = config.scaling
        return try weights.withLoRA { layer, t in
            guard let w = self.layers[layer][t] else { return nil }
            return LoRADelta(a: w.a, b: w.b, rank: w.rank, scaling: s)
        }
    }
}
