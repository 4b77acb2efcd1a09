import Foundation

/// Jinja filters (`x | trim`, `x | tojson`, ...), with transformers' `tojson` override.
enum Filters {
    static let names: Set<String> = [
        "abs", "attr", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first", "float", "format",
        "indent", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min", "reject",
        "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "sort", "string", "sum",
        "title", "tojson", "trim", "unique", "upper", "wordcount",
    ]

    static func apply(_ name: String, _ v: Value, _ args: CallArgs, _ interp: Interpreter) throws -> Value {
        func arg(_ k: Int, _ key: String) -> Value? { args.get(k, key) }
        func str(_ x: Value) throws -> String {
            // Filters that start with `str(value)` accept Undefined (it is the empty string).
            x.str
        }
        switch name {
        case "abs":
            switch v.number {
            case .int(let i)?:
                if i == .min { throw EngineError.render("integer overflow in abs()") }
                return .int(abs(i))
            case .double(let d)?: return .double(abs(d))
            case nil:
                if case .undefined(let hint) = v { throw EngineError.render(hint) }
                throw EngineError.render("bad operand type for abs(): '\(v.typeName)'")
            }
        case "attr":
            // Attributes only: unlike `x.name`, never falls back to dict items.
            guard case .string(let n)? = arg(0, "name") else { throw EngineError.render("attr() needs a name") }
            if case .dict(let d) = v {
                return Access.dictMethod(d, n) ?? .undefined("'dict object' has no attribute '\(n)'")
            }
            return try Access.getattr(v, n)
        case "capitalize":
            return .string(PyStr.capitalize(try str(v)))
        case "count", "length":
            return .int(try v.length())
        case "d", "default":
            let def = arg(0, "default_value") ?? .string("")
            let boolean = arg(1, "boolean")?.truthy ?? false
            if v.isUndefined || (boolean && !v.truthy) { return def }
            return v
        case "dictsort":
            guard case .dict(let d) = v else {
                if case .undefined(let hint) = v { throw EngineError.render(hint) }
                throw EngineError.render("dictsort: can only sort mappings")
            }
            let caseSensitive = arg(0, "case_sensitive")?.truthy ?? false
            let byValue: Bool
            switch arg(1, "by") {
            case nil, .string("key")?: byValue = false
            case .string("value")?: byValue = true
            default: throw EngineError.render("You can only sort by either \"key\" or \"value\"")
            }
            let reverse = arg(2, "reverse")?.truthy ?? false
            let pairs = try sorted(d.pairs.map { Value.tuple([.string($0.0), $0.1]) }, reverse: reverse) {
                let item = try Access.getitem($0, .int(byValue ? 1 : 0))
                return caseSensitive ? item : lowered(item)
            }
            return .list(pairs)
        case "e", "escape":
            var out = ""
            for c in v.str.unicodeScalars {
                switch c {
                case "&": out += "&amp;"
                case "<": out += "&lt;"
                case ">": out += "&gt;"
                case "\"": out += "&#34;"
                case "'": out += "&#39;"
                default: out.unicodeScalars.append(c)
                }
            }
            return .string(out)
        case "first":
            return try v.iterate().first ?? .undefined("No first item, sequence was empty.")
        case "last":
            if case .undefined(let hint) = v { throw EngineError.render(hint) }
            return try v.iterate().last ?? .undefined("No last item, sequence was empty.")
        case "float":
            let def = arg(0, "default") ?? .double(0)
            switch v {
            case .int(let i): return .double(Double(i))
            case .bool(let b): return .double(b ? 1 : 0)
            case .double: return v
            case .string(let s):
                return Double(PyStr.strip(s, nil, left: true, right: true).replacingOccurrences(of: "_", with: ""))
                    .map { .double($0) } ?? def
            default: return def
            }
        case "format":
            // Jinja: `value % (kwargs or args)`.
            let operand: Value =
                args.keyword.isEmpty ? .tuple(args.positional) : .dict(ODict(args.keyword))
            return .string(try PercentFormat.format(v.str, operand))
        case "indent":
            return .string(try indent(v.str, args))
        case "int":
            let def = arg(0, "default") ?? .int(0)
            let base = try arg(1, "base").map { b -> Int in
                guard let i = b.asInt else { throw EngineError.render("int() base must be an integer") }
                return i
            } ?? 10
            switch v {
            case .int, .bool: return .int(v.asInt!)
            case .double(let d):
                return d.isFinite && abs(d) < 9.2e18 ? .int(Int(d)) : def
            case .string(let s):
                let t = PyStr.strip(s, nil, left: true, right: true).replacingOccurrences(of: "_", with: "")
                if let i = Int(t, radix: base) { return .int(i) }
                if let d = Double(t), d.isFinite, abs(d) < 9.2e18 { return .int(Int(d)) }
                return def
            default: return def
            }
        case "items":
            switch v {
            case .undefined: return .list([])
            case .dict(let d): return .list(d.pairs.map { .tuple([.string($0.0), $0.1]) })
            default: throw EngineError.render("Can only get item pairs from a mapping.")
            }
        case "join":
            let sep = try arg(0, "d").map(str) ?? ""
            var items = try v.iterate()
            if let a = arg(1, "attribute") { items = try items.map { try attribute($0, a) } }
            return .string(try PyStr.joined(items.map(\.str), sep))
        case "list":
            return .list(try v.iterate())
        case "lower":
            return .string(try str(v).unicodeScalars.map { PyStr.lower($0) }.joined())
        case "upper":
            return .string(try str(v).unicodeScalars.map { PyStr.upper($0) }.joined())
        case "map":
            let items = try v.iterate()
            if let a = args.keyword.first(where: { $0.0 == "attribute" })?.1 {
                let def = args.keyword.first(where: { $0.0 == "default" })?.1
                return .list(
                    try items.map {
                        let x = try attribute($0, a)
                        if x.isUndefined, let def { return def }
                        return x
                    })
            }
            guard case .string(let f)? = args.positional.first else { throw EngineError.render("map() needs a filter name or attribute=") }
            guard names.contains(f) else { throw EngineError.render("No filter named '\(f)'.") }
            let rest = CallArgs(positional: Array(args.positional.dropFirst()), keyword: args.keyword, pos: args.pos)
            return .list(try items.map { try apply(f, $0, rest, interp) })
        case "max", "min":
            let caseSensitive = arg(0, "case_sensitive")?.truthy ?? false
            let items = try v.iterate()
            guard !items.isEmpty else { return .undefined("No aggregated item, sequence was empty.") }
            let attr = arg(1, "attribute")
            let ordered = try sorted(items, reverse: false) { x in
                let key = try attr.map { try attribute(x, $0) } ?? x
                return caseSensitive ? key : lowered(key)
            }
            return name == "min" ? ordered.first! : ordered.last!
        case "reject", "select":
            let items = try v.iterate()
            let keep = name == "select"
            return .list(
                try items.filter { x in
                    guard case .string(let t)? = args.positional.first else { return x.truthy == keep }
                    let rest = CallArgs(positional: Array(args.positional.dropFirst()), keyword: args.keyword, pos: args.pos)
                    return try Predicates.apply(t, x, rest) == keep
                })
        case "rejectattr", "selectattr":
            let items = try v.iterate()
            let keep = name == "selectattr"
            guard let a = args.positional.first else { throw EngineError.render("\(name)() needs an attribute name") }
            return .list(
                try items.filter { x in
                    let value = try attribute(x, a)
                    guard args.positional.count > 1, case .string(let t) = args.positional[1] else { return value.truthy == keep }
                    let rest = CallArgs(positional: Array(args.positional.dropFirst(2)), keyword: args.keyword, pos: args.pos)
                    return try Predicates.apply(t, value, rest) == keep
                })
        case "replace":
            guard let old = arg(0, "old"), let new = arg(1, "new") else { throw EngineError.render("replace() needs old and new") }
            let count = arg(2, "count").flatMap { $0.asInt } ?? -1
            return .string(try PyStr.replace(try str(v), old.str, new.str, count))
        case "reverse":
            if case .string(let s) = v { return .string(String(scalars: s.scalars.reversed())) }
            return .list(try v.iterate().reversed())
        case "round":
            let precision = arg(0, "precision")?.asInt ?? 0
            let method = arg(1, "method")?.str ?? "common"
            guard let n = v.number else { throw EngineError.render("type \(v.typeName) doesn't define __round__ method") }
            let scale = pow(10.0, Double(precision))
            switch method {
            case "common":
                if case .int(let i) = n { return .int(i) }
                return .double((n.double * scale).rounded(.toNearestOrEven) / scale)
            case "ceil": return .double((n.double * scale).rounded(.up) / scale)
            case "floor": return .double((n.double * scale).rounded(.down) / scale)
            default: throw EngineError.render("method must be common, ceil or floor")
            }
        case "safe", "string":
            return .string(v.str)
        case "sort":
            let reverse = arg(0, "reverse")?.truthy ?? false
            let caseSensitive = arg(1, "case_sensitive")?.truthy ?? false
            let attr = arg(2, "attribute")
            return .list(
                try sorted(try v.iterate(), reverse: reverse) { x in
                    let key = try attr.map { try attribute(x, $0) } ?? x
                    return caseSensitive ? key : lowered(key)
                })
        case "sum":
            var total = arg(1, "start") ?? .int(0)
            for x in try v.iterate() {
                let item = try arg(0, "attribute").map { try attribute(x, $0) } ?? x
                total = try Value.binary("+", total, item)
            }
            return total
        case "title":
            return .string(PyStr.jinjaTitle(try str(v)))
        case "tojson":
            return .string(try tojson(v, args))
        case "trim":
            let chars = arg(0, "chars").flatMap { x -> String? in
                if case .string(let s) = x { return s }
                return nil
            }
            return .string(PyStr.strip(try str(v), chars, left: true, right: true))
        case "unique":
            let caseSensitive = arg(0, "case_sensitive")?.truthy ?? false
            let attr = arg(1, "attribute")
            var seen: [Value] = []
            var out: [Value] = []
            for x in try v.iterate() {
                var key = try attr.map { try attribute(x, $0) } ?? x
                if !caseSensitive { key = lowered(key) }
                if !seen.contains(where: { $0.equals(key) }) {
                    seen.append(key)
                    out.append(x)
                }
            }
            return .list(out)
        case "wordcount":
            return .int(v.str.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") }).count)
        default:
            throw EngineError.render("No filter named '\(name)'.")
        }
    }

    /// transformers' tojson: `json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)`.
    static func tojson(_ v: Value, _ args: CallArgs) throws -> String {
        try args.check("tojson", max: 4, names: ["ensure_ascii", "indent", "separators", "sort_keys"])
        let ensureASCII = args.get(0, "ensure_ascii")?.truthy ?? false
        var indent: String?
        switch args.get(1, "indent") {
        case nil, .none?: indent = nil
        case .string(let s)?: indent = s
        case let x?:
            guard let n = x.asInt else { throw EngineError.render("indent must be an int or a string") }
            guard n <= Value.maxRepeatedLength else { throw EngineError.render("indent \(n) is too large") }
            indent = String(repeating: " ", count: max(0, n))
        }
        var itemSep = indent == nil ? ", " : ","
        var keySep = ": "
        switch args.get(2, "separators") {
        case nil, .none?: break
        case .tuple(let p)?, .list(let p)?:
            guard p.count == 2, case .string(let a) = p[0], case .string(let b) = p[1] else {
                throw EngineError.render("separators must be a pair of strings")
            }
            itemSep = a
            keySep = b
        default: throw EngineError.render("separators must be a pair of strings")
        }
        let sortKeys = args.get(3, "sort_keys")?.truthy ?? false
        return try JSONDumper(
            indent: indent, itemSeparator: itemSep, keySeparator: keySep, sortKeys: sortKeys, ensureASCII: ensureASCII
        ).dump(v)
    }

    /// Jinja's `indent` filter (Jinja 3 behaviour).
    private static func indent(_ s: String, _ args: CallArgs) throws -> String {
        let width = args.get(0, "width") ?? .int(4)
        let pad: String
        if case .string(let w) = width { pad = w } else {
            let n = width.asInt ?? 4
            guard n <= Value.maxRepeatedLength else { throw EngineError.render("indent width \(n) is too large") }
            pad = String(repeating: " ", count: max(0, n))
        }
        let first = args.get(1, "first")?.truthy ?? false
        let blank = args.get(2, "blank")?.truthy ?? false
        let text = s + "\n"
        var lines = Access.splitLines(text, false)
        var rv: String
        if blank {
            rv = lines.joined(separator: "\n" + pad)
        } else {
            rv = lines.isEmpty ? "" : lines.removeFirst()
            if !lines.isEmpty { rv += "\n" + lines.map { $0.isEmpty ? $0 : pad + $0 }.joined(separator: "\n") }
        }
        if first { rv = pad + rv }
        return rv
    }

    /// `attribute=` argument: a dotted path, integer parts index sequences.
    static func attribute(_ x: Value, _ path: Value) throws -> Value {
        if let i = path.asInt { return try Access.getitem(x, .int(i)) }
        var cur = x
        for part in path.str.split(separator: ".", omittingEmptySubsequences: false) {
            let key: Value = Int(part).map { .int($0) } ?? .string(String(part))
            cur = try Access.getitem(cur, key)
        }
        return cur
    }

    private static func lowered(_ v: Value) -> Value {
        if case .string(let s) = v { return .string(s.unicodeScalars.map { PyStr.lower($0) }.joined()) }
        return v
    }

    /// Stable sort by a key with Python ordering.
    private static func sorted(_ items: [Value], reverse: Bool, key: (Value) throws -> Value) throws -> [Value] {
        let keyed = try items.enumerated().map { ($0.offset, try key($0.element), $0.element) }
        var failure: Error?
        let result = keyed.sorted { a, b in
            if failure != nil { return false }
            do {
                let c = try Value.threeWay("<", a.1, b.1)
                if c != 0 { return reverse ? c > 0 : c < 0 }
            } catch {
                failure = error
            }
            return a.0 < b.0
        }
        if let failure { throw failure }
        return result.map(\.2)
    }
}
