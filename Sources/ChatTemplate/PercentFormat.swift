import Foundation

/// Python printf-style formatting (`'%s: %d' % (a, b)` and Jinja's `format` filter).
enum PercentFormat {
    static func format(_ fmt: String, _ value: Value) throws -> String {
        var positional: [Value] = []
        var mapping: ODict?
        switch value {
        case .tuple(let items): positional = items
        case .dict(let d): mapping = d
            positional = [value]
        default: positional = [value]
        }
        let a = fmt.scalars
        var out = ""
        var i = 0, next = 0
        var usedMapping = false
        func fail(_ m: String) -> EngineError { EngineError.render(m) }
        while i < a.count {
            guard a[i] == "%" else {
                out.unicodeScalars.append(a[i])
                i += 1
                continue
            }
            i += 1
            guard i < a.count else { throw fail("incomplete format") }
            var arg: Value?
            if a[i] == "(" {
                guard let mapping else { throw fail("format requires a mapping") }
                var depth = 1, k = i + 1
                while k < a.count && depth > 0 {
                    if a[k] == "(" { depth += 1 } else if a[k] == ")" { depth -= 1 }
                    k += 1
                }
                guard depth == 0 else { throw fail("incomplete format key") }
                let key = String(scalars: a[(i + 1)..<(k - 1)])
                guard let v = mapping[key] else { throw fail(PyStr.repr(key)) }
                arg = v
                usedMapping = true
                i = k
            }
            var flags = ""
            while i < a.count, "-+ #0".unicodeScalars.contains(a[i]) {
                flags.unicodeScalars.append(a[i])
                i += 1
            }
            func number() throws -> Int? {
                if i < a.count && a[i] == "*" {
                    i += 1
                    guard next < positional.count, let n = positional[next].asInt else { throw fail("* wants int") }
                    next += 1
                    return n
                }
                var digits = ""
                while i < a.count, ("0"..."9").contains(a[i]) {
                    digits.unicodeScalars.append(a[i])
                    i += 1
                }
                return digits.isEmpty ? nil : Int(digits)
            }
            var width = try number()
            var precision: Int?
            if i < a.count && a[i] == "." {
                i += 1
                precision = try number() ?? 0
            }
            // Python would try (and fail) to allocate; here padding is capped like repetition.
            if let w = width, w.magnitude > UInt(Value.maxRepeatedLength) { throw fail("field width \(w) is too large") }
            if let p = precision, p.magnitude > UInt(Value.maxRepeatedLength) { throw fail("precision \(p) is too large") }
            while i < a.count, "hlL".unicodeScalars.contains(a[i]) { i += 1 }
            guard i < a.count else { throw fail("incomplete format") }
            let type = a[i]
            i += 1
            if type == "%" {
                out += "%"
                continue
            }
            if arg == nil {
                guard next < positional.count else { throw fail("not enough arguments for format string") }
                arg = positional[next]
                next += 1
            }
            guard let v = arg else { continue }
            var body: String
            var numeric = false
            switch type {
            case "s": body = v.str
            case "r", "a": body = v.repr
            case "c":
                if case .string(let s) = v, s.unicodeScalars.count == 1 { body = s } else if let n = v.asInt,
                    let u = Unicode.Scalar(UInt32(clamping: max(0, n)))
                {
                    body = String(u)
                } else {
                    throw fail("%c requires int or char")
                }
            case "d", "i", "u", "x", "X", "o":
                numeric = true
                let n: Int
                switch v.number {
                case .int(let k)?: n = k
                case .double(let d)? where d.isFinite && abs(d) < 9.2e18:
                    guard type == "d" || type == "i" || type == "u" else {
                        throw fail("%\(type) format: an integer is required, not float")
                    }
                    n = Int(d)
                default:
                    throw fail("%\(type) format: a real number is required, not \(v.typeName)")
                }
                let radix = type == "x" || type == "X" ? 16 : (type == "o" ? 8 : 10)
                var digits = String(n.magnitude, radix: radix, uppercase: type == "X")
                if let precision, digits.count < precision {
                    digits = String(repeating: "0", count: precision - digits.count) + digits
                }
                if flags.contains("#") && radix != 10 { digits = (radix == 16 ? (type == "X" ? "0X" : "0x") : "0o") + digits }
                body = (n < 0 ? "-" : (flags.contains("+") ? "+" : (flags.contains(" ") ? " " : ""))) + digits
            case "f", "F", "e", "E", "g", "G":
                numeric = true
                guard let d = v.number?.double else {
                    throw fail("must be real number, not \(v.typeName)")
                }
                if d.isNaN || d.isInfinite {
                    body = d.isNaN ? "nan" : (d < 0 ? "-inf" : (flags.contains("+") ? "+inf" : "inf"))
                    if type.properties.isUppercase { body = body.uppercased() }
                } else {
                    var spec = "%"
                    for f in flags where f != "-" && f != "0" { spec.append(f) }
                    spec += ".\(precision ?? 6)" + String(type)
                    body = String(format: spec, d)
                }
            default:
                throw fail("unsupported format character '\(type)' (0x\(String(type.value, radix: 16)))")
            }
            if (type == "s" || type == "r" || type == "a"), let precision {
                body = String(scalars: body.scalars.prefix(precision))
            }
            width = width.map { $0 < 0 ? -$0 : $0 }
            if let w = width, body.unicodeScalars.count < w {
                let padCount = w - body.unicodeScalars.count
                if flags.contains("-") {
                    body += String(repeating: " ", count: padCount)
                } else if flags.contains("0") && numeric {
                    let signEnd = body.first.map { "+- ".contains($0) } == true ? 1 : 0
                    let idx = body.index(body.startIndex, offsetBy: signEnd)
                    body = String(body[..<idx]) + String(repeating: "0", count: padCount) + String(body[idx...])
                } else {
                    body = String(repeating: " ", count: padCount) + body
                }
            }
            out += body
        }
        if !usedMapping && mapping == nil && next < positional.count {
            throw fail("not all arguments converted during string formatting")
        }
        return out
    }
}
