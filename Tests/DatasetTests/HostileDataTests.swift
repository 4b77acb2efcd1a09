import Foundation
import Testing
@testable import Dataset

/// Invalid UTF-8 in a data file is an error naming the file and where, in JSON arrays and JSONL.
@Suite struct HostileDataTests {
    func write(_ bytes: [UInt8], ext: String) -> String {
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("dataset-hostile-\(UUID().uuidString).\(ext)").path
        _ = FileManager.default.createFile(atPath: p, contents: Data(bytes))
        return p
    }

    @Test func invalidUTF8() throws {
        let row = Array(#"{"Question":"q","Complex_CoT":"c","Response":"r"}"#.utf8)
        let badRow = Array(#"{"Question":"q"#.utf8) + [0xFF, 0xFE] + Array(#"","Complex_CoT":"c","Response":"r"}"#.utf8)
        let jsonl = write(row + [10] + badRow + [10], ext: "jsonl")
        defer { try? FileManager.default.removeItem(atPath: jsonl) }
        let e1 = errorMessage { _ = try Dataset.load(path: jsonl) }
        #expect(e1.hasPrefix(jsonl + ": line 2: invalid JSON: Invalid UTF-8 sequence"), "\(e1)")
        let array = write(Array("[".utf8) + row + Array(",\n".utf8) + badRow + Array("]".utf8), ext: "json")
        defer { try? FileManager.default.removeItem(atPath: array) }
        let e2 = errorMessage { _ = try Dataset.load(path: array) }
        #expect(e2.hasPrefix(array + ": invalid JSON: Invalid UTF-8 sequence"), "\(e2)")
        let template = write(Array("{Question}".utf8) + [0xC3, 0x28], ext: "txt")
        defer { try? FileManager.default.removeItem(atPath: template) }
        let e3 = errorMessage { _ = try PromptTemplate.load(path: template) }
        #expect(e3 == template + ": the template file is not UTF-8", "\(e3)")
        // Negative control: the valid rows load.
        let ok = write(row + [10] + row, ext: "jsonl")
        defer { try? FileManager.default.removeItem(atPath: ok) }
        #expect(try Dataset.load(path: ok).rows.count == 2)
    }
}
