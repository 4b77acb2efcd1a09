/// Attribute access, subscripts, slices and the Python methods templates call
/// (`str.split`, `dict.items`, ...), following Jinja's sandboxed `getattr`/`getitem`.
enum Access {
    private static func objectRepr(_ v: Value) -> String {
        if case .none = v { return "None" }
        return "\(v.typeName) object"
    }

    private static func noAttribute(_ v: Value, _ name: String) -> Value {
        .undefined("'\(objectRepr(v))' has no attribute '\(name)'")
    }

    /// `obj.name`: Python attribute first, then item.
    static func getattr(_ v: Value, _ name: String) throws -> Value {
        switch v {
        case .undefined(let hint):
            throw EngineError.render(hint)
        case .dict(let d):
            if let m = dictMethod(d, name) { return m }
            return d[name] ?? noAttribute(v, name)
        case .string(let s):
            return stringMethod(s, name) ?? noAttribute(v, name)
        case .list(let a), .tuple(let a):
            return listMethod(a, name, v.typeName) ?? noAttribute(v, name)
        case .namespace(let ns):
            return ns.attrs[name] ?? noAttribute(v, name)
        case .loop(let l):
            return loopAttribute(l, name) ?? noAttribute(v, name)
        default:
            return noAttribute(v, name)
        }
    }

    /// `obj[key]`: item first, then attribute for string keys.
    static func getitem(_ v: Value, _ key: Value) throws -> Value {
        if case .undefined(let hint) = v { throw EngineError.render(hint) }
        switch (v, key) {
        case (.dict(let d), .string(let k)):
            if let x = d[k] { return x }
        case (.list(let a), _), (.tuple(let a), _):
            if let i = key.asInt {
                let j = i < 0 ? i + a.count : i
                return a.indices.contains(j) ? a[j] : .undefined("\(objectRepr(v)) has no element \(i)")
            }
        case (.string(let s), _):
            if let i = key.asInt {
                let chars = s.scalars
                let j = i < 0 ? i + chars.count : i
                return chars.indices.contains(j)
                    ? .string(String(chars[j])) : .undefined("\(objectRepr(v)) has no element \(i)")
            }
        default:
            break
        }
        if case .string(let name) = key { return try getattr(v, name) }
        return .undefined("\(objectRepr(v)) has no element \(key.repr)")
    }

    /// Python slice semantics (`x[a:b:c]`).
    static func slice(_ v: Value, _ start: Value?, _ stop: Value?, _ step: Value?) throws -> Value {
        if case .undefined(let hint) = v { throw EngineError.render(hint) }
        func index(_ x: Value?) throws -> Int? {
            guard let x else { return nil }
            if case .none = x { return nil }
            guard let i = x.asInt else {
                throw EngineError.render("slice indices must be integers or None or have an __index__ method")
            }
            return i
        }
        let (a, b, c) = (try index(start), try index(stop), try index(step) ?? 1)
        if c == 0 { throw EngineError.render("slice step cannot be zero") }
        func pick(_ n: Int) -> [Int] {
            let lower = c > 0 ? 0 : -1
            let upper = c > 0 ? n : n - 1
            func adjust(_ x: Int?, _ def: Int) -> Int {
                guard var x else { return def }
                if x < 0 { x += n }
                return min(max(x, lower), upper)
            }
            var i = adjust(a, c > 0 ? 0 : n - 1)
            let end = adjust(b, c > 0 ? n : -1)
            var out: [Int] = []
            while c > 0 ? i < end : i > end {
                out.append(i)
                let (next, overflow) = i.addingReportingOverflow(c)
                if overflow { break }
                i = next
            }
            return out
        }
        switch v {
        case .list(let items): return .list(pick(items.count).map { items[$0] })
        case .tuple(let items): return .tuple(pick(items.count).map { items[$0] })
        case .string(let s):
            let chars = s.scalars
            return .string(String(scalars: pick(chars.count).map { chars[$0] }))
        default:
            throw EngineError.render("'\(v.typeName)' object is not subscriptable")
        }
    }

    private static func loopAttribute(_ l: LoopState, _ name: String) -> Value? {
        let n = l.items.count, k = l.index0
        switch name {
        case "index": return .int(k + 1)
        case "index0": return .int(k)
        case "revindex": return .int(n - k)
        case "revindex0": return .int(n - k - 1)
        case "first": return .bool(k == 0)
        case "last": return .bool(k == n - 1)
        case "length": return .int(n)
        case "depth": return .int(l.depth)
        case "depth0": return .int(l.depth - 1)
        case "previtem": return k > 0 ? l.items[k - 1] : .undefined("there is no previous item")
        case "nextitem": return k + 1 < n ? l.items[k + 1] : .undefined("there is no next item")
        case "cycle":
            return .callable(
                Callable("cycle") { args in
                    guard !args.positional.isEmpty else { throw EngineError.render("no items for cycling given", args.pos) }
                    return args.positional[k % args.positional.count]
                })
        default: return nil
        }
    }

    private static func unsafe(_ name: String, _ type: String) -> Value {
        .undefined("access to attribute '\(name)' of '\(type)' object is unsafe.")
    }

    private static func method(_ name: String, _ body: @escaping (CallArgs) throws -> Value) -> Value {
        .callable(Callable(name, body))
    }

    static func dictMethod(_ d: ODict, _ name: String) -> Value? {
        switch name {
        case "items":
            return method(name) { _ in .list(d.pairs.map { .tuple([.string($0.0), $0.1]) }) }
        case "keys":
            return method(name) { _ in .list(d.keys.map { .string($0) }) }
        case "values":
            return method(name) { _ in .list(d.pairs.map { $0.1 }) }
        case "get":
            return method(name) { args in
                try args.check("get", max: 2, names: [])
                guard let key = args.get(0, "key") else {
                    throw EngineError.render("get expected at least 1 argument, got 0", args.pos)
                }
                if case .string(let k) = key, let v = d[k] { return v }
                return args.get(1, "default") ?? .none
            }
        case "copy":
            return method(name) { _ in .dict(d) }
        case "update", "pop", "popitem", "setdefault", "clear":
            return unsafe(name, "dict")
        default:
            return nil
        }
    }

    static func listMethod(_ a: [Value], _ name: String, _ type: String) -> Value? {
        switch name {
        case "count":
            return method(name) { args in
                guard let x = args.get(0, "value") else { throw EngineError.render("count() takes exactly one argument", args.pos) }
                return .int(a.filter { $0.equals(x) }.count)
            }
        case "index":
            return method(name) { args in
                guard let x = args.get(0, "value") else { throw EngineError.render("index expected at least 1 argument", args.pos) }
                guard let i = a.firstIndex(where: { $0.equals(x) }) else {
                    throw EngineError.render("\(x.repr) is not in list", args.pos)
                }
                return .int(i)
            }
        case "append", "extend", "insert", "pop", "remove", "sort", "reverse", "clear":
            return type == "list" ? unsafe(name, type) : nil
        default:
            return nil
        }
    }

    private static func optString(_ v: Value?, _ what: String) throws -> String? {
        switch v {
        case nil, .none?: return nil
        case .string(let s)?: return s
        case let x?: throw EngineError.render("\(what) arg must be None or str, not \(x.typeName)")
        }
    }

    private static func intArg(_ v: Value?, _ def: Int) throws -> Int {
        guard let v else { return def }
        guard let i = v.asInt else { throw EngineError.render("'\(v.typeName)' object cannot be interpreted as an integer") }
        return i
    }

    /// Prefix / suffix tests accept a string or a tuple of strings.
    private static func affixes(_ v: Value?, _ name: String) throws -> [String] {
        switch v {
        case .string(let s)?: return [s]
        case .tuple(let items)?, .list(let items)?:
            return try items.map {
                guard case .string(let s) = $0 else { throw EngineError.render("tuple for \(name) must only contain str") }
                return s
            }
        default:
            throw EngineError.render("\(name) first arg must be str or a tuple of str")
        }
    }

    static func stringMethod(_ s: String, _ name: String) -> Value? {
        switch name {
        case "upper": return method(name) { _ in .string(s.unicodeScalars.map { PyStr.upper($0) }.joined()) }
        case "lower": return method(name) { _ in .string(s.unicodeScalars.map { PyStr.lower($0) }.joined()) }
        case "title": return method(name) { _ in .string(PyStr.title(s)) }
        case "capitalize": return method(name) { _ in .string(PyStr.capitalize(s)) }
        case "swapcase": return method(name) { _ in .string(PyStr.swapcase(s)) }
        case "strip", "lstrip", "rstrip":
            return method(name) { args in
                let chars = try optString(args.get(0, "chars"), name)
                return .string(PyStr.strip(s, chars, left: name != "rstrip", right: name != "lstrip"))
            }
        case "split", "rsplit":
            return method(name) { args in
                let sep = try optString(args.get(0, "sep"), name)
                let maxsplit = try intArg(args.get(1, "maxsplit"), -1)
                let parts =
                    name == "split" ? try PyStr.split(s, sep, maxsplit) : try PyStr.rsplit(s, sep, maxsplit)
                return .list(parts.map { .string($0) })
            }
        case "splitlines":
            return method(name) { args in
                let keep = args.get(0, "keepends")?.truthy ?? false
                return .list(splitLines(s, keep).map { .string($0) })
            }
        case "startswith", "endswith":
            return method(name) { args in
                let options = try affixes(args.get(0, name == "startswith" ? "prefix" : "suffix"), name)
                let chars = s.scalars
                return .bool(
                    options.contains { o in
                        let p = o.scalars
                        guard p.count <= chars.count else { return false }
                        return name == "startswith"
                            ? chars[0..<p.count].elementsEqual(p) : chars[(chars.count - p.count)...].elementsEqual(p)
                    })
            }
        case "replace":
            return method(name) { args in
                guard case .string(let old)? = args.get(0, "old"), case .string(let new)? = args.get(1, "new") else {
                    throw EngineError.render("replace() arguments must be str", args.pos)
                }
                return .string(try PyStr.replace(s, old, new, try intArg(args.get(2, "count"), -1)))
            }
        case "find", "count", "index", "rfind":
            return method(name) { args in
                guard case .string(let sub)? = args.get(0, "sub") else {
                    throw EngineError.render("\(name)() argument must be str", args.pos)
                }
                switch name {
                case "count": return .int(PyStr.count(s, sub))
                case "rfind":
                    let r = PyStr.find(String(scalars: s.scalars.reversed()), String(scalars: sub.scalars.reversed()))
                    return .int(r < 0 ? -1 : s.scalars.count - r - sub.scalars.count)
                default:
                    let i = PyStr.find(s, sub)
                    if i < 0 && name == "index" { throw EngineError.render("substring not found", args.pos) }
                    return .int(i)
                }
            }
        case "join":
            return method(name) { args in
                guard let items = args.get(0, "iterable") else { throw EngineError.render("join() takes exactly one argument", args.pos) }
                return .string(try PyStr.joined(
                    try items.iterate().map {
                        guard case .string(let x) = $0 else {
                            throw EngineError.render("sequence item: expected str instance, \($0.typeName) found", args.pos)
                        }
                        return x
                    }, s))
            }
        case "removeprefix", "removesuffix":
            return method(name) { args in
                guard case .string(let a)? = args.get(0, "prefix") else { throw EngineError.render("\(name)() argument must be str", args.pos) }
                let chars = s.scalars, p = a.scalars
                if name == "removeprefix", chars.starts(with: p) { return .string(String(scalars: chars[p.count...])) }
                if name == "removesuffix", !p.isEmpty, chars.count >= p.count,
                    chars[(chars.count - p.count)...].elementsEqual(p)
                {
                    return .string(String(scalars: chars[..<(chars.count - p.count)]))
                }
                return .string(s)
            }
        case "isdigit", "isalpha", "isalnum", "isspace", "islower", "isupper", "isnumeric", "isdecimal":
            return method(name) { _ in
                let chars = s.scalars
                switch name {
                case "islower": return .bool(PyStr.isLower(s))
                case "isupper": return .bool(PyStr.isUpper(s))
                case "isspace": return .bool(!chars.isEmpty && chars.allSatisfy(isPySpace))
                case "isalpha": return .bool(!chars.isEmpty && chars.allSatisfy { $0.properties.isAlphabetic })
                case "isalnum":
                    return .bool(!chars.isEmpty && chars.allSatisfy { $0.properties.isAlphabetic || $0.properties.numericType != nil })
                default: return .bool(!chars.isEmpty && chars.allSatisfy { $0.properties.numericType != nil })
                }
            }
        default:
            return nil
        }
    }

    /// `str.splitlines()`.
    static func splitLines(_ s: String, _ keepEnds: Bool) -> [String] {
        let a = s.scalars
        var out: [String] = []
        var start = 0, i = 0
        while i < a.count {
            let c = a[i].value
            let isBreak = (0x0A...0x0D).contains(c) || (0x1C...0x1E).contains(c) || c == 0x85 || c == 0x2028 || c == 0x2029
            if isBreak {
                var end = i + 1
                if c == 0x0D, end < a.count, a[end] == "\n" { end += 1 }
                out.append(String(scalars: a[start..<(keepEnds ? end : i)]))
                start = end
                i = end
            } else {
                i += 1
            }
        }
        if start < a.count { out.append(String(scalars: a[start...])) }
        return out
    }
}
