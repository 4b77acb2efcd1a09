import Foundation
import Testing
import ChatTemplate
@testable import Transformer

/// Hub repos that keep the chat template in chat_template.jinja (not tokenizer_config.json).
@Suite struct ChatTemplateFileTests {
    @Test func templateFromJinjaFileRendersLikeTheConfigOne() throws {
        let src = Fixtures.root.appendingPathComponent("tiny-qwen2").path
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tunelab-jinja-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.copyItem(atPath: src, toPath: dir)
        let cfgPath = dir + "/tokenizer_config.json"
        var cfg = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: cfgPath))) as? [String: Any])
        let template = try #require(cfg.removeValue(forKey: "chat_template") as? String)
        try JSONSerialization.data(withJSONObject: cfg).write(to: URL(fileURLWithPath: cfgPath))
        let msgs = [ChatMessage(role: "user", content: "Hi there")]
        let bare = try LanguageModel.load(dir)
        #expect(bare.chatTemplate == nil)
        try template.write(toFile: dir + "/chat_template.jinja", atomically: true, encoding: .utf8)
        let withFile = try LanguageModel.load(dir)
        #expect(try withFile.renderChat(msgs) == LanguageModel.load(src).renderChat(msgs))
    }
}
