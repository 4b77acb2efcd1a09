import Foundation
import ChatTemplate
import Dataset
import Training
import Transformer

/// The data settings of a `dpo` cell (built by `DPOCell` from the schema's values).
public struct PreferenceDataConfig: Sendable {
    /// Local path or `hf:org/name/file`.
    public var data: String
    public var layout: PreferenceLayout
    public var split: String
    /// true: the model's own chat template formats the prompt; false: `template`'s prompt part.
    public var chatTemplate: Bool
    public var template: String
    public var maxLength: Int
    /// nil: prompts are not truncated.
    public var maxPromptLength: Int?
    public var valFraction: Double
    public var seed: UInt64
}

/// Tokenised preference pairs, split, and what was done to them.
public struct PreparedPreferences: Sendable {
    public var train: [PreferenceSequences]
    public var validation: [PreferenceSequences]
    public var stats: PreferenceStats
    public var maxLength: Int

    public var summary: String {
        var s = "\(stats.pairs) pairs → \(train.count) training / \(validation.count) validation, \(stats.tokens) tokens (\(stats.completionTokens) scored), max \(stats.maxLength); truncated at \(maxLength): \(stats.promptTruncated) prompts, \(stats.chosenTruncated) chosen, \(stats.rejectedTruncated) rejected"
        if stats.identical > 0 { s += "; \(stats.identical) with chosen == rejected" }
        return s
    }

    /// What the record keeps of the preparation (cell details).
    public var details: [String: String] {
        ["pairs": "\(stats.pairs)", "train_pairs": "\(train.count)", "validation_pairs": "\(validation.count)",
         "truncated_prompts": "\(stats.promptTruncated)", "truncated_chosen": "\(stats.chosenTruncated)",
         "truncated_rejected": "\(stats.rejectedTruncated)", "identical_pairs": "\(stats.identical)"]
    }
}

/// load → format each prompt (chat template or prompt template) → tokenise both sides (EOS
/// appended, truncation counted per side) → split. Pairs whose sides are equal are kept, counted
/// and warned about.
public func preparePreferences(_ c: PreferenceDataConfig, model lm: LanguageModel, dataPath: String) throws -> PreparedPreferences {
    let dataset = try Dataset.loadPreferences(path: dataPath, layout: c.layout, slice: c.split.isEmpty ? nil : c.split)
    let format: PreferenceTokenizer.PromptFormat
    if c.chatTemplate {
        guard lm.chatTemplate != nil else {
            throw SessionError("\(lm.path): the model has no chat template; set chat_template = false and give a prompt template")
        }
        format = { row in
            var msgs: [ChatMessage] = []
            if let s = row[PreferenceColumn.system] { msgs.append(ChatMessage(role: "system", content: s)) }
            msgs.append(ChatMessage(role: "user", content: row[PreferenceColumn.prompt] ?? ""))
            return (try lm.renderChat(msgs, addGenerationPrompt: true), false)   // the template holds any BOS
        }
    } else {
        let t = try PromptTemplate.load(path: c.template)
        format = { row in (try t.inferencePrompt(row), true) }
    }
    let tok = try PreferenceTokenizer(tokenizer: lm.tokenizer, maxLength: c.maxLength, maxPromptLength: c.maxPromptLength,
                                      format: format)
    var trainRows = dataset, valRows = Dataset(rows: [], source: dataset.source)
    if c.valFraction > 0 { (trainRows, valRows) = try dataset.split(validation: .fraction(c.valFraction), seed: c.seed) }
    let (train, st) = try tok.pairs(trainRows)
    var stats = st
    var validation: [PreferencePair] = []
    if !valRows.rows.isEmpty {
        let (v, vs) = try tok.pairs(valRows)
        validation = v
        stats.add(vs)
    }
    if stats.identical > 0 {
        let rows = stats.identicalRows.sorted().prefix(10).map(String.init).joined(separator: ", ")
        warn("\(dataset.source): \(stats.identical) pair(s) with chosen == rejected (rows \(rows)\(stats.identical > 10 ? ", …" : "")): kept, but they carry no preference")
    }
    return PreparedPreferences(train: train.map(PreferenceSequences.init), validation: validation.map(PreferenceSequences.init),
                               stats: stats, maxLength: c.maxLength)
}
