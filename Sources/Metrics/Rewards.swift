import Foundation

/// How `answer_match` compares an answer with the row's (`grpo.answer_mode`).
public enum AnswerMatch: String, CaseIterable, Codable, Sendable {
    /// The option letter the answer chooses (`ChoiceAccuracy.choice`) equals the gold letter
    /// (MedQA-style rows: `options` and `answer_idx`).
    case choice
    /// The answer, whitespace-trimmed, equals the gold answer, whitespace-trimmed.
    case exact
    /// Equal after SQuAD's `normalize_answer` (`normalizedAnswer`).
    case normalized
}

/// GRPO's built-in reward functions (`grpo.rewards`); a `reward_command` adds the user's own.
public enum BuiltinReward: String, CaseIterable, Codable, Sendable {
    /// `Rewards.thinkFormat`: TRL's think_format_reward.
    case thinkFormat = "think_format"
    /// `Rewards.answerMatch`: the answer after `</think>` against the row's.
    case answerMatch = "answer_match"
    /// `Rewards.softOverlong`: a penalty for completions beyond a target length.
    case length
}

/// Reward functions of GRPO's built-in rewards: each maps one completion to a number.
public enum Rewards {
    /// TRL's `think_format_reward` (trl/rewards/format_rewards.py, v1.9.0): 1 when
    /// `re.match(r"^<think>(?!.*<think>)(.*?)</think>.*$", s, re.DOTALL | re.MULTILINE)` matches,
    /// else 0. That is: `s` starts with `<think>`, no second `<think>` follows, and a `</think>`
    /// follows (anything, even nothing, after it; more `</think>`s allowed).
    ///
    /// Not `GenerationMetrics.isThinkFormatted`, the eval cell's `think_format`: that one also
    /// wants exactly one `</think>` and at least one character after it; the two differ on
    /// "<think>x</think>" (TRL 1, eval 0) and "<think>a</think>b</think>c" (TRL 1, eval 0).
    public static func thinkFormat(_ s: String) -> Double {
        let open = Array("<think>".utf8), close = Array("</think>".utf8), b = Array(s.utf8)
        guard b.starts(with: open) else { return 0 }
        let rest = b[open.count...]
        // `(?!.*<think>)` at the end of the opening tag: no `<think>` anywhere after it.
        if contains(rest, open) { return 0 }
        return contains(rest, close) ? 1 : 0
    }

    private static func contains(_ h: ArraySlice<UInt8>, _ n: [UInt8]) -> Bool {
        guard h.count >= n.count else { return false }
        var i = h.startIndex
        while i + n.count <= h.endIndex {
            if h[i] == n[0] && h[i..<(i + n.count)].elementsEqual(n) { return true }
            i += 1
        }
        return false
    }

    /// The answer part of a completion: the text after the last `</think>`, or all of it when
    /// there is none (as `ChoiceAccuracy` rule 1).
    public static func answerPart(_ s: String) -> String {
        guard let r = s.range(of: "</think>", options: .backwards) else { return s }
        return String(s[r.upperBound...])
    }

    /// 1 when the completion's answer part matches `gold` under `mode`, else 0. `options`
    /// (letter → text) is needed by `.choice` only.
    public static func answerMatch(_ completion: String, gold: String, mode: AnswerMatch, options: [String: String] = [:]) -> Double {
        switch mode {
        case .choice:
            return ChoiceAccuracy.choice(in: completion, options: options) == gold.trimmingCharacters(in: .whitespacesAndNewlines) ? 1 : 0
        case .exact:
            let ws = CharacterSet.whitespacesAndNewlines
            return answerPart(completion).trimmingCharacters(in: ws) == gold.trimmingCharacters(in: ws) ? 1 : 0
        case .normalized:
            return normalizedAnswer(answerPart(completion)) == normalizedAnswer(gold) ? 1 : 0
        }
    }

    private static let articles = try! NSRegularExpression(pattern: #"\b(a|an|the)\b"#)
    private static let punctuation = Set(##"!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~"##.unicodeScalars)

    /// SQuAD v1.1's `normalize_answer`: lower case, drop ASCII punctuation (`string.punctuation`),
    /// replace the words a, an, the by a space, collapse whitespace to single spaces.
    public static func normalizedAnswer(_ s: String) -> String {
        var t = String(String.UnicodeScalarView(s.lowercased().unicodeScalars.filter { !punctuation.contains($0) }))
        t = articles.stringByReplacingMatches(in: t, range: NSRange(t.startIndex..., in: t), withTemplate: " ")
        return t.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }

    /// DAPO's soft overlong punishment (Yu et al. 2025, eq. 13; TRL's `get_soft_overlong_punishment`
    /// with `max_completion_len = target + cache`, `soft_punish_cache = cache`): 0 up to `target`
    /// tokens, falling linearly to −1 over the next `cache` tokens, −1 beyond.
    public static func softOverlong(length: Int, target: Int, cache: Int) -> Double {
        if length <= target { return 0 }
        if length <= target + cache { return Double(target - length) / Double(cache) }
        return -1
    }
}
