/// A memory-mapped GGUF file (versions 2 and 3, little-endian). Everything read from the file is
/// checked against its size before use, so a damaged file throws instead of crashing.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: Int
    /// Tensor data alignment (`general.alignment`, default 32).
    public let alignment: Int
    public let metadata: [String: GGUFValue]
    public let tensors: [String: TensorInfo]
    /// Tensor names in file order.
    public let tensorNames: [String]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// File offset of the tensor data section.
    let dataOffset: Int
    private let file: MappedFile

    static let magic: UInt32 = 0x4655_4747  // "GGUF" read little-endian

    // Limits on metadata. Sizes declared in the file are first checked against the bytes left
    // (a count of n items needs at least n × the item's smallest encoding), but one byte of
    // file can be one 24-byte value in memory, so arrays, strings and the whole metadata also
    // have caps, far above any real model's (the largest vocabularies have ~260k tokens; merges
    // lists ~500k; chat templates are a few KB).
    static let maxNesting = 16
    /// Items in one metadata array.
    static let maxArrayLength = 1 << 22
    /// Bytes of one metadata string (a key or a value).
    static let maxStringBytes = 16 << 20
    /// Memory the parsed metadata may take, estimated as the stride of every value plus the bytes
    /// of every string (Qwen2.5's whole tokenizer, 151k tokens and merges, takes ~15 MB).
    static let metadataBudget = 256 << 20

    public init(path: String) throws {
        let file = try MappedFile(path: path)
        self.file = file
        self.path = path
        var r = ByteReader(path: path, bytes: file.bytes)

        let magic = try r.read(UInt32.self, "magic")
        guard magic == Self.magic else {
            throw ModelFileError(path, "not a GGUF file (first bytes \(hex(magic)), expected 47 47 55 46 \"GGUF\")", offset: 0)
        }
        let rawVersion = try r.read(UInt32.self, "version")
        if rawVersion & 0xFFFF == 0, (1...3).contains(rawVersion.byteSwapped) {
            throw ModelFileError(path, "big-endian GGUF (version \(rawVersion.byteSwapped)) is not supported", offset: 4)
        }
        guard rawVersion == 2 || rawVersion == 3 else {
            throw ModelFileError(path, "unsupported GGUF version \(rawVersion) (supported: 2, 3)", offset: 4)
        }
        version = Int(rawVersion)

        // Smallest possible tensor-info record: name length 8 + n_dims 4 + type 4 + offset 8.
        let tensorCount = try r.readCount("tensor count", unit: 24)
        // Smallest possible key/value: key length 8 + type 4 + 1 byte value.
        let kvCount = try r.readCount("metadata count", unit: 13)

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        var budget = MetadataBudget(path: path)
        for _ in 0 ..< kvCount {
            let at = r.offset
            let key = try r.readString("metadata key", maxBytes: Self.maxStringBytes)
            try budget.charge(1, bytes: key.utf8.count, key: key, at: at)
            let type = try r.read(UInt32.self, "type of metadata '\(key)'")
            let value = try Self.readValue(&r, type: type, key: key, depth: 0, budget: &budget)
            guard metadata.updateValue(value, forKey: key) == nil else {
                throw r.error("duplicate metadata key '\(key)'", at: at)
            }
            keys.append(key)
        }
        self.metadata = metadata
        metadataKeys = keys

        var alignment = 32
        if let v = metadata["general.alignment"] {
            guard let a = v.int, a > 0, a & (a - 1) == 0, a <= 1 << 30 else {
                throw ModelFileError(path, "general.alignment must be a power of two, got \(v)")
            }
            alignment = a
        }
        self.alignment = alignment

        struct Pending { let name: String; let shape: [Int]; let type: TensorType; let offset: Int; let bytes: Int; let at: Int }
        var pending: [Pending] = []
        pending.reserveCapacity(tensorCount)
        var seen = Set<String>()
        seen.reserveCapacity(tensorCount)
        for index in 0 ..< tensorCount {
            let at = r.offset
            let name = try r.readString("name of tensor #\(index)", maxBytes: 1 << 16)
            guard seen.insert(name).inserted else { throw r.error("duplicate tensor name '\(name)'", at: at) }
            let nDims = try r.read(UInt32.self, "dimension count of tensor '\(name)'")
            guard nDims <= 4 else { throw r.error("tensor '\(name)' has \(nDims) dimensions (at most 4)", at: r.offset - 4) }
            var ne: [Int] = []
            var count = 1
            for d in 0 ..< Int(nDims) {
                let raw = try r.read(UInt64.self, "dimension \(d) of tensor '\(name)'")
                guard raw <= UInt64(Int.max) else {
                    throw r.error("tensor '\(name)' dimension \(d) is \(raw), too large", at: r.offset - 8)
                }
                let (product, overflow) = count.multipliedReportingOverflow(by: Int(raw))
                guard !overflow else { throw r.error("tensor '\(name)' element count overflows", at: r.offset - 8) }
                count = product
                ne.append(Int(raw))
            }
            let typeID = try r.read(UInt32.self, "type of tensor '\(name)'")
            guard let type = TensorType(ggmlTypeID: typeID) else {
                throw r.error("tensor '\(name)' has unsupported ggml type id \(typeID)", at: r.offset - 4)
            }
            let rowLength = ne.first ?? 1
            guard rowLength % type.blockSize == 0 else {
                throw r.error("tensor '\(name)' (\(type.name)) row length \(rowLength) is not a multiple of the block size \(type.blockSize)", at: at)
            }
            let (bytes, overflow) = (count / type.blockSize).multipliedReportingOverflow(by: type.blockBytes)
            guard !overflow else { throw r.error("tensor '\(name)' byte size overflows", at: at) }
            let rawOffset = try r.read(UInt64.self, "data offset of tensor '\(name)'")
            guard rawOffset <= UInt64(Int.max / 2) else {
                throw r.error("tensor '\(name)' data offset \(rawOffset) is impossibly large", at: r.offset - 8)
            }
            let offset = Int(rawOffset)
            guard offset % alignment == 0 else {
                throw r.error("tensor '\(name)' data offset \(offset) is not a multiple of the alignment \(alignment)", at: r.offset - 8)
            }
            pending.append(Pending(name: name, shape: ne.reversed(), type: type, offset: offset, bytes: bytes, at: at))
        }

        let dataOffset = (r.offset + alignment - 1) / alignment * alignment
        self.dataOffset = dataOffset
        var tensors: [String: TensorInfo] = [:]
        tensors.reserveCapacity(tensorCount)
        guard let base = file.bytes.baseAddress else {
            throw ModelFileError(path, "file is empty")  // unreachable: the header was read
        }
        for p in pending {
            let start = dataOffset + p.offset
            guard start <= file.count, p.bytes <= file.count - start else {
                throw ModelFileError(path, "tensor '\(p.name)' (\(p.type.name) \(p.shape)) needs bytes \(start)..<\(start + p.bytes) but the file has only \(file.count) bytes (truncated?)")
            }
            tensors[p.name] = TensorInfo(name: p.name, shape: p.shape, type: p.type, data: base + start)
        }
        // Tensors must not share bytes (llama.cpp never writes that; an adapter or export would
        // otherwise read one weight as another).
        let extents = pending.filter { $0.bytes > 0 }.sorted { ($0.offset, $0.name) < ($1.offset, $1.name) }
        for (a, b) in zip(extents, extents.dropFirst()) where b.offset < a.offset + a.bytes {
            throw ModelFileError(path, "tensors '\(a.name)' (data bytes \(a.offset)..<\(a.offset + a.bytes)) and '\(b.name)' (\(b.offset)..<\(b.offset + b.bytes)) overlap")
        }
        self.tensors = tensors
        tensorNames = pending.map(\.name)
    }

    public func tensor(_ name: String) throws -> TensorInfo {
        guard let t = tensors[name] else { throw ModelFileError(path, "no tensor named '\(name)'") }
        return t
    }

    /// File offset of a tensor's data (for tests and diagnostics).
    func fileOffset(of t: TensorInfo) -> Int {
        guard let base = file.bytes.baseAddress else { return 0 }
        return t.data - base
    }

    // GGUF value type ids (gguf.h `enum gguf_type`).
    private static func readValue(_ r: inout ByteReader, type: UInt32, key: String, depth: Int,
                                  budget: inout MetadataBudget) throws -> GGUFValue {
        switch type {
        case 0: return .uint8(try r.read(UInt8.self, "value of '\(key)'"))
        case 1: return .int8(try r.read(Int8.self, "value of '\(key)'"))
        case 2: return .uint16(try r.read(UInt16.self, "value of '\(key)'"))
        case 3: return .int16(try r.read(Int16.self, "value of '\(key)'"))
        case 4: return .uint32(try r.read(UInt32.self, "value of '\(key)'"))
        case 5: return .int32(try r.read(Int32.self, "value of '\(key)'"))
        case 6: return .float32(Float(bitPattern: try r.read(UInt32.self, "value of '\(key)'")))
        case 7: return .bool(try r.read(UInt8.self, "value of '\(key)'") != 0)
        case 8:
            let at = r.offset
            let s = try r.readString("value of '\(key)'", maxBytes: maxStringBytes)
            try budget.charge(0, bytes: s.utf8.count, key: key, at: at)
            return .string(s)
        case 9:
            guard depth < maxNesting else {
                throw r.error("metadata '\(key)' nests arrays deeper than \(maxNesting) levels")
            }
            let elementType = try r.read(UInt32.self, "array type of '\(key)'")
            guard let unit = minimumSize(elementType) else {
                throw r.error("metadata '\(key)' has unknown array element type \(elementType)", at: r.offset - 4)
            }
            let at = r.offset
            let n = try r.readCount("array length of '\(key)'", unit: unit)
            guard n <= maxArrayLength else {
                throw r.error("metadata '\(key)' declares an array of \(n) items (at most \(maxArrayLength))", at: at)
            }
            try budget.charge(n, bytes: 0, key: key, at: at)
            var items: [GGUFValue] = []
            items.reserveCapacity(n)
            for _ in 0 ..< n { items.append(try readValue(&r, type: elementType, key: key, depth: depth + 1, budget: &budget)) }
            return .array(items)
        case 10: return .uint64(try r.read(UInt64.self, "value of '\(key)'"))
        case 11: return .int64(try r.read(Int64.self, "value of '\(key)'"))
        case 12: return .float64(Double(bitPattern: try r.read(UInt64.self, "value of '\(key)'")))
        default:
            throw r.error("metadata '\(key)' has unknown value type \(type)", at: r.offset - 4)
        }
    }

    /// Fewest bytes one value of a type occupies (nil: unknown type).
    private static func minimumSize(_ type: UInt32) -> Int? {
        switch type {
        case 0, 1, 7: return 1
        case 2, 3: return 2
        case 4, 5, 6: return 4
        case 8, 10, 11, 12: return 8
        case 9: return 12
        default: return nil
        }
    }
}

/// Memory the metadata parsed so far takes: every value's stride plus every string's bytes.
private struct MetadataBudget {
    let path: String
    var bytes = 0

    mutating func charge(_ values: Int, bytes extra: Int, key: String, at: Int) throws {
        bytes += values * MemoryLayout<GGUFValue>.stride + extra
        guard bytes <= GGUFFile.metadataBudget else {
            throw ModelFileError(path, "metadata would take more than \(GGUFFile.metadataBudget >> 20) MB in memory (at key '\(key)')", offset: at)
        }
    }
}

/// The four bytes of a little-endian u32 in file order, e.g. "47 47 55 46".
private func hex(_ v: UInt32) -> String {
    (0 ..< 4).map { i -> String in
        let b = String((v >> (8 * UInt32(i))) & 0xFF, radix: 16)
        return b.count == 1 ? "0" + b : b
    }.joined(separator: " ")
}
