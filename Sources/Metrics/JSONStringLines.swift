import Foundation

/// Files of one JSON string per line (`tunelab metrics --predictions/--references`). A final newline
/// is optional; "\r\n" line ends are accepted. Errors name the file and the 1-based line.
public enum JSONStringLines {
    public static func read(path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw MetricsError("\(path): cannot read the file")
        }
        return try parse(data, path: path)
    }

    public static func parse(_ data: Data, path: String) throws -> [String] {
        let bytes = [UInt8](data)
        guard !bytes.isEmpty else { throw MetricsError("\(path): the file is empty (expected one JSON string per line)") }
        var lines: [ArraySlice<UInt8>] = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        if bytes.last == 0x0A { lines.removeLast() }
        var out: [String] = []
        out.reserveCapacity(lines.count)
        for (k, var line) in lines.enumerated() {
            let where_ = "\(path):\(k + 1)"
            if line.last == 0x0D { line.removeLast() }
            guard let text = String(validating: line, as: UTF8.self) else {
                throw MetricsError("\(where_): not valid UTF-8")
            }
            do {
                out.append(try parseString(Array(text.unicodeScalars)))
            } catch let e as MetricsError {
                throw MetricsError("\(where_): \(e.description)")
            }
        }
        return out
    }

    /// One JSON string value (RFC 8259), with optional surrounding JSON whitespace.
    static func parseString(_ s: [Unicode.Scalar]) throws -> String {
        var i = 0
        func skipSpace() { while i < s.count, [" ", "\t", "\r"].contains(s[i]) { i += 1 } }
        skipSpace()
        guard i < s.count else { throw MetricsError("empty line; expected a JSON string such as \"text\"") }
        guard s[i] == "\"" else { throw MetricsError("expected a JSON string (\"…\"), found \(describe(s, from: i))") }
        i += 1
        var out = String.UnicodeScalarView()
        func hex4() throws -> UInt32 {
            guard i + 4 <= s.count, let v = UInt32(String(String.UnicodeScalarView(s[i..<(i + 4)])), radix: 16) else {
                throw MetricsError("invalid \\u escape at column \(i + 1)")
            }
            i += 4
            return v
        }
        while true {
            guard i < s.count else { throw MetricsError("unterminated JSON string") }
            let c = s[i]
            i += 1
            if c == "\"" { break }
            if c.value < 0x20 { throw MetricsError("unescaped control character U+\(String(c.value, radix: 16, uppercase: true)) in a JSON string at column \(i)") }
            guard c == "\\" else { out.append(c); continue }
            guard i < s.count else { throw MetricsError("unterminated escape") }
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
                let hi = try hex4()
                if (0xD800...0xDBFF).contains(hi) {
                    guard i + 1 < s.count, s[i] == "\\", s[i + 1] == "u" else {
                        throw MetricsError("lone surrogate \\u\(String(hi, radix: 16)) at column \(i - 5) (not a Unicode character)")
                    }
                    i += 2
                    let lo = try hex4()
                    guard (0xDC00...0xDFFF).contains(lo) else { throw MetricsError("invalid surrogate pair at column \(i - 11)") }
                    out.append(Unicode.Scalar(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))!)
                } else if let u = Unicode.Scalar(hi) {
                    out.append(u)
                } else {
                    throw MetricsError("lone surrogate \\u\(String(hi, radix: 16)) at column \(i - 5) (not a Unicode character)")
                }
            default:
                throw MetricsError("invalid escape \\\(e) at column \(i - 1)")
            }
        }
        skipSpace()
        guard i == s.count else { throw MetricsError("unexpected \(describe(s, from: i)) after the JSON string") }
        return String(out)
    }

    private static func describe(_ s: [Unicode.Scalar], from i: Int) -> String {
        let rest = String(String.UnicodeScalarView(s[i...].prefix(20)))
        return "\"\(rest)\(s.count - i > 20 ? "…" : "")\" at column \(i + 1)"
    }
}
