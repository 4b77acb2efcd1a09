import Foundation

/// Accuracy on multiple-choice rows (MedQA-style: options "A"…"E" with texts, a gold `answer_idx`).
///
/// The chosen option of an answer text, first rule that applies:
/// 1. Only the text after the last `</think>` counts (the whole text when there is none).
/// 2. An explicit statement: the last "answer / option / choice [is] [:] [(|**] X" (keywords any case),
///    or "答案[是|为][:：] X", "选[择] X", where X is an uppercase option letter not followed by a letter.
/// 3. A leading letter: the text (after spaces, `*`, `#`) starts with "X." "X)" "X:" "X、" "X．" or "(X)".
/// 4. An option's text: the option whose text (case-insensitive) occurs latest in the answer, by
///    where the occurrence ends; an option whose text is a part of a longer matching option's text at
///    the same place loses to the longer one.
/// Nothing found: no choice (counted as wrong).
public enum ChoiceAccuracy {
    private static let explicit: [NSRegularExpression] = [
        #"(?i:\b(?:answer|option|choice)\b)\s*(?i:is\s*)?[:：]?\s*[*(\[]*\s*([A-Z])(?![A-Za-z])"#,
        #"答案\s*(?:是|为)?\s*[:：]?\s*[*(\[（]*\s*([A-Z])(?![A-Za-z])"#,
        #"选(?:择)?\s*[*(\[（]*\s*([A-Z])(?![A-Za-z])"#,
    ].map { try! NSRegularExpression(pattern: $0) }
    private static let leading = try! NSRegularExpression(pattern: #"^[\s*#]*(?:([A-Z])\s*[.):：、．]|\(([A-Z])\))"#)

    /// The option letter `answer` chooses among `options` (letter → option text), or nil.
    public static func choice(in answer: String, options: [String: String]) -> String? {
        var text = answer
        if let r = text.range(of: "</think>", options: .backwards) { text = String(text[r.upperBound...]) }
        let ns = text as NSString
        let whole = NSRange(location: 0, length: ns.length)

        var best: (location: Int, letter: String)?
        for re in explicit {
            for m in re.matches(in: text, range: whole) {
                let letter = ns.substring(with: m.range(at: 1))
                guard options[letter] != nil else { continue }
                if best == nil || m.range.location > best!.location { best = (m.range.location, letter) }
            }
        }
        if let best { return best.letter }

        if let m = leading.firstMatch(in: text, range: whole) {
            let r = m.range(at: 1).location != NSNotFound ? m.range(at: 1) : m.range(at: 2)
            let letter = ns.substring(with: r)
            if options[letter] != nil { return letter }
        }

        let lower = text.lowercased()
        var latest: (end: String.Index, length: Int, letter: String)?
        for (letter, option) in options.sorted(by: { $0.key < $1.key }) {
            let needle = option.lowercased().trimmingCharacters(in: .whitespacesAndNewlines)
            guard !needle.isEmpty, let r = lower.range(of: needle, options: .backwards) else { continue }
            if latest == nil || r.upperBound > latest!.end || (r.upperBound == latest!.end && needle.count > latest!.length) {
                latest = (r.upperBound, needle.count, letter)
            }
        }
        return latest?.letter
    }

    /// Share (0…1) of rows whose chosen option equals the gold letter; `unanswered` = rows with no choice.
    public static func accuracy(answers: [String], options: [[String: String]], gold: [String]) -> (score: MetricScore, unanswered: Int) {
        precondition(answers.count == options.count && answers.count == gold.count)
        var correct = 0, unanswered = 0
        for i in answers.indices {
            guard let c = choice(in: answers[i], options: options[i]) else { unanswered += 1; continue }
            if c == gold[i] { correct += 1 }
        }
        let value = answers.isEmpty ? .nan : Double(correct) / Double(answers.count)
        return (MetricScore(card: .choiceAccuracy, value: value, rows: answers.count), unanswered)
    }
}

extension MetricCard {
    public static let choiceAccuracy = MetricCard(
        name: "accuracy", tokenisation: "none (option letter extracted from the answer after </think>)", smoothing: "none",
        averaging: "share of rows (0–1) whose extracted option equals the gold letter; no extraction counts as wrong",
        equivalence: "TuneLab ChoiceAccuracy rules 1–4 (explicit \"answer is X\", leading \"X.\", latest option text)")
}
