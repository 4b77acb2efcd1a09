import Foundation
import Testing

@testable import ChatTemplate

@Suite struct ChatTemplateErrorTests {
    private func syntaxError(_ source: String) -> ChatTemplateError? {
        do {
            _ = try ChatTemplate(source)
            return nil
        } catch {
            return error as? ChatTemplateError
        }
    }

    private func renderError(_ source: String) -> ChatTemplateError? {
        do {
            _ = try ChatTemplate(source).render(messages: [], addGenerationPrompt: false, bosToken: nil, eosToken: nil)
            return nil
        } catch {
            return error as? ChatTemplateError
        }
    }

    @Test func unknownTagReportsLineAndColumnOfTheTagName() throws {
        // "  {% frobnicate %}": the tag name starts in column 6 of line 2.
        let e = try #require(syntaxError("Hello\n  {% frobnicate %}"))
        #expect(e.kind == .syntax)
        #expect((e.line, e.column) == (2, 6))
        #expect(e.message.contains("unknown tag 'frobnicate'"))
        #expect(e.description.contains("2:6"))
    }

    @Test func mismatchedEndTagNamesTheOpenBlock() throws {
        let e = try #require(syntaxError("{% for x in y %}\n{{ x }}\n{% endif %}"))
        #expect((e.line, e.column) == (3, 4))
        #expect(e.message.contains("'endfor'"))
    }

    @Test func unclosedBlockReportsEndOfTemplateAndWhereItOpened() throws {
        // Jinja drops the final newline, so the template ends after "no end" (line 2, column 7).
        let e = try #require(syntaxError("{% if true %}\nno end\n"))
        #expect((e.line, e.column) == (2, 7))
        #expect(e.message.contains("'endif'"))
        // The block is located by its tag name ("if" in column 4), like other tag errors.
        #expect(e.message.contains("opened at 1:4"))
    }

    @Test func unterminatedStringAndCommentArePositioned() throws {
        let s = try #require(syntaxError("line1\n  {{ 'abc }}"))
        #expect((s.line, s.column) == (2, 6))
        let c = try #require(syntaxError("line1\nxx{# never closed"))
        #expect((c.line, c.column) == (2, 3))
        #expect(c.message == "Missing end of comment tag")
    }

    @Test func raiseExceptionSurfacesTheMessageVerbatim() throws {
        let e = try #require(renderError("ok\n  {{ raise_exception('Conversation roles must alternate user/assistant') }}"))
        #expect(e.kind == .raised)
        #expect(e.message == "Conversation roles must alternate user/assistant")
        #expect((e.line, e.column) == (2, 6))
        #expect(e.description.contains("Conversation roles must alternate user/assistant"))
    }

    @Test func llamaTemplateRaisesOnTwoToolCalls() throws {
        let t = try ChatTemplate(try Fixture.text("llama3_2_instruct.jinja"))
        let call: JinjaValue = ["type": "function", "function": ["name": "f", "arguments": ["a": 1]]]
        let messages: [JinjaValue] = [
            ["role": "user", "content": "hi"],
            ["role": "assistant", "content": "", "tool_calls": [call, call]],
        ]
        do {
            _ = try t.render(
                messageValues: messages, addGenerationPrompt: false, bosToken: "<|begin_of_text|>", eosToken: nil,
                variables: ["date_string": "26 Jul 2024"])
            Issue.record("expected raise_exception")
        } catch let e as ChatTemplateError {
            #expect(e.kind == .raised)
            #expect(e.message == "This model only supports single tool-calls at once!")
            // The raise_exception call sits on line 72 of the template.
            #expect(e.line == 72)
        }
    }

    @Test func undefinedAttributeAccessIsARenderError() throws {
        let e = try #require(renderError("{{ messages[0].role }}"))
        #expect(e.kind == .render)
        #expect(e.message == "list object has no element 0")
        #expect(e.line == 1)
    }

    @Test func runawayRecursionAndNestingFailCleanly() throws {
        let macro = try #require(renderError("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"))
        #expect(macro.kind == .render)
        #expect(macro.message.contains("recursion"))
        let parens = String(repeating: "(", count: 500) + "1" + String(repeating: ")", count: 500)
        #expect(syntaxError("{{ \(parens) }}")?.kind == .syntax)
        let nots = String(repeating: "not ", count: 2000)
        #expect(syntaxError("{{ \(nots)x }}")?.kind == .syntax)
        let ifs = String(repeating: "{% if true %}", count: 300) + String(repeating: "{% endif %}", count: 300)
        #expect(syntaxError(ifs)?.kind == .syntax)
        // Nesting within the limits still works.
        let ok = String(repeating: "(", count: 40) + "7" + String(repeating: ")", count: 40)
        #expect(try ChatTemplate("{{ \(ok) }}").render(messages: [], addGenerationPrompt: false, bosToken: nil, eosToken: nil) == "7")
    }

    /// Python has big integers and MemoryError; here those cases must be errors, not traps.
    @Test func hostileArithmeticThrowsInsteadOfTrapping() throws {
        for source in [
            "{{ -(-9223372036854775807 - 1) }}",
            "{{ (-9223372036854775807 - 1) // -1 }}",
            "{{ (-9223372036854775807 - 1) | abs }}",
            "{{ 9223372036854775807 + 1 }}",
            "{{ 3 ** 100 }}",
            "{{ range(-9223372036854775807, 9223372036854775807) | length }}",
            "{{ 'ab' * 100000000000 }}",
            "{{ [1, 2] * 9223372036854775807 }}",
            "{% set ns = namespace(x=[]) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x | tojson }}",
        ] {
            #expect(renderError(source)?.kind == .render, "\(source)")
        }
        // Results that stay in range are still exact.
        let t = try ChatTemplate(
            "{{ (-9223372036854775807 - 1) % -1 }} {{ [1, 2, 3][::-9223372036854775807] }} {{ range(5, -9223372036854775807, -9223372036854775807) | list }}")
        #expect(try t.render(messages: [], addGenerationPrompt: false, bosToken: nil, eosToken: nil) == "0 [3] [5, -9223372036854775802]")
        let deep = try ChatTemplate(
            "{% set ns = namespace(x=[]) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x | length }}{{ (ns.x | string)[:3] }}")
        #expect(try deep.render(messages: [], addGenerationPrompt: false, bosToken: nil, eosToken: nil) == "1[[[")
    }

    /// Mangled templates must throw, never crash (no traps on untrusted input).
    @Test func mutatedTemplatesNeverCrash() throws {
        var rng = SplitMix64(seed: 0x5EED)
        let alphabet = Array("{}%#-+()[]'\"|.,:=~ \n\tabcifnotorandsetendforin0123456789_🦙".unicodeScalars)
        let files = ["qwen2_5_instruct.jinja", "llama3_2_instruct.jinja", "deepseek_r1_distill.jinja"]
        let messages = [ChatMessage(role: "system", content: "s"), ChatMessage(role: "user", content: "u")]
        var parsed = 0
        for file in files {
            let base = Array(try Fixture.text(file).unicodeScalars)
            for _ in 0..<150 {
                var s = base
                for _ in 0..<(1 + Int(rng.next() % 4)) {
                    let i = Int(rng.next() % UInt64(s.count))
                    switch rng.next() % 3 {
                    case 0: s.remove(at: i)
                    case 1: s.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: i)
                    default: s[i] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
                    }
                }
                var v = String.UnicodeScalarView()
                v.append(contentsOf: s)
                guard let t = try? ChatTemplate(String(v)) else { continue }
                parsed += 1
                _ = try? t.render(messages: messages, addGenerationPrompt: true, bosToken: "<s>", eosToken: "</s>",
                                  variables: ["date_string": "1 Jan 2025"])
            }
        }
        #expect(parsed > 0)
    }
}

/// Small deterministic PRNG for the mutation test.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Templates that never end or fill memory: each stops with a render error, quickly.
@Suite struct HostileTemplateTests {
    func renderError(_ source: String) throws -> ChatTemplateError {
        let t = try ChatTemplate(source)
        let start = Date()
        let e = try #require(throws: ChatTemplateError.self) {
            _ = try t.render(messages: [ChatMessage(role: "user", content: "hi")], addGenerationPrompt: true, bosToken: nil, eosToken: nil)
        }
        #expect(Date().timeIntervalSince(start) < 60, "took \(Date().timeIntervalSince(start)) s")
        return e
    }

    @Test func recursesForever() throws {
        let e = try renderError("{% macro f(n) %}{{ f(n + 1) }}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")
        #expect(e.message.contains("maximum recursion depth exceeded in macro 'f'"), "\(e)")
    }

    @Test func loopsForever() throws {
        let e = try renderError("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")
        #expect(e.message.contains("the template ran more than 1000000 steps (a loop that never ends?)"), "\(e)")
    }

    @Test func fillsMemory() throws {
        let out = try renderError("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}")
        #expect(out.message.contains("the template's output exceeds 16 MB"), "\(out)")
        let doubling = try renderError("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}")
        #expect(doubling.message.contains("string result too large"), "\(doubling)")
        let replace = try renderError("{% set s = 'a' * 1000000 %}{{ s.replace('a', s) }}")
        #expect(replace.message.contains("replace() result too large"), "\(replace)")
        let pad = try renderError("{{ '%999999999999d' % 1 }}")
        #expect(pad.message.contains("field width 999999999999 is too large"), "\(pad)")
        let minWidth = try renderError("{{ '%*d' % (-9223372036854775807 - 1, 1) }}")
        #expect(minWidth.message.contains("is too large"), "\(minWidth)")
        let indent = try renderError("{{ 'a' | indent(999999999999) }}")
        #expect(indent.message.contains("indent width 999999999999 is too large"), "\(indent)")
    }

    @Test func deepNesting() throws {
        let e = try #require(throws: ChatTemplateError.self) { try ChatTemplate("{{ " + String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000) + " }}") }
        #expect(e.kind == .syntax, "\(e)")
    }
}

extension HostileTemplateTests {
    /// Steps are charged by the size of large values: copying 10 MB per iteration stops early.
    @Test func copiesLargeValuesForever() throws {
        let e = try renderError("{% set big = 'x' * 9000000 %}{% for i in range(100000) %}{% set y = big ~ 'a' %}{% endfor %}")
        #expect(e.message.contains("the template ran more than 1000000 steps"), "\(e)")
    }
}
