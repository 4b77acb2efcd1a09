import Foundation
import Testing
@testable import Metrics

/// GRPO's built-in rewards against their definitions run in Python (scripts/make_grpo_references.py
/// → Tests/Fixtures/grpo_parity/rewards.json): TRL v1.9.0's `think_format_reward` and
/// `get_soft_overlong_punishment`, SQuAD's `normalize_answer`.
@Suite struct RewardsTests {
    static let fixture: [String: Any] = {
        let url = Paths.root.appendingPathComponent("Tests/Fixtures/grpo_parity/rewards.json")
        return try! JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }()

    @Test func thinkFormatIsTRLsRegex() {
        let cases = Self.fixture["think_format"] as! [[String: Any]]
        #expect(cases.count >= 15)
        var differsFromEval = 0
        for c in cases {
            let text = c["text"] as! String, want = c["reward"] as! Double
            #expect(Rewards.thinkFormat(text) == want, "\(text.debugDescription): TRL \(want)")
            if (want == 1) != GenerationMetrics.isThinkFormatted(text) { differsFromEval += 1 }
        }
        // Two formulas, kept apart: the eval cell's stricter think_format disagrees on some of these.
        #expect(differsFromEval >= 2)
        #expect(Rewards.thinkFormat("<think>x</think>") == 1 && !GenerationMetrics.isThinkFormatted("<think>x</think>"))
    }

    @Test func normalizedAnswerIsSQuADs() {
        for c in Self.fixture["normalize_answer"] as! [[String: Any]] {
            let text = c["text"] as! String, want = c["normalized"] as! String
            #expect(Rewards.normalizedAnswer(text) == want, "\(text.debugDescription) → \(Rewards.normalizedAnswer(text).debugDescription), SQuAD \(want.debugDescription)")
        }
    }

    @Test func softOverlongIsTRLs() {
        for c in Self.fixture["soft_overlong"] as! [[String: Any]] {
            let n = c["length"] as! Int, t = c["target"] as! Int, k = c["cache"] as! Int, want = c["reward"] as! Double
            #expect(Rewards.softOverlong(length: n, target: t, cache: k) == want, "length \(n), target \(t), cache \(k)")
        }
    }

    @Test func answerMatchModes() {
        let options = ["A": "Iron deficiency", "B": "Parvovirus B19 infection", "C": "Folate deficiency"]
        let done = "<think>low reticulocytes, normal platelets</think>\nThe answer is B."
        #expect(Rewards.answerMatch(done, gold: "B", mode: .choice, options: options) == 1)
        #expect(Rewards.answerMatch(done, gold: "C", mode: .choice, options: options) == 0)
        // Only the answer after </think> counts: a letter inside the reasoning does not.
        #expect(Rewards.answerMatch("<think>answer is C?</think>nothing", gold: "C", mode: .choice, options: options) == 0)
        #expect(Rewards.answerMatch("<think>r</think>\n Parvovirus B19 infection \n", gold: "Parvovirus B19 infection", mode: .exact) == 1)
        #expect(Rewards.answerMatch("<think>r</think>parvovirus B19 infection", gold: "Parvovirus B19 infection", mode: .exact) == 0)
        #expect(Rewards.answerMatch("<think>r</think>The parvovirus-B19 infection.", gold: "Parvovirus B19 infection", mode: .normalized) == 0)
        #expect(Rewards.answerMatch("<think>r</think>The Parvovirus B19, infection.", gold: "parvovirus b19 infection", mode: .normalized) == 1)
        #expect(Rewards.answerPart("no reasoning") == "no reasoning" && Rewards.answerPart("a</think>b</think>c") == "c")
    }
}
