import Foundation

// Python `str` semantics on Unicode scalars (code points), which is what Jinja operates on.

/// `str.isspace()` / regex `\s` for Python str.
@inline(__always)
func isPySpace(_ c: Unicode.Scalar) -> Bool {
    switch c.value {
    case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
        return true
    default:
        return false
    }
}

extension String {
    var scalars: [Unicode.Scalar] { Array(unicodeScalars) }
    init(scalars: some Sequence<Unicode.Scalar>) {
        var v = String.UnicodeScalarView()
        v.append(contentsOf: scalars)
        self = String(v)
    }
}

enum PyStr {
    static func strip(_ s: String, _ chars: String?, left: Bool, right: Bool) -> String {
        let a = s.scalars
        let set = chars.map { Set($0.unicodeScalars) }
        func drop(_ c: Unicode.Scalar) -> Bool { set.map { $0.contains(c) } ?? isPySpace(c) }
        var lo = 0, hi = a.count
        if left { while lo < hi && drop(a[lo]) { lo += 1 } }
        if right { while hi > lo && drop(a[hi - 1]) { hi -= 1 } }
        return String(scalars: a[lo..<hi])
    }

    /// `str.split(sep=None, maxsplit=-1)`.
    static func split(_ s: String, _ sep: String?, _ maxsplit: Int) throws -> [String] {
        let a = s.scalars
        var out: [String] = []
        guard let sep else {
            var i = 0
            var splits = 0
            while i < a.count {
                while i < a.count && isPySpace(a[i]) { i += 1 }
                if i >= a.count { break }
                if maxsplit >= 0 && splits >= maxsplit {
                    var end = a.count
                    while end > i && isPySpace(a[end - 1]) { end -= 1 }
                    out.append(String(scalars: a[i..<end]))
                    return out
                }
                let start = i
                while i < a.count && !isPySpace(a[i]) { i += 1 }
                out.append(String(scalars: a[start..<i]))
                splits += 1
            }
            return out
        }
        let p = sep.scalars
        if p.isEmpty { throw EngineError.render("empty separator") }
        var start = 0, i = 0, splits = 0
        while i + p.count <= a.count {
            if (maxsplit < 0 || splits < maxsplit) && a[i..<(i + p.count)].elementsEqual(p) {
                out.append(String(scalars: a[start..<i]))
                i += p.count
                start = i
                splits += 1
            } else {
                i += 1
            }
        }
        out.append(String(scalars: a[start...]))
        return out
    }

    /// `str.rsplit(sep=None, maxsplit=-1)`.
    static func rsplit(_ s: String, _ sep: String?, _ maxsplit: Int) throws -> [String] {
        if maxsplit < 0 { return try split(s, sep, maxsplit) }
        let rev = String(scalars: s.scalars.reversed())
        let revSep = sep.map { String(scalars: $0.scalars.reversed()) }
        return try split(rev, revSep, maxsplit).reversed().map { String(scalars: $0.scalars.reversed()) }
    }

    /// Python's str.replace; the result is capped like repetition (`Value.maxRepeatedLength`).
    static func replace(_ s: String, _ old: String, _ new: String, _ count: Int) throws -> String {
        let a = s.scalars, o = old.scalars, n = new.scalars
        var out: [Unicode.Scalar] = []
        var done = 0
        func grow() throws {
            if out.count > Value.maxRepeatedLength { throw EngineError.render("replace() result too large") }
        }
        if o.isEmpty {
            for c in a {
                if count < 0 || done < count { out += n; done += 1; try grow() }
                out.append(c)
            }
            if count < 0 || done < count { out += n }
            try grow()
            return String(scalars: out)
        }
        var i = 0
        while i < a.count {
            if (count < 0 || done < count) && i + o.count <= a.count && a[i..<(i + o.count)].elementsEqual(o) {
                out += n
                try grow()
                i += o.count
                done += 1
            } else {
                out.append(a[i])
                i += 1
            }
        }
        return String(scalars: out)
    }

    /// `items` joined by `separator`, refused beyond `Value.maxRepeatedLength` bytes.
    static func joined(_ items: [String], _ separator: String) throws -> String {
        var total = separator.utf8.count * max(0, items.count - 1)
        for x in items {
            total += x.utf8.count
            if total > Value.maxRepeatedLength { throw EngineError.render("join() result too large") }
        }
        return items.joined(separator: separator)
    }

    static func count(_ s: String, _ sub: String) -> Int {
        let a = s.scalars, p = sub.scalars
        if p.isEmpty { return a.count + 1 }
        var i = 0, n = 0
        while i + p.count <= a.count {
            if a[i..<(i + p.count)].elementsEqual(p) { n += 1; i += p.count } else { i += 1 }
        }
        return n
    }

    static func find(_ s: String, _ sub: String) -> Int {
        let a = s.scalars, p = sub.scalars
        if p.isEmpty { return 0 }
        var i = 0
        while i + p.count <= a.count {
            if a[i..<(i + p.count)].elementsEqual(p) { return i }
            i += 1
        }
        return -1
    }

    static func isCased(_ c: Unicode.Scalar) -> Bool {
        c.properties.isLowercase || c.properties.isUppercase || c.properties.generalCategory == .titlecaseLetter
    }

    static func upper(_ c: Unicode.Scalar) -> String { c.properties.uppercaseMapping }
    static func lower(_ c: Unicode.Scalar) -> String { c.properties.lowercaseMapping }
    static func titleCase(_ c: Unicode.Scalar) -> String { c.properties.titlecaseMapping }

    /// `str.title()`: title-case the first cased character after any uncased one.
    static func title(_ s: String) -> String {
        var out = ""
        var prevCased = false
        for c in s.unicodeScalars {
            if isCased(c) {
                out += prevCased ? lower(c) : titleCase(c)
                prevCased = true
            } else {
                out.unicodeScalars.append(c)
                prevCased = false
            }
        }
        return out
    }

    /// `str.capitalize()`.
    static func capitalize(_ s: String) -> String {
        var out = ""
        for (i, c) in s.unicodeScalars.enumerated() { out += i == 0 ? titleCase(c) : lower(c) }
        return out
    }

    /// Jinja's `title` filter: capitalise after spaces, `-`, and opening brackets.
    static func jinjaTitle(_ s: String) -> String {
        var out = ""
        var atWordStart = true
        for c in s.unicodeScalars {
            let boundary = isPySpace(c) || c == "-" || c == "(" || c == "{" || c == "[" || c == "<"
            if boundary {
                out.unicodeScalars.append(c)
                atWordStart = true
            } else {
                out += atWordStart ? upper(c) : lower(c)
                atWordStart = false
            }
        }
        return out
    }

    static func swapcase(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            if c.properties.isUppercase { out += lower(c) } else if c.properties.isLowercase { out += upper(c) } else {
                out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func isLower(_ s: String) -> Bool {
        var cased = false
        for c in s.unicodeScalars {
            if c.properties.isUppercase || c.properties.generalCategory == .titlecaseLetter { return false }
            if c.properties.isLowercase { cased = true }
        }
        return cased
    }

    static func isUpper(_ s: String) -> Bool {
        var cased = false
        for c in s.unicodeScalars {
            if c.properties.isLowercase || c.properties.generalCategory == .titlecaseLetter { return false }
            if c.properties.isUppercase { cased = true }
        }
        return cased
    }

    /// Python `repr(str)`.
    static func repr(_ s: String) -> String {
        let hasSingle = s.unicodeScalars.contains("'")
        let hasDouble = s.unicodeScalars.contains("\"")
        let quote: Unicode.Scalar = hasSingle && !hasDouble ? "\"" : "'"
        var out = String(quote)
        for c in s.unicodeScalars {
            switch c {
            case quote, "\\": out += "\\" + String(c)
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if isPrintable(c) {
                    out.unicodeScalars.append(c)
                } else if c.value < 0x100 {
                    out += "\\x" + hex(c.value, 2)
                } else if c.value < 0x10000 {
                    out += "\\u" + hex(c.value, 4)
                } else {
                    out += "\\U" + hex(c.value, 8)
                }
            }
        }
        out.unicodeScalars.append(quote)
        return out
    }

    static func hex(_ v: UInt32, _ width: Int) -> String {
        let h = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - h.count)) + h
    }

    /// Python's `str.isprintable()` for one character (space is printable, other separators are not).
    static func isPrintable(_ c: Unicode.Scalar) -> Bool {
        if c == " " { return true }
        switch c.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned,
            .lineSeparator, .paragraphSeparator, .spaceSeparator:
            return false
        default:
            return true
        }
    }

    /// Python `repr(float)`: shortest round-trip digits, fixed notation for exponents in [-4, 16).
    static func floatRepr(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
        var text = "\(abs(d))"  // Swift also prints the shortest round-trip digits
        var exp = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exp = Int(text[text.index(after: e)...]) ?? 0
            text = String(text[..<e])
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let intPart = String(parts[0])
        let fracPart = parts.count > 1 ? String(parts[1]) : ""
        var digits = Array(intPart + fracPart)
        var decpt = intPart.count + exp
        while digits.first == "0" { digits.removeFirst(); decpt -= 1 }
        while digits.last == "0" { digits.removeLast() }
        if digits.isEmpty { return d.sign == .minus ? "-0.0" : "0.0" }
        let sign = d < 0 ? "-" : ""
        let ds = String(digits)
        if decpt <= -4 || decpt > 16 {
            let e = decpt - 1
            let mant = digits.count == 1 ? ds : String(digits[0]) + "." + String(digits[1...])
            let es = String(abs(e))
            return sign + mant + "e" + (e < 0 ? "-" : "+") + (es.count < 2 ? "0" + es : es)
        }
        if decpt <= 0 { return sign + "0." + String(repeating: "0", count: -decpt) + ds }
        if decpt >= digits.count { return sign + ds + String(repeating: "0", count: decpt - digits.count) + ".0" }
        return sign + String(digits[..<decpt]) + "." + String(digits[decpt...])
    }
}
