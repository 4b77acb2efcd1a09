import Foundation
import Testing
@testable import Dataset

/// Preference pairs: both layouts of the real data load, bad rows are named, truncation is
/// counted per side and follows TRL's `tokenize_row` (prompt keeps its end, completions their start).
struct PreferenceDataTests {
    static let humanLike = Paths.shared("human_like_dpo_972.json")
    static let dpoZh = Paths.shared("dpo_zh_500.jsonl")

    /// The prompt as it is, with the tokenizer's special prefix.
    static let plain: PreferenceTokenizer.PromptFormat = { row in (row[PreferenceColumn.prompt]!, true) }

    @Test func realDataLoadsInBothLayouts() throws {
        let en = try Dataset.loadPreferences(path: Self.humanLike)
        #expect(en.rows.count == 972)
        #expect(en.rows[0][PreferenceColumn.prompt]?.hasPrefix("Have you ever met someone") == true)
        #expect(en.rows.allSatisfy { $0[PreferenceColumn.chosen] != nil && $0[PreferenceColumn.rejected] != nil })
        let zh = try Dataset.loadPreferences(path: Self.dpoZh, slice: "train[0:100]")
        #expect(zh.rows.count == 100)
        // 84 of the 500 rows open with a system turn; it becomes the System column.
        let all = try Dataset.loadPreferences(path: Self.dpoZh, layout: .sharegptChosenRejected)
        #expect(all.rows.filter { $0[PreferenceColumn.system] != nil }.count == 84)
        #expect(all.rows.allSatisfy { !($0[PreferenceColumn.prompt] ?? "").isEmpty })
        // The wrong layout is refused naming the row and key.
        let m = errorMessage { _ = try Dataset.loadPreferences(path: Self.dpoZh, layout: .promptChosenRejected) }
        #expect(m.contains("line 1 (row 0)") && m.contains("\"prompt\""), "\(m)")
    }

    @Test func badRowsAreNamed() {
        func load(_ text: String) -> String {
            let p = tempFile(text)
            defer { try? FileManager.default.removeItem(atPath: p) }
            return errorMessage { _ = try Dataset.loadPreferences(path: p) }
        }
        let ok = #"{"prompt": "p", "chosen": "a", "rejected": "b"}"#
        #expect(load(ok + "\n" + #"{"prompt": "p", "chosen": "a", "rejected": "  "}"#).contains("line 2 (row 1): \"rejected\" is empty"))
        #expect(load(ok + "\n" + #"{"prompt": "", "chosen": "a", "rejected": "b"}"#).contains("row 1): \"prompt\" is empty"))
        #expect(load(ok + "\n" + #"{"prompt": "p", "chosen": "a"}"#).contains("row 1): missing key \"rejected\""))
        #expect(load(ok + "\n" + #"{"prompt": "p", "chosen": [{"role": "assistant", "content": "a"}], "rejected": "b"}"#)
            .contains("\"chosen\" is an array, not a string"))
        let conv = #"{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}, {"from": "human", "value": "q2"}], "chosen": "a", "rejected": "b"}"#
        #expect(load(conv).contains("conversations[1]") && load(conv).contains("multi-turn"))
        #expect(load(#"{"question": "q", "answer": "a"}"#).contains("cannot tell the preference layout"))
    }

    @Test func truncationIsCountedPerSideAsTRL() throws {
        let tok = SmolLM2.tokenizer
        let eos = try #require(tok.eosTokenId)
        let long = String(repeating: "word ", count: 40)
        let rows = [
            Row(index: 0, columns: [PreferenceColumn.prompt: "Hi there", PreferenceColumn.chosen: "Hello!", PreferenceColumn.rejected: long]),
            Row(index: 1, columns: [PreferenceColumn.prompt: long, PreferenceColumn.chosen: "Fine.", PreferenceColumn.rejected: "Fine."]),
        ]
        let t = try PreferenceTokenizer(tokenizer: tok, maxLength: 24, maxPromptLength: 8, format: Self.plain)
        let (pairs, st) = try t.pairs(Dataset(rows: rows, source: "mem"))
        // Row 0: nothing cut on the chosen side, which ends with EOS; the rejected one is cut to 24 in all.
        #expect(pairs[0].chosen == tok.encode("Hello!") + [eos])
        #expect(pairs[0].prompt.count + pairs[0].rejected.count == 24 && pairs[0].rejected.last != eos)
        #expect(pairs[0].rejected == Array(tok.encode(long).prefix(24 - pairs[0].prompt.count)))
        // Row 1: the prompt keeps its last 8 tokens (TRL: prompt_input_ids[-max_prompt_length:]).
        #expect(pairs[1].prompt == Array(tok.encode(long, addSpecialTokens: true).suffix(8)))
        #expect(st.promptTruncated == 1 && st.chosenTruncated == 0 && st.rejectedTruncated == 1)
        #expect(st.identical == 1 && st.identicalRows == [1])
        #expect(st.completionTokens == pairs.reduce(0) { $0 + $1.chosen.count + $1.rejected.count })

        // Without a prompt limit, a prompt that leaves no room is an error naming the row.
        let u = try PreferenceTokenizer(tokenizer: tok, maxLength: 24, maxPromptLength: nil, format: Self.plain)
        let m = errorMessage { _ = try u.pairs(Dataset(rows: rows, source: "mem")) }
        #expect(m.contains("mem: row 1") && m.contains("no room for a completion"), "\(m)")
        #expect(errorMessage { _ = try PreferenceTokenizer(tokenizer: tok, maxLength: 8, maxPromptLength: 8, format: Self.plain) }
            .contains("max_prompt_length"))
    }
}
