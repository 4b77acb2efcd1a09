import Foundation
import Testing
@testable import Dataset

struct TemplateTests {
    let row = Row(index: 0, columns: ["Question": "Q?", "Complex_CoT": "step 1", "Response": "R.", "x": "{y}"])

    @Test func namedPlaceholdersAndSplit() throws {
        let t = try PromptTemplate.load(path: Paths.template)
        #expect(t.placeholders == ["Question", "Complex_CoT", "Response"])
        let (p, r) = try t.render(row)
        #expect(p.hasSuffix("### Question:\nQ?\n\n### Response:\n<think>\n"))
        #expect(r == "step 1\n</think>\nR.")
        #expect(try t.inferencePrompt(row) == p)
        #expect(t.inferencePrompt(question: "Q?") == p)
    }

    @Test func positionalPlaceholdersAndEscapes() throws {
        // The tutorials' style: "### Question:\n{}\n\n### Response:\n<think>\n{}\n</think>\n{}".
        let t = try PromptTemplate("{{lit}} {}|{}|{}", columns: ["Question", "Complex_CoT", "Response"])
        let (p, r) = try t.render(row)
        #expect(p == "{lit} Q?|")
        #expect(r == "step 1|R.")
        // A value containing braces is inserted as is.
        let u = try PromptTemplate("{x}{Response}")
        #expect(try u.render(row).prompt == "{y}")
    }

    @Test func customResponseColumns() throws {
        // Without reasoning columns the response starts at {Response}.
        let t = try PromptTemplate("Q: {Question}\nA: {Response}", responseColumns: ["Response"])
        #expect(try t.render(row) == ("Q: Q?\nA: ", "R."))
    }

    @Test func eosIsTrainedAndComesFromTheTokenizer() throws {
        let tok = SmolLM2.tokenizer
        let eos = try #require(tok.eosTokenId)
        #expect(tok.tokenId(try #require(tok.eosToken)) == eos)
        let t = try PromptTemplate.load(path: Paths.template)
        let e = try ExampleBuilder(template: t, tokenizer: tok).example(row).example
        #expect(e.ids.last == eos && e.labels.last == eos)
        #expect(e.ids.filter { $0 == eos }.count == 1)
        // Response-only: trained labels are exactly the response ids + EOS.
        let resp = tok.encode("step 1\n</think>\nR.") + [eos]
        #expect(Array(e.labels.suffix(resp.count)) == resp)
        #expect(e.labels.dropLast(resp.count).allSatisfy { $0 == ignoreLabel })
        #expect(tok.decode(e.ids) == (try t.render(row).prompt) + "step 1\n</think>\nR." + tok.eosToken!)
    }
}
