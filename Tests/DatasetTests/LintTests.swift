import Foundation
import Testing
@testable import Dataset

/// The lint names exactly the rows that would train badly, each for its own reason.
@Suite struct LintTests {
    func row(_ i: Int, _ q: String, _ cot: String, _ r: String) -> Row {
        Row(index: i, columns: ["Question": q, "Complex_CoT": cot, "Response": r])
    }

    @Test func findsEachProblemInItsRows() throws {
        let template = try PromptTemplate.load(path: Paths.template)
        let long = String(repeating: "the pain is sharp and constant ", count: 40)
        let train = Dataset(rows: [
            row(0, "Fever?", "Short reasoning.", "Infection."),      // fine
            row(1, "Cough?", long, "Pneumonia."),                    // </think> cut
            row(2, "Rash?", "Brief.", long),                         // answer cut, reasoning closed
            row(3, "Pain?", "", ""),                                 // every response column empty
            row(4, "", "Some reasoning.", "An answer."),              // a prompt column empty here only
        ], source: "t.jsonl")
        let validation = Dataset(rows: [row(5, "Fever?", "Short reasoning.", "Infection.")], source: "t.jsonl")   // = row 0
        let builder = try ExampleBuilder(template: template, tokenizer: SmolLM2.tokenizer,
                                         options: TokenizeOptions(responseOnly: true, maxSeqLength: 120))
        let (report, rows) = try lint(train: train, validation: validation, builder: builder)
        func rowsOf(_ code: String) -> [Int] { report.findings.first { $0.code == code }?.rows ?? [] }
        #expect(rowsOf("think-cut") == [1])
        #expect(rowsOf("answer-cut") == [2])
        #expect(rowsOf("eos-cut") == [1, 2])
        #expect(rowsOf("empty-response") == [3])
        #expect(rowsOf("empty-column") == [4])
        #expect(rowsOf("duplicate") == [5])
        #expect(report.errors.map(\.code) == ["empty-response"])
        #expect(rows["train"]?[0].eosTrained == true && rows["train"]?[1].eosTrained == false)
        #expect(report.lengths["train"]?.count == 5 && report.stats("train").max > 120)
        #expect(report.text.contains("warning: train: </think> cut by max_seq_length 120") && report.text.contains("rows 1"))

        // With room for everything, only the data's own problems remain.
        let roomy = try ExampleBuilder(template: template, tokenizer: SmolLM2.tokenizer, options: TokenizeOptions(maxSeqLength: 4096))
        let (ok, _) = try lint(train: train, validation: validation, builder: roomy)
        #expect(Set(ok.findings.map(\.code)) == ["empty-response", "empty-column", "duplicate"])
    }

    @Test func promptsThatFillTheWindowAndEOSNeverTrainedAreErrors() throws {
        let template = try PromptTemplate.load(path: Paths.template)
        let long = String(repeating: "word ", count: 200)
        let train = Dataset(rows: [row(0, long, "r", "a"), row(1, "q", long, long)], source: "t.jsonl")
        let builder = try ExampleBuilder(template: template, tokenizer: SmolLM2.tokenizer, options: TokenizeOptions(maxSeqLength: 64))
        let (report, _) = try lint(train: train, validation: Dataset(rows: [], source: "t.jsonl"), builder: builder)
        #expect(report.findings.first { $0.code == "nothing-to-train" }?.rows == [0])
        #expect(report.errors.map(\.code).contains("eos-never-trained"))
    }

    @Test func lengthPercentilesAreNearestRank() {
        let s = LengthStats(Array(1...100))
        #expect(s.p50 == 50 && s.p90 == 90 && s.p99 == 99 && s.max == 100 && s.count == 100)
        #expect(LengthStats([]).max == 0)
    }
}
