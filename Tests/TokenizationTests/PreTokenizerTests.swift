import Foundation
import Testing
@testable import Tokenization

/// Pre-tokenizer pieces against HF `tokenizers` for each supported scheme; the scheme is
/// recognised from the same pre_tokenizer JSON the reference used.
@Suite struct PreTokenizerTests {
    @Test(arguments: ["gpt2", "smollm", "llama3", "qwen2", "deepseek3"])
    func piecesMatchHF(scheme: String) throws {
        let refs = try Fixture.json("tokenizer/pretokenize.json")
        let entry = try #require(refs[scheme] as? [String: Any])
        let config = try #require(entry["pre_tokenizer"])
        let rules = try Tokenizer.splitRules(config) { TokenizerError($0) }
        let pieces = try #require(entry["pieces"] as? [[String]])
        let strings = try Fixture.strings()
        #expect(pieces.count == strings.count)
        let pre = PreTokenizer(rules: rules)
        var bad = 0
        for (s, want) in zip(strings, pieces) {
            let got = pre.pieces(of: s)
            if got != want {
                bad += 1
                Issue.record("\(scheme): \(s.debugDescription) → \(got.map(\.debugDescription)), HF \(want.map(\.debugDescription))")
            }
        }
        #expect(bad == 0)
    }

    @Test func recognisesSchemes() throws {
        let refs = try Fixture.json("tokenizer/pretokenize.json")
        let expected: [String: [SplitRule]] = [
            "gpt2": [.gpt2], "smollm": [.digits, .gpt2], "llama3": [.llama3], "qwen2": [.qwen2],
            "deepseek3": [.deepseekDigits, .deepseekCJK, .deepseekMain],
        ]
        for (name, rules) in expected {
            let config = try #require((refs[name] as? [String: Any])?["pre_tokenizer"])
            #expect(try Tokenizer.splitRules(config) { TokenizerError($0) } == rules, "\(name)")
        }
    }
}
