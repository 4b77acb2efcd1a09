import Foundation
import Tokenization

public struct GenerationResult: Sendable {
    public enum Stop: String, Sendable, Codable { case endOfTurn = "eos", stopString = "stop_string", maxTokens = "max_tokens" }
    public var ids: [Int]
    public var text: String
    public var stop: Stop
    /// The end-of-turn token that stopped generation (`stop == .endOfTurn`; not in `ids`, as
    /// it is not part of the answer, but trained on by GRPO as transformers' `generate` keeps it).
    public var endToken: Int? = nil
    public var promptTokens: Int
    public var promptSeconds: Double
    public var decodeSeconds: Double
    public var promptTokensPerSecond: Double { promptSeconds > 0 ? Double(promptTokens) / promptSeconds : 0 }
    /// New tokens after the first, over the time spent decoding them.
    public var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(max(0, ids.count - 1)) / decodeSeconds : 0 }
}

/// One sequence's decoding: sampling, end-of-turn and stop strings, streamed text. The same
/// state machine drives `generate` (one sequence) and `generateBatch` (several decoded
/// together), so both stop and stream alike.
struct Decoding {
    let maxNewTokens: Int
    let stopStrings: [String]
    let stopIds: Set<Int>
    var sampler: Sampler
    let stream: StreamDecoder
    let onText: ((String) -> Bool)?
    var history: [Int]
    var out: [Int] = []
    var text = ""
    var stop = GenerationResult.Stop.maxTokens
    var endToken: Int?
    /// Text already handed to `onText`. With stop strings, a tail that could start one is
    /// held back until it is known not to, so nothing after a stop string is ever streamed.
    var emitted = 0
    private(set) var finished = false

    init(promptIds: [Int], maxNewTokens: Int, sampling: SamplingParams, stopStrings: [String], stopIds: Set<Int>,
         tokenizer: Tokenizer, onText: ((String) -> Bool)?) {
        self.maxNewTokens = maxNewTokens; self.stopStrings = stopStrings; self.stopIds = stopIds
        sampler = Sampler(sampling)
        stream = tokenizer.makeStreamDecoder(skipSpecialTokens: true)
        self.onText = onText
        history = promptIds
        if maxNewTokens == 0 { finish() }
    }

    /// Picks the next token from `logits` (the last position's); returns it when the model
    /// must run on it to go on, nil when the sequence has ended.
    mutating func step(_ logits: inout [Float]) -> Int? {
        guard !finished else { return nil }
        let next = sampler.next(&logits, history: history)
        if stopIds.contains(next) { stop = .endOfTurn; endToken = next; finish(); return nil }
        out.append(next); history.append(next)
        text += stream.push(next)
        if !stopStrings.isEmpty {
            if let cut = Decoding.firstStop(in: text, stopStrings) {
                text = String(text.prefix(cut))
                stop = .stopString
                finish(); return nil
            }
            if !emit(upTo: text.count - Decoding.heldBack(text, stopStrings)) { finish(); return nil }
        } else if !emit(upTo: text.count) { finish(); return nil }
        if out.count == maxNewTokens { finish(); return nil }
        return next
    }

    private mutating func finish() {
        finished = true
        if stop != .stopString { text += stream.flush() }
        _ = emit(upTo: text.count)
    }

    private mutating func emit(upTo end: Int) -> Bool {
        guard end > emitted, let onText else { emitted = max(emitted, end); return true }
        let piece = String(text.dropFirst(emitted).prefix(end - emitted))
        emitted = end
        return onText(piece)
    }

    func result(promptTokens: Int, promptSeconds: Double, decodeSeconds: Double) -> GenerationResult {
        GenerationResult(ids: out, text: text, stop: stop, endToken: endToken, promptTokens: promptTokens,
                         promptSeconds: promptSeconds, decodeSeconds: decodeSeconds)
    }

    /// Character offset of the earliest stop string in `text`.
    static func firstStop(in text: String, _ stops: [String]) -> Int? {
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
    static func heldBack(_ text: String, _ stops: [String]) -> Int {
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
        var seq = Decoding(promptIds: promptIds, maxNewTokens: maxNewTokens, sampling: sampling, stopStrings: stopStrings,
                           stopIds: stopOnEndOfTurn ? tokenizer.endOfTurnTokenIds : [], tokenizer: tokenizer, onText: onText)
        let t0 = Date()
        var logits = maxNewTokens > 0 ? try forward(promptIds, cache: cache) : []
        let t1 = Date()
        while let next = seq.step(&logits) { logits = try forward([next], cache: cache) }
        return seq.result(promptTokens: promptIds.count, promptSeconds: t1.timeIntervalSince(t0),
                          decodeSeconds: Date().timeIntervalSince(t1))
    }

    /// Generates for several prompts at once: each distinct prompt is prefilled alone (a repeated
    /// one copies the first one's cache), then every step
    /// runs the sequences still going as one batch (`Forward.callAsFunction(batch:)`: one
    /// product per projection for all of them, attention per sequence against its own KV
    /// cache); each sequence stops on its own. Sequence i samples with `sampling` and seed
    /// `seeds[i]` (default: `sampling.seed` for all).
    ///
    /// Results equal `generate` run on each prompt alone with the same settings and seed:
    /// prefill is the same call, and a decode step's logits for a sequence are bit-identical
    /// to its one-at-a-time step (see `Forward.callAsFunction(batch:)`), so greedy and seeded
    /// sampling pick the same tokens. `promptSeconds` is each prompt's own prefill;
    /// `decodeSeconds` is the batch's decoding time, shared by all.
    public func generateBatch(prompts: [[Int]], maxNewTokens: Int, sampling: SamplingParams = SamplingParams(),
                              seeds: [UInt64]? = nil, stopStrings: [String] = [],
                              stopOnEndOfTurn: Bool = true) throws -> [GenerationResult] {
        try sampling.validate()
        guard maxNewTokens >= 0 else { throw GenerationError("max new tokens must be ≥ 0 (got \(maxNewTokens))") }
        if let i = prompts.firstIndex(where: \.isEmpty) { throw GenerationError("prompt \(i) is empty: nothing to condition on") }
        if let seeds, seeds.count != prompts.count {
            throw GenerationError("\(seeds.count) seeds for \(prompts.count) prompts (one per prompt, or none)")
        }
        let stopIds = stopOnEndOfTurn ? tokenizer.endOfTurnTokenIds : []
        var seqs = prompts.indices.map { i in
            var p = sampling
            if let seeds { p.seed = seeds[i] }
            return Decoding(promptIds: prompts[i], maxNewTokens: maxNewTokens, sampling: p, stopStrings: stopStrings,
                            stopIds: stopIds, tokenizer: tokenizer, onText: nil)
        }
        let caches = prompts.map { _ in forward.makeCache() }
        var promptSeconds = [Double](repeating: 0, count: prompts.count)
        var next: [Int?] = []
        // A prompt seen before (GRPO's group of completions of one prompt) is prefilled once: its
        // cache and logits are copies of the first one's, which is what prefilling again computes.
        var prefilled: [[Int]: (index: Int, logits: [Float])] = [:]
        for i in prompts.indices {
            let t0 = Date()
            var logits: [Float]
            if let first = prefilled[prompts[i]] {
                try caches[i].copy(from: caches[first.index])
                logits = first.logits
            } else {
                logits = maxNewTokens > 0 ? try forward(prompts[i], cache: caches[i]) : []
                prefilled[prompts[i]] = (i, logits)
            }
            promptSeconds[i] = Date().timeIntervalSince(t0)
            next.append(seqs[i].step(&logits))
        }
        let t1 = Date()
        let v = config.vocabSize
        // Buffers reused every step (no per-step allocation): the batch's logits, and each
        // sequence's row handed to its sampler (which modifies it in place).
        var logits: [Float] = [], row = [Float](repeating: 0, count: v)
        while true {
            let active = prompts.indices.filter { next[$0] != nil }
            if active.isEmpty { break }
            try forward(batch: active.map { ([next[$0]!], caches[$0]) }, into: &logits)
            for (j, i) in active.enumerated() {
                logits.withUnsafeBufferPointer { l in
                    row.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: l.baseAddress! + j * v, count: v) }
                }
                next[i] = seqs[i].step(&row)
            }
        }
        let decode = Date().timeIntervalSince(t1)
        return prompts.indices.map {
            seqs[$0].result(promptTokens: prompts[$0].count, promptSeconds: promptSeconds[$0], decodeSeconds: decode)
        }
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
