import Foundation

/// Plain data handed to a template: extra variables (`tools`, `date_string`, ...) and message fields.
/// Mirrors the JSON-like Python values transformers passes to Jinja.
public enum JinjaValue: Sendable, Equatable {
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JinjaValue])
    case dict(JinjaDict)
}

/// A string-keyed dictionary that keeps insertion order, like a Python dict
/// (`tojson` prints keys in this order).
public struct JinjaDict: Sendable, Equatable {
    public private(set) var keys: [String] = []
    private var storage: [String: JinjaValue] = [:]

    public init() {}

    /// Later duplicates replace the value but keep the first position, as in Python.
    public init(_ pairs: [(String, JinjaValue)]) {
        for (k, v) in pairs { self[k] = v }
    }

    public var count: Int { keys.count }

    public subscript(key: String) -> JinjaValue? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    /// Key/value pairs in insertion order.
    public var pairs: [(String, JinjaValue)] { keys.map { ($0, storage[$0]!) } }

    public static func == (a: JinjaDict, b: JinjaDict) -> Bool { a.storage == b.storage }
}

extension JinjaValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JinjaValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JinjaValue)...) { self = .dict(JinjaDict(elements)) }
    public init(nilLiteral: ()) { self = .none }
}

extension JinjaValue {
    /// Parses JSON text keeping object key order (tool schemas are printed back with `tojson`).
    public init(json text: String) throws {
        var parser = JSONParser(Array(text.unicodeScalars))
        self = try parser.parseDocument()
    }
}
