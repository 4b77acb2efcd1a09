import Foundation
import Testing
@testable import Tokenization

/// Bad tokenizer files give errors that name the file and the key, never a crash.
@Suite struct TokenizerErrorTests {
    /// Writes `json` to a temporary tokenizer.json and returns the load error's message.
    func loadError(_ json: String) throws -> String {
        let path = NSTemporaryDirectory() + "tokenizer-\(UUID().uuidString).json"
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try Tokenizer.load(tokenizerJSON: path, tokenizerConfig: nil)
        } catch let e as TokenizerError {
            #expect(e.description.hasPrefix(path), "message should name the file: \(e)")
            return e.description
        }
        Issue.record("no error for \(json)")
        return ""
    }

    static let byteLevel = #""pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}, "decoder": {"type": "ByteLevel"}"#

    @Test func missingFile() {
        #expect {
            try Tokenizer.load(tokenizerJSON: "/nonexistent/tokenizer.json", tokenizerConfig: nil)
        } throws: { ($0 as? TokenizerError)?.description.contains("/nonexistent/tokenizer.json") == true }
    }

    @Test func unsupportedModels() throws {
        let unigram = try loadError(#"{"model": {"type": "Unigram", "vocab": [["a", 0.0]]}}"#)
        #expect(unigram.contains("Unigram") && unigram.contains("not supported"))
        let wordpiece = try loadError(#"{"model": {"type": "WordPiece", "vocab": {"a": 0}}}"#)
        #expect(wordpiece.contains("WordPiece"))
        let fallback = try loadError(#"{"model": {"type": "BPE", "byte_fallback": true, "vocab": {}, "merges": []}}"#)
        #expect(fallback.contains("byte_fallback"))
        let meta = try loadError(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Metaspace"}}"#)
        #expect(meta.contains("Metaspace"))
        let regex = try loadError(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\w+"}, "behavior": "Isolated"}, {"type": "ByteLevel", "use_regex": false}]}}"#)
        #expect(regex.contains("pre_tokenizer.pretokenizers[0]"))
    }

    @Test func badMerges() throws {
        let unknown = try loadError(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b", "a zz"]}, \#(Self.byteLevel)}"#)
        #expect(unknown.contains("model.merges[1]") && unknown.contains("\"zz\""))
        let notMerged = try loadError(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a", "b"]]}, \#(Self.byteLevel)}"#)
        #expect(notMerged.contains("model.merges[0]") && notMerged.contains("\"ab\""))
        let malformed = try loadError(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a"]}, \#(Self.byteLevel)}"#)
        #expect(malformed.contains("model.merges[0]"))
    }

    @Test func malformedFiles() throws {
        #expect(try loadError("{not json").contains("invalid JSON"))
        #expect(try loadError("[]").contains("not a JSON object"))
        #expect(try loadError(#"{"model": {"type": "BPE", "vocab": {"a": -3}, "merges": []}}"#).contains("model.vocab"))
        let added = try loadError(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": [{"content": "x"}], \#(Self.byteLevel)}"#)
        #expect(added.contains("added_tokens[0]"))
    }

    @Test func badConfig() throws {
        let dir = NSTemporaryDirectory() + "tok-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try #"{"eos_token": "<|nope|>"}"#.write(toFile: dir + "/c.json", atomically: true, encoding: .utf8)
        #expect {
            try Tokenizer.load(tokenizerJSON: Fixture.path("tiny-qwen2/tokenizer.json"), tokenizerConfig: dir + "/c.json")
        } throws: { e in
            let msg = (e as? TokenizerError)?.description ?? ""
            return msg.contains(dir + "/c.json") && msg.contains("eos_token")
        }
    }
}
