import ChatTemplate
import FuzzSupport

/// A Jinja chat template: parsed, then rendered for a conversation with a system turn, with and
/// without the generation prompt.
let messages = [ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "Hi <b>there</b> 患者"),
                ChatMessage(role: "assistant", content: "<think>x</think>Hello"), ChatMessage(role: "user", content: "Again?")]

func fuzzChatTemplate(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: data, count: size), as: UTF8.self)
    guard let template = try? ChatTemplate(text) else { return 0 }
    // A template that fails (e.g. runs out of its step budget) fails again the same way: once is enough.
    guard (try? template.render(messages: messages, addGenerationPrompt: true, bosToken: "<s>", eosToken: "</s>")) != nil else { return 0 }
    _ = try? template.render(messages: Array(messages.prefix(2)), addGenerationPrompt: false, bosToken: nil, eosToken: nil)
    return 0
}

runFuzzer(fuzzChatTemplate)
