import Foundation
import Dataset
import Tokenization
import Training

/// The `format` cell's typed settings (built by `FormatCell` from the schema's resolved values;
/// no defaults here: the schema holds them).
public struct FormatConfig: Sendable {
    /// Local path or `hf:org/name/file`.
    public var data: String
    public var layout: RecordLayout
    /// For `mapping`: "question=q,cot=cot,answer=a".
    public var columns: String
    /// A slice such as "train[0:100]" (empty = all rows).
    public var split: String
    /// Template file; ignored when `templateText` is not empty.
    public var template: String
    public var templateText: String
    public var maxSeqLength: Int
    public var trainOn: TrainOn
    public var packing: Bool
    /// Held-out fraction (0 = no validation set).
    public var valFraction: Double
    public var seed: UInt64
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
    /// What the lint found (errors stop a train cell unless `train.ignore_lint`).
    public var lint: LintReport
    /// Each row as the lint saw it (tokens and labels), for `tunelab lint --show`.
    var lintRows: [String: [RowInspection]]

    public func lintDetails() -> (LintReport, [String: [RowInspection]]) { (lint, lintRows) }
}

public struct SessionError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// load → format → tokenise (EOS appended and trained, loss on the response) → split → pack.
public func prepareData(_ s: FormatConfig, tokenizer: Tokenizer, dataPath: String? = nil) throws -> PreparedData {
    let path = try dataPath ?? resolveDataPath(s.data)
    let format = try s.layout.format(columns: s.columns)
    let dataset = try Dataset.load(path: path, format: format, slice: s.split.isEmpty ? nil : s.split)
    guard !dataset.rows.isEmpty else { throw SessionError("\(path): no rows (after the slice \"\(s.split)\")") }
    let template = s.templateText.isEmpty ? try PromptTemplate.load(path: s.template)
                                          : try PromptTemplate(s.templateText, source: "template_text")
    let builder = try ExampleBuilder(template: template, tokenizer: tokenizer,
                                     options: TokenizeOptions(responseOnly: s.trainOn == .response, maxSeqLength: s.maxSeqLength))
    var trainRows = dataset, valRows = Dataset(rows: [], source: dataset.source)
    if s.valFraction > 0 {
        (trainRows, valRows) = try dataset.split(validation: .fraction(s.valFraction), seed: s.seed)
    }
    // Every row checked before any is built: all rows with nothing to train are named at once.
    let (report, inspections) = try lint(train: trainRows, validation: valRows, builder: builder)
    if let none = report.findings.first(where: { $0.code == "nothing-to-train" }) {
        throw SessionError("\(path): \(none.line); raise max_seq_length or shorten the prompt")
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
                        template: template, stats: stats, files: files, maxSeqLength: s.maxSeqLength, lint: report,
                        lintRows: inspections)
}
