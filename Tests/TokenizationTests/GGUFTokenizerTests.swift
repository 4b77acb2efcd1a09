import Foundation
import ModelFiles
import Testing
@testable import Tokenization

/// The default model's tokenizer read from its GGUF file, against SmolLM2's HF pipeline
/// (vocabulary and merges from the same file, Digits + ByteLevel pre-tokenizer).
@Suite struct GGUFTokenizerTests {
    static func smolLM2() throws -> Tokenizer {
        try Tokenizer.load(gguf: GGUFFile(path: Fixture.smolLM2GGUF))
    }

    @Test func smolLM2MatchesHF() throws {
        let tok = try Self.smolLM2()
        let cases = try ReferenceCase.load("tokenizer/smollm2.json")
        #expect(expectMatches(tok, cases, name: "SmolLM2") == 0)
        expectStreamMatches(tok, cases, name: "SmolLM2")
    }

    @Test func smolLM2SpecialTokens() throws {
        let tok = try Self.smolLM2()
        #expect(tok.vocabSize == 49_152)
        #expect(tok.tokenId("<|im_end|>") == 2)
        #expect(tok.tokenId("<|endoftext|>") == 0)
        #expect(tok.endOfTurnTokenIds.isSuperset(of: [0, 2]))
        #expect(tok.bosTokenId == 1 && tok.eosTokenId == 2)
        #expect(tok.bosToken == "<|im_start|>" && tok.eosToken == "<|im_end|>")
        // add_bos_token is false: nothing is added.
        #expect(tok.encode("Hi", addSpecialTokens: true) == tok.encode("Hi"))
        #expect(tok.chatTemplate?.hasPrefix("{% for message in messages %}") == true)
        #expect(tok.isSpecialToken(2) && !tok.isSpecialToken(3_000))
        #expect(tok.decode([1, 3_000, 2], skipSpecialTokens: true) == tok.decode([3_000]))
    }
}
