import Foundation
import Testing

@testable import ChatTemplate

/// Loads Tests/Fixtures/chat_templates (written by scripts/make_chat_template_references.py).
enum Fixture {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/chat_templates")

    static func text(_ name: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
    }

    static func cases() throws -> JinjaValue {
        try JinjaValue(json: try text("cases.json"))
    }

    /// A template whose `strftime_now` clock is pinned to `iso` (local time, like Python's naive now()).
    static func template(_ source: String, now iso: String?) throws -> ChatTemplate {
        let t = try ChatTemplate(source)
        if let iso {
            let date = try #require(localDate(iso))
            t.now = { date }
        }
        return t
    }

    static func localDate(_ iso: String) -> Date? {
        let parts = iso.split(whereSeparator: { $0 == "-" || $0 == "T" || $0 == ":" }).compactMap { Int($0) }
        guard parts.count == 6 else { return nil }
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone.current
        return cal.date(
            from: DateComponents(
                year: parts[0], month: parts[1], day: parts[2], hour: parts[3], minute: parts[4], second: parts[5]))
    }
}

extension JinjaValue {
    subscript(key: String) -> JinjaValue? {
        if case .dict(let d) = self { return d[key] }
        return nil
    }
    var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }
    var array: [JinjaValue]? {
        if case .array(let a) = self { return a }
        return nil
    }
    var dictionary: JinjaDict? {
        if case .dict(let d) = self { return d }
        return nil
    }
    var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }
    var int: Int? {
        if case .int(let i) = self { return i }
        return nil
    }
}

/// Renders `body` and compares with the reference `expected` text or `error` (kind + message).
func checkAgainstReference(_ label: String, _ reference: JinjaValue, _ body: () throws -> String) {
    if let expected = reference["expected"]?.string {
        do {
            let got = try body()
            #expect(got == expected, "\(label)")
        } catch {
            Issue.record("\(label): unexpected error \(error)")
        }
        return
    }
    guard let err = reference["error"], let kind = err["kind"]?.string, let message = err["message"]?.string else {
        Issue.record("\(label): reference has neither expected nor error")
        return
    }
    do {
        let got = try body()
        Issue.record("\(label): expected error '\(message)', rendered \(got.debugDescription)")
    } catch let e as ChatTemplateError {
        #expect(e.kind == (kind == "raised" ? .raised : .render), "\(label): \(e)")
        #expect(e.message == message, "\(label)")
        #expect(e.line >= 1 && e.column >= 1, "\(label): error without position: \(e)")
    } catch {
        Issue.record("\(label): unexpected error type \(error)")
    }
}
