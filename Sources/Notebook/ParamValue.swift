import Foundation

/// A cell parameter's value: the TOML value kinds a notebook can hold (no dates).
public enum ParamValue: Equatable, Hashable, Codable, Sendable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case array([ParamValue])
    case table([String: ParamValue])

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var intValue: Int? { if case .int(let i) = self { return i } else { return nil } }
    /// Integers read as numbers too (`lr = 1` is 1.0).
    public var doubleValue: Double? {
        switch self {
        case .double(let d): return d
        case .int(let i): return Double(i)
        default: return nil
        }
    }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var arrayValue: [ParamValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var tableValue: [String: ParamValue]? { if case .table(let t) = self { return t } else { return nil } }

    /// Name of the value's type, for error messages.
    public var typeName: String {
        switch self {
        case .string: return "a string"
        case .int: return "an integer"
        case .double: return "a float"
        case .bool: return "a boolean"
        case .array: return "an array"
        case .table: return "a table"
        }
    }

    /// Canonical text: strings as they are (unquoted), everything else as TOML with sorted table
    /// keys. Equal values give equal text; this is what the experiment record stores.
    public var text: String {
        if case .string(let s) = self { return s }
        return toml
    }

    /// The value as a TOML literal (strings quoted and escaped), parseable back to an equal value.
    public var toml: String {
        switch self {
        case .string(let s): return Self.quote(s)
        case .int(let i): return String(i)
        case .double(let d):
            if d.isNaN { return "nan" }
            if d.isInfinite { return d < 0 ? "-inf" : "inf" }
            return "\(d)"  // shortest round-trip form: 0.0002, 1e-05, 2.0
        case .bool(let b): return b ? "true" : "false"
        case .array(let a): return "[" + a.map(\.toml).joined(separator: ", ") + "]"
        case .table(let t):
            if t.isEmpty { return "{}" }
            return "{ " + t.keys.sorted().map { "\(Self.key($0)) = \(t[$0]!.toml)" }.joined(separator: ", ") + " }"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    out += String(format: "\\u%04X", u.value)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    static func key(_ k: String) -> String {
        let bare = !k.isEmpty && k.unicodeScalars.allSatisfy { TOMLScanner.isBareKeyChar(UInt8(truncatingIfNeeded: $0.value)) && $0.isASCII }
        return bare ? k : quote(k)
    }
}

extension ParamValue: CustomStringConvertible {
    public var description: String { toml }
}
