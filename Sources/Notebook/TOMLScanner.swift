import Foundation

/// Reads TOML keys and values (TOML 1.0 minus dates and dotted keys) from a cell body,
/// tracking line numbers so errors point at the notebook line.
struct TOMLScanner {
    let bytes: [UInt8]
    var pos = 0
    /// Line number (in the notebook) of `bytes[pos]`.
    var line: Int

    init(_ text: String, firstLine: Int = 1) {
        bytes = Array(text.utf8)
        line = firstLine
    }

    var atEnd: Bool { pos >= bytes.count }
    var peek: UInt8? { pos < bytes.count ? bytes[pos] : nil }
    func peek(_ offset: Int) -> UInt8? { pos + offset < bytes.count ? bytes[pos + offset] : nil }

    func error(_ message: String) -> NotebookError { NotebookError(line: line, message: message) }

    static func isBareKeyChar(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x2D
    }

    mutating func skipSpaces() {
        while let c = peek, c == 0x20 || c == 0x09 { pos += 1 }
    }

    /// Consumes one newline (LF or CRLF) if there is one.
    mutating func skipNewline() -> Bool {
        if peek == 0x0A { pos += 1; line += 1; return true }
        if peek == 0x0D, peek(1) == 0x0A { pos += 2; line += 1; return true }
        return false
    }

    mutating func skipComment() {
        guard peek == 0x23 else { return }
        while let c = peek, c != 0x0A { pos += 1 }
    }

    /// Whitespace, newlines and comments (between statements and inside arrays).
    mutating func skipTrivia() {
        while true {
            skipSpaces()
            skipComment()
            if !skipNewline() { return }
        }
    }

    /// After a value: only spaces and a comment may follow on the line.
    mutating func expectLineEnd() throws {
        skipSpaces()
        skipComment()
        if atEnd || skipNewline() { return }
        throw error("unexpected '\(printable(peek!))' after the value (one `key = value` per line)")
    }

    mutating func parseKey() throws -> String {
        guard let c = peek else { throw error("expected a key") }
        var key: String
        if c == 0x22 || c == 0x27 {
            guard case .string(let s) = try parseString(allowMultiline: false) else { throw error("expected a key") }
            key = s
        } else {
            let start = pos
            while let c = peek, Self.isBareKeyChar(c) { pos += 1 }
            if pos == start { throw error("expected a key, found '\(printable(c))'") }
            key = String(decoding: bytes[start..<pos], as: UTF8.self)
        }
        if peek == 0x2E { throw error("dotted keys ('\(key).…') are not supported in cells") }
        return key
    }

    mutating func parseValue() throws -> ParamValue {
        guard let c = peek else { throw error("expected a value") }
        switch c {
        case 0x22, 0x27: return try parseString(allowMultiline: true)
        case 0x5B: return try parseArray()
        case 0x7B: return try parseInlineTable()
        case 0x0A, 0x0D, 0x23: throw error("expected a value")
        default: return try parseScalar()
        }
    }

    /// `key = value` lines (blank lines and comments allowed). `checkKey` vets each key before
    /// its value is read and returns the name to use in errors.
    static func parseDocument(_ text: String, firstLine: Int = 1,
                              checkKey: (String, Int) throws -> String = { k, _ in k }) throws -> [CellParam] {
        var s = TOMLScanner(text, firstLine: firstLine)
        var params: [CellParam] = []
        while true {
            s.skipTrivia()
            if s.atEnd { break }
            let line = s.line
            let key = try s.parseKey()
            let name = try checkKey(key, line)
            if let prev = params.first(where: { $0.key == key }) {
                throw NotebookError(line: line, key: name, message: "set twice (first on line \(prev.line))")
            }
            s.skipSpaces()
            guard s.peek == 0x3D else {
                throw NotebookError(line: s.line, key: name, message: "expected '=' after the key (cell lines are `key = value`)")
            }
            s.pos += 1
            s.skipSpaces()
            do {
                let value = try s.parseValue()
                try s.expectLineEnd()
                params.append(CellParam(key: key, value: value, line: line))
            } catch var e as NotebookError {
                if e.key == nil { e.key = name }
                throw e
            }
        }
        return params
    }

    // MARK: strings

    mutating func parseString(allowMultiline: Bool) throws -> ParamValue {
        let quote = bytes[pos]
        let startLine = line
        if peek(1) == quote, peek(2) == quote {
            guard allowMultiline else { throw error("multi-line strings are not allowed here") }
            pos += 3
            _ = skipNewline()  // a newline right after the opening delimiter is trimmed
            return .string(try multilineBody(quote: quote, startLine: startLine))
        }
        pos += 1
        var out: [UInt8] = []
        while true {
            guard let c = peek, c != 0x0A, c != 0x0D else {
                throw NotebookError(line: startLine, message: "unterminated string (close it with \(quote == 0x22 ? "\"" : "'") on the same line, or use \(quote == 0x22 ? "\"\"\"" : "'''") for several lines)")
            }
            pos += 1
            if c == quote { return .string(String(decoding: out, as: UTF8.self)) }
            if quote == 0x22, c == 0x5C {
                try escape(into: &out)
            } else {
                if c < 0x20 && c != 0x09 || c == 0x7F { throw error("control character in a string: escape it") }
                out.append(c)
            }
        }
    }

    private mutating func multilineBody(quote: UInt8, startLine: Int) throws -> String {
        var out: [UInt8] = []
        while true {
            guard let c = peek else {
                throw NotebookError(line: startLine, message: "unterminated multi-line string (no closing \(quote == 0x22 ? "\"\"\"" : "'''"))")
            }
            if c == quote, peek(1) == quote, peek(2) == quote {
                // Up to two quotes right before the closing delimiter belong to the content.
                var n = 3
                while n < 5, peek(n) == quote { n += 1 }
                out.append(contentsOf: [UInt8](repeating: quote, count: n - 3))
                pos += n
                return String(decoding: out, as: UTF8.self)
            }
            if c == 0x0A || (c == 0x0D && peek(1) == 0x0A) {
                _ = skipNewline()
                out.append(0x0A)
                continue
            }
            pos += 1
            if quote == 0x22, c == 0x5C {
                // Line-ending backslash: drop it and all whitespace/newlines that follow.
                var look = pos
                while look < bytes.count, bytes[look] == 0x20 || bytes[look] == 0x09 { look += 1 }
                if look < bytes.count, bytes[look] == 0x0A || bytes[look] == 0x0D {
                    pos = look
                    while true {
                        skipSpaces()
                        if !skipNewline() { break }
                    }
                    continue
                }
                try escape(into: &out)
            } else {
                if c < 0x20 && c != 0x09 && c != 0x0D || c == 0x7F { throw error("control character in a string: escape it") }
                out.append(c)
            }
        }
    }

    /// After a backslash in a basic string.
    private mutating func escape(into out: inout [UInt8]) throws {
        guard let e = peek else { throw error("unterminated escape sequence") }
        pos += 1
        switch e {
        case 0x62: out.append(0x08)  // \b
        case 0x74: out.append(0x09)  // \t
        case 0x6E: out.append(0x0A)  // \n
        case 0x66: out.append(0x0C)  // \f
        case 0x72: out.append(0x0D)  // \r
        case 0x65: out.append(0x1B)  // \e (TOML 1.1)
        case 0x22: out.append(0x22)
        case 0x5C: out.append(0x5C)
        case 0x75, 0x55:  // \uXXXX, \UXXXXXXXX
            let n = e == 0x75 ? 4 : 8
            guard pos + n <= bytes.count,
                  let v = UInt32(String(decoding: bytes[pos..<pos + n], as: UTF8.self), radix: 16),
                  let scalar = Unicode.Scalar(v) else {
                throw error("bad unicode escape \\\(e == 0x75 ? "u" : "U"): need \(n) hex digits of a valid code point")
            }
            pos += n
            out.append(contentsOf: Array(String(Character(scalar)).utf8))
        default:
            throw error("unknown escape sequence '\\\(printable(e))' (use \\\\ for a backslash, or a '...' literal string)")
        }
    }

    // MARK: arrays and tables

    private mutating func parseArray() throws -> ParamValue {
        let startLine = line
        pos += 1
        var items: [ParamValue] = []
        while true {
            skipTrivia()
            guard let c = peek else { throw NotebookError(line: startLine, message: "unterminated array (no closing ']')") }
            if c == 0x5D { pos += 1; return .array(items) }
            items.append(try parseValue())
            skipTrivia()
            guard let d = peek else { throw NotebookError(line: startLine, message: "unterminated array (no closing ']')") }
            if d == 0x2C { pos += 1; continue }
            if d == 0x5D { pos += 1; return .array(items) }
            throw error("expected ',' or ']' in an array, found '\(printable(d))'")
        }
    }

    private mutating func parseInlineTable() throws -> ParamValue {
        let startLine = line
        pos += 1
        var table: [String: ParamValue] = [:]
        while true {
            skipTrivia()
            guard let c = peek else { throw NotebookError(line: startLine, message: "unterminated inline table (no closing '}')") }
            if c == 0x7D { pos += 1; return .table(table) }
            let key = try parseKey()
            skipSpaces()
            guard peek == 0x3D else { throw error("expected '=' after '\(key)' in an inline table") }
            pos += 1
            skipSpaces()
            if table[key] != nil { throw error("duplicate key '\(key)' in an inline table") }
            table[key] = try parseValue()
            skipTrivia()
            guard let d = peek else { throw NotebookError(line: startLine, message: "unterminated inline table (no closing '}')") }
            if d == 0x2C { pos += 1; continue }
            if d == 0x7D { pos += 1; return .table(table) }
            throw error("expected ',' or '}' in an inline table, found '\(printable(d))'")
        }
    }

    // MARK: scalars

    private mutating func parseScalar() throws -> ParamValue {
        let start = pos
        while let c = peek, Self.isBareKeyChar(c) || c == 0x2B || c == 0x2E || c == 0x3A { pos += 1 }
        let token = String(decoding: bytes[start..<pos], as: UTF8.self)
        if token.isEmpty { throw error("expected a value, found '\(printable(bytes[start]))'") }
        if let v = Self.scalar(token) { return v }
        pos = start
        if token.first!.isNumber, token.contains(":") || token.dropFirst().contains("-") && !token.contains("e") && !token.contains("E") {
            throw error("'\(token)' looks like a date or time, which cells do not support; quote it for a string")
        }
        throw error("'\(token)' is not a value: strings need quotes (\"\(token)\")")
    }

    /// A bare TOML scalar: boolean, integer (decimal, 0x, 0o, 0b, with `_`), float, inf, nan.
    static func scalar(_ token: String) -> ParamValue? {
        switch token {
        case "true": return .bool(true)
        case "false": return .bool(false)
        case "inf", "+inf": return .double(.infinity)
        case "-inf": return .double(-.infinity)
        case "nan", "+nan", "-nan": return .double(.nan)
        default: break
        }
        let b = Array(token.utf8)
        if b.count > 2, b[0] == 0x30, let radix: Int = [0x78: 16, 0x6F: 8, 0x62: 2][b[1]] {
            guard let digits = stripUnderscores(Array(b[2...])), let v = Int(String(decoding: digits, as: UTF8.self), radix: radix) else { return nil }
            return .int(v)
        }
        guard let clean = stripUnderscores(b) else { return nil }
        var i = 0
        if i < clean.count, clean[i] == 0x2B || clean[i] == 0x2D { i += 1 }
        let intStart = i
        while i < clean.count, isDigit(clean[i]) { i += 1 }
        let intDigits = i - intStart
        guard intDigits > 0 else { return nil }
        if intDigits > 1, clean[intStart] == 0x30 { return nil }  // no leading zeros
        var isFloat = false
        if i < clean.count, clean[i] == 0x2E {
            i += 1
            let f = i
            while i < clean.count, isDigit(clean[i]) { i += 1 }
            guard i > f else { return nil }
            isFloat = true
        }
        if i < clean.count, clean[i] == 0x65 || clean[i] == 0x45 {
            i += 1
            if i < clean.count, clean[i] == 0x2B || clean[i] == 0x2D { i += 1 }
            let e = i
            while i < clean.count, isDigit(clean[i]) { i += 1 }
            guard i > e else { return nil }
            isFloat = true
        }
        guard i == clean.count else { return nil }
        let text = String(decoding: clean, as: UTF8.self)
        if isFloat { return Double(text).map { .double($0) } }
        return Int(text).map { .int($0) }
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    /// Removes `_` separators, each of which must sit between two digits.
    private static func stripUnderscores(_ b: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        for (i, c) in b.enumerated() {
            if c == 0x5F {
                guard i > 0, i + 1 < b.count, isHex(b[i - 1]), isHex(b[i + 1]) else { return nil }
            } else {
                out.append(c)
            }
        }
        return out
    }

    private static func isHex(_ c: UInt8) -> Bool { isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46) }

    func printable(_ c: UInt8) -> String {
        c >= 0x20 && c < 0x7F ? String(UnicodeScalar(c)) : String(format: "\\x%02X", c)
    }
}
