/// Tokens of the template source.
enum TokenKind: Equatable {
    case data(String)
    case variableBegin, variableEnd, blockBegin, blockEnd
    case name(String)
    case string(String)
    case integer(Int)
    case float(Double)
    case op(String)
    case eof
}

struct Token {
    var kind: TokenKind
    var pos: SourcePos
}

/// Splits a template into data and tag tokens with Jinja2's whitespace rules as transformers configures
/// them: `trim_blocks` (drop the first newline after a block or comment tag), `lstrip_blocks` (drop
/// spaces/tabs before a block or comment tag at the start of a line), `-`/`+` markers, and
/// `keep_trailing_newline=False`.
struct Lexer {
    private let s: [Unicode.Scalar]
    private var lineStarts: [Int] = [0]
    private var tokens: [Token] = []

    private static let operators2: Set<String> = ["//", "**", "==", "!=", ">=", "<="]
    private static let operators1: Set<Unicode.Scalar> = [
        "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";",
    ]

    init(_ source: String) {
        // Jinja turns \r\n and \r into \n and drops one trailing newline.
        var out: [Unicode.Scalar] = []
        let src = Array(source.unicodeScalars)
        out.reserveCapacity(src.count)
        var i = 0
        while i < src.count {
            if src[i] == "\r" {
                out.append("\n")
                if i + 1 < src.count && src[i + 1] == "\n" { i += 1 }
            } else {
                out.append(src[i])
            }
            i += 1
        }
        if out.last == "\n" { out.removeLast() }
        s = out
        for (k, c) in s.enumerated() where c == "\n" { lineStarts.append(k + 1) }
    }

    func position(_ offset: Int) -> SourcePos {
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= offset { lo = mid } else { hi = mid - 1 }
        }
        return SourcePos(line: lo + 1, column: offset - lineStarts[lo] + 1)
    }

    private func matches(_ text: String, at p: Int) -> Bool {
        var k = p
        for c in text.unicodeScalars {
            if k >= s.count || s[k] != c { return false }
            k += 1
        }
        return true
    }

    private func skipSpace(_ p: inout Int) {
        while p < s.count && isPySpace(s[p]) { p += 1 }
    }

    private mutating func emitData(_ lo: Int, _ hi: Int) {
        if hi > lo { tokens.append(Token(kind: .data(String(scalars: s[lo..<hi])), pos: position(lo))) }
    }

    /// End of the text before a tag after applying `-` / `+` / lstrip_blocks.
    private func strippedEnd(_ lo: Int, _ hi: Int, sign: Unicode.Scalar?, lstrip: Bool, lineStarting: Bool) -> Int {
        var end = hi
        if sign == "-" {
            while end > lo && isPySpace(s[end - 1]) { end -= 1 }
        } else if sign != "+" && lstrip {
            var lPos = hi
            while lPos > lo && s[lPos - 1] != "\n" { lPos -= 1 }
            if (lPos > lo || lineStarting) && lPos < hi && (lPos..<hi).allSatisfy({ isPySpace(s[$0]) }) {
                end = lPos
            }
        }
        return end
    }

    mutating func tokenize() throws -> [Token] {
        var pos = 0
        var lineStarting = true
        let n = s.count
        while pos < n {
            var tagAt = -1
            var kind: Unicode.Scalar = " "
            var i = pos
            while i + 1 < n {
                if s[i] == "{" && (s[i + 1] == "%" || s[i + 1] == "{" || s[i + 1] == "#") {
                    tagAt = i
                    kind = s[i + 1]
                    break
                }
                i += 1
            }
            if tagAt < 0 {
                emitData(pos, n)
                pos = n
                break
            }
            var after = tagAt + 2
            var sign: Unicode.Scalar?
            if after < n && (s[after] == "-" || s[after] == "+") {
                sign = s[after]
                after += 1
            }
            let textEnd = strippedEnd(pos, tagAt, sign: sign, lstrip: kind != "{", lineStarting: lineStarting)
            emitData(pos, textEnd)

            if kind == "%", let rawBodyStart = rawBegin(after) {
                pos = try lexRaw(from: rawBodyStart, tagAt: tagAt, lineStarting: &lineStarting)
                continue
            }
            switch kind {
            case "#":
                pos = try lexComment(from: after, tagAt: tagAt, lineStarting: &lineStarting)
            default:
                pos = try lexTag(from: after, tagAt: tagAt, isBlock: kind == "%", lineStarting: &lineStarting)
            }
        }
        tokens.append(Token(kind: .eof, pos: position(n)))
        return tokens
    }

    /// `{%(-|+|)\s*raw\s*(-%}\s*|%})`: returns where the raw body starts.
    private func rawBegin(_ after: Int) -> Int? {
        var p = after
        skipSpace(&p)
        guard matches("raw", at: p) else { return nil }
        p += 3
        if p < s.count, isNameChar(s[p]) { return nil }
        skipSpace(&p)
        if s.count > p, s[p] == "-", matches("%}", at: p + 1) {
            p += 3
            skipSpace(&p)
            return p
        }
        if matches("%}", at: p) { return p + 2 }
        return nil
    }

    private mutating func lexRaw(from start: Int, tagAt: Int, lineStarting: inout Bool) throws -> Int {
        let bodyLineStarting = start > 0 && s[start - 1] == "\n"
        var q = start
        while q + 1 < s.count {
            if s[q] == "{" && s[q + 1] == "%" {
                var p = q + 2
                var sign: Unicode.Scalar?
                if p < s.count && (s[p] == "-" || s[p] == "+") {
                    sign = s[p]
                    p += 1
                }
                skipSpace(&p)
                if matches("endraw", at: p) {
                    p += 6
                    skipSpace(&p)
                    var end: Int?
                    if p < s.count && s[p] == "+" && matches("%}", at: p + 1) {
                        end = p + 3
                    } else if p < s.count && s[p] == "-" && matches("%}", at: p + 1) {
                        var e = p + 3
                        skipSpace(&e)
                        end = e
                    } else if matches("%}", at: p) {
                        var e = p + 2
                        if e < s.count && s[e] == "\n" { e += 1 }
                        end = e
                    }
                    if let end {
                        let textEnd = strippedEnd(start, q, sign: sign, lstrip: true, lineStarting: bodyLineStarting)
                        emitData(start, textEnd)
                        lineStarting = end > 0 && s[end - 1] == "\n"
                        return end
                    }
                }
            }
            q += 1
        }
        throw EngineError.syntax("Missing end of raw directive", position(tagAt))
    }

    private mutating func lexComment(from start: Int, tagAt: Int, lineStarting: inout Bool) throws -> Int {
        var q = start
        while q + 1 < s.count {
            if (s[q] == "-" || s[q] == "+") && q + 2 < s.count && s[q + 1] == "#" && s[q + 2] == "}" {
                var end = q + 3
                if s[q] == "-" { skipSpace(&end) }
                lineStarting = s[end - 1] == "\n"
                return end
            }
            if s[q] == "#" && s[q + 1] == "}" {
                var end = q + 2
                if end < s.count && s[end] == "\n" { end += 1 }
                lineStarting = s[end - 1] == "\n"
                return end
            }
            q += 1
        }
        throw EngineError.syntax("Missing end of comment tag", position(tagAt))
    }

    private func isNameStart(_ c: Unicode.Scalar) -> Bool {
        c == "_" || (c.value < 128 ? c.properties.isAlphabetic : c.properties.isXIDStart)
    }
    private func isNameChar(_ c: Unicode.Scalar) -> Bool {
        c == "_" || (c.value < 128 ? (c.properties.isAlphabetic || ("0"..."9").contains(c)) : c.properties.isXIDContinue)
    }
    private func isDigit(_ c: Unicode.Scalar) -> Bool { ("0"..."9").contains(c) }

    /// `(\d+_)*\d+` starting at p; returns the end or nil.
    private func digitRun(_ p: Int) -> Int? {
        var k = p
        guard k < s.count, isDigit(s[k]) else { return nil }
        while true {
            while k < s.count && isDigit(s[k]) { k += 1 }
            if k + 1 < s.count && s[k] == "_" && isDigit(s[k + 1]) { k += 1 } else { break }
        }
        return k
    }

    private func exponentEnd(_ p: Int) -> Int? {
        guard p < s.count, s[p] == "e" || s[p] == "E" else { return nil }
        var k = p + 1
        if k < s.count && (s[k] == "+" || s[k] == "-") { k += 1 }
        return digitRun(k)
    }

    private mutating func lexTag(from start: Int, tagAt: Int, isBlock: Bool, lineStarting: inout Bool) throws -> Int {
        tokens.append(Token(kind: isBlock ? .blockBegin : .variableBegin, pos: position(tagAt)))
        var p = start
        var balance: [Unicode.Scalar] = []
        let n = s.count
        while true {
            if p >= n {
                throw EngineError.syntax(
                    "unexpected end of template: tag '\(isBlock ? "{%" : "{{")' is never closed", position(tagAt))
            }
            if balance.isEmpty {
                let close = isBlock ? "%}" : "}}"
                if isBlock && s[p] == "+" && matches(close, at: p + 1) {
                    tokens.append(Token(kind: .blockEnd, pos: position(p)))
                    lineStarting = false
                    return p + 3
                }
                if s[p] == "-" && matches(close, at: p + 1) {
                    tokens.append(Token(kind: isBlock ? .blockEnd : .variableEnd, pos: position(p)))
                    var end = p + 3
                    skipSpace(&end)
                    lineStarting = s[end - 1] == "\n"
                    return end
                }
                if matches(close, at: p) {
                    tokens.append(Token(kind: isBlock ? .blockEnd : .variableEnd, pos: position(p)))
                    var end = p + 2
                    if isBlock && end < n && s[end] == "\n" { end += 1 }  // trim_blocks
                    lineStarting = s[end - 1] == "\n"
                    return end
                }
            }
            let c = s[p]
            let here = position(p)
            if isPySpace(c) {
                p += 1
                continue
            }
            if isDigit(c) {
                let notAfterDot = p == 0 || s[p - 1] != "."
                if notAfterDot, let intEnd = digitRun(p) {
                    var floatEnd: Int?
                    if intEnd < n && s[intEnd] == ".", let fracEnd = digitRun(intEnd + 1) {
                        floatEnd = exponentEnd(fracEnd) ?? fracEnd
                    } else if let e = exponentEnd(intEnd) {
                        floatEnd = e
                    }
                    if let floatEnd {
                        let text = String(scalars: s[p..<floatEnd]).replacingOccurrences(of: "_", with: "")
                        guard let d = Double(text) else { throw EngineError.syntax("invalid number '\(text)'", here) }
                        tokens.append(Token(kind: .float(d), pos: here))
                        p = floatEnd
                        continue
                    }
                }
                // Integer: 0x / 0o / 0b or decimal with underscores.
                if c == "0", p + 1 < n, let radix = ["x": 16, "X": 16, "o": 8, "O": 8, "b": 2, "B": 2][s[p + 1]] {
                    var k = p + 2
                    var digits = ""
                    while k < n, s[k] == "_" || Int(String(s[k]), radix: radix) != nil {
                        if s[k] != "_" { digits.unicodeScalars.append(s[k]) }
                        k += 1
                    }
                    if let v = Int(digits, radix: radix) {
                        tokens.append(Token(kind: .integer(v), pos: here))
                        p = k
                        continue
                    }
                }
                let end = digitRun(p) ?? (p + 1)
                let text = String(scalars: s[p..<end]).replacingOccurrences(of: "_", with: "")
                guard let v = Int(text) else { throw EngineError.syntax("integer literal '\(text)' is too large", here) }
                tokens.append(Token(kind: .integer(v), pos: here))
                p = end
                continue
            }
            if isNameStart(c) {
                var k = p + 1
                while k < n && isNameChar(s[k]) { k += 1 }
                tokens.append(Token(kind: .name(String(scalars: s[p..<k])), pos: here))
                p = k
                continue
            }
            if c == "'" || c == "\"" {
                var k = p + 1
                var closed = false
                while k < n {
                    if s[k] == "\\" {
                        k += 2
                        continue
                    }
                    if s[k] == c {
                        closed = true
                        break
                    }
                    k += 1
                }
                guard closed, k < n else { throw EngineError.syntax("unexpected char \(PyStr.repr(String(c))) (unterminated string)", here) }
                tokens.append(Token(kind: .string(Lexer.unescape(Array(s[(p + 1)..<k]))), pos: here))
                p = k + 1
                continue
            }
            if p + 1 < n, Lexer.operators2.contains(String(scalars: s[p...(p + 1)])) {
                tokens.append(Token(kind: .op(String(scalars: s[p...(p + 1)])), pos: here))
                p += 2
                continue
            }
            if Lexer.operators1.contains(c) {
                switch c {
                case "(": balance.append(")")
                case "[": balance.append("]")
                case "{": balance.append("}")
                case ")", "]", "}":
                    guard let expected = balance.popLast() else {
                        throw EngineError.syntax("unexpected '\(c)'", here)
                    }
                    if expected != c { throw EngineError.syntax("unexpected '\(c)', expected '\(expected)'", here) }
                default: break
                }
                tokens.append(Token(kind: .op(String(c)), pos: here))
                p += 1
                continue
            }
            throw EngineError.syntax("unexpected char \(PyStr.repr(String(c)))", here)
        }
    }

    /// Python `unicode_escape` decoding, as Jinja applies to string literals.
    static func unescape(_ a: [Unicode.Scalar]) -> String {
        var out = String.UnicodeScalarView()
        var i = 0
        func hexValue(_ from: Int, _ count: Int) -> UInt32? {
            guard from + count <= a.count else { return nil }
            return UInt32(String(scalars: a[from..<(from + count)]), radix: 16)
        }
        while i < a.count {
            let c = a[i]
            guard c == "\\", i + 1 < a.count else {
                out.append(c)
                i += 1
                continue
            }
            let e = a[i + 1]
            i += 2
            switch e {
            case "\n": break
            case "\\": out.append("\\")
            case "'": out.append("'")
            case "\"": out.append("\"")
            case "n": out.append("\n")
            case "t": out.append("\t")
            case "r": out.append("\r")
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "v": out.append("\u{0B}")
            case "0"..."7":
                var v = e.value - 48
                var k = 0
                while k < 2, i < a.count, ("0"..."7").contains(a[i]) {
                    v = v * 8 + a[i].value - 48
                    i += 1
                    k += 1
                }
                out.append(Unicode.Scalar(v) ?? "\u{FFFD}")
            case "x", "u", "U":
                let width = e == "x" ? 2 : (e == "u" ? 4 : 8)
                if let v = hexValue(i, width), let u = Unicode.Scalar(v) {
                    out.append(u)
                    i += width
                } else {
                    out.append("\\")
                    out.append(e)
                }
            default:
                out.append("\\")
                out.append(e)
            }
        }
        return String(out)
    }
}
