import Foundation
import Testing
@testable import Tokenization

/// Paths of committed fixtures and of the default model (git-ignored, fetched by set-up).
enum Fixture {
    static let testsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static func path(_ relative: String) -> String { testsDir.appendingPathComponent("Fixtures/" + relative).path }
    static let smolLM2GGUF = testsDir.deletingLastPathComponent().appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path

    static func json(_ relative: String) throws -> [String: Any] {
        let data = try #require(FileManager.default.contents(atPath: path(relative)), "missing fixture \(relative)")
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// The shared reference inputs (written by scripts/make_tokenizer_references.py).
    static func strings() throws -> [String] {
        try #require(json("tokenizer/strings.json")["strings"] as? [String])
    }
}

/// One reference row: HF `tokenizers` output for one input string.
struct ReferenceCase {
    var text: String
    var ids: [Int]
    var idsWithSpecial: [Int]?
    var decoded: String
    var decodedSkipSpecial: String

    static func load(_ relative: String) throws -> [ReferenceCase] {
        let file = try Fixture.json(relative)
        let strings = try Fixture.strings() + (file["extra_strings"] as? [String] ?? [])
        let rows = try #require(file["cases"] as? [[String: Any]])
        try #require(rows.count == strings.count, "\(relative): \(rows.count) cases for \(strings.count) strings")
        return try zip(strings, rows).map { text, row in
            ReferenceCase(text: text,
                          ids: try #require(row["ids"] as? [Int]),
                          idsWithSpecial: row["ids_special"] as? [Int],
                          decoded: try #require(row["decoded"] as? String),
                          decodedSkipSpecial: try #require(row["decoded_skip_special"] as? String))
        }
    }
}

/// Compares a tokenizer with reference rows; returns the number of mismatching strings
/// (and records each one).
@discardableResult
func expectMatches(_ tok: Tokenizer, _ cases: [ReferenceCase], name: String) -> Int {
    var bad = 0
    for c in cases {
        let ids = tok.encode(c.text)
        if ids != c.ids {
            bad += 1
            Issue.record("\(name): encode(\(c.text.debugDescription)) = \(ids), HF \(c.ids)")
        }
        if let want = c.idsWithSpecial {
            let got = tok.encode(c.text, addSpecialTokens: true)
            if got != want { bad += 1; Issue.record("\(name): encode(\(c.text.debugDescription), special) = \(got), HF \(want)") }
        }
        let dec = tok.decode(c.ids)
        if dec != c.decoded { bad += 1; Issue.record("\(name): decode(\(c.ids)) = \(dec.debugDescription), HF \(c.decoded.debugDescription)") }
        let decSkip = tok.decode(c.ids, skipSpecialTokens: true)
        if decSkip != c.decodedSkipSpecial {
            bad += 1
            Issue.record("\(name): decode(\(c.ids), skip) = \(decSkip.debugDescription), HF \(c.decodedSkipSpecial.debugDescription)")
        }
    }
    return bad
}

/// Decoding one id at a time must give decode(all) for every reference row.
func expectStreamMatches(_ tok: Tokenizer, _ cases: [ReferenceCase], name: String) {
    for skip in [false, true] {
        for c in cases {
            let stream = tok.makeStreamDecoder(skipSpecialTokens: skip)
            var text = ""
            for id in c.ids { text += stream.push(id) }
            text += stream.flush()
            let want = skip ? c.decodedSkipSpecial : c.decoded
            #expect(text == want, "\(name): streamed \(c.ids) (skip \(skip))")
        }
    }
}
