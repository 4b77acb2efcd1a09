import Foundation

/// String-keyed dictionary in insertion order (a Python dict as templates see it).
struct ODict {
    private(set) var keys: [String] = []
    private var map: [String: Value] = [:]

    init() {}
    init(_ pairs: [(String, Value)]) {
        for (k, v) in pairs { self[k] = v }
    }

    var count: Int { keys.count }
    var pairs: [(String, Value)] { keys.map { ($0, map[$0]!) } }

    subscript(key: String) -> Value? {
        get { map[key] }
        set {
            if let newValue {
                if map.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if map.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }
}

/// Jinja's `namespace()`: the one mutable object templates can assign attributes on.
final class Namespace {
    var attrs: ODict
    init(_ attrs: ODict) { self.attrs = attrs }
}

/// State behind the `loop` variable of a `for` block.
final class LoopState {
    let items: [Value]
    var index0 = 0
    let depth: Int

    init(items: [Value], depth: Int) {
        self.items = items
        self.depth = depth
    }
}

/// Arguments of a call from the template.
struct CallArgs {
    var positional: [Value]
    var keyword: [(String, Value)]
    var pos: SourcePos

    /// The argument at `index` or passed as `name`.
    func get(_ index: Int, _ name: String) -> Value? {
        if let kw = keyword.first(where: { $0.0 == name }) { return kw.1 }
        return index < positional.count ? positional[index] : nil
    }

    func check(_ function: String, max: Int, names: [String]) throws {
        if positional.count > max {
            throw EngineError.render("\(function)() takes at most \(max) positional arguments (\(positional.count) given)", pos)
        }
        for (k, _) in keyword where !names.contains(k) {
            throw EngineError.render("\(function)() got an unexpected keyword argument '\(k)'", pos)
        }
    }
}

/// A function value: globals (`range`, `namespace`, ...), bound methods (`'a'.upper`), macros.
final class Callable {
    let name: String
    let body: (CallArgs) throws -> Value

    init(_ name: String, _ body: @escaping (CallArgs) throws -> Value) {
        self.name = name
        self.body = body
    }
}

/// A runtime value with Python semantics.
enum Value {
    /// Jinja's default `Undefined`: renders empty, is falsy, iterates as empty; most other uses raise
    /// an error carrying this hint.
    case undefined(String)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([Value])
    case tuple([Value])
    case dict(ODict)
    case namespace(Namespace)
    case loop(LoopState)
    case callable(Callable)

    init(_ j: JinjaValue) {
        switch j {
        case .none: self = .none
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .double(let d): self = .double(d)
        case .string(let s): self = .string(s)
        case .array(let a): self = .list(a.map(Value.init))
        case .dict(let d): self = .dict(ODict(d.pairs.map { ($0.0, Value($0.1)) }))
        }
    }

    var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    /// Python type name, for error messages.
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .namespace: return "Namespace"
        case .loop: return "LoopContext"
        case .callable: return "function"
        }
    }

    var truthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .list(let a), .tuple(let a): return !a.isEmpty
        case .dict(let d): return d.count > 0
        case .namespace, .loop, .callable: return true
        }
    }

    /// Containers nested deeper than this print as `[...]` / compare unequal instead of recursing
    /// further (a loop can build arbitrarily deep lists).
    static let maxNesting = 200

    /// Python `str()` as Jinja prints it (`Undefined` prints as empty).
    var str: String { str(depth: 0) }

    private func str(depth: Int) -> String {
        if depth > Value.maxNesting {
            switch self {
            case .list, .tuple, .dict, .namespace: return "[...]"
            default: break
            }
        }
        switch self {
        case .undefined: return ""
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return PyStr.floatRepr(d)
        case .string(let s): return s
        case .list(let a): return "[" + a.map { $0.repr(depth: depth + 1) }.joined(separator: ", ") + "]"
        case .tuple(let a):
            return "(" + a.map { $0.repr(depth: depth + 1) }.joined(separator: ", ") + (a.count == 1 ? ",)" : ")")
        case .dict(let d): return Value.dictRepr(d, depth)
        case .namespace(let ns): return "<Namespace " + Value.dictRepr(ns.attrs, depth) + ">"
        case .loop(let l): return "<LoopContext \(l.index0 + 1)/\(l.items.count)>"
        case .callable(let c): return "<function \(c.name)>"
        }
    }

    /// Python `repr()`.
    var repr: String { repr(depth: 0) }

    private func repr(depth: Int) -> String {
        switch self {
        case .undefined: return "Undefined"
        case .string(let s): return PyStr.repr(s)
        default: return str(depth: depth)
        }
    }

    private static func dictRepr(_ d: ODict, _ depth: Int) -> String {
        "{" + d.pairs.map { PyStr.repr($0.0) + ": " + $0.1.repr(depth: depth + 1) }.joined(separator: ", ") + "}"
    }

    /// Numeric view (bool counts as int, as in Python).
    enum Number {
        case int(Int)
        case double(Double)
        var double: Double {
            switch self {
            case .int(let i): return Double(i)
            case .double(let d): return d
            }
        }
    }

    var number: Number? {
        switch self {
        case .bool(let b): return .int(b ? 1 : 0)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        default: return nil
        }
    }

    /// Python `==`.
    func equals(_ other: Value, depth: Int = 0) -> Bool {
        if depth > Value.maxNesting { return false }
        switch (self, other) {
        case (.undefined, .undefined): return true
        case (.undefined, _), (_, .undefined): return false
        case (.none, .none): return true
        case (.string(let a), .string(let b)): return a.unicodeScalars.elementsEqual(b.unicodeScalars)
        case (.list(let a), .list(let b)), (.tuple(let a), .tuple(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.equals($1, depth: depth + 1) }
        case (.dict(let a), .dict(let b)):
            return a.count == b.count && a.pairs.allSatisfy { k, v in b[k].map { v.equals($0, depth: depth + 1) } ?? false }
        case (.namespace(let a), .namespace(let b)): return a === b
        case (.loop(let a), .loop(let b)): return a === b
        case (.callable(let a), .callable(let b)): return a === b
        default:
            if let x = number, let y = other.number {
                if case .int(let i) = x, case .int(let j) = y { return i == j }
                return x.double == y.double
            }
            return false
        }
    }

    /// Python ordering (`<`, `<=`, `>`, `>=`).
    static func order(_ op: String, _ a: Value, _ b: Value) throws -> Bool {
        if case .undefined(let hint) = a { throw EngineError.render(hint) }
        if case .undefined(let hint) = b { throw EngineError.render(hint) }
        func result(_ c: Int) -> Bool {
            switch op {
            case "<": return c < 0
            case "<=": return c <= 0
            case ">": return c > 0
            default: return c >= 0
            }
        }
        return result(try threeWay(op, a, b))
    }

    /// -1 / 0 / 1 comparison for orderable values; TypeError otherwise.
    static func threeWay(_ op: String, _ a: Value, _ b: Value, depth: Int = 0) throws -> Int {
        if depth > maxNesting { throw EngineError.render("maximum recursion depth exceeded in comparison") }
        if let x = a.number, let y = b.number {
            if case .int(let i) = x, case .int(let j) = y { return i < j ? -1 : (i == j ? 0 : 1) }
            let (p, q) = (x.double, y.double)
            return p < q ? -1 : (p == q ? 0 : 1)
        }
        switch (a, b) {
        case (.string(let s), .string(let t)):
            var i = s.unicodeScalars.makeIterator(), j = t.unicodeScalars.makeIterator()
            while true {
                switch (i.next(), j.next()) {
                case (nil, nil): return 0
                case (nil, _): return -1
                case (_, nil): return 1
                case (let c?, let d?): if c != d { return c.value < d.value ? -1 : 1 }
                }
            }
        case (.list(let s), .list(let t)), (.tuple(let s), .tuple(let t)):
            for (x, y) in zip(s, t) where !x.equals(y, depth: depth + 1) { return try threeWay(op, x, y, depth: depth + 1) }
            return s.count < t.count ? -1 : (s.count == t.count ? 0 : 1)
        default:
            throw EngineError.render("'\(op)' not supported between instances of '\(a.typeName)' and '\(b.typeName)'")
        }
    }

    /// Python `len()`.
    func length() throws -> Int {
        switch self {
        case .undefined: return 0
        case .string(let s): return s.unicodeScalars.count
        case .list(let a), .tuple(let a): return a.count
        case .dict(let d): return d.count
        case .namespace(let ns): return ns.attrs.count
        case .loop(let l): return l.items.count
        default: throw EngineError.render("object of type '\(typeName)' has no len()")
        }
    }

    /// Python iteration.
    func iterate() throws -> [Value] {
        switch self {
        case .undefined: return []
        case .list(let a), .tuple(let a): return a
        case .dict(let d): return d.keys.map { .string($0) }
        case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
        case .loop(let l): return l.items
        default: throw EngineError.render("'\(typeName)' object is not iterable")
        }
    }

    /// Python `item in self`.
    func contains(_ item: Value) throws -> Bool {
        switch self {
        case .undefined: return false
        case .string(let s):
            guard case .string(let sub) = item else {
                throw EngineError.render("'in <string>' requires string as left operand, not \(item.typeName)")
            }
            return PyStr.find(s, sub) >= 0
        case .list(let a), .tuple(let a): return a.contains { $0.equals(item) }
        case .dict(let d):
            if case .string(let k) = item { return d[k] != nil }
            return false
        case .namespace(let ns):
            if case .string(let k) = item { return ns.attrs[k] != nil }
            return false
        default:
            throw EngineError.render("argument of type '\(typeName)' is not iterable")
        }
    }

    var asInt: Int? {
        switch self {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }
}

// MARK: arithmetic

extension Value {
    static func binary(_ op: String, _ a: Value, _ b: Value) throws -> Value {
        if op == "~" { return .string(try concatenated(a.str, b.str)) }
        if case .undefined(let hint) = a { throw EngineError.render(hint) }
        if case .undefined(let hint) = b { throw EngineError.render(hint) }
        func unsupported() -> EngineError {
            EngineError.render("unsupported operand type(s) for \(op): '\(a.typeName)' and '\(b.typeName)'")
        }
        if let x = a.number, let y = b.number { return try numeric(op, x, y) }
        switch (op, a, b) {
        case ("+", .string(let s), .string(let t)): return .string(try concatenated(s, t))
        case ("+", .list(let s), .list(let t)): try checkRepeat(s.count + t.count, 1); return .list(s + t)
        case ("+", .tuple(let s), .tuple(let t)): try checkRepeat(s.count + t.count, 1); return .tuple(s + t)
        case ("+", .string, _): throw EngineError.render("can only concatenate str (not \"\(b.typeName)\") to str")
        case ("+", .list, _): throw EngineError.render("can only concatenate list (not \"\(b.typeName)\") to list")
        case ("*", .string(let s), _) where b.asInt != nil: return .string(try repeated(s, b.asInt!))
        case ("*", _, .string(let s)) where a.asInt != nil: return .string(try repeated(s, a.asInt!))
        case ("*", .list(let s), _) where b.asInt != nil: return .list(try repeatedList(s, b.asInt!))
        case ("*", _, .list(let s)) where a.asInt != nil: return .list(try repeatedList(s, a.asInt!))
        case ("%", .string(let f), _): return .string(try PercentFormat.format(f, b))
        default: throw unsupported()
        }
    }

    /// Repetition results are capped so a template cannot exhaust memory.
    static let maxRepeatedLength = 10_000_000

    private static func checkRepeat(_ count: Int, _ n: Int) throws {
        let (total, overflow) = count.multipliedReportingOverflow(by: max(n, 0))
        if overflow || total > maxRepeatedLength { throw EngineError.render("repetition result too large") }
    }
    /// `s + t`, capped like repetition: a loop doubling a string would otherwise fill memory.
    private static func concatenated(_ s: String, _ t: String) throws -> String {
        if s.utf8.count + t.utf8.count > maxRepeatedLength { throw EngineError.render("string result too large") }
        return s + t
    }
    private static func repeated(_ s: String, _ n: Int) throws -> String {
        try checkRepeat(s.unicodeScalars.count, n)
        return n > 0 ? String(repeating: s, count: n) : ""
    }
    private static func repeatedList(_ a: [Value], _ n: Int) throws -> [Value] {
        try checkRepeat(a.count, n)
        return n > 0 ? Array([[Value]](repeating: a, count: n).joined()) : []
    }

    private static func numeric(_ op: String, _ x: Number, _ y: Number) throws -> Value {
        if case .int(let i) = x, case .int(let j) = y {
            func checked(_ r: (Int, Bool)) throws -> Value {
                if r.1 { throw EngineError.render("integer overflow in '\(op)'") }
                return .int(r.0)
            }
            switch op {
            case "+": return try checked(i.addingReportingOverflow(j))
            case "-": return try checked(i.subtractingReportingOverflow(j))
            case "*": return try checked(i.multipliedReportingOverflow(by: j))
            case "/":
                if j == 0 { throw EngineError.render("division by zero") }
                return .double(Double(i) / Double(j))
            case "//":
                if j == 0 { throw EngineError.render("integer division or modulo by zero") }
                if j == -1 { return try checked(Int(0).subtractingReportingOverflow(i)) }
                let q = i / j
                return .int((i % j != 0 && ((i < 0) != (j < 0))) ? q - 1 : q)
            case "%":
                if j == 0 { throw EngineError.render("integer division or modulo by zero") }
                if j == -1 { return .int(0) }
                let r = i % j
                return .int((r != 0 && ((r < 0) != (j < 0))) ? r + j : r)
            case "**":
                if j < 0 { return .double(pow(Double(i), Double(j))) }
                var result = 1, base = i, e = j
                while e > 0 {
                    if e & 1 == 1 { result = try checked(result.multipliedReportingOverflow(by: base)).asInt! }
                    e >>= 1
                    if e > 0 { base = try checked(base.multipliedReportingOverflow(by: base)).asInt! }
                }
                return .int(result)
            default: break
            }
        }
        let (p, q) = (x.double, y.double)
        switch op {
        case "+": return .double(p + q)
        case "-": return .double(p - q)
        case "*": return .double(p * q)
        case "/":
            if q == 0 { throw EngineError.render("float division by zero") }
            return .double(p / q)
        case "//":
            if q == 0 { throw EngineError.render("float floor division by zero") }
            return .double((p / q).rounded(.down))
        case "%":
            if q == 0 { throw EngineError.render("float modulo") }
            let r = fmod(p, q)
            return .double((r != 0 && ((r < 0) != (q < 0))) ? r + q : r)
        case "**": return .double(pow(p, q))
        default: throw EngineError.render("unknown operator \(op)")
        }
    }
}
