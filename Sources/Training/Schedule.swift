import Foundation

/// Learning-rate schedules as transformers' `get_scheduler` (through torch's `LambdaLR`):
/// `lr(at: k)` is the rate optimizer step k (0-based) uses — `base_lr * lr_lambda(k)`, so the
/// first step uses `lr_lambda(0)` (0 during warmup). Double math in transformers' operation
/// order, so values match Python to the last bit.
public struct LRSchedule: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, CaseIterable, Sendable {
        case constant
        case constantWithWarmup = "constant_with_warmup"
        case linear
        case cosine
    }

    /// Warmup as a step count or as a fraction of the total steps (transformers resolves a
    /// fraction r < 1 as `ceil(total * r)`).
    public enum Warmup: Codable, Equatable, Sendable {
        case steps(Int)
        case ratio(Double)
    }

    public let kind: Kind
    public let baseLR: Double
    public let totalSteps: Int
    /// Resolved warmup step count (unused by `constant`, which has no warmup in transformers).
    public let warmupSteps: Int
    /// Cosine half-waves over the decay (transformers' default 0.5: one descent to zero).
    public let numCycles: Double

    public init(kind: Kind, baseLR: Double, totalSteps: Int, warmup: Warmup = .steps(0), numCycles: Double = 0.5) throws {
        guard baseLR.isFinite, baseLR > 0 else { throw OptimizerError("schedule: lr must be a finite number > 0 (got \(baseLR))") }
        guard totalSteps >= 1 else { throw OptimizerError("schedule: total_steps must be >= 1 (got \(totalSteps))") }
        guard numCycles.isFinite, numCycles >= 0 else { throw OptimizerError("schedule: num_cycles must be finite and >= 0 (got \(numCycles))") }
        let w: Int
        switch warmup {
        case .steps(let n):
            guard n >= 0 else { throw OptimizerError("schedule: warmup_steps must be >= 0 (got \(n))") }
            w = n
        case .ratio(let r):
            guard r.isFinite, r >= 0, r <= 1 else { throw OptimizerError("schedule: warmup_ratio must be in [0, 1] (got \(r))") }
            w = Int((Double(totalSteps) * r).rounded(.up))
        }
        guard w <= totalSteps else {
            throw OptimizerError("schedule: warmup_steps (\(w)) must not exceed total_steps (\(totalSteps))")
        }
        self.kind = kind; self.baseLR = baseLR; self.totalSteps = totalSteps; self.warmupSteps = w; self.numCycles = numCycles
    }

    /// By transformers' scheduler name ("constant", "constant_with_warmup", "linear", "cosine").
    public init(name: String, baseLR: Double, totalSteps: Int, warmup: Warmup = .steps(0)) throws {
        guard let k = Kind(rawValue: name) else {
            throw OptimizerError("schedule: unknown scheduler '\(name)' (known: \(Kind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        try self.init(kind: k, baseLR: baseLR, totalSteps: totalSteps, warmup: warmup)
    }

    /// Learning rate for optimizer step `step` (0-based; negative steps count as 0).
    public func lr(at step: Int) -> Double { baseLR * multiplier(at: step) }

    /// transformers' `lr_lambda(step)`.
    public func multiplier(at step: Int) -> Double {
        let s = max(step, 0)
        switch kind {
        case .constant:
            return 1
        case .constantWithWarmup:
            if s < warmupSteps { return Double(s) / Double(max(1, warmupSteps)) }
            return 1
        case .linear:
            if s < warmupSteps { return Double(s) / Double(max(1, warmupSteps)) }
            return max(0, Double(totalSteps - s) / Double(max(1, totalSteps - warmupSteps)))
        case .cosine:
            if s < warmupSteps { return Double(s) / Double(max(1, warmupSteps)) }
            let progress = Double(s - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
            return max(0, 0.5 * (1 + cos(Double.pi * numCycles * 2 * progress)))
        }
    }
}
