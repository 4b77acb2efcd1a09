import Foundation
import Testing
@testable import Notebook

let notebookFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/notebook")

/// values.json was written by Python's tomllib (scripts/make_notebook_references.py).
private func referenceValue(_ j: Any) throws -> ParamValue {
    let d = try #require(j as? [String: Any])
    let type = try #require(d["type"] as? String)
    switch type {
    case "bool": return .bool(try #require(d["value"] as? Bool))
    case "int":
        let text = try #require(d["value"] as? String)
        return .int(try #require(Int(text)))
    case "float":
        let text = try #require(d["value"] as? String)
        return .double(try #require(Double(text)))
    case "string": return .string(try #require(d["value"] as? String))
    case "array":
        let items = try #require(d["value"] as? [Any])
        return .array(try items.map(referenceValue))
    case "table":
        let items = try #require(d["value"] as? [String: Any])
        return .table(try items.mapValues(referenceValue))
    default: Issue.record("unknown type \(type)"); return .bool(false)
    }
}

/// NaN-aware equality (tomllib's nan must match ours).
private func same(_ a: ParamValue, _ b: ParamValue) -> Bool {
    switch (a, b) {
    case (.double(let x), .double(let y)): return x == y || (x.isNaN && y.isNaN)
    case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy(same)
    case (.table(let x), .table(let y)): return x.keys.sorted() == y.keys.sorted() && x.keys.allSatisfy { same(x[$0]!, y[$0]!) }
    default: return a == b
    }
}

@Test func valuesMatchPythonTomllib() throws {
    let text = try String(contentsOf: notebookFixtures.appendingPathComponent("values.toml"), encoding: .utf8)
    let ref = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: notebookFixtures.appendingPathComponent("values.json"))) as? [String: Any])
    let parsed = try TOMLScanner.parseDocument(text)
    #expect(parsed.count == ref.count)
    for p in parsed {
        let entry = try #require(ref[p.key], "\(p.key) missing from the reference")
        let want = try referenceValue(entry)
        #expect(same(p.value, want), "\(p.key): got \(p.value.toml), tomllib \(want.toml)")
    }
    // Keys keep their lines (for error messages).
    #expect(parsed.first { $0.key == "int_plain" }?.line == 3)
    #expect(parsed.first { $0.key == "str_multi_cont" }.map { $0.line } == 31)
}

@Test func canonicalTOMLParsesBackToTheSameValue() throws {
    let text = try String(contentsOf: notebookFixtures.appendingPathComponent("values.toml"), encoding: .utf8)
    for p in try TOMLScanner.parseDocument(text) {
        let back = try TOMLScanner.parseDocument("k = " + p.value.toml)
        #expect(back.count == 1 && same(back[0].value, p.value), "\(p.key): \(p.value.toml)")
        #expect(ParamValue.parseLoose(p.value.toml) == p.value || p.value.doubleValue?.isNaN == true)
    }
}

@Test func invalidValuesAreRejectedLikeTomllib() throws {
    let cases = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: notebookFixtures.appendingPathComponent("invalid.json"))) as? [[String: Any]])
    #expect(cases.count > 10)
    for c in cases {
        let v = try #require(c["value"] as? String), valid = try #require(c["valid"] as? Bool)
        do {
            _ = try TOMLScanner.parseDocument("x = " + v, firstLine: 7)
            Issue.record("accepted '\(v)' (tomllib valid: \(valid))")
        } catch let e as NotebookError {
            // Dates are valid TOML but not cell values: rejected with a message saying so.
            if valid { #expect(e.message.contains("date"), "\(v): \(e)") }
            #expect(e.line == 7, "\(v): \(e)")
        }
    }
}

@Test func canonicalTextIsStableAndUnquotedForStrings() {
    #expect(ParamValue.double(2e-4).text == "0.0002")
    #expect(ParamValue.double(1e-5).text == "1e-05")
    #expect(ParamValue.double(2).text == "2.0")
    #expect(ParamValue.string("cosine").text == "cosine")
    #expect(ParamValue.string("a\"b").toml == #""a\"b""#)
    #expect(ParamValue.array([.string("q"), .string("v")]).text == #"["q", "v"]"#)
    #expect(ParamValue.table(["b": .int(1), "a": .bool(true)]).text == "{ a = true, b = 1 }")
    #expect(ParamValue.table(["a b": .int(1)]).toml == #"{ "a b" = 1 }"#)
}

@Test func codableRoundTrip() throws {
    let v = ParamValue.table(["x": .array([.int(1), .double(0.5), .string("s"), .bool(false)])])
    let back = try JSONDecoder().decode(ParamValue.self, from: JSONEncoder().encode(v))
    #expect(back == v)
}

@Test func editDistanceAndSuggestions() {
    #expect(editDistance("trian", "train") == 1)  // transposition
    #expect(editDistance("kitten", "sitting") == 3)
    #expect(editDistance("", "abc") == 3)
    #expect(closest(to: "max_step", in: ["max_steps", "epochs"]) == "max_steps")
    #expect(closest(to: "lrr", in: ["lr", "r", "seed"]) == "lr")
    #expect(closest(to: "completely_different", in: ["lr", "r"]) == nil)
}
