import Foundation
import Testing
@testable import Dataset

struct LoadingTests {
    @Test func sharedFilesLoadInEveryFormat() throws {
        let o1 = try Dataset.load(path: Paths.o1)
        #expect(o1.rows.count == 160)
        #expect(o1.rows.allSatisfy { !($0["Question"] ?? "").isEmpty && !($0["Complex_CoT"] ?? "").isEmpty && !($0["Response"] ?? "").isEmpty })

        let zhAuto = try Dataset.load(path: Paths.r1zh)
        let zhMapped = try Dataset.load(path: Paths.r1zh, format: .mapping(parsing: "question=question, cot=think, answer=answer"))
        #expect(zhMapped.rows.count == 200)
        #expect(zhMapped.rows == zhAuto.rows)
        #expect(zhMapped.rows.allSatisfy { $0["Complex_CoT"] == $0["think"] && $0["Response"] == $0["answer"] })

        let sg = try Dataset.load(path: Paths.sharegpt)
        #expect(sg.rows.count == 1000)
        #expect(sg.rows.allSatisfy { $0["Complex_CoT"] == "" && !($0["Response"] ?? "").isEmpty })

        let sample = try Dataset.load(path: Paths.sample)
        #expect(sample.rows.count == 24)
    }

    @Test func sharedFilesFormatWithTheTemplate() throws {
        let template = try PromptTemplate.load(path: Paths.template)
        for (path, format, limit) in [(Paths.o1, RecordFormat.auto, 512), (Paths.r1zh, try .mapping(parsing: "question=question, cot=think, answer=answer"), 512), (Paths.sharegpt, .auto, 2048)] {
            let b = try ExampleBuilder(template: template, tokenizer: SmolLM2.tokenizer, options: .init(maxSeqLength: limit))
            let d = try Dataset.load(path: path, format: format)
            let (ex, st) = try b.examples(d)
            #expect(ex.count == d.rows.count && st.rows == d.rows.count)
            #expect(st.maxLength <= limit)
            #expect(st.truncatedRows <= ex.filter { $0.ids.count == limit }.count)
            #expect(ex.allSatisfy { $0.trainedTokens > 0 && $0.ids.count == $0.labels.count })
            // Untruncated examples end with a trained EOS.
            #expect(ex.filter { $0.ids.count < limit }.allSatisfy { $0.ids.last == SmolLM2.tokenizer.eosTokenId && $0.labels.last == SmolLM2.tokenizer.eosTokenId })
        }
    }

    @Test func longPromptAtASmallLimitIsAnErrorNamingTheRow() throws {
        // Some ShareGPT questions are longer than 512 tokens: never silently drop them.
        let b = try ExampleBuilder(template: try PromptTemplate.load(path: Paths.template), tokenizer: SmolLM2.tokenizer, options: .init(maxSeqLength: 512))
        let m = errorMessage { _ = try b.examples(try Dataset.load(path: Paths.sharegpt)) }
        #expect(m.contains("medical_sft_zh_1k.sharegpt.jsonl: row ") && m.contains("no trained tokens left after truncation to 512"))
    }

    @Test func alpacaAndShareGPTRecords() throws {
        let alpaca = """
        [{"instruction": "Name the bone.", "input": "The long bone of the thigh.", "output": "Femur", "system": "Be brief."},
         {"instruction": "Say hi.", "output": "Hi"}]
        """
        let d = try Dataset.parse(Data(alpaca.utf8), source: "a.json")
        #expect(d.rows[0]["Question"] == "Name the bone.\n\nThe long bone of the thigh.")
        #expect(d.rows[0]["Response"] == "Femur" && d.rows[0]["System"] == "Be brief." && d.rows[0]["Complex_CoT"] == "")
        #expect(d.rows[1]["Question"] == "Say hi.")

        let sg = """
        {"conversations": [{"from": "system", "value": "S"}, {"from": "human", "value": "Q1"}, {"from": "gpt", "value": "A1"}, {"from": "human", "value": "Q2"}, {"from": "gpt", "value": "A2"}]}
        """
        let s = try Dataset.parse(Data(sg.utf8), source: "s.jsonl")
        #expect(s.rows[0]["System"] == "S" && s.rows[0]["Question"] == "Q1" && s.rows[0]["Response"] == "A1")
    }

    @Test func slices() throws {
        let d = try Dataset.load(path: Paths.o1)
        #expect(try d.sliced("train[0:500]").rows.count == 160)
        #expect(try d.sliced("[:100]").rows.map(\.index) == Array(0..<100))
        #expect(try d.sliced("[-20:]").rows.map(\.index) == Array(140..<160))
        #expect(try d.sliced("train[10:-140]").rows.map(\.index) == Array(10..<20))
        #expect(try Dataset.load(path: Paths.o1, slice: "[5]").rows.map(\.index) == [5])
        #expect(errorMessage { _ = try d.sliced("[100:50]") }.contains("is empty"))
        #expect(errorMessage { _ = try d.sliced("[a:3]") }.contains("\"a\" is not an integer"))
        #expect(errorMessage { _ = try d.sliced("[0:10:2]") }.contains("steps"))
        #expect(errorMessage { _ = try d.sliced("0:10") }.contains("expected [start:end]"))
    }
}
