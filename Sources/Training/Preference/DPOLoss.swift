import Foundation

/// DPO's per-pair losses (`dpo.loss_type`).
public enum DPOLossType: String, Codable, CaseIterable, Sendable {
    /// −(1−ε) log σ(βΔ) − ε log σ(−βΔ): the DPO paper's loss, with cDPO label smoothing ε.
    case sigmoid
    /// (Δ̄ − 1/(2β))², Δ̄ from per-token average log-probs (IPO, Azar et al. eq. 17).
    case ipo
    /// max(0, 1 − βΔ) (SLiC's hinge on the log-likelihood ratio).
    case hinge
}

/// DPO's loss on sequence log-probabilities, as TRL's `DPOTrainer.dpo_loss` computes it in
/// **TRL v0.28.0** (the last release whose sigmoid loss uses `label_smoothing`; from v0.29 ε only
/// feeds the robust/exo/aot losses, and v0.28's IPO normalisation below is what later versions
/// also compute).
///
/// With policy log-probs π_w, π_l and reference log-probs ρ_w, ρ_l of the chosen (w) and
/// rejected (l) completions, each the SUM of log π over the completion's tokens:
///     Δ = (π_w − ρ_w) − (π_l − ρ_l)        (ipo: each log-prob divided by its completion's
///                                           token count first, v0.28's `all_logps / loss_mask.sum(-1)`)
///     sigmoid: L = −(1−ε) log σ(βΔ) − ε log σ(−βΔ)     ∂L/∂Δ = β (σ(βΔ) − (1−ε))
///     hinge:   L = max(0, 1 − βΔ)                      ∂L/∂Δ = −β if βΔ < 1, else 0 (relu′(0) = 0, as torch)
///     ipo:     L = (Δ − 1/(2β))²                       ∂L/∂Δ = 2 (Δ − 1/(2β))
/// and ∂L/∂π_w = ∂L/∂Δ · (1 or 1/n_w), ∂L/∂π_l = −∂L/∂Δ · (1 or 1/n_l). The batch loss is the
/// mean over pairs. Rewards (logged, no gradient) are β × the log-ratios the loss sees:
/// chosen β(π_w − ρ_w), rejected β(π_l − ρ_l) (ipo: of the per-token averages, as in v0.28).
public struct DPOLoss: Codable, Equatable, Sendable {
    public var beta: Double
    public var type: DPOLossType
    /// ε of the sigmoid loss (cDPO); must be 0 for ipo and hinge, which ignore it in TRL.
    public var labelSmoothing: Double

    public init(beta: Double = 0.1, type: DPOLossType = .sigmoid, labelSmoothing: Double = 0) {
        self.beta = beta; self.type = type; self.labelSmoothing = labelSmoothing
    }

    public func validate() throws {
        guard beta.isFinite, beta > 0 else { throw TrainError("beta: must be a number > 0, got \(beta)") }
        guard labelSmoothing >= 0, labelSmoothing < 0.5 else {
            throw TrainError("label_smoothing: must be in [0, 0.5), got \(labelSmoothing)")
        }
        if labelSmoothing != 0 && type != .sigmoid {
            throw TrainError("label_smoothing: smooths only the sigmoid loss (TRL ignores it for \(type.rawValue)); leave it 0 or use loss_type = \"sigmoid\"")
        }
    }

    /// One pair's sequence log-probs (sums over completion tokens) and completion token counts.
    public struct PairLogProbs: Equatable, Sendable {
        public var chosen: Double, rejected: Double
        public var refChosen: Double, refRejected: Double
        public var chosenTokens: Int, rejectedTokens: Int
        public init(chosen: Double, rejected: Double, refChosen: Double, refRejected: Double, chosenTokens: Int, rejectedTokens: Int) {
            self.chosen = chosen; self.rejected = rejected; self.refChosen = refChosen; self.refRejected = refRejected
            self.chosenTokens = chosenTokens; self.rejectedTokens = rejectedTokens
        }
    }

    public struct PairResult: Equatable, Sendable {
        public var loss: Double
        /// ∂loss/∂(policy log-prob sum) of each side.
        public var dChosen: Double, dRejected: Double
        public var rewardChosen: Double, rewardRejected: Double
    }

    /// log σ(x) without overflow: min(x, 0) − log1p(e^−|x|).
    static func logSigmoid(_ x: Double) -> Double { Swift.min(x, 0) - Foundation.log1p(Foundation.exp(-Swift.abs(x))) }
    static func sigmoid(_ x: Double) -> Double {
        x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x))
    }

    /// The loss of one pair and its derivatives with respect to the policy's two log-prob sums.
    public func pair(_ p: PairLogProbs) -> PairResult {
        var cw = p.chosen - p.refChosen, cl = p.rejected - p.refRejected
        var sw = 1.0, sl = 1.0   // ∂(log-ratio used)/∂(policy sum)
        if type == .ipo {
            sw = 1 / Double(Swift.max(p.chosenTokens, 1)); sl = 1 / Double(Swift.max(p.rejectedTokens, 1))
            cw *= sw; cl *= sl
        }
        let delta = cw - cl, z = beta * delta
        let loss: Double, dDelta: Double
        switch type {
        case .sigmoid:
            let e = labelSmoothing
            loss = -(1 - e) * Self.logSigmoid(z) - e * Self.logSigmoid(-z)
            dDelta = beta * (Self.sigmoid(z) - (1 - e))
        case .hinge:
            loss = Swift.max(0, 1 - z)
            dDelta = 1 - z > 0 ? -beta : 0
        case .ipo:
            let r = delta - 1 / (2 * beta)
            loss = r * r
            dDelta = 2 * r
        }
        return PairResult(loss: loss, dChosen: dDelta * sw, dRejected: -dDelta * sl,
                          rewardChosen: beta * cw, rewardRejected: beta * cl)
    }
}
