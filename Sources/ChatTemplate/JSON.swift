import Foundation

/// Malformed JSON given to `JinjaValue(json:)`; `offset` counts Unicode scalars.
public struct JinjaJSONError: Error, CustomStringConvertible, Sendable {
    public let offset: Int
    public let message: String
    public var description: String { "invalid JSON at offset \(offset): \(message)" }
}

/// JSON reader that keeps object key order; integers stay integers, as with Python's `json`.
struct JSONParser {
    private let s: [Unicode.Scalar]
    private var i = 0

    init(_ s: [Unicode.Scalar]) { self.s = s }

    private func fail(_ m: String) -> JinjaJSONError { JinjaJSONError(offset: i, message: m) }

    private mutating func skipWS() {
        while i < s.count, s[i] == " " || s[i] == "\t" || s[i] == "\n" || s[i] == "\r" { i += 1 }
    }

    mutating func parseDocument() throws -> JinjaValue {
        let v = try parseValue(depth: 0)
        skipWS()
        if i != s.count { throw fail("trailing characters") }
        return v
    }

    private mutating func literal(_ word: String, _ v: JinjaValue) throws -> JinjaValue {
        for c in word.unicodeScalars {
            guard i < s.count, s[i] == c else { throw fail("invalid literal") }
            i += 1
        }
        return v
    }

    private mutating func parseValue(depth: Int) throws -> JinjaValue {
        if depth > 512 { throw fail("nesting too deep") }
        skipWS()
        guard i < s.count else { throw fail("unexpected end of input") }
        switch s[i] {
        case "{":
            i += 1
            var d = JinjaDict()
            skipWS()
            if i < s.count, s[i] == "}" {
                i += 1
                return .dict(d)
            }
            while true {
                skipWS()
                guard i < s.count, s[i] == "\"" else { throw fail("expected string key") }
                let k = try parseString()
                skipWS()
                guard i < s.count, s[i] == ":" else { throw fail("expected ':'") }
                i += 1
                d[k] = try parseValue(depth: depth + 1)
                skipWS()
                guard i < s.count else { throw fail("unexpected end of input") }
                if s[i] == "," {
                    i += 1
                } else if s[i] == "}" {
                    i += 1
                    return .dict(d)
                } else {
                    throw fail("expected ',' or '}'")
                }
            }
        case "[":
            i += 1
            var a: [JinjaValue] = []
            skipWS()
            if i < s.count, s[i] == "]" {
                i += 1
                return .array(a)
            }
            while true {
                a.append(try parseValue(depth: depth + 1))
                skipWS()
                guard i < s.count else { throw fail("unexpected end of input") }
                if s[i] == "," {
                    i += 1
                } else if s[i] == "]" {
                    i += 1
                    return .array(a)
                } else {
                    throw fail("expected ',' or ']'")
                }
            }
        case "\"": return .string(try parseString())
        case "t": return try literal("true", .bool(true))
        case "f": return try literal("false", .bool(false))
        case "n": return try literal("null", .none)
        default: return try parseNumber()
        }
    }

    private mutating func parseNumber() throws -> JinjaValue {
        let start = i
        var isFloat = false
        if i < s.count, s[i] == "-" { i += 1 }
        while i < s.count {
            let c = s[i]
            if ("0"..."9").contains(c) {
                i += 1
            } else if c == "." || c == "e" || c == "E" || ((c == "+" || c == "-") && (s[i - 1] == "e" || s[i - 1] == "E")) {
                isFloat = true
                i += 1
            } else {
                break
            }
        }
        let text = String(scalars: s[start..<i])
        if !isFloat, let v = Int(text) { return .int(v) }
        guard !text.isEmpty, let d = Double(text) else {
            i = start
            throw fail("invalid value")
        }
        return .double(d)
    }

    private mutating func hex4() throws -> UInt32 {
        guard i + 4 <= s.count, let v = UInt32(String(scalars: s[i..<(i + 4)]), radix: 16) else {
            throw fail("invalid \\u escape")
        }
        i += 4
        return v
    }

    private mutating func parseString() throws -> String {
        i += 1  // opening quote
        var out = String.UnicodeScalarView()
        while true {
            guard i < s.count else { throw fail("unterminated string") }
            let c = s[i]
            i += 1
            if c == "\"" { return String(out) }
            if c != "\\" {
                if c.value < 0x20 { throw fail("control character in string") }
                out.append(c)
                continue
            }
            guard i < s.count else { throw fail("unterminated string") }
            let e = s[i]
            i += 1
            switch e {
            case "\"": out.append("\"")
            case "\\": out.append("\\")
            case "/": out.append("/")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "n": out.append("\n")
            case "r": out.append("\r")
            case "t": out.append("\t")
            case "u":
                var v = try hex4()
                if (0xD800..<0xDC00).contains(v), i + 1 < s.count, s[i] == "\\", s[i + 1] == "u" {
                    let save = i
                    i += 2
                    let lo = try hex4()
                    if (0xDC00..<0xE000).contains(lo) {
                        v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00)
                    } else {
                        i = save
                    }
                }
                out.append(Unicode.Scalar(v) ?? "\u{FFFD}")
            default: throw fail("invalid escape")
            }
        }
    }
}

/// Python `json.dumps` as transformers' `tojson` filter calls it.
struct JSONDumper {
    var indent: String?
    var itemSeparator: String
    var keySeparator: String
    var sortKeys: Bool
    var ensureASCII: Bool

    func dump(_ v: Value) throws -> String {
        var out = ""
        try write(v, level: 0, into: &out)
        return out
    }

    private func write(_ v: Value, level: Int, into out: inout String) throws {
        if level > Value.maxNesting { throw EngineError.render("maximum recursion depth exceeded while encoding a JSON object") }
        switch v {
        case .none: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            if d.isNaN { out += "NaN" } else if d.isInfinite { out += d < 0 ? "-Infinity" : "Infinity" } else {
                out += PyStr.floatRepr(d)
            }
        case .string(let s): writeString(s, into: &out)
        case .list(let a), .tuple(let a):
            if a.isEmpty {
                out += "[]"
                return
            }
            out += "["
            try writeItems(a.count, level: level, into: &out) { k, o in try write(a[k], level: level + 1, into: &o) }
            out += "]"
        case .dict(let d):
            try writeObject(d.pairs, level: level, into: &out)
        case .undefined, .namespace, .loop, .callable:
            throw EngineError.render("Object of type \(v.typeName) is not JSON serializable")
        }
    }

    private func writeObject(_ pairs: [(String, Value)], level: Int, into out: inout String) throws {
        if pairs.isEmpty {
            out += "{}"
            return
        }
        let items = sortKeys ? pairs.sorted { Value.scalarLess($0.0, $1.0) } : pairs
        out += "{"
        try writeItems(items.count, level: level, into: &out) { k, o in
            writeString(items[k].0, into: &o)
            o += keySeparator
            try write(items[k].1, level: level + 1, into: &o)
        }
        out += "}"
    }

    private func writeItems(_ n: Int, level: Int, into out: inout String, _ item: (Int, inout String) throws -> Void) throws {
        let newline = indent.map { "\n" + String(repeating: $0, count: level + 1) }
        if let newline { out += newline }
        for k in 0..<n {
            if k > 0 { out += itemSeparator + (newline ?? "") }
            try item(k, &out)
        }
        if let indent { out += "\n" + String(repeating: indent, count: level) }
    }

    private func writeString(_ s: String, into out: inout String) {
        out += "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if c.value < 0x20 || (ensureASCII && c.value > 0x7E) {
                    if c.value > 0xFFFF {
                        let v = c.value - 0x10000
                        out += "\\u" + PyStr.hex(0xD800 + (v >> 10), 4) + "\\u" + PyStr.hex(0xDC00 + (v & 0x3FF), 4)
                    } else {
                        out += "\\u" + PyStr.hex(c.value, 4)
                    }
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        out += "\""
    }
}

extension Value {
    static func scalarLess(_ a: String, _ b: String) -> Bool {
        a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) { $0.value < $1.value }
    }
}
