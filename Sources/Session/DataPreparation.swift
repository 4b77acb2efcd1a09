import Foundation
import Dataset
import Tokenization
import Training

/// The `format` step's settings (the notebook cell's keys, the CLI's options).
public struct FormatSettings: Sendable {
    public var data = "notebooks/data/medical-cot-sample.jsonl"
    /// auto | medical-o1 | alpaca | sharegpt | question-think-answer | mapping
    public var format = "auto"
    /// For `mapping`: "question=q,cot=cot,answer=a".
    public var columns = ""
    /// A slice such as "train[0:100]" (empty = all rows).
    public var split = ""
    public var template = "notebooks/templates/medical-cot.txt"
    /// Inline template text; overrides `template` when not empty.
    public var templateText = ""
    public var maxSeqLength = 512
    /// response | all
    public var trainOn = "response"
    public var packing = false
    /// Held-out fraction (0 = no validation set).
    public var valFraction = 0.1
    public var seed: UInt64 = 3407
    public init() {}
}

/// Tokenised, split training data and what it came from.
public struct PreparedData: Sendable {
    public var train: [TrainSequence]
    public var validation: [TrainSequence]
    /// Validation rows (for `infer`/`eval` prompts) and the template that formats them.
    public var validationRows: [Row]
    public var template: PromptTemplate
    public var stats: DatasetStats
    /// Files read (path → role), to be hashed into the record.
    public var files: [String: String]
    public var summary: String {
        "\(stats.rows) rows → \(train.count) training / \(validation.count) validation sequences, \(stats.tokens) tokens (\(stats.trainedTokens) trained), mean \(Int(stats.meanLength.rounded())) max \(stats.maxLength), \(stats.truncatedRows) truncated at \(maxSeqLength)"
    }
    var maxSeqLength: Int
}

public struct SessionError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// load → format → tokenise (EOS appended and trained, loss on the response) → split → pack.
public func prepareData(_ s: FormatSettings, tokenizer: Tokenizer, dataPath: String? = nil) throws -> PreparedData {
    let path = try dataPath ?? resolveDataPath(s.data)
    let format: RecordFormat
    switch s.format {
    case "auto": format = .auto
    case "medical-o1": format = .medicalO1
    case "alpaca": format = .alpaca
    case "sharegpt": format = .shareGPT
    case "question-think-answer": format = .questionThinkAnswer
    case "mapping":
        guard !s.columns.isEmpty else { throw SessionError("format = \"mapping\" needs columns, e.g. columns = \"question=q,cot=cot,answer=a\"") }
        format = try RecordFormat.mapping(parsing: s.columns)
    default:
        throw SessionError("format: unknown record format \"\(s.format)\" (auto, medical-o1, alpaca, sharegpt, question-think-answer, mapping)")
    }
    let dataset = try Dataset.load(path: path, format: format, slice: s.split.isEmpty ? nil : s.split)
    guard !dataset.rows.isEmpty else { throw SessionError("\(path): no rows (after the slice \"\(s.split)\")") }
    let template = s.templateText.isEmpty ? try PromptTemplate.load(path: s.template)
                                          : try PromptTemplate(s.templateText, source: "template_text")
    guard s.trainOn == "response" || s.trainOn == "all" else {
        throw SessionError("train_on: must be \"response\" or \"all\", got \"\(s.trainOn)\"")
    }
    let builder = try ExampleBuilder(template: template, tokenizer: tokenizer,
                                     options: TokenizeOptions(responseOnly: s.trainOn == "response", maxSeqLength: s.maxSeqLength))
    var trainRows = dataset, valRows = Dataset(rows: [], source: dataset.source)
    if s.valFraction > 0 {
        (trainRows, valRows) = try dataset.split(validation: .fraction(s.valFraction), seed: s.seed)
    }
    let (trainEx, trainStats) = try builder.examples(trainRows)
    let (valEx, valStats) = valRows.rows.isEmpty ? ([], DatasetStats()) : try builder.examples(valRows)
    var stats = trainStats
    stats.rows += valStats.rows; stats.tokens += valStats.tokens; stats.trainedTokens += valStats.trainedTokens
    stats.truncatedRows += valStats.truncatedRows; stats.maxLength = max(stats.maxLength, valStats.maxLength)
    let train = s.packing ? try pack(trainEx, maxLength: s.maxSeqLength).map(TrainSequence.init) : trainEx.map(TrainSequence.init)
    var files = ["data": path]
    if s.templateText.isEmpty { files["template"] = s.template }
    return PreparedData(train: train, validation: valEx.map(TrainSequence.init), validationRows: valRows.rows,
                        template: template, stats: stats, files: files, maxSeqLength: s.maxSeqLength)
}
