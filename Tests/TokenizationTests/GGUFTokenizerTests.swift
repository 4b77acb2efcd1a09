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

/// GGUF metadata the tokenizer cannot use gives errors naming the file and key.
@Suite struct GGUFTokenizerErrorTests {
    static let base: [String: GGUFValue] = [
        "tokenizer.ggml.model": .string("gpt2"),
        "tokenizer.ggml.pre": .string("smollm"),
        "tokenizer.ggml.tokens": .array(["a", "b", "ab", "<s>"].map { .string($0) }),
        "tokenizer.ggml.token_type": .array([1, 1, 1, 3].map { .int32($0) }),
        "tokenizer.ggml.merges": .array([.string("a b")]),
        "tokenizer.ggml.eos_token_id": .uint32(3),
    ]

    func error(_ change: (inout [String: GGUFValue]) -> Void) -> String {
        var meta = Self.base
        change(&meta)
        do {
            _ = try Tokenizer(definition: Tokenizer.definition(gguf: meta, path: "/x/model.gguf"))
            Issue.record("no error")
            return ""
        } catch {
            let msg = "\(error)"
            #expect(msg.hasPrefix("/x/model.gguf: "), "\(msg)")
            return msg
        }
    }

    @Test func validMetadataLoads() throws {
        let tok = try Tokenizer(definition: Tokenizer.definition(gguf: Self.base, path: "/x/model.gguf"))
        #expect(tok.encode("ab<s>a") == [2, 3, 0])
        #expect(tok.endOfTurnTokenIds == [3])
    }

    @Test func badMetadata() {
        #expect(error { $0["tokenizer.ggml.model"] = .string("llama") }.contains("tokenizer.ggml.model \"llama\""))
        #expect(error { $0["tokenizer.ggml.model"] = nil }.contains("tokenizer.ggml.model"))
        #expect(error { $0["tokenizer.ggml.pre"] = .string("chameleon") }.contains("tokenizer.ggml.pre \"chameleon\""))
        #expect(error { $0["tokenizer.ggml.tokens"] = nil }.contains("tokenizer.ggml.tokens"))
        #expect(error { $0["tokenizer.ggml.merges"] = .array([.string("a zz")]) }.contains("tokenizer.ggml.merges[0]"))
        #expect(error { $0["tokenizer.ggml.merges"] = .array([.string("b a")]) }.contains("\"ba\""))
        #expect(error { $0["tokenizer.ggml.token_type"] = .array([.int32(1)]) }.contains("tokenizer.ggml.token_type"))
        #expect(error { $0["tokenizer.ggml.eos_token_id"] = .uint32(99) }.contains("99"))
        #expect(error { $0["tokenizer.ggml.bos_token_id"] = .string("1") }.contains("tokenizer.ggml.bos_token_id"))
        #expect(error { $0["tokenizer.ggml.add_bos_token"] = .bool(true) }.contains("bos_token_id"))
    }
}
