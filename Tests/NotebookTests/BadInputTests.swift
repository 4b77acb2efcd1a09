import Foundation
import Testing
@testable import Notebook

/// Deterministic xorshift64* so a failure can be reproduced.
private struct XorShift: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state ^= state >> 12; state ^= state << 25; state ^= state >> 27
        return state &* 2685821657736338717
    }
}

/// Random notebooks made of fences, keys, quotes, brackets, escapes and multi-byte text must
/// parse or throw a NotebookError — never crash or hang.
@Test func randomNotebooksNeverCrash() throws {
    var rng = XorShift(state: 0x9E37_79B9_7F4A_7C15)
    let pieces = ["```", "```train", "```format\n", "~~~", "\n", " ", "=", "lr", "r", "max_steps", "template_text",
                  "\"", "'", "\"\"\"", "'''", "[", "]", "{", "}", ",", "\\", "\\u00", "#", "1e-4", "0x", "_", "-", "+",
                  "true", "inf", "é", "中", "\r\n", "\t", ".", "a = 1", "\u{0}", "\u{7F}"]
    var accepted = 0
    for _ in 0..<3000 {
        var text = ""
        for _ in 0..<Int.random(in: 1...40, using: &rng) { text += pieces.randomElement(using: &rng)! }
        do {
            _ = try Notebook(text: text, path: "fuzz.md")
            accepted += 1
        } catch let e as NotebookError {
            #expect(!e.description.isEmpty)
        }
    }
    #expect(accepted > 0)
}

/// Every truncation of a valid notebook parses or fails cleanly.
@Test func truncatedNotebooksFailCleanly() throws {
    let text = try String(contentsOf: notebookFixtures.appendingPathComponent("example.md"), encoding: .utf8)
    let bytes = Array(text.utf8)
    for n in stride(from: 0, to: bytes.count, by: 3) {
        let cut = String(decoding: bytes[0..<n], as: UTF8.self)
        do { _ = try Notebook(text: cut, path: "cut.md") } catch is NotebookError {}
    }
}

/// Random REPL lines and overrides: a value or a NotebookError.
@Test func randomTypedCellsAndOverridesNeverCrash() {
    var rng = XorShift(state: 42)
    let pieces = ["train", "infer", " ", "=", "lr", "max_steps", "question", "\"", "'", "[", "]", "{", "}", "1", "2e-4",
                  "cosine", ".", "train.", "\\", "é", ",", "true"]
    for _ in 0..<3000 {
        var line = ""
        for _ in 0..<Int.random(in: 1...12, using: &rng) { line += pieces.randomElement(using: &rng)! }
        do { _ = try parseTypedCell(line, index: 1) } catch is NotebookError {} catch { Issue.record("\(line): \(error)") }
        do { _ = try Override(parsing: line) } catch is NotebookError {} catch { Issue.record("\(line): \(error)") }
        _ = ParamValue.parseLoose(line)
    }
}
