/// Jinja tests (`x is defined`, `x is string`, ...).
enum Predicates {
    static let names: Set<String> = [
        "defined", "undefined", "none", "boolean", "false", "true", "integer", "float", "number", "string",
        "mapping", "iterable", "sequence", "callable", "sameas", "equalto", "eq", "==", "ne", "!=", "lt",
        "lessthan", "<", "le", "<=", "gt", "greaterthan", ">", "ge", ">=", "in", "odd", "even", "divisibleby",
        "lower", "upper", "escaped", "filter", "test",
    ]

    static func apply(_ name: String, _ v: Value, _ args: CallArgs) throws -> Bool {
        func arg() throws -> Value {
            guard let a = args.positional.first ?? args.keyword.first?.1 else {
                throw EngineError.render("test '\(name)' needs an argument", args.pos)
            }
            return a
        }
        func integer(_ x: Value) throws -> Int {
            if case .undefined(let hint) = x { throw EngineError.render(hint) }
            guard let i = x.asInt else {
                if case .double(let d) = x, d == d.rounded(), abs(d) < 9e18 { return Int(d) }
                throw EngineError.render("test '\(name)' needs an integer, got \(x.typeName)")
            }
            return i
        }
        switch name {
        case "defined": return !v.isUndefined
        case "undefined": return v.isUndefined
        case "none":
            if case .none = v { return true }
            return false
        case "boolean":
            if case .bool = v { return true }
            return false
        case "true":
            if case .bool(true) = v { return true }
            return false
        case "false":
            if case .bool(false) = v { return true }
            return false
        case "integer":
            if case .int = v { return true }
            return false
        case "float":
            if case .double = v { return true }
            return false
        case "number": return v.number != nil
        case "string":
            if case .string = v { return true }
            return false
        case "mapping":
            if case .dict = v { return true }
            return false
        case "iterable":
            switch v {
            case .undefined, .string, .list, .tuple, .dict, .loop: return true
            default: return false
            }
        case "sequence":
            switch v {
            case .undefined, .string, .list, .tuple, .dict: return true
            default: return false
            }
        case "callable":
            switch v {
            case .callable, .undefined: return true
            default: return false
            }
        case "sameas":
            let other = try arg()
            switch (v, other) {
            case (.none, .none): return true
            case (.bool(let a), .bool(let b)): return a == b
            case (.namespace(let a), .namespace(let b)): return a === b
            default: return false
            }
        case "equalto", "eq", "==": return v.equals(try arg())
        case "ne", "!=": return !v.equals(try arg())
        case "lt", "lessthan", "<": return try Value.order("<", v, try arg())
        case "le", "<=": return try Value.order("<=", v, try arg())
        case "gt", "greaterthan", ">": return try Value.order(">", v, try arg())
        case "ge", ">=": return try Value.order(">=", v, try arg())
        case "in": return try arg().contains(v)
        case "odd": return try integer(v) % 2 != 0
        case "even": return try integer(v) % 2 == 0
        case "divisibleby":
            let d = try integer(try arg())
            if d == 0 { throw EngineError.render("integer division or modulo by zero") }
            return try integer(v) % d == 0
        case "lower": return PyStr.isLower(v.str)
        case "upper": return PyStr.isUpper(v.str)
        case "escaped": return false
        case "filter":
            guard case .string(let f) = v else { return false }
            return Filters.names.contains(f)
        case "test":
            guard case .string(let t) = v else { return false }
            return names.contains(t)
        default:
            throw EngineError.render("No test named '\(name)'.")
        }
    }
}
