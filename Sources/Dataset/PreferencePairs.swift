import Foundation
import Tokenization

/// Record layouts of preference data (`dpo.layout`).
public enum PreferenceLayout: String, CaseIterable, Sendable {
    /// Chosen from the first record's keys (`conversations` → ShareGPT, else prompt/chosen/rejected).
    case auto
    /// `prompt`, `chosen`, `rejected` strings (TRL's standard preference format).
    case promptChosenRejected = "prompt-chosen-rejected"
    /// `conversations` (ShareGPT turns: an optional `system` turn, then one `human` turn) as the
    /// prompt, `chosen` and `rejected` strings as the two completions (MedicalGPT's reward data).
    case sharegptChosenRejected = "sharegpt-chosen-rejected"
}

/// Canonical columns of a preference row: the prompt is `Question` (so the prompt part of an SFT
/// template, `{Question}`, formats it), `System` when the record has one.
public enum PreferenceColumn {
    public static let prompt = "Question", system = "System", chosen = "Chosen", rejected = "Rejected"
}

extension Dataset {
    /// Preference rows from a JSON array or JSONL file, `slice` applied. Every row must have a
    /// non-empty prompt and two non-empty completions: an empty side is an error naming the row
    /// (a pair with nothing to prefer would train on its prompt's EOS alone).
    public static func loadPreferences(path: String, layout: PreferenceLayout = .auto, slice: String? = nil) throws -> Dataset {
        guard let data = FileManager.default.contents(atPath: path) else { throw DatasetError.unreadable(path, "data file") }
        let objects = try readObjects(data, source: path)
        guard let first = objects.first else { throw DatasetError("\(path): the dataset is empty (no records)") }
        var lay = layout
        if lay == .auto {
            if first.object["conversations"] != nil { lay = .sharegptChosenRejected }
            else if first.object["prompt"] != nil || first.object["chosen"] != nil { lay = .promptChosenRejected }
            else {
                throw DatasetError("\(path): \(first.location): cannot tell the preference layout from keys \(first.object.keys.sorted()); expected prompt/chosen/rejected or conversations/chosen/rejected")
            }
        }
        var rows: [Row] = []
        rows.reserveCapacity(objects.count)
        for (i, o) in objects.enumerated() {
            rows.append(try preferenceRow(o.object, index: i, layout: lay, place: "\(path): \(o.location)"))
        }
        var d = Dataset(rows: rows, source: path)
        if let slice { d = try d.sliced(slice) }
        return d
    }

    static func preferenceRow(_ o: [String: Any], index: Int, layout: PreferenceLayout, place: String) throws -> Row {
        func text(_ key: String) throws -> String {
            guard let v = o[key], !(v is NSNull) else {
                throw DatasetError("\(place): missing key \"\(key)\"; keys: \(o.keys.sorted().joined(separator: ", "))")
            }
            guard let s = v as? String else {
                throw DatasetError("\(place): key \"\(key)\" is \(kind(v)), not a string (conversational completions are not supported)")
            }
            guard !s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw DatasetError("\(place): \"\(key)\" is empty: a preference pair needs a prompt and two non-empty completions")
            }
            return s
        }
        var cols: [String: String] = [:]
        for (k, v) in o { if let s = scalar(v) { cols[k] = s } }
        switch layout {
        case .auto:
            throw DatasetError("\(place): preference layout not resolved")
        case .promptChosenRejected:
            cols[PreferenceColumn.prompt] = try text("prompt")
        case .sharegptChosenRejected:
            guard let conv = o["conversations"] as? [Any] else {
                throw DatasetError("\(place): key \"conversations\" is \(o["conversations"].map(kind) ?? "missing"), not an array of turns")
            }
            var human: String?
            for (t, turnAny) in conv.enumerated() {
                guard let turn = turnAny as? [String: Any], let from = turn["from"] as? String, let value = turn["value"] as? String else {
                    throw DatasetError("\(place): conversations[\(t)]: not an object with string \"from\" and \"value\"")
                }
                switch from {
                case "system" where human == nil && t == 0: cols[PreferenceColumn.system] = value
                case "human" where human == nil: human = value
                case "human", "gpt", "system":
                    throw DatasetError("\(place): conversations[\(t)]: a \"\(from)\" turn here; the prompt must be an optional system turn and one human turn (multi-turn prompts are not supported)")
                default: throw DatasetError("\(place): conversations[\(t)]: unknown role \"\(from)\" (expected human, system)")
                }
            }
            guard let human, !human.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw DatasetError("\(place): conversations has no non-empty \"human\" turn (the prompt)")
            }
            cols[PreferenceColumn.prompt] = human
        }
        cols[PreferenceColumn.chosen] = try text("chosen")
        cols[PreferenceColumn.rejected] = try text("rejected")
        return Row(index: index, columns: cols)
    }
}

/// One tokenised preference pair: the prompt and the two completions (each ending with EOS,
/// unless truncation cut it off). The model sees prompt + completion; only completion tokens
/// are scored.
public struct PreferencePair: Sendable, Equatable {
    public var row: Int
    public var prompt: [Int]
    public var chosen: [Int]
    public var rejected: [Int]
    public init(row: Int, prompt: [Int], chosen: [Int], rejected: [Int]) {
        self.row = row; self.prompt = prompt; self.chosen = chosen; self.rejected = rejected
    }
}

/// What tokenising preference rows did: how many sides were cut, how many pairs have identical sides.
public struct PreferenceStats: Sendable, Equatable {
    public var pairs = 0
    /// Tokens of every prompt + completion sequence (each prompt counted twice: once per side).
    public var tokens = 0
    public var completionTokens = 0
    public var promptTruncated = 0
    public var chosenTruncated = 0
    public var rejectedTruncated = 0
    /// Pairs whose chosen and rejected texts are equal (kept; they carry no preference).
    public var identical = 0
    public var identicalRows: [Int] = []
    public var maxLength = 0
    public init() {}

    public mutating func add(_ o: PreferenceStats) {
        pairs += o.pairs; tokens += o.tokens; completionTokens += o.completionTokens
        promptTruncated += o.promptTruncated; chosenTruncated += o.chosenTruncated; rejectedTruncated += o.rejectedTruncated
        identical += o.identical; identicalRows += o.identicalRows; maxLength = max(maxLength, o.maxLength)
    }
}

/// Tokenises preference rows as TRL's `DPOTrainer.tokenize_row` (v0.28): prompt, chosen and
/// rejected are encoded separately, EOS appended to each completion by id; the prompt keeps its
/// last `maxPromptLength` tokens; then each side is cut to `maxLength` tokens in all, keeping
/// the start (`truncation_mode = "keep_start"`). Truncation is counted per side. Without a
/// prompt limit, a prompt that leaves no room for a completion within `maxLength` is an error
/// naming the row.
public struct PreferenceTokenizer: Sendable {
    public let tokenizer: Tokenizer
    public let maxLength: Int
    /// nil: prompts are not truncated.
    public let maxPromptLength: Int?
    let eosId: Int
    /// The prompt text of a row and whether the tokenizer adds its special prefix (BOS): false
    /// for a rendered chat template, which holds its own.
    public typealias PromptFormat = @Sendable (Row) throws -> (text: String, addSpecialTokens: Bool)
    let format: PromptFormat

    public init(tokenizer: Tokenizer, maxLength: Int, maxPromptLength: Int?, format: @escaping PromptFormat) throws {
        guard let eos = tokenizer.eosTokenId else { throw DatasetError("the tokenizer has no EOS token; completions need one") }
        if let m = maxPromptLength, m < 1 || m >= maxLength {
            throw DatasetError("max_prompt_length (\(m)) must be at least 1 and smaller than max_length (\(maxLength)) to leave room for the completions")
        }
        self.tokenizer = tokenizer; self.maxLength = maxLength; self.maxPromptLength = maxPromptLength
        self.eosId = eos; self.format = format
    }

    public func pair(_ row: Row, source: String) throws -> (pair: PreferencePair, stats: PreferenceStats) {
        guard let chosenText = row[PreferenceColumn.chosen], let rejectedText = row[PreferenceColumn.rejected] else {
            throw DatasetError("\(source): row \(row.index): not a preference row (no \(PreferenceColumn.chosen)/\(PreferenceColumn.rejected) columns)")
        }
        let (text, special) = try format(row)
        var st = PreferenceStats()
        st.pairs = 1
        var prompt = tokenizer.encode(text, addSpecialTokens: special)
        if let m = maxPromptLength, prompt.count > m { prompt = Array(prompt.suffix(m)); st.promptTruncated = 1 }
        let room = maxLength - prompt.count
        guard room >= 1 else {
            throw DatasetError("\(source): row \(row.index): the prompt is \(prompt.count) tokens, so max_length \(maxLength) leaves no room for a completion; raise max_length or set max_prompt_length")
        }
        func side(_ s: String, _ truncated: inout Int) -> [Int] {
            var c = tokenizer.encode(s) + [eosId]
            if c.count > room { c.removeLast(c.count - room); truncated = 1 }
            return c
        }
        let chosen = side(chosenText, &st.chosenTruncated), rejected = side(rejectedText, &st.rejectedTruncated)
        if chosenText == rejectedText { st.identical = 1; st.identicalRows = [row.index] }
        st.tokens = 2 * prompt.count + chosen.count + rejected.count
        st.completionTokens = chosen.count + rejected.count
        st.maxLength = prompt.count + max(chosen.count, rejected.count)
        return (PreferencePair(row: row.index, prompt: prompt, chosen: chosen, rejected: rejected), st)
    }

    public func pairs(_ d: Dataset) throws -> (pairs: [PreferencePair], stats: PreferenceStats) {
        var out: [PreferencePair] = [], st = PreferenceStats()
        out.reserveCapacity(d.rows.count)
        for r in d.rows {
            let (p, s) = try pair(r, source: d.source)
            out.append(p); st.add(s)
        }
        return (out, st)
    }
}
