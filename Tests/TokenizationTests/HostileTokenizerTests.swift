import Foundation
import Testing
@testable import Tokenization

/// Invalid UTF-8 in a tokenizer's files is an error naming the file, never a silently replaced
/// character (a token or a template would change unnoticed).
@Suite struct HostileTokenizerTests {
    func folder(_ files: [String: [UInt8]]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tok-hostile-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (name, bytes) in files { _ = FileManager.default.createFile(atPath: dir + "/" + name, contents: Data(bytes)) }
        return dir
    }

    @Test func invalidUTF8() throws {
        let good = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixture.path("tiny-llama3/tokenizer.json"))))
        // A vocabulary entry with a lone 0xFF byte in it.
        let needle = Array("\"vocab\": {".utf8)
        let at = try #require((0 ... good.count - needle.count).first { Array(good[$0 ..< $0 + needle.count]) == needle })
        var bad = good
        bad.insert(contentsOf: Array("\"x".utf8) + [0xFF] + Array("\":99999,".utf8), at: at + needle.count)
        let dir = try folder(["tokenizer.json": bad])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let e = try #require(throws: TokenizerError.self) { try Tokenizer.load(directory: dir) }
        #expect(e.description.contains(dir + "/tokenizer.json") && e.description.contains("invalid JSON (Invalid UTF-8 sequence"), "\(e)")

        // chat_template.jinja beside a good tokenizer.json: an error, not a model without a template.
        let dir2 = try folder(["tokenizer.json": good, "chat_template.jinja": Array("{{ 'a' }}".utf8) + [0xC3, 0x28]])
        defer { try? FileManager.default.removeItem(atPath: dir2) }
        let e2 = try #require(throws: TokenizerError.self) { try Tokenizer.load(directory: dir2) }
        #expect(e2.description.contains(dir2 + "/chat_template.jinja") && e2.description.contains("not valid UTF-8"), "\(e2)")
        // Negative control: the same folder with a valid template loads it.
        _ = FileManager.default.createFile(atPath: dir2 + "/chat_template.jinja", contents: Data("{{ 'a' }}".utf8))
        #expect(try Tokenizer.load(directory: dir2).chatTemplate == "{{ 'a' }}")
    }
}
