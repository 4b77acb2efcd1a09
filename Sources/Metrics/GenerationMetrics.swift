import Foundation

/// Scores of generated outputs that need no reference text.
public enum GenerationMetrics {
    /// Whether `output` is one complete reasoning block followed by an answer. True exactly when
    /// (a) it starts with `<think>` (nothing before it, not even whitespace), (b) `<think>` occurs once,
    /// (c) `</think>` occurs once, (d) at least one character follows `</think>` (any, newline included).
    /// As Python: `re.fullmatch(r"<think>((?!<think>|</think>).)*</think>((?!<think>|</think>).)+", s, re.DOTALL)`
    /// — TRL's `think_format_reward` pattern `^<think>(?!.*<think>)(.*?)</think>.*$` with a non-empty answer
    /// and no second `</think>` (a block cut by truncation has no `</think>` at all and fails (c)).
    public static func isThinkFormatted(_ output: String) -> Bool {
        let open = "<think>", close = "</think>"
        guard output.hasPrefix(open) else { return false }
        let opens = occurrences(of: open, in: output), closes = occurrences(of: close, in: output)
        guard opens.count == 1, closes.count == 1 else { return false }
        return closes[0].upperBound < output.utf8.count
    }

    /// Share (0…1) of outputs for which `isThinkFormatted` holds; NaN for no outputs.
    public static func thinkFormat(_ outputs: [String]) -> MetricScore {
        let share = outputs.isEmpty ? .nan : Double(outputs.filter(isThinkFormatted).count) / Double(outputs.count)
        return MetricScore(card: .thinkFormat, value: share, rows: outputs.count)
    }

    /// Mean length of the outputs in Unicode code points (Python's `len(str)`); NaN for no outputs.
    public static func meanLength(_ outputs: [String]) -> MetricScore {
        MetricScore(card: .meanOutputLength, value: PythonNumerics.mean(outputs.map { Double($0.unicodeScalars.count) }), rows: outputs.count)
    }

    /// Mean of per-output generated token counts (the model's tokens, as recorded with each generation).
    public static func meanTokens(_ counts: [Int], tokenizer: String) -> MetricScore {
        var card = MetricCard.meanOutputLength
        card.name = "mean_output_tokens"
        card.tokenisation = "generated tokens of \(tokenizer)"
        return MetricScore(card: card, value: PythonNumerics.mean(counts.map(Double.init)), rows: counts.count)
    }

    /// UTF-8 byte ranges of the non-overlapping occurrences of `needle`.
    static func occurrences(of needle: String, in s: String) -> [Range<Int>] {
        let h = Array(s.utf8), n = Array(needle.utf8)
        var out: [Range<Int>] = []
        var i = 0
        while i + n.count <= h.count {
            if h[i] == n[0] && h[i..<(i + n.count)].elementsEqual(n) { out.append(i..<(i + n.count)); i += n.count } else { i += 1 }
        }
        return out
    }
}

extension MetricCard {
    public static let thinkFormat = MetricCard(
        name: "think_format", tokenisation: "none (whole output)", smoothing: "none",
        averaging: "share of outputs (0–1) that start with <think>, hold exactly one <think> and one </think>, and have ≥ 1 character after it",
        equivalence: "re.fullmatch(r\"<think>((?!<think>|</think>).)*</think>((?!<think>|</think>).)+\", s, re.DOTALL); TRL think_format_reward with a non-empty answer")
    public static let meanOutputLength = MetricCard(
        name: "mean_output_length", tokenisation: "Unicode code points", smoothing: "none",
        averaging: "mean over outputs (np.mean of len(output))", equivalence: "Python len(str)")
}
