import Foundation
import Testing
@testable import Metrics

@Suite struct JSONStringLinesTests {
    private func parse(_ bytes: [UInt8]) throws -> [String] { try JSONStringLines.parse(Data(bytes), path: "P.jsonl") }
    private func parse(_ s: String) throws -> [String] { try parse(Array(s.utf8)) }
    private func error(_ s: String) -> String {
        do { _ = try parse(s); return "no error" } catch { return "\(error)" }
    }

    @Test func readsOneStringPerLine() throws {
        #expect(try parse("\"a\"\n\"\"\n\"患者\\n😀\"\n") == ["a", "", "患者\n😀"])
        #expect(try parse("\"no final newline\"") == ["no final newline"])
        #expect(try parse("\"crlf\"\r\n\"x\"\r\n") == ["crlf", "x"])
        #expect(try parse(#"  "\ud83d\ude00 \u00e9\t\"q\"\\/"  "#) == ["😀 é\t\"q\"\\/"])
    }

    @Test func badLinesAreNamed() throws {
        #expect(error("") .contains("P.jsonl: the file is empty"))
        #expect(error("\"a\"\n\n\"b\"\n").contains("P.jsonl:2: empty line"))
        #expect(error("\"a\"\n{\"text\": \"b\"}\n").contains("P.jsonl:2: expected a JSON string"))
        #expect(error("\"a\"\n42\n").contains("P.jsonl:2"))
        #expect(error("\"open\n").contains("P.jsonl:1: unterminated"))
        #expect(error("\"a\" \"b\"\n").contains("P.jsonl:1: unexpected"))
        #expect(error("\"\\ud800\"\n").contains("P.jsonl:1: lone surrogate"))
        #expect(error("\"tab\there\"\n").contains("P.jsonl:1: unescaped control character"))
        do { _ = try parse(Array("\"ok\"\n\"".utf8) + [0xFF, 0x22, 0x0A]); Issue.record("accepted non-UTF-8") } catch {
            #expect("\(error)" == "P.jsonl:2: not valid UTF-8")
        }
    }
}
