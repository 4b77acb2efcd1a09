import Foundation

/// Global functions transformers' Jinja environment provides.
enum Builtins {
    static func globals(now: @escaping () -> Date) -> [String: Value] {
        [
            "range": .callable(Callable("range", range)),
            "namespace": .callable(Callable("namespace", namespace)),
            "dict": .callable(
                Callable("dict") { args in
                    var d = ODict()
                    if let first = args.positional.first { d = try pairs(first) }
                    for (k, v) in args.keyword { d[k] = v }
                    return .dict(d)
                }),
            "raise_exception": .callable(
                Callable("raise_exception") { args in
                    let message = args.get(0, "message")?.str ?? ""
                    throw EngineError(kind: .raised, message: message, pos: args.pos)
                }),
            "strftime_now": .callable(
                Callable("strftime_now") { args in
                    guard case .string(let fmt)? = args.get(0, "format") else {
                        throw EngineError.render("strftime() argument 1 must be str", args.pos)
                    }
                    return .string(Strftime.format(fmt, now(), TimeZone.current))
                }),
        ]
    }

    /// Python's `range`, limited like Jinja's sandbox (MAX_RANGE = 100000).
    private static func range(_ args: CallArgs) throws -> Value {
        let ints = try args.positional.map { v -> Int in
            guard let i = v.asInt else {
                throw EngineError.render("'\(v.typeName)' object cannot be interpreted as an integer", args.pos)
            }
            return i
        }
        var start = 0, stop = 0, step = 1
        switch ints.count {
        case 1: stop = ints[0]
        case 2: (start, stop) = (ints[0], ints[1])
        case 3: (start, stop, step) = (ints[0], ints[1], ints[2])
        default: throw EngineError.render("range expected 1 to 3 arguments, got \(ints.count)", args.pos)
        }
        if step == 0 { throw EngineError.render("range() arg 3 must not be zero", args.pos) }
        // Element count ceil(distance / |step|) in unsigned arithmetic, so extreme bounds cannot overflow;
        // elements lie between start and stop, so the wrapping `start + k * step` below is exact.
        let empty = step > 0 ? stop <= start : stop >= start
        let distance = UInt(bitPattern: step > 0 ? stop &- start : start &- stop)
        let count = empty ? 0 : (distance - 1) / step.magnitude + 1
        if count > 100_000 {
            throw EngineError.render("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).", args.pos)
        }
        return .list((0..<Int(count)).map { .int(start &+ $0 &* step) })
    }

    private static func pairs(_ v: Value) throws -> ODict {
        switch v {
        case .dict(let d): return d
        case .namespace(let ns): return ns.attrs
        default:
            var d = ODict()
            for item in try v.iterate() {
                let kv = try item.iterate()
                guard kv.count == 2, case .string(let k) = kv[0] else {
                    throw EngineError.render("dictionary update sequence element has wrong length or key type")
                }
                d[k] = kv[1]
            }
            return d
        }
    }

    /// transformers' `TemplateNamespace`: like Jinja's, but underscore-prefixed names are rejected.
    private static func namespace(_ args: CallArgs) throws -> Value {
        var attrs = ODict()
        for p in args.positional { for (k, v) in try pairs(p).pairs { attrs[k] = v } }
        for (k, v) in args.keyword { attrs[k] = v }
        for k in attrs.keys where k.hasPrefix("_") {
            throw EngineError.render(
                "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '\(k)'. Please rename the attribute.",
                args.pos)
        }
        return .namespace(Namespace(attrs))
    }
}
