import Foundation

/// One chat turn as passed to `apply_chat_template`.
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// A model's Jinja chat template, parsed once and rendered the way transformers'
/// `apply_chat_template(..., tokenize=False)` renders it.
public final class ChatTemplate: @unchecked Sendable {
    private let body: [Node]
    /// Clock behind `strftime_now`; tests pin it. Set before sharing the template across threads.
    var now: @Sendable () -> Date = { Date() }

    /// Parses `source`; a syntax error is reported with its line and column.
    public init(_ source: String) throws {
        do {
            var lexer = Lexer(source)
            var parser = Parser(try lexer.tokenize())
            body = try parser.parseTemplate()
        } catch let e as EngineError {
            throw e.publicError
        }
    }

    /// Renders a conversation of plain role/content messages.
    public func render(
        messages: [ChatMessage], addGenerationPrompt: Bool, bosToken: String?, eosToken: String?,
        variables: [String: JinjaValue] = [:]
    ) throws -> String {
        let values = messages.map { JinjaValue.dict(JinjaDict([("role", .string($0.role)), ("content", .string($0.content))])) }
        return try render(
            messageValues: values, addGenerationPrompt: addGenerationPrompt, bosToken: bosToken, eosToken: eosToken,
            variables: variables)
    }

    /// Renders messages given as dictionaries, for fields beyond role/content
    /// (`tool_calls`, `content: null`, `tool_call_id`, ...).
    public func render(
        messageValues: [JinjaValue], addGenerationPrompt: Bool, bosToken: String?, eosToken: String?,
        variables: [String: JinjaValue] = [:]
    ) throws -> String {
        let root = Scope(parent: nil)
        let clock = now
        root.vars = Builtins.globals(now: { clock() })
        let top = Scope(parent: root)
        // transformers always passes `tools` and `documents` (None when not given).
        top.vars["tools"] = Value.none
        top.vars["documents"] = Value.none
        if let bosToken { top.vars["bos_token"] = .string(bosToken) }
        if let eosToken { top.vars["eos_token"] = .string(eosToken) }
        for (k, v) in variables { top.vars[k] = Value(v) }
        top.vars["messages"] = .list(messageValues.map(Value.init))
        top.vars["add_generation_prompt"] = .bool(addGenerationPrompt)
        do {
            return try Interpreter(now: clock).render(body, top)
        } catch let e as EngineError {
            throw e.publicError
        }
    }
}
