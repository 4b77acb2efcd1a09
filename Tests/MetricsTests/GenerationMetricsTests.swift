import Foundation
import Testing
@testable import Metrics

@Suite struct GenerationMetricsTests {
    @Test func thinkFormatFollowsItsDefinition() {
        let cases: [(String, Bool)] = [
            ("<think>reasoning</think>answer", true),
            ("<think>\nmulti\nline\n</think>\n\nanswer", true),
            ("<think></think>x", true),
            ("<think>reasoning</think>\n", true),                 // any character after </think> counts (DOTALL)
            ("<think>reasoning</think>", false),                  // no answer
            ("<think>reasoning cut by truncation", false),        // no </think>
            (" <think>a</think>b", false),                        // something before <think>
            ("answer <think>a</think>b", false),
            ("<think>a<think>b</think>c", false),                 // second <think>
            ("<think>a</think>b</think>c", false),                // second </think>
            ("<think>a</think>b<think>c</think>d", false),
            ("<THINK>a</THINK>b", false),
            ("", false),
        ]
        for (s, want) in cases { #expect(GenerationMetrics.isThinkFormatted(s) == want, "\(s.debugDescription)") }
        let score = GenerationMetrics.thinkFormat(cases.map(\.0))
        #expect(score.value == 4.0 / 13.0 && score.rows == 13 && score.card.name == "think_format")
    }

    @Test func meanLengthCountsCodePoints() {
        let s = GenerationMetrics.meanLength(["abc", "患者", "👨‍👩‍👧", ""])   // 3, 2, 5 (ZWJ sequence), 0
        #expect(s.value == 2.5)
        #expect(GenerationMetrics.meanTokens([10, 20], tokenizer: "SmolLM2").value == 15)
    }

    @Test func choiceExtractionRules() {
        let options = ["A": "Iron deficiency", "B": "Folate deficiency", "C": "Iron deficiency anemia", "D": "Parvovirus B19 infection"]
        let cases: [(String, String?)] = [
            ("The answer is D.", "D"),
            ("Answer: (B) Folate deficiency", "B"),
            ("**Answer:** C", "C"),
            ("I first thought A, but the correct option is B.", "B"),      // last explicit statement
            ("<think>The answer is A.</think>The answer is D.", "D"),       // only after </think>
            ("D. Parvovirus B19 infection", "D"),
            ("(B) because of the diet", "B"),
            ("答案是C。", "C"),
            ("Most likely parvovirus B19 infection.", "D"),                // option text
            ("Not folate deficiency; this is iron deficiency anemia.", "C"), // latest, longer option wins
            ("A patient like this needs tests.", nil),                      // the article "A" is not a choice
            ("The answer is F.", nil),                                      // not an option
            ("", nil),
        ]
        for (answer, want) in cases { #expect(ChoiceAccuracy.choice(in: answer, options: options) == want, "\(answer)") }
    }

    /// medical-o1's MedQA rows (real option texts, 4–5 per row, some containing others): answers written
    /// in each style the rules cover choose the gold option; shifting the gold letters (the negative
    /// control) collapses the accuracy. The rows' own open-ended Responses are scored for information:
    /// most never name an option (104 of 160 do not contain the gold option's text).
    @Test func medQAAnswersChooseTheGoldOption() throws {
        let rows = try sharedRows("medical_o1_en_160.json") as! [[String: Any]]
        let options = rows.map { $0["options"] as! [String: String] }
        let gold = rows.map { $0["answer_idx"] as! String }
        let responses = rows.map { $0["Response"] as! String }
        let styles: [(String, (Int) -> String)] = [
            ("explicit", { "<think>Maybe A.</think>After weighing the options, the answer is \(gold[$0])." }),
            ("leading", { "\(gold[$0]). \(options[$0][gold[$0]]!)" }),
            ("option text", { responses[$0] + "\n\nSo the most likely choice: " + options[$0][gold[$0]]!.lowercased() }),
        ]
        let letters = ["A", "B", "C", "D", "E"]
        let shifted = gold.map { letters[(letters.firstIndex(of: $0)! + 1) % letters.count] }
        for (name, make) in styles {
            let answers = rows.indices.map(make)
            let (score, unanswered) = ChoiceAccuracy.accuracy(answers: answers, options: options, gold: gold)
            let (control, _) = ChoiceAccuracy.accuracy(answers: answers, options: options, gold: shifted)
            #expect(score.value == 1 && unanswered == 0, "\(name): \(score.value), \(unanswered) unanswered")
            #expect(control.value == 0, "\(name) with shifted gold: \(control.value)")
        }
        let (plain, unanswered) = ChoiceAccuracy.accuracy(answers: responses, options: options, gold: gold)
        print("medical-o1 open-ended Responses: accuracy \(plain.value) on \(plain.rows) rows, \(unanswered) without a choice")
    }
}
