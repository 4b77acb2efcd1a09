import Foundation
import Testing
@testable import Dataset

/// Token ids and labels against transformers' tokenizer (scripts/make_dataset_references.py).
struct ReferenceTokenizationTests {
    struct Ref: Decodable {
        struct E: Decodable { let row: Int; let ids: [Int]; let labels: [Int]; let prompt_ids: [Int]; let whole_ids: [Int] }
        let eos_token: String
        let eos_token_id: Int
        let examples: [E]
    }

    static func ref(_ name: String) throws -> Ref {
        let data = try Data(contentsOf: URL(fileURLWithPath: Paths.repo("Tests/Fixtures/dataset/smollm2_\(name).json")))
        return try JSONDecoder().decode(Ref.self, from: data)
    }

    @Test(arguments: [("medical_o1_en_160", Paths.o1), ("medical_cot_sample", Paths.sample)])
    func matchesTransformers(name: String, path: String) throws {
        let ref = try Self.ref(name)
        let tok = SmolLM2.tokenizer
        #expect(tok.eosToken == ref.eos_token)
        #expect(tok.eosTokenId == ref.eos_token_id)
        let data = try Dataset.load(path: path, slice: "[:8]")
        let template = try PromptTemplate.load(path: Paths.template)
        let builder = try ExampleBuilder(template: template, tokenizer: tok)
        let (examples, stats) = try builder.examples(data)
        #expect(examples.count == ref.examples.count)
        for (e, r) in zip(examples, ref.examples) {
            #expect(e.row == r.row)
            #expect(e.ids == r.ids, "row \(r.row) ids")
            #expect(e.labels == r.labels, "row \(r.row) labels")
            // The boundary falls on a token boundary for these rows: same as whole-text encoding.
            #expect(e.ids == r.whole_ids, "row \(r.row) whole-text tokenisation")
            // EOS is last and trained.
            #expect(e.ids.last == ref.eos_token_id && e.labels.last == ref.eos_token_id)
            // The inference prompt encodes to exactly the untrained prefix.
            let prompt = try template.inferencePrompt(data.rows[r.row])
            #expect(prompt.hasSuffix("### Response:\n<think>\n"))
            #expect(tok.encode(prompt, addSpecialTokens: true) == r.prompt_ids)
            #expect(Array(e.labels.prefix(r.prompt_ids.count)).allSatisfy { $0 == ignoreLabel })
            #expect(!e.labels[r.prompt_ids.count...].contains(ignoreLabel))
        }
        #expect(stats.tokens == ref.examples.reduce(0) { $0 + $1.ids.count })
        #expect(stats.trainedTokens == ref.examples.reduce(0) { $0 + $1.labels.filter { $0 != -100 }.count })
        #expect(stats.maxLength == ref.examples.map(\.ids.count).max())
        #expect(stats.truncatedRows == 0)
    }

    @Test func trainOnEverythingAndTruncation() throws {
        let ref = try Self.ref("medical_o1_en_160")
        let data = try Dataset.load(path: Paths.o1, slice: "[:8]")
        let template = try PromptTemplate.load(path: Paths.template)
        let all = try ExampleBuilder(template: template, tokenizer: SmolLM2.tokenizer, options: .init(responseOnly: false))
        for (e, r) in zip(try all.examples(data).examples, ref.examples) { #expect(e.labels == r.ids) }

        // Truncation keeps the start; rows longer than the limit are counted.
        let limit = 256
        let cut = try ExampleBuilder(template: template, tokenizer: SmolLM2.tokenizer, options: .init(maxSeqLength: limit))
        let (ex, st) = try cut.examples(data)
        for (e, r) in zip(ex, ref.examples) {
            #expect(e.ids == Array(r.ids.prefix(limit)))
            #expect(e.labels == Array(r.labels.prefix(limit)))
        }
        #expect(st.truncatedRows == ref.examples.filter { $0.ids.count > limit }.count)
        #expect(st.truncatedRows > 0)
    }

    @Test func rowWithNothingTrainedAfterTruncationIsAnError() throws {
        let ref = try Self.ref("medical_o1_en_160")
        let data = try Dataset.load(path: Paths.o1, slice: "[:8]")
        let template = try PromptTemplate.load(path: Paths.template)
        // A limit at the shortest prompt length + 1 trains one token there; at exactly the
        // longest prompt length that row has none left.
        let longest = ref.examples.max { $0.prompt_ids.count < $1.prompt_ids.count }!
        let b = try ExampleBuilder(template: template, tokenizer: SmolLM2.tokenizer, options: .init(maxSeqLength: longest.prompt_ids.count))
        let msg = errorMessage { _ = try b.examples(data) }
        #expect(msg.contains("medical_o1_en_160.json"))
        #expect(msg.contains("no trained tokens"))
        #expect(msg.contains("row "))
    }
}
