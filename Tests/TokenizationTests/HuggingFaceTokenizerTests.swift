import Foundation
import Testing
@testable import Tokenization

/// tokenizer.json loading and encode/decode against HF `tokenizers` reference ids.
@Suite struct HuggingFaceTokenizerTests {
    static func tiny(_ name: String) throws -> Tokenizer {
        try Tokenizer.load(tokenizerJSON: Fixture.path("\(name)/tokenizer.json"),
                           tokenizerConfig: Fixture.path("\(name)/tokenizer_config.json"))
    }

    @Test func tinyLlama3MatchesHF() throws {
        let tok = try Self.tiny("tiny-llama3")
        let cases = try ReferenceCase.load("tokenizer/tiny-llama3.json")
        #expect(expectMatches(tok, cases, name: "tiny-llama3") == 0)
        expectStreamMatches(tok, cases, name: "tiny-llama3")
        #expect(tok.vocabSize == 1505)
        #expect(tok.bosToken == "<|begin_of_text|>")
        #expect(tok.eosToken == "<|eot_id|>")
        #expect(tok.bosTokenId == tok.tokenId("<|begin_of_text|>"))
        #expect(tok.chatTemplate?.contains("<|start_header_id|>") == true)
        let eot = Set(["<|eot_id|>", "<|end_of_text|>"].compactMap { tok.tokenId($0) })
        #expect(eot.count == 2 && eot.isSubset(of: tok.endOfTurnTokenIds))
    }

    @Test func tinyQwen2MatchesHF() throws {
        let tok = try Self.tiny("tiny-qwen2")
        let cases = try ReferenceCase.load("tokenizer/tiny-qwen2.json")
        #expect(expectMatches(tok, cases, name: "tiny-qwen2") == 0)
        expectStreamMatches(tok, cases, name: "tiny-qwen2")
        #expect(tok.bosTokenId == nil)
        #expect(tok.eosToken == "<|im_end|>")
        #expect(tok.padTokenId == tok.tokenId("<|endoftext|>"))
        #expect(tok.chatTemplate?.contains("You are Qwen, created by Alibaba Cloud.") == true)
        let eot = Set(["<|im_end|>", "<|endoftext|>"].compactMap { tok.tokenId($0) })
        #expect(eot.count == 2 && eot == tok.endOfTurnTokenIds)
        // <think> is an added, non-special token: matched in text, kept when skipping specials.
        let think = try #require(tok.tokenId("<think>"))
        #expect(!tok.isSpecialToken(think))
        #expect(tok.decode([think], skipSpecialTokens: true) == "<think>")
    }

    /// Qwen2's real 151k vocabulary (qwen.tiktoken converted by transformers; agrees with tiktoken).
    @Test func qwen2RealVocabularyMatchesHF() throws {
        let tok = try Tokenizer.load(tokenizerJSON: Fixture.path("tokenizer/qwen2/tokenizer.json"), tokenizerConfig: nil)
        #expect(tok.vocabSize == 151_665)
        let cases = try ReferenceCase.load("tokenizer/qwen2.json")
        #expect(expectMatches(tok, cases, name: "qwen2") == 0)
        expectStreamMatches(tok, cases, name: "qwen2")
        #expect(tok.tokenId("<|im_end|>") == 151_645)
        #expect(tok.endOfTurnTokenIds == [151_643, 151_645])
        #expect(tok.token(tok.encode(" the")[0]) == "Ġthe")
    }

    @Test func loadsFromDirectory() throws {
        let tok = try Tokenizer.load(directory: Fixture.path("tiny-qwen2"))
        #expect(tok.eosToken == "<|im_end|>")
        #expect(tok.chatTemplate != nil)
    }
}
