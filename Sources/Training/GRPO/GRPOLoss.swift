import Foundation

/// How GRPO's per-token losses become one number (`grpo.loss_type`), as TRL's `GRPOTrainer`
/// normalises them (v1.9.0, `_compute_loss`).
public enum GRPOLossType: String, Codable, CaseIterable, Sendable {
    /// Each completion's mean over its tokens, then the mean over completions (DeepSeekMath's
    /// GRPO; long completions weigh less per token).
    case grpo
    /// Σ over tokens / (completions × max_completion_length) (Dr. GRPO, Liu et al. 2025: no
    /// length bias).
    case drGRPO = "dr_grpo"
    /// Σ over tokens / the completion tokens of the whole step (DAPO, Yu et al. 2025; TRL's
    /// default since v0.22).
    case dapo
}

/// GRPO's clipped surrogate with an optional KL penalty, per token, as TRL v1.9.0's
/// `GRPOTrainer._compute_loss` (token-level importance sampling, `delta` unset):
///     ρ = exp(log π − log π_old)
///     ℓ = −min(ρ A, clip(ρ, 1 − ε, 1 + ε_high) A) + β · (e^{ref − log π} − (ref − log π) − 1)
/// with A the completion's advantage. ∂ℓ/∂log π follows torch's autograd: `torch.min` splits a
/// tie between its arguments, `clamp` passes the gradient inside [1 − ε, 1 + ε_high] (bounds
/// included) and none outside, so ∂ℓ/∂log π = −A ρ on the unclipped branch and 0 on a clipped
/// one, plus β (1 − e^{ref − log π}). When π_old is the policy itself (one update per
/// generation) ρ = 1, the two branches tie, and the gradient is −A: the policy gradient.
public struct GRPOLoss: Codable, Equatable, Sendable {
    public var type: GRPOLossType
    /// ε: the ratio's lower clip 1 − ε.
    public var epsilon: Double
    /// The ratio's upper clip 1 + ε_high (TRL: `epsilon_high`, defaulting to ε; DAPO uses 0.28).
    public var epsilonHigh: Double
    /// Weight of the KL penalty to the reference (TRL's default 0 since v0.19: no reference forward).
    public var beta: Double

    /// `epsilonHigh` nil: ε (TRL's `epsilon_high = None`). No defaults: they live in the notebook schema.
    public init(type: GRPOLossType, epsilon: Double, epsilonHigh: Double?, beta: Double) {
        self.type = type; self.epsilon = epsilon; self.epsilonHigh = epsilonHigh ?? epsilon; self.beta = beta
    }

    public func validate() throws {
        guard epsilon.isFinite, epsilon > 0, epsilon < 1 else { throw TrainError("epsilon: must be in (0, 1), got \(epsilon)") }
        guard epsilonHigh.isFinite, epsilonHigh > 0 else { throw TrainError("epsilon_high: must be > 0, got \(epsilonHigh)") }
        guard beta.isFinite, beta >= 0 else { throw TrainError("beta: must be >= 0, got \(beta)") }
    }

    /// One completion token's loss, its derivative with respect to log π, and what TRL logs of it.
    public struct Token: Equatable, Sendable {
        public var loss: Double
        public var dLogProb: Double
        /// The KL term e^{ref − log π} − (ref − log π) − 1 (0 without a reference).
        public var kl: Double
        /// ρ < 1 − ε with A < 0, ρ > 1 + ε_high with A > 0 (TRL's clip_ratio/low and /high).
        public var lowClipped: Bool
        public var highClipped: Bool
    }

    /// `ref` is the reference's log-prob of the token (needed when β > 0).
    public func token(logProb lp: Double, old: Double, ref: Double?, advantage a: Double) -> Token {
        let lo = 1 - epsilon, hi = 1 + epsilonHigh
        let ratio = Foundation.exp(lp - old)
        let clipped = Swift.min(Swift.max(ratio, lo), hi)
        let l1 = ratio * a, l2 = clipped * a
        let inRange = ratio >= lo && ratio <= hi
        // ∂(ρA)/∂log π = Aρ; ∂(clip(ρ)A)/∂log π = Aρ inside the bounds, 0 outside.
        let g1 = a * ratio, g2 = inRange ? a * ratio : 0
        let dMin = l1 < l2 ? g1 : l2 < l1 ? g2 : 0.5 * g1 + 0.5 * g2
        var t = Token(loss: -Swift.min(l1, l2), dLogProb: -dMin, kl: 0,
                      lowClipped: ratio < lo && a < 0, highClipped: ratio > hi && a > 0)
        if beta != 0, let ref {
            let e = Foundation.exp(ref - lp)
            t.kl = e - (ref - lp) - 1
            t.loss += beta * t.kl
            t.dLogProb += beta * (1 - e)
        }
        return t
    }

    /// The weight of each token of a completion in the step's loss (the loss is Σ weight · ℓ,
    /// accumulated micro-batch by micro-batch as TRL's `loss / gradient_accumulation_steps`):
    ///     grpo:    1 / (completions in the micro-batch × the completion's tokens × micro-batches)
    ///     dr_grpo: 1 / (completions in the micro-batch × max_completion_length × micro-batches)
    ///     dapo:    1 / (completion tokens of the whole step)   (TRL's `num_items_in_batch`)
    public func tokenWeight(completionTokens n: Int, microBatchSize b: Int, microBatches g: Int,
                            maxCompletionLength: Int, stepTokens: Int) -> Double {
        switch type {
        case .grpo: return 1 / (Double(b) * Double(Swift.max(n, 1)) * Double(g))
        case .drGRPO: return 1 / (Double(b) * Double(maxCompletionLength) * Double(g))
        case .dapo: return 1 / Double(Swift.max(stepTokens, 1))
        }
    }
}

/// Group-normalised advantages, as TRL v1.9.0's `_generate_and_score_completions` with
/// `scale_rewards = "group"` and `multi_objective_aggregation = "sum_then_normalize"`: each
/// completion's reward is the weighted sum of its reward functions' values; within each group
/// of `groupSize` consecutive completions (one prompt's), A = (r − mean) / (std + 1e-4) with
/// the unbiased std (Bessel's n − 1, TRL's `nanstd`). A group whose std is 0 (within torch's
/// `isclose` default, |std| ≤ 1e-8) has all advantages 0: it teaches nothing — the honest
/// answer to "the GRPO loss is 0".
public enum GroupAdvantages {
    public struct Result: Equatable, Sendable {
        public var rewards: [Double]
        public var advantages: [Double]
        /// Per completion: its group's std is 0.
        public var zeroStd: [Bool]
        /// The share of completions (= of groups) whose group has std 0 (`frac_reward_zero_std`).
        public var fractionZeroStd: Double { zeroStd.isEmpty ? 0 : Double(zeroStd.filter { $0 }.count) / Double(zeroStd.count) }
    }

    /// `values[i][k]`: completion i's value of reward function k.
    public static func compute(values: [[Double]], weights: [Double], groupSize n: Int) throws -> Result {
        guard n >= 2 else { throw TrainError("num_generations: must be >= 2 (a group of one has no std), got \(n)") }
        guard values.count % n == 0 else { throw TrainError("\(values.count) completions are not whole groups of \(n)") }
        var rewards: [Double] = []
        for (i, v) in values.enumerated() {
            guard v.count == weights.count else { throw TrainError("completion \(i) has \(v.count) reward values for \(weights.count) functions") }
            rewards.append(zip(v, weights).reduce(0) { $0 + $1.0 * $1.1 })
        }
        var adv = [Double](repeating: 0, count: rewards.count), zero = [Bool](repeating: false, count: rewards.count)
        for g in stride(from: 0, to: rewards.count, by: n) {
            let r = rewards[g..<(g + n)]
            let mean = r.reduce(0, +) / Double(n)
            let std = (r.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n - 1)).squareRoot()
            for i in g..<(g + n) {
                adv[i] = (rewards[i] - mean) / (std + 1e-4)
                zero[i] = std <= 1e-8
            }
        }
        return Result(rewards: rewards, advantages: adv, zeroStd: zero)
    }

    /// Mean and unbiased std of `x` (TRL's `nanmean` / `nanstd` over the batch; std NaN for one value).
    public static func meanStd(_ x: [Double]) -> (mean: Double, std: Double) {
        guard !x.isEmpty else { return (.nan, .nan) }
        let m = x.reduce(0, +) / Double(x.count)
        guard x.count > 1 else { return (m, .nan) }
        return (m, (x.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(x.count - 1)).squareRoot())
    }
}
