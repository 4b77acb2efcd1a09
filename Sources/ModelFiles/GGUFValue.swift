/// A GGUF metadata value. Arrays may nest and each nested array has its own element type.
/// Not `indirect`: scalars are stored inline (24 bytes each), not boxed one heap object per value.
public enum GGUFValue: Equatable, Sendable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    case array([GGUFValue])

    /// Any integer type that fits in Int.
    public var int: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(v)
        default: return nil
        }
    }

    /// Floats, and integers converted to Double.
    public var double: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        case .uint64(let v): return Double(v)
        default: return int.map(Double.init)
        }
    }

    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var array: [GGUFValue]? { if case .array(let a) = self { return a }; return nil }

    /// An array whose items are all strings.
    public var stringArray: [String]? { collect { $0.string } }
    /// An array whose items are all integers fitting in Int.
    public var intArray: [Int]? { collect { $0.int } }
    /// An array whose items are all numbers (converted to Float).
    public var floatArray: [Float]? { collect { $0.double.map(Float.init) } }

    private func collect<T>(_ f: (GGUFValue) -> T?) -> [T]? {
        guard case .array(let items) = self else { return nil }
        var out: [T] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard let v = f(item) else { return nil }
            out.append(v)
        }
        return out
    }

    /// GGUF value type name ("UINT32", "ARRAY"), as gguf-py spells it.
    public var typeName: String {
        switch self {
        case .uint8: return "UINT8"
        case .int8: return "INT8"
        case .uint16: return "UINT16"
        case .int16: return "INT16"
        case .uint32: return "UINT32"
        case .int32: return "INT32"
        case .uint64: return "UINT64"
        case .int64: return "INT64"
        case .float32: return "FLOAT32"
        case .float64: return "FLOAT64"
        case .bool: return "BOOL"
        case .string: return "STRING"
        case .array: return "ARRAY"
        }
    }
}
