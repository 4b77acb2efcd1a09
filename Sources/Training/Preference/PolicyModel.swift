import Foundation
import Kernels

/// Which model the log-ratios of preference and RL objectives are measured against.
public enum ReferenceModel: String, Codable, CaseIterable, Sendable {
    /// The base weights with the adapter disabled (PEFT's `disable_adapter()`, TRL's default for
    /// a PEFT model). For a fresh adapter (B = 0) this is also the policy at step 0.
    case base
    /// The starting adapter, frozen (an adapter trained before, e.g. by SFT): the policy as it
    /// was before the first update, as TRL's "ref" adapter copy. Only its LoRA tensors are copied.
    case adapter
}

/// A LoRA policy and its reference on one set of frozen weights (no second copy of the model):
/// per-position log-probabilities of target tokens, from the policy or the reference, and the
/// policy's backward from any objective on them. Sequence-level (DPO) and token-level (GRPO)
/// objectives differ only in the closure given to `train`.
final class PolicyModel {
    let model: LoRAModel
    let reference: ReferenceModel
    /// The reference adapter's tensors (params order) for `.adapter`, swapped in for its forwards.
    private var referenceParams: [[Float]]

    init(model: LoRAModel, reference: ReferenceModel) {
        self.model = model
        self.reference = reference
        referenceParams = reference == .adapter ? model.params : []
    }

    /// The reference adapter's tensors as they are kept (for checkpoints; empty for `.base`).
    var referenceTensors: [[Float]] { referenceParams }
    func setReferenceTensors(_ t: [[Float]]) throws {
        guard reference == .adapter, t.map(\.count) == model.params.map(\.count) else {
            throw TrainError("the reference adapter's tensors do not match the policy's")
        }
        referenceParams = t
    }

    /// Splits a micro-batch's per-position values into its sequences.
    private static func split(_ flat: [Double], _ seqs: [TrainSequence]) -> [[Double]] {
        var out: [[Double]] = [], off = 0
        for s in seqs { out.append(Array(flat[off..<(off + s.ids.count)])); off += s.ids.count }
        return out
    }

    /// log π(target) at every position of each sequence (0 where untrained), forward only, no
    /// dropout: of the policy, or (`ofReference`) of the reference; logits divided by
    /// `temperature` first (see `Ops.tokenLogProbs`).
    func tokenLogProbs(_ seqs: [TrainSequence], ofReference: Bool = false, temperature: Float = 1) throws -> [[Double]] {
        var rng = SeededRNG(seed: 0)   // unused: no dropout outside training
        if ofReference {
            switch reference {
            case .base: model.adapterEnabled = false
            case .adapter: swap(&model.params, &referenceParams)
            }
        }
        defer {
            if ofReference {
                switch reference {
                case .base: model.adapterEnabled = true
                case .adapter: swap(&model.params, &referenceParams)
                }
            }
        }
        let flat = try model.run(seqs, backward: false, dropoutRNG: &rng) { p in
            try Ops.tokenLogProbs(h: p.h, tokens: p.m, dim: p.dim, head: p.head, targets: p.targets, chunk: p.chunk,
                                  temperature: temperature, workspace: p.workspace)
        } ?? []
        return Self.split(flat, seqs)
    }

    /// One forward (with dropout from `rng`) and backward of the policy: `objective` gets the
    /// per-position log-probs of each sequence and returns ∂L/∂log π per position (same shape)
    /// and whatever it wants returned; the LoRA gradients accumulate into `model.grads`.
    func train<R>(_ seqs: [TrainSequence], rng: inout SeededRNG, temperature: Float = 1,
                  objective: ([[Double]]) throws -> (dLogProb: [[Float]], result: R)) throws -> R? {
        try model.run(seqs, backward: true, dropoutRNG: &rng) { p in
            // One pass through the LM head: the log-probs and ∂log π/∂h per position, then
            // ∂L/∂h = g · J once the objective has given g (no second forward of the head).
            let jacobian = try p.workspace.jacobian.get(p.m * p.dim)
            jacobian.initialize(repeating: 0, count: p.m * p.dim)
            let flat = try Ops.tokenLogProbs(h: p.h, tokens: p.m, dim: p.dim, head: p.head, targets: p.targets,
                                             chunk: p.chunk, temperature: temperature, jacobian: jacobian,
                                             workspace: p.workspace)
            let (g, result) = try objective(Self.split(flat, seqs))
            guard g.map(\.count) == seqs.map(\.ids.count) else {
                throw TrainError("objective returned gradients of the wrong shape")
            }
            guard let dh = p.dh else { throw TrainError("a training pass without a gradient buffer") }
            Ops.addScaledRows(jacobian, g.flatMap { $0 }, dim: p.dim, into: dh)
            return result
        }
    }
}
