import Foundation
import Testing
import ChatTemplate
@testable import Transformer

/// A model folder's chat template as `tunelab` loads it: invalid UTF-8 in chat_template.jinja is an
/// error naming that file (it was silently a model without a template), and a template that fails
/// to render (here: recursing forever) names the file it came from.
@Suite struct HostileModelFolderTests {
    static let recursive = "{% macro f(n) %}{{ f(n + 1) }}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"

    /// A copy of tiny-llama3 whose tokenizer_config.json has `template` (nil: no chat_template key).
    func folder(template: String?, jinja: [UInt8]? = nil) throws -> String {
        let src = Fixtures.root.appendingPathComponent("tiny-llama3").path
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tunelab-hostile-model-\(UUID().uuidString)").path
        try FileManager.default.copyItem(atPath: src, toPath: dir)
        let cfgPath = dir + "/tokenizer_config.json"
        var cfg = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: cfgPath))) as? [String: Any])
        cfg["chat_template"] = template
        try JSONSerialization.data(withJSONObject: cfg).write(to: URL(fileURLWithPath: cfgPath))
        if let jinja { _ = FileManager.default.createFile(atPath: dir + "/chat_template.jinja", contents: Data(jinja)) }
        return dir
    }

    func message(_ body: () throws -> Any) -> String {
        do { _ = try body(); return "" } catch { return "\(error)" }
    }

    @Test func invalidUTF8InChatTemplateJinja() throws {
        let dir = try folder(template: nil, jinja: Array("{{ 'a' }}".utf8) + [0xC3, 0x28])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for e in [message { try LanguageModel.load(dir) }, message { try LanguageModel.loadTokenizer(dir) }] {
            #expect(e.contains(dir + "/chat_template.jinja") && e.contains("not valid UTF-8"), "\(e)")
        }
        // Negative control: a valid file is the model's template, and says where it came from.
        _ = FileManager.default.createFile(atPath: dir + "/chat_template.jinja", contents: Data("{{ 'a' }}".utf8))
        let lm = try LanguageModel.load(dir)
        #expect(try lm.renderChat([ChatMessage(role: "user", content: "hi")]) == "a")
        #expect(lm.chatTemplateOrigin == dir + "/chat_template.jinja")
    }

    @Test func templateThatRecursesForeverNamesItsFile() throws {
        let dir = try folder(template: Self.recursive)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lm = try LanguageModel.load(dir)
        let e = message { try lm.renderChat([ChatMessage(role: "user", content: "hi")]) }
        #expect(e.hasPrefix(dir + "/tokenizer_config.json: chat template render error at 1:20: maximum recursion depth exceeded in macro 'f'"), "\(e)")
        // The same template in chat_template.jinja names that file; a LoRA-applied copy keeps it.
        let dir2 = try folder(template: nil, jinja: Array(Self.recursive.utf8))
        defer { try? FileManager.default.removeItem(atPath: dir2) }
        let lm2 = try LanguageModel.load(dir2)
        let e2 = message { try lm2.replacingWeights(lm2.weights).renderChat([ChatMessage(role: "user", content: "hi")]) }
        #expect(e2.hasPrefix(dir2 + "/chat_template.jinja: chat template render error"), "\(e2)")
    }
}
