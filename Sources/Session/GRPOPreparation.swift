import Foundation
import ChatTemplate
import Dataset
import Metrics
import Notebook
import Training
import Transformer

/// The prompt settings of a `grpo` cell (built by `GRPOCell` from the schema's values).
struct GRPOPromptConfig {
    /// Local path or `hf:org/name/file`.
    var data: String
    var split: String
    /// The prompt text with `{column}` placeholders (a prompt-only `PromptTemplate`).
    var template: PromptTemplate
    var system: String
    var chatTemplate: Bool
    var maxPromptLength: Int
}

/// The prompts as the policy sees them, with the rows the rewards read.
struct PreparedPrompts {
    var prompts: [GRPOPrompt]
    var rows: [PromptRow]
    var source: String

    var summary: String {
        let n = prompts.map(\.ids.count)
        return "\(prompts.count) prompts from \(source), \(n.min() ?? 0)–\(n.max() ?? 0) tokens"
    }
    var details: [String: String] {
        ["prompts": "\(prompts.count)", "prompt_tokens_max": "\(prompts.map(\.ids.count).max() ?? 0)"]
    }
}

/// load → fill the prompt template per row → wrap in the chat template (or not) → tokenise.
/// A prompt longer than `max_prompt_length` is an error naming its row (nothing is cut:
/// a cut prompt asks another question).
func preparePrompts(_ c: GRPOPromptConfig, model lm: LanguageModel, dataPath: String, params: ResolvedParams) throws -> PreparedPrompts {
    let rows: [PromptRow]
    do { rows = try Dataset.loadPromptRows(path: dataPath, slice: c.split.isEmpty ? nil : c.split) } catch { throw params.error("data", "\(error)") }
    if c.chatTemplate && lm.chatTemplate == nil {
        throw params.error("chat_template", "\(lm.path): the model has no chat template; set chat_template = false and write the whole prompt")
    }
    var prompts: [GRPOPrompt] = []
    for r in rows {
        let body: String
        do { body = try c.template.inferencePrompt(r.row) } catch { throw params.error("prompt", "\(dataPath): \(error)") }
        let text: String, special: Bool
        if c.chatTemplate {
            var msgs: [ChatMessage] = []
            if !c.system.isEmpty { msgs.append(ChatMessage(role: "system", content: c.system)) }
            msgs.append(ChatMessage(role: "user", content: body))
            text = try lm.renderChat(msgs, addGenerationPrompt: true); special = false   // the template holds any BOS
        } else {
            text = body; special = true
        }
        let ids = lm.tokenizer.encode(text, addSpecialTokens: special)
        guard !ids.isEmpty else { throw params.error("prompt", "\(dataPath): row \(r.row.index): the prompt is empty") }
        guard ids.count <= c.maxPromptLength else {
            throw params.error("max_prompt_length", "\(dataPath): row \(r.row.index): the prompt is \(ids.count) tokens, longer than \(c.maxPromptLength); raise max_prompt_length or leave the row out (split)")
        }
        prompts.append(GRPOPrompt(row: r.row.index, text: text, ids: ids))
    }
    return PreparedPrompts(prompts: prompts, rows: rows, source: dataPath)
}

/// The rewards of a `grpo` cell: built-in functions (`Metrics.Rewards`) and the user's program,
/// with their weights, in the order their values are recorded.
struct GRPORewards {
    var builtins: [BuiltinReward]
    var builtinWeights: [Double]
    var command: RewardCommand?
    var commandWeight: Double
    var answerMode: AnswerMatch
    var answerColumn: String
    var optionsColumn: String
    var lengthTarget: Int
    var lengthCache: Int

    /// The reward functions' names: metric names `rewards/<name>/mean`, keys of `rewards_json`.
    var names: [String] { builtins.map(\.rawValue) + (command == nil ? [] : ["command"]) }
    var weights: [Double] { builtinWeights + (command == nil ? [] : [commandWeight]) }

    /// Every row has what the rewards read: checked before any sampling.
    func check(_ rows: [PromptRow], source: String, params: ResolvedParams) throws {
        guard builtins.contains(.answerMatch) else { return }
        for r in rows {
            guard let gold = r.row.columns[answerColumn], !gold.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw params.error("answer_column", "\(source): row \(r.row.index) has no \"\(answerColumn)\" (the gold answer answer_match compares with); columns: \(r.row.columns.keys.sorted().joined(separator: ", "))")
            }
            if answerMode == .choice {
                let options = Self.options(r.row, optionsColumn)
                guard !options.isEmpty else {
                    throw params.error("options_column", "\(source): row \(r.row.index) has no \"\(optionsColumn)\" object (letter → option text) for answer_mode = \"choice\"")
                }
                guard options[gold.trimmingCharacters(in: .whitespacesAndNewlines)] != nil else {
                    throw params.error("answer_column", "\(source): row \(r.row.index): the gold answer \"\(gold)\" is not one of its options' letters \(options.keys.sorted())")
                }
            }
        }
    }

    static func options(_ row: Row, _ column: String) -> [String: String] {
        row.columns.filter { $0.key.hasPrefix(column + ".") }.reduce(into: [String: String]()) { $0[String($1.key.dropFirst(column.count + 1))] = $1.value }
    }

    /// Scores completions of `prompts` (whose rows are `rows`, in order).
    func scorer(rows: [PromptRow]) -> GRPORewardScorer {
        let byIndex = Dictionary(rows.map { ($0.row.index, $0) }, uniquingKeysWith: { a, _ in a })
        return { completions, prompts in
            var values = completions.map { _ in [Double]() }
            for (i, c) in completions.enumerated() {
                let row = byIndex[c.row]!.row
                // The completion as the model wrote it: a prompt that opens <think> (a template
                // ending in "<think>") puts that tag before the completion (as the eval cell scores).
                let written = EvalCell.openBlock(prompts[c.prompt].text) + c.text
                for b in builtins {
                    switch b {
                    case .thinkFormat: values[i].append(Rewards.thinkFormat(written))
                    case .answerMatch:
                        values[i].append(Rewards.answerMatch(written, gold: row.columns[answerColumn] ?? "", mode: answerMode,
                                                             options: Self.options(row, optionsColumn)))
                    case .length: values[i].append(Rewards.softOverlong(length: c.ids.count, target: lengthTarget, cache: lengthCache))
                    }
                }
            }
            if let command {
                let enc = JSONEncoder()
                enc.outputFormatting = [.withoutEscapingSlashes]
                func quoted(_ s: String) throws -> String { String(decoding: try enc.encode(s), as: UTF8.self) }
                let inputs = try completions.map { c in
                    RewardCommand.Input(json: "{\"completion\":\(try quoted(c.text)),\"prompt\":\(try quoted(prompts[c.prompt].text)),\"row\":\(byIndex[c.row]!.json),\"row_index\":\(c.row)}",
                                        row: c.row, generation: c.generation)
                }
                for (i, x) in try command.score(inputs).enumerated() { values[i].append(x) }
            }
            return values
        }
    }
}
