/// Element encodings ModelFiles can read: plain floats and the ggml block quantisations.
public enum TensorType: Equatable, Sendable, CaseIterable {
    case f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q4_K, q5_K, q6_K

    /// Elements per block.
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0: return 32
        case .q4_K, .q5_K, .q6_K: return 256
        }
    }

    /// Bytes per block (ggml-common.h block structs).
    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q4_0: return 18   // f16 d, 16 B nibbles
        case .q4_1: return 20   // f16 d, f16 m, 16 B nibbles
        case .q5_0: return 22   // f16 d, u32 high bits, 16 B nibbles
        case .q5_1: return 24   // f16 d, f16 m, u32 high bits, 16 B nibbles
        case .q8_0: return 34   // f16 d, 32 x i8
        case .q4_K: return 144  // f16 d, f16 dmin, 12 B scales, 128 B nibbles
        case .q5_K: return 176  // as q4_K + 32 B high bits
        case .q6_K: return 210  // 128 B low nibbles, 64 B high 2 bits, 16 x i8 scales, f16 d
        }
    }

    /// Bytes holding `elements` consecutive elements (a multiple of blockSize).
    public func rowBytes(_ elements: Int) -> Int { elements / blockSize * blockBytes }

    /// ggml type ids (ggml.h `enum ggml_type`).
    public init?(ggmlTypeID id: UInt32) {
        switch id {
        case 0: self = .f32
        case 1: self = .f16
        case 2: self = .q4_0
        case 3: self = .q4_1
        case 6: self = .q5_0
        case 7: self = .q5_1
        case 8: self = .q8_0
        case 12: self = .q4_K
        case 13: self = .q5_K
        case 14: self = .q6_K
        case 30: self = .bf16
        default: return nil
        }
    }

    /// Name as llama.cpp / gguf-py print it ("Q4_K", "F32").
    public var name: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q5_0: return "Q5_0"
        case .q5_1: return "Q5_1"
        case .q8_0: return "Q8_0"
        case .q4_K: return "Q4_K"
        case .q5_K: return "Q5_K"
        case .q6_K: return "Q6_K"
        }
    }
}

/// One tensor inside a mapped file. `data` stays valid while the GGUFFile / SafetensorsArchive
/// that produced it is alive. It may be unaligned (safetensors); read it through dequantize().
public struct TensorInfo: @unchecked Sendable {
    public let name: String
    /// PyTorch order, outermost first: a linear weight is [out, in] (GGUF's ne reversed).
    public let shape: [Int]
    public let type: TensorType
    public let data: UnsafeRawPointer

    public init(name: String, shape: [Int], type: TensorType, data: UnsafeRawPointer) {
        self.name = name
        self.shape = shape
        self.type = type
        self.data = data
    }

    /// Number of elements (1 for a 0-d tensor).
    public var count: Int { shape.reduce(1, *) }
    public var byteCount: Int { type.rowBytes(count) }

    /// The whole tensor as Float32.
    public func floats() -> [Float] {
        let n = count
        return [Float](unsafeUninitializedCapacity: n) { buf, initialized in
            if let base = buf.baseAddress { dequantize(type, data, count: n, into: base) }
            initialized = n
        }
    }
}
