import Foundation

/// Where and why a run stopped on a non-finite value (`TrainOutcome.diverged`): enough to find
/// the data that did it, and which checkpoint to go back to.
public struct Divergence: Codable, Sendable, Equatable, CustomStringConvertible {
    /// The optimiser step that was not applied (1-based, as `StepMetrics.step`).
    public var step: Int
    /// Positions in the training set of the step's sequences, micro-batch after micro-batch
    /// (`batchSize` each).
    public var rows: [Int]
    /// What went non-finite first: "loss", else the PEFT name of the first LoRA gradient tensor
    /// (in adapter order) holding a non-finite value, else "grad_norm" (every gradient finite,
    /// their norm overflowed float32).
    public var tensor: String
    /// The first non-finite value found in `tensor`.
    public var value: Double
    /// The step's mean loss and gradient norm (before clipping), finite or not.
    public var loss: Double
    public var gradNorm: Double
    /// The newest checkpoint of this run whose adapter and optimiser moments were read back and
    /// are all finite; nil when there is none.
    public var checkpoint: String?
    /// Newer checkpoints that were not kept as good (non-finite values, or unreadable), with why.
    public var rejectedCheckpoints: [String]

    public init(step: Int, rows: [Int], tensor: String, value: Double, loss: Double, gradNorm: Double,
                checkpoint: String? = nil, rejectedCheckpoints: [String] = []) {
        self.step = step; self.rows = rows; self.tensor = tensor; self.value = value
        self.loss = loss; self.gradNorm = gradNorm
        self.checkpoint = checkpoint; self.rejectedCheckpoints = rejectedCheckpoints
    }

    public var description: String {
        var s = "step \(step): \(tensor == "loss" ? "the loss" : tensor) is \(value) (loss \(loss), grad norm \(gradNorm))"
            + " — training stopped before applying this update; the step's training rows: "
            + rows.map(String.init).joined(separator: ", ")
        for r in rejectedCheckpoints { s += "; not kept: \(r)" }
        s += checkpoint.map { "; last good checkpoint: \($0)" } ?? "; no good checkpoint to resume from"
        return s + " (try a lower lr)"
    }

    /// As recorded in the cell's details (`diverged`): sorted-key JSON.
    public var json: String {
        let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys]
        return (try? enc.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? description
    }

    // Non-finite numbers as the strings "nan", "inf", "-inf": JSON has no literal for them.
    private enum CodingKeys: String, CodingKey {
        case step, rows, tensor, value, loss, gradNorm = "grad_norm", checkpoint, rejectedCheckpoints = "rejected_checkpoints"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(step, forKey: .step)
        try c.encode(rows, forKey: .rows)
        try c.encode(tensor, forKey: .tensor)
        func number(_ x: Double, _ key: CodingKeys) throws {
            if x.isFinite { try c.encode(x, forKey: key) } else { try c.encode(x.isNaN ? "nan" : x > 0 ? "inf" : "-inf", forKey: key) }
        }
        try number(value, .value)
        try number(loss, .loss)
        try number(gradNorm, .gradNorm)
        try c.encodeIfPresent(checkpoint, forKey: .checkpoint)
        try c.encode(rejectedCheckpoints, forKey: .rejectedCheckpoints)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func number(_ key: CodingKeys) throws -> Double {
            if let x = try? c.decode(Double.self, forKey: key) { return x }
            switch try c.decode(String.self, forKey: key) {
            case "nan": return .nan
            case "inf": return .infinity
            case "-inf": return -.infinity
            case let s: throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "not a number: \(s)")
            }
        }
        self.init(step: try c.decode(Int.self, forKey: .step), rows: try c.decode([Int].self, forKey: .rows),
                  tensor: try c.decode(String.self, forKey: .tensor), value: try number(.value), loss: try number(.loss),
                  gradNorm: try number(.gradNorm), checkpoint: try c.decodeIfPresent(String.self, forKey: .checkpoint),
                  rejectedCheckpoints: try c.decode([String].self, forKey: .rejectedCheckpoints))
    }

    /// Equal when every field is, a NaN matching a NaN (the same divergence reported twice).
    public static func == (a: Divergence, b: Divergence) -> Bool {
        func same(_ x: Double, _ y: Double) -> Bool { x == y || (x.isNaN && y.isNaN) }
        return a.step == b.step && a.rows == b.rows && a.tensor == b.tensor && same(a.value, b.value)
            && same(a.loss, b.loss) && same(a.gradNorm, b.gradNorm) && a.checkpoint == b.checkpoint
            && a.rejectedCheckpoints == b.rejectedCheckpoints
    }
}

extension Trainer {
    /// The divergence of step `step` (loss and gradients as the backward left them, unclipped).
    func nonFinite(step: Int, rows: [Int], loss: Double, gradNorm: Float) -> Divergence {
        var tensor = "grad_norm", value = Double(gradNorm)
        if !loss.isFinite {
            tensor = "loss"; value = loss
        } else if let (i, x) = firstNonFinite(model.grads) {
            let key = model.keys[i / 2]
            tensor = LoRAAdapter.peftTensorName(layer: key.layer, target: key.target, factor: i % 2 == 0 ? "A" : "B")
            value = Double(x)
        }
        return Divergence(step: step, rows: rows, tensor: tensor, value: value, loss: loss, gradNorm: Double(gradNorm))
    }

    /// The newest checkpoint of this run that reads back finite, and the newer ones that do not.
    func lastGoodCheckpoint() -> (String?, [String]) {
        var rejected: [String] = []
        for path in checkpoints.reversed() {
            guard let problem = checkpointProblem(path) else { return (path, rejected) }
            rejected.append("\(path): \(problem)")
        }
        return (nil, rejected)
    }

    /// nil when the checkpoint at `path` loads (trainer state, adapter, optimiser moments) and
    /// every adapter value and moment is finite; otherwise what is wrong.
    func checkpointProblem(_ path: String) -> String? {
        guard let state = FileManager.default.contents(atPath: path + "/" + CheckpointFiles.state),
              (try? JSONDecoder().decode(TrainerState.self, from: state)) != nil else {
            return "no readable \(CheckpointFiles.state)"
        }
        let adapter: LoRAAdapter
        do { adapter = try LoRAAdapter.load(directory: path, model: model.config) } catch { return "\(error)" }
        for (layer, target) in adapter.keys {
            let w = adapter.layers[layer][target]!
            for (factor, values) in [("A", w.a), ("B", w.b)] where firstNonFinite([values]) != nil {
                return "\(LoRAAdapter.peftTensorName(layer: layer, target: target, factor: factor)) holds non-finite values"
            }
        }
        guard let data = FileManager.default.contents(atPath: path + "/" + CheckpointFiles.optimizer),
              let opt = try? AdamWState(serialized: data) else {
            return "no readable \(CheckpointFiles.optimizer)"
        }
        for (i, t) in opt.tensors.enumerated() where firstNonFinite([t.m, t.v]) != nil {
            return "\(CheckpointFiles.optimizer): the moments of tensor \(i) hold non-finite values"
        }
        return nil
    }
}

/// The index of the first tensor holding a non-finite value, and that value.
func firstNonFinite(_ tensors: [[Float]]) -> (Int, Float)? {
    for (i, t) in tensors.enumerated() {
        if let x = t.first(where: { !$0.isFinite }) { return (i, x) }
    }
    return nil
}
