import Foundation
import Testing
@testable import Dataset

struct BadInputTests {
    @Test func missingResponseFieldNamesFileLineAndKey() throws {
        let p = tempFile("""
        {"Question": "q", "Complex_CoT": "c", "Response": "r"}

        {"Question": "q", "Complex_CoT": "c"}
        """)
        defer { try? FileManager.default.removeItem(atPath: p) }
        let m = errorMessage { _ = try Dataset.load(path: p) }
        #expect(m.contains(p) && m.contains("line 3") && m.contains("row 1") && m.contains("\"Response\"") && m.contains("response"))
    }

    @Test func jsonArrayErrorsNameTheRow() throws {
        let missing = tempFile(#"[{"instruction": "i", "output": "o"}, {"instruction": "i"}]"#, ext: "json")
        let notObject = tempFile(#"[{"instruction": "i", "output": "o"}, "text"]"#, ext: "json")
        defer { for p in [missing, notObject] { try? FileManager.default.removeItem(atPath: p) } }
        let m1 = errorMessage { _ = try Dataset.load(path: missing) }
        #expect(m1.contains(missing) && m1.contains("row 1") && m1.contains("\"output\""))
        let m2 = errorMessage { _ = try Dataset.load(path: notObject) }
        #expect(m2.contains("row 1") && m2.contains("not a JSON object") && m2.contains("a string"))
    }

    @Test func nonObjectLineAndInvalidJSONNameTheLine() throws {
        let p1 = tempFile("{\"question\": \"q\", \"think\": \"t\", \"answer\": \"a\"}\n[1, 2]\n")
        let p2 = tempFile("{\"question\": \"q\", \"think\": \"t\", \"answer\": \"a\"}\n{\"question\": \"q\",\n")
        let p3 = tempFile("[\n{\"Question\": \"q\", \"Complex_CoT\": \"c\", \"Response\": \"r\"},\n{\"Question\": oops}\n]", ext: "json")
        defer { for p in [p1, p2, p3] { try? FileManager.default.removeItem(atPath: p) } }
        let m1 = errorMessage { _ = try Dataset.load(path: p1) }
        #expect(m1.contains(p1) && m1.contains("line 2") && m1.contains("not a JSON object") && m1.contains("an array"))
        let m2 = errorMessage { _ = try Dataset.load(path: p2) }
        #expect(m2.contains(p2) && m2.contains("line 2") && m2.contains("invalid JSON"))
        let m3 = errorMessage { _ = try Dataset.load(path: p3) }
        #expect(m3.contains(p3) && m3.contains("invalid JSON"))
    }

    @Test func emptyDatasetAndUnreadableFile() throws {
        let p = tempFile("\n  \n")
        let a = tempFile("[]", ext: "json")
        defer { for x in [p, a] { try? FileManager.default.removeItem(atPath: x) } }
        #expect(errorMessage { _ = try Dataset.load(path: p) }.contains("empty"))
        #expect(errorMessage { _ = try Dataset.load(path: a) }.contains("empty"))
        #expect(errorMessage { _ = try Dataset.load(path: "/nonexistent/x.jsonl") }.contains("/nonexistent/x.jsonl: no such data file"))
    }

    /// A missing relative path says where it was looked for; a directory is not "missing".
    @Test func unreadableFilesSayWhy() throws {
        let cwd = FileManager.default.currentDirectoryPath
        let m1 = errorMessage { _ = try Dataset.load(path: "no-such-dir/x.jsonl") }
        #expect(m1.contains("no-such-dir/x.jsonl: no such data file") && m1.contains("relative to the working directory \(cwd)"))
        let m2 = errorMessage { _ = try PromptTemplate.load(path: "no-such-dir/t.txt") }
        #expect(m2.contains("no-such-dir/t.txt: no such template file") && m2.contains(cwd))
        let dir = NSTemporaryDirectory()
        #expect(errorMessage { _ = try Dataset.load(path: dir) }.contains("it is a directory"))
        let bad = tempFile("x", ext: "txt")
        defer { try? FileManager.default.removeItem(atPath: bad) }
        try Data([0x41, 0xff, 0xfe]).write(to: URL(fileURLWithPath: bad))
        #expect(errorMessage { _ = try PromptTemplate.load(path: bad) }.contains("not UTF-8"))
    }

    @Test func unknownFormatAndBadMapping() throws {
        let p = tempFile(#"{"prompt": "p", "completion": "c"}"#)
        defer { try? FileManager.default.removeItem(atPath: p) }
        #expect(errorMessage { _ = try Dataset.load(path: p) }.contains("column mapping"))
        let d = try Dataset.load(path: p, format: .mapping(parsing: "question=prompt, answer=completion"))
        #expect(d.rows[0]["Question"] == "p" && d.rows[0]["Response"] == "c")
        let m = errorMessage { _ = try Dataset.load(path: p, format: .mapping(parsing: "question=prompt, answer=answer")) }
        #expect(m.contains("row 0") && m.contains("\"answer\""))
        #expect(errorMessage { _ = try RecordFormat.mapping(parsing: "question=q, reply=r") }.contains("unknown role \"reply\""))
        #expect(errorMessage { _ = try RecordFormat.mapping(parsing: "question=q") }.contains("no column for \"answer\""))
        #expect(errorMessage { _ = try RecordFormat.mapping(parsing: "question") }.contains("not role=column"))
    }

    @Test func templateNamingMissingColumnListsColumnsAndClosest() throws {
        let d = try Dataset.load(path: Paths.sample)
        let t = try PromptTemplate("Q: {Questoin}\nA: {Response}")
        let m = errorMessage { try t.validate(against: d) }
        #expect(m.contains("{Questoin}") && m.contains("available columns: Complex_CoT, Question, Response") && m.contains("closest: \"Question\""))
        let b = try ExampleBuilder(template: t, tokenizer: SmolLM2.tokenizer)
        #expect(errorMessage { _ = try b.examples(d) }.contains("closest: \"Question\""))
        #expect(errorMessage { _ = try b.example(d.rows[0]) }.contains("no column \"Questoin\""))
    }

    @Test func malformedTemplates() throws {
        #expect(errorMessage { _ = try PromptTemplate("Q: {Question") }.contains("without a closing"))
        #expect(errorMessage { _ = try PromptTemplate("Q: {Question} }") }.contains("single \"}\""))
        #expect(errorMessage { _ = try PromptTemplate("Q: {Question}") }.contains("no placeholder for a response column"))
        #expect(errorMessage { _ = try PromptTemplate("{} {} {}", columns: ["Question", "Response"]) }.contains("positional {} number 3"))
        #expect(errorMessage { _ = try PromptTemplate.load(path: "/nonexistent/t.txt") }.contains("/nonexistent/t.txt"))
    }
}
