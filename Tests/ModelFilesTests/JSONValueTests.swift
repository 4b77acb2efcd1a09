import Testing
@testable import ModelFiles

/// The JSON reader behind config.json and safetensors headers keeps numbers, booleans and
/// integers apart (a JSON 1 must not become `true`).
@Suite struct JSONValueTests {
    @Test func scalarKinds() throws {
        let text = #"[0, 1, true, false, 1.5, 1e5, -7, "s", null, {"a": []}, 18446744073709551615]"#
        let v = try Array(text.utf8).withUnsafeBytes { try JSONValue.parse($0, path: "inline", what: "test") }
        let a = try #require(v.array)
        #expect(a[0] == .int(0) && a[1] == .int(1))
        #expect(a[2] == .bool(true) && a[3] == .bool(false))
        #expect(a[4].double == 1.5 && a[4].int == nil)
        #expect(a[5].int == 100000)
        #expect(a[6].int == -7)
        #expect(a[7].string == "s" && a[8].isNull)
        #expect(a[9].object?["a"] == .array([]))
        #expect(a[10].int == nil && a[10].double == 18446744073709551615.0)
    }

    @Test func invalidJSONNamesTheFile() throws {
        let e = try #require(throws: ModelFileError.self) {
            try Array("{\"a\": ".utf8).withUnsafeBytes { try JSONValue.parse($0, path: "/x/config.json", what: "config") }
        }
        #expect(e.description.contains("/x/config.json") && e.description.contains("config is not valid JSON"))
    }
}
