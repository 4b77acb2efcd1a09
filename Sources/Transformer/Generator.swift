import Foundation
import Tokenization

public struct GenerationResult: Sendable {
    public enum Stop: String, Sendable, Codable { case endOfTurn = "eos", stopString = "stop_string", maxTokens = "max_tokens" }
    public var ids: [Int]
    public var text: String
    public var stop: Stop
    public var promptTokens: Int
    public var promptSeconds: Double
    public var decodeSeconds: Double
    public var promptTokensPerSecond: Double { promptSeconds > 0 ? Double(promptTokens) / promptSeconds : 0 }
    /// New tokens after the first, over the time spent decoding them.
    public var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(max(0, ids.count - 1)) / decodeSeconds : 0 }
}

extension LanguageModel {
    /// Generates up to `maxNewTokens` after `promptIds`, stopping on an end-of-turn token
    /// (EOS, <|im_end|>, <|eot_id|>, …) or a stop string. `onText` receives the text as it
    /// becomes valid UTF-8 (return false to stop).
    public func generate(promptIds: [Int], maxNewTokens: Int, sampling: SamplingParams = SamplingParams(),
                         stopStrings: [String] = [], stopOnEndOfTurn: Bool = true,
                         onText: ((String) -> Bool)? = nil) throws -> GenerationResult {
        try sampling.validate()
        guard !promptIds.isEmpty else { throw GenerationError("empty prompt: nothing to condition on") }
        guard maxNewTokens >= 0 else { throw GenerationError("max new tokens must be ≥ 0 (got \(maxNewTokens))") }
        let cache = forward.makeCache()
        var sampler = Sampler(sampling)
        let stopIds = stopOnEndOfTurn ? tokenizer.endOfTurnTokenIds : []
        let stream = tokenizer.makeStreamDecoder(skipSpecialTokens: true)
        var history = promptIds
        var out: [Int] = []
        var text = ""
        var stop = GenerationResult.Stop.maxTokens

        let t0 = Date()
        var logits = maxNewTokens > 0 ? try forward(promptIds, cache: cache) : []
        let t1 = Date()
        // Text already handed to `onText`. With stop strings, a tail that could start one is
        // held back until it is known not to, so nothing after a stop string is ever streamed.
        var emitted = 0
        func emit(upTo end: Int) -> Bool {
            guard end > emitted, let onText else { emitted = max(emitted, end); return true }
            let piece = String(text.dropFirst(emitted).prefix(end - emitted))
            emitted = end
            return onText(piece)
        }
        while out.count < maxNewTokens {
            let next = sampler.next(&logits, history: history)
            if stopIds.contains(next) { stop = .endOfTurn; break }
            out.append(next); history.append(next)
            text += stream.push(next)
            if !stopStrings.isEmpty {
                if let cut = firstStop(in: text, stopStrings) {
                    text = String(text.prefix(cut))
                    stop = .stopString
                    break
                }
                if !emit(upTo: text.count - heldBack(text, stopStrings)) { break }
            } else if !emit(upTo: text.count) { break }
            if out.count == maxNewTokens { break }
            logits = try forward([next], cache: cache)
        }
        if stop != .stopString { text += stream.flush() }
        _ = emit(upTo: text.count)
        let t2 = Date()
        return GenerationResult(ids: out, text: text, stop: stop, promptTokens: promptIds.count,
                                promptSeconds: t1.timeIntervalSince(t0), decodeSeconds: t2.timeIntervalSince(t1))
    }

    /// Character offset of the earliest stop string in `text`.
    private func firstStop(in text: String, _ stops: [String]) -> Int? {
        var best: Int? = nil
        for s in stops where !s.isEmpty {
            if let r = text.range(of: s) {
                let off = text.distance(from: text.startIndex, to: r.lowerBound)
                best = min(best ?? off, off)
            }
        }
        return best
    }

    /// Length of the longest tail of `text` that is a proper prefix of a stop string.
    private func heldBack(_ text: String, _ stops: [String]) -> Int {
        var held = 0
        for s in stops {
            var k = min(s.count - 1, text.count)
            while k > held {
                if text.hasSuffix(String(s.prefix(k))) { held = k; break }
                k -= 1
            }
        }
        return held
    }

    /// Mean negative log-likelihood per predicted token of `ids` (positions 1…n-1 predicted
    /// from their prefixes), as transformers' `labels=ids` loss.
    public func score(ids: [Int]) throws -> (nll: Double, perTokenNLL: [Double]) {
        guard ids.count >= 2 else { throw GenerationError("need at least 2 tokens to score (got \(ids.count))") }
        let v = config.vocabSize
        let cache = forward.makeCache()
        let logits = try forward(Array(ids.dropLast()), cache: cache, logits: .all)
        var per: [Double] = []
        per.reserveCapacity(ids.count - 1)
        logits.withUnsafeBufferPointer { lp in
            for i in 0..<(ids.count - 1) {
                let row = lp.baseAddress! + i * v
                var m = -Float.infinity
                for j in 0..<v where row[j] > m { m = row[j] }
                var s = 0.0
                for j in 0..<v { s += Double(expf(row[j] - m)) }
                per.append(Double(m) + log(s) - Double(row[ids[i + 1]]))
            }
        }
        return (per.reduce(0, +) / Double(per.count), per)
    }
}
