#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Minimal JSON tree for safetensors headers, index files and config.json.
enum JSONValue: Decodable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    static func parse(_ bytes: UnsafeRawBufferPointer, path: String, what: String) throws -> JSONValue {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
        } catch {
            throw ModelFileError(path, "\(what) is not valid JSON: \(Self.describe(error, data: Data(bytes)))")
        }
    }

    static func parse(fileAt path: String, what: String) throws -> JSONValue {
        let file = try MappedFile(path: path)
        return try parse(file.bytes, path: path, what: what)
    }

    /// What is wrong with the JSON. JSONDecoder says only "The given data was not valid JSON." when
    /// arrays and objects nest past its depth limit (512); with `data` that case is named and placed.
    static func describe(_ error: Error, data: Data? = nil) -> String {
        if case DecodingError.dataCorrupted(let ctx) = error {
            if ctx.underlyingError == nil, let data, let at = firstTooDeep(data) {
                return "arrays and objects nest deeper than \(maxNesting) levels (at byte \(at))"
            }
            return ctx.debugDescription + ((ctx.underlyingError).map { " (\($0))" } ?? "")
        }
        return "\(error)"
    }

    /// JSONDecoder's nesting limit.
    static let maxNesting = 512

    /// Offset of the first `[` or `{` (outside strings) that opens level `maxNesting + 1`, if any.
    static func firstTooDeep(_ data: Data) -> Int? {
        var depth = 0, inString = false, escaped = false
        for (i, c) in data.enumerated() {
            if inString {
                if escaped { escaped = false } else if c == 0x5C { escaped = true } else if c == 0x22 { inString = false }
                continue
            }
            switch c {
            case 0x22: inString = true
            case 0x5B, 0x7B:
                depth += 1
                if depth > maxNesting { return i }
            case 0x5D, 0x7D: depth -= 1
            default: break
            }
        }
        return nil
    }

    var object: [String: JSONValue]? { if case .object(let o) = self { return o }; return nil }
    var array: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
    var string: String? { if case .string(let s) = self { return s }; return nil }
    var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    var isNull: Bool { self == .null }

    /// Integers, and floats with an exact integer value (JSON writers may print 1e5 or 100000.0).
    var int: Int? {
        switch self {
        case .int(let i): return i
        case .double(let d): return Int(exactly: d)
        default: return nil
        }
    }

    var double: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }
}
