import Foundation
import Testing
@testable import Dataset

/// Prints formatting speed and truncation counts (numbers for the report; the checks are loose
/// because the machine is shared).
struct FormatSpeedTests {
    @Test func formatSpeedAndTruncationCounts() throws {
        let template = try PromptTemplate.load(path: Paths.template)
        let tok = SmolLM2.tokenizer
        let b = try ExampleBuilder(template: template, tokenizer: tok, options: .init(maxSeqLength: 512))
        let t0 = Date()
        let d = try Dataset.load(path: Paths.o1)
        let (_, st) = try b.examples(d)
        let dt = Date().timeIntervalSince(t0)
        print("medical_o1_en_160: \(st.rows) rows in \(String(format: "%.3f", dt)) s = \(Int(Double(st.rows) / dt)) rows/s; tokens \(st.tokens), trained \(st.trainedTokens), truncated@512 \(st.truncatedRows), max \(st.maxLength), mean \(String(format: "%.1f", st.meanLength))")
        #expect(st.rows == 160)
        let (fullEx, full) = try ExampleBuilder(template: template, tokenizer: tok).examples(d)
        #expect(st.truncatedRows == fullEx.filter { $0.ids.count > 512 }.count)
        print("medical_o1_en_160 untruncated: max \(full.maxLength), mean \(String(format: "%.1f", full.meanLength)), rows > 512: \(st.truncatedRows)")
        let zh = try Dataset.load(path: Paths.r1zh, format: .mapping(parsing: "question=question, cot=think, answer=answer"))
        let zs = try b.examples(zh).stats
        print("medical_r1_zh_200: truncated@512 \(zs.truncatedRows) of \(zs.rows), tokens \(zs.tokens), trained \(zs.trainedTokens)")
        let sg = try ExampleBuilder(template: template, tokenizer: tok).examples(try Dataset.load(path: Paths.sharegpt)).stats
        print("sharegpt_1k untruncated: max \(sg.maxLength), mean \(String(format: "%.1f", sg.meanLength)), tokens \(sg.tokens)")
    }
}
