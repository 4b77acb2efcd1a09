import Tokenization

/// Label of a position that is not trained (as HF's ignore_index).
public let ignoreLabel = -100

/// One tokenised training example. `labels[i]` is the target for position i as HF stores it
/// (the model shifts by one): the token id where trained, `ignoreLabel` elsewhere.
public struct Example: Sendable, Equatable {
    public var ids: [Int]
    public var labels: [Int]
    /// Source row index.
    public var row: Int
    public var trainedTokens: Int { labels.reduce(0) { $0 + ($1 == ignoreLabel ? 0 : 1) } }
}

public struct TokenizeOptions: Sendable {
    /// Loss on the response only (default), or on every token.
    public var responseOnly: Bool
    /// Truncate longer examples to this many tokens (keeping the start); nil = no limit.
    public var maxSeqLength: Int?
    public init(responseOnly: Bool = true, maxSeqLength: Int? = nil) {
        self.responseOnly = responseOnly
        self.maxSeqLength = maxSeqLength
    }
}

public struct DatasetStats: Sendable, Equatable {
    public var rows = 0
    public var tokens = 0
    public var trainedTokens = 0
    public var truncatedRows = 0
    public var maxLength = 0
    public var meanLength: Double { rows == 0 ? 0 : Double(tokens) / Double(rows) }
    public init() {}
}

/// Formats and tokenises rows.
///
/// Boundary rule: the prompt and the response are tokenised separately and concatenated
/// (prompt with the tokenizer's special prefix such as BOS, response without), then EOS.
/// Why: the label mask is then exact by construction, and the prompt ids are exactly what
/// `inferencePrompt` encodes to at generation time, so training and inference see the same
/// prefix. Where the boundary falls on a token boundary of the whole text (for the
/// medical-cot template it follows "<think>\n", and GPT-2-style pre-tokenizers split after a
/// newline before a letter) this equals tokenising the whole text at once; tests check both.
public struct ExampleBuilder: Sendable {
    public let template: PromptTemplate
    public let tokenizer: Tokenizer
    public let options: TokenizeOptions
    let eosId: Int

    public init(template: PromptTemplate, tokenizer: Tokenizer, options: TokenizeOptions = .init()) throws {
        guard let eos = tokenizer.eosTokenId else {
            throw DatasetError("the tokenizer has no EOS token; examples need one to end the response")
        }
        if let m = options.maxSeqLength, m < 2 {
            throw DatasetError("max_seq_length \(m) is too small (need at least 2 tokens)")
        }
        self.template = template
        self.tokenizer = tokenizer
        self.options = options
        self.eosId = eos
    }

    /// The example for one row, and whether it was truncated.
    public func example(_ row: Row, source: String = "dataset") throws -> (example: Example, truncated: Bool) {
        let (prompt, response) = try template.render(row, source: source)
        let p = tokenizer.encode(prompt, addSpecialTokens: true)
        var r = tokenizer.encode(response)
        // EOS is trained: the model must learn to stop. It is appended by id, so a pad token
        // equal to EOS can never mask it.
        r.append(eosId)
        var ids = p + r
        var labels = options.responseOnly ? [Int](repeating: ignoreLabel, count: p.count) + r : ids
        var truncated = false
        if let m = options.maxSeqLength, ids.count > m {
            ids.removeLast(ids.count - m)
            labels.removeLast(labels.count - m)
            truncated = true
        }
        let ex = Example(ids: ids, labels: labels, row: row.index)
        if ex.trainedTokens == 0 {
            throw DatasetError("\(source): row \(row.index): no trained tokens left after truncation to \(options.maxSeqLength ?? 0) tokens (prompt is \(p.count) tokens); raise max_seq_length or shorten the prompt")
        }
        return (ex, truncated)
    }

    /// Examples for every row, with statistics.
    public func examples(_ dataset: Dataset) throws -> (examples: [Example], stats: DatasetStats) {
        try template.validate(against: dataset)
        var out: [Example] = []
        out.reserveCapacity(dataset.rows.count)
        var st = DatasetStats()
        for row in dataset.rows {
            let (e, t) = try example(row, source: dataset.source)
            out.append(e)
            st.rows += 1
            st.tokens += e.ids.count
            st.trainedTokens += e.trainedTokens
            st.maxLength = max(st.maxLength, e.ids.count)
            if t { st.truncatedRows += 1 }
        }
        return (out, st)
    }
}
