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

    /// Qwen2's real merge ranks and ids (qwen.tiktoken converted by transformers, agreeing with
    /// tiktoken), trimmed by the script to the merges BPE applies to the reference strings.
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

    /// DeepSeek-V3 pre-tokenizer, added tokens that are not byte-level strings ("<｜User｜>"),
    /// BOS from the post-processor and add_bos_token without doubling it.
    @Test func tinyDeepSeekR1MatchesHF() throws {
        let tok = try Tokenizer.load(directory: Fixture.path("tokenizer/tiny-deepseek-r1"))
        let cases = try ReferenceCase.load("tokenizer/tiny-deepseek-r1.json")
        #expect(expectMatches(tok, cases, name: "tiny-deepseek-r1") == 0)
        expectStreamMatches(tok, cases, name: "tiny-deepseek-r1")
        let bos = try #require(tok.tokenId("<｜begin▁of▁sentence｜>"))
        let eos = try #require(tok.tokenId("<｜end▁of▁sentence｜>"))
        #expect(tok.bosTokenId == bos && tok.eosTokenId == eos)
        #expect(tok.encode("x", addSpecialTokens: true).first == bos)
        #expect(tok.encode("x", addSpecialTokens: true).filter { $0 == bos }.count == 1)
        #expect(tok.endOfTurnTokenIds == [eos])
        let user = try #require(tok.tokenId("<｜User｜>"))
        #expect(tok.decode([user, eos]) == "<｜User｜><｜end▁of▁sentence｜>")
        #expect(tok.chatTemplate?.contains("<｜Assistant｜><think>") == true)
    }

    /// lstrip / rstrip / single_word added tokens, as HF matches them.
    @Test func addedTokenFlagsMatchHF() throws {
        let tok = try Tokenizer.load(tokenizerJSON: Fixture.path("tokenizer/tiny-added-flags/tokenizer.json"))
        let cases = try ReferenceCase.load("tokenizer/tiny-added-flags.json")
        #expect(expectMatches(tok, cases, name: "tiny-added-flags") == 0)
    }

    /// Concurrent encodes share the word cache; results equal the sequential ones.
    @Test func concurrentEncodes() async throws {
        let tok = try Tokenizer.load(tokenizerJSON: Fixture.path("tokenizer/qwen2/tokenizer.json"))
        let cases = try ReferenceCase.load("tokenizer/qwen2.json")
        let results = await withTaskGroup(of: Int.self) { group in
            for k in 0..<4 {
                group.addTask {
                    var bad = 0
                    for c in (k % 2 == 0 ? cases : cases.reversed()) where tok.encode(c.text) != c.ids { bad += 1 }
                    return bad
                }
            }
            return await group.reduce(0, +)
        }
        #expect(results == 0)
    }

    @Test func loadsFromDirectory() throws {
        let tok = try Tokenizer.load(directory: Fixture.path("tiny-qwen2"))
        #expect(tok.eosToken == "<|im_end|>")
        #expect(tok.chatTemplate != nil)
    }
}
