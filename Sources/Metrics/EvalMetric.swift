/// What an `eval` cell can report (its `metrics` key's choices).
public enum EvalMetric: String, CaseIterable, Codable, Sendable {
    /// Mean loss per trained token (teacher-forced; base and adapter).
    case loss
    /// LLaMA-Factory's BLEU-4 and ROUGE-1/2/L of generated answers against the rows' responses.
    case bleu4, rouge1, rouge2, rougeL
    /// Share of answers that are one complete `<think>…</think>` block and an answer.
    case thinkFormat = "think_format"
    /// Share of answers that ended on an end-of-turn token (not the token limit).
    case stopsOnEOS = "stops_on_eos"
    /// Mean generated tokens per answer.
    case meanLength = "mean_length"
    /// MedQA-style choice accuracy against the row's `answer_idx` and `options`.
    case accuracy

    /// Whether answers must be generated to compute it.
    public var needsGeneration: Bool { self != .loss }
}
