import Foundation
import Testing

@testable import ChatTemplate

/// Compares with renderings by transformers' `render_jinja_template` (see cases.json).
@Suite struct ReferenceRenderingTests {
    @Test func modelTemplatesMatchTransformers() throws {
        let data = try Fixture.cases()
        let templates = try #require(data["templates"]?.dictionary)
        let cases = try #require(data["cases"]?.array)
        #expect(cases.count >= 40)
        var perTemplate: [String: Int] = [:]
        var sources: [String: String] = [:]
        for c in cases {
            let name = try #require(c["template"]?.string)
            let file = try #require(templates[name]?.string)
            if sources[name] == nil { sources[name] = try Fixture.text(file) }
            let label = "\(name)/\(c["name"]?.string ?? "?")"
            let messages = try #require(c["messages"]?.array)
            let variables = c["variables"]?.dictionary ?? JinjaDict()
            let vars = Dictionary(uniqueKeysWithValues: variables.pairs)
            let template = try Fixture.template(try #require(sources[name]), now: c["now"]?.string)
            guard case .bool(let agp)? = c["add_generation_prompt"] else {
                Issue.record("\(label): missing add_generation_prompt")
                continue
            }
            let bos = c["bos_token"]?.string, eos = c["eos_token"]?.string
            // Plain role/content conversations go through the ChatMessage API, others as dictionaries.
            let plain = messages.compactMap { m -> ChatMessage? in
                guard let d = m.dictionary, d.keys == ["role", "content"], let r = d["role"]?.string,
                    let t = d["content"]?.string
                else { return nil }
                return ChatMessage(role: r, content: t)
            }
            checkAgainstReference(label, c) {
                if plain.count == messages.count {
                    return try template.render(
                        messages: plain, addGenerationPrompt: agp, bosToken: bos, eosToken: eos, variables: vars)
                }
                return try template.render(
                    messageValues: messages, addGenerationPrompt: agp, bosToken: bos, eosToken: eos, variables: vars)
            }
            perTemplate[name, default: 0] += 1
        }
        for name in templates.keys { #expect(perTemplate[name, default: 0] >= 10, "\(name) has too few cases") }
    }

    @Test func jinjaFeaturesMatchTransformers() throws {
        let features = try #require(try Fixture.cases()["features"]?.array)
        #expect(features.count > 50)
        for f in features {
            let source = try #require(f["source"]?.string)
            let vars = Dictionary(uniqueKeysWithValues: (f["variables"]?.dictionary ?? JinjaDict()).pairs)
            do {
                let template = try Fixture.template(source, now: f["now"]?.string)
                checkAgainstReference(source.debugDescription, f) {
                    try template.render(messages: [], addGenerationPrompt: false, bosToken: nil, eosToken: nil, variables: vars)
                }
            } catch {
                Issue.record("\(source.debugDescription): failed to parse: \(error)")
            }
        }
    }

    @Test func syntaxErrorsAreRejectedOnTheSameLine() throws {
        let errors = try #require(try Fixture.cases()["syntax_errors"]?.array)
        #expect(errors.count >= 10)
        for e in errors {
            let source = try #require(e["source"]?.string)
            do {
                _ = try ChatTemplate(source)
                Issue.record("\(source.debugDescription): accepted, Jinja rejects it (\(e["message"]?.string ?? ""))")
            } catch let err as ChatTemplateError {
                #expect(err.kind == .syntax, "\(source.debugDescription): \(err)")
                if let line = e["line"]?.int { #expect(err.line == line, "\(source.debugDescription): \(err)") }
                #expect(err.column >= 1)
            }
        }
    }
}
