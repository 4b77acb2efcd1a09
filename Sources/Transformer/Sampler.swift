import Foundation
import Kernels

/// Decoding settings, applied in the order of transformers' `generate`:
/// repetition penalty → temperature → top-k → top-p → draw. Temperature 0 means greedy.
public struct SamplingParams: Sendable, Codable, Equatable {
    public var temperature: Float = 0
    public var topK: Int = 0
    public var topP: Float = 1
    public var repetitionPenalty: Float = 1
    public var seed: UInt64 = 0

    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, repetitionPenalty: Float = 1, seed: UInt64 = 0) {
        self.temperature = temperature; self.topK = topK; self.topP = topP
        self.repetitionPenalty = repetitionPenalty; self.seed = seed
    }

    public var isGreedy: Bool { temperature <= 0 }

    public func validate() throws {
        if temperature < 0 || !temperature.isFinite { throw GenerationError("temperature must be ≥ 0 (got \(temperature))") }
        if topK < 0 { throw GenerationError("top-k must be ≥ 0 (got \(topK))") }
        if !(topP > 0 && topP <= 1) { throw GenerationError("top-p must be in (0, 1] (got \(topP))") }
        if !(repetitionPenalty > 0) || !repetitionPenalty.isFinite { throw GenerationError("repetition penalty must be > 0 (got \(repetitionPenalty))") }
    }
}

public struct Sampler: Sendable {
    public let params: SamplingParams
    public private(set) var rng: SeededRNG

    public init(_ params: SamplingParams) {
        self.params = params
        rng = SeededRNG(seed: params.seed)
    }

    /// Picks the next token from `logits` (modified in place) given the ids seen so far.
    public mutating func next(_ logits: inout [Float], history: [Int]) -> Int {
        let (idx, probs) = candidates(&logits, history: history)
        if params.isGreedy { return idx[0] }
        let r = rng.nextDouble()
        var cum = 0.0
        for (i, p) in probs.enumerated() {
            cum += p
            if r < cum { return idx[i] }
        }
        return idx[idx.count - 1]
    }

    /// The tokens left after repetition penalty (applied to `logits` in place), temperature,
    /// top-k and top-p, most likely first, with their renormalised probabilities.
    /// Greedy decoding leaves exactly the argmax.
    public func candidates(_ logits: inout [Float], history: [Int]) -> (ids: [Int], probs: [Double]) {
        if params.repetitionPenalty != 1 {
            let p = params.repetitionPenalty
            for t in Set(history) where t >= 0 && t < logits.count {
                logits[t] = logits[t] < 0 ? logits[t] * p : logits[t] / p
            }
        }
        if params.isGreedy { return ([Sampler.argmax(logits)], [1]) }
        let invT = 1 / params.temperature
        let l = logits
        // Sorted by logit, highest first; ties keep the lower id first.
        var idx = Array(0..<l.count)
        idx.sort { l[$0] > l[$1] || (l[$0] == l[$1] && $0 < $1) }
        if params.topK > 0 && params.topK < idx.count { idx.removeSubrange(params.topK...) }
        let m = l[idx[0]] * invT
        var probs = idx.map { Double(expf(l[$0] * invT - m)) }
        let z = probs.reduce(0, +)
        for i in probs.indices { probs[i] /= z }
        if params.topP < 1 {
            // Keep the smallest prefix whose probability mass reaches top-p (at least one token).
            var cum = 0.0, keep = probs.count
            for (i, p) in probs.enumerated() {
                cum += p
                if cum >= Double(params.topP) { keep = i + 1; break }
            }
            idx.removeSubrange(keep...); probs.removeSubrange(keep...)
            let z2 = probs.reduce(0, +)
            for i in probs.indices { probs[i] /= z2 }
        }
        return (idx, probs)
    }

    /// Index of the largest logit (the first one on ties, as torch.argmax).
    public static func argmax(_ x: [Float]) -> Int {
        var best = 0
        for i in 1..<x.count where x[i] > x[best] { best = i }
        return best
    }
}

public struct GenerationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}
