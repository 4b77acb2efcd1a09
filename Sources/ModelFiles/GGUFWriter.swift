#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Kernels

/// One tensor to write. `shape` is PyTorch order, outermost first (a linear weight is
/// [out, in]); the file stores it reversed as ggml's `ne`. `bytes` produces the encoded data
/// (`type.rowBytes(count)` bytes) when the writer reaches the tensor, so a whole model never
/// has to sit in memory at once.
public struct GGUFTensorSource {
    public let name: String
    public let shape: [Int]
    public let type: TensorType
    public let bytes: () throws -> [UInt8]

    public init(name: String, shape: [Int], type: TensorType, bytes: @escaping () throws -> [UInt8]) {
        self.name = name; self.shape = shape; self.type = type; self.bytes = bytes
    }

    /// A tensor from floats, encoded with `quantize` (rows in parallel) when written.
    public static func floats(_ name: String, shape: [Int], type: TensorType, _ values: @escaping () throws -> [Float]) -> GGUFTensorSource {
        GGUFTensorSource(name: name, shape: shape, type: type) {
            let v = try values()
            let cols = shape.last ?? 1
            return quantizeRows(type, v, rows: cols == 0 ? 0 : v.count / cols, cols: cols)
        }
    }

    public var count: Int { shape.reduce(1, *) }
    public var byteCount: Int { type.rowBytes(count) }
}

/// A file written by TuneLab, with the sha256 of its bytes.
public struct WrittenFile: Equatable, Sendable {
    public let path: String
    public let sha256: String
    public let bytes: Int
    public init(path: String, sha256: String, bytes: Int) { self.path = path; self.sha256 = sha256; self.bytes = bytes }
}

/// Writes a GGUF v3 file (little-endian) laid out as gguf-py's GGUFWriter lays it out: header,
/// metadata in the given order, tensor infos in the given order with offsets relative to the
/// data section, zero padding to `alignment` before the data section and after every tensor.
/// With an alignment other than 32 the `general.alignment` key (UINT32) is appended unless the
/// metadata already holds it (it must then agree).
///
/// Atomic: everything goes to a temporary file in the same folder, is synced, then moved into
/// place; an existing `path` is refused unless `force` (then it is replaced in one rename).
public func writeGGUF(path: String, metadata: [(key: String, value: GGUFValue)], tensors: [GGUFTensorSource],
                      alignment: Int = 32, force: Bool = false) throws -> WrittenFile {
    func fail(_ m: String) -> ModelFileError { ModelFileError(path, m) }
    guard alignment > 0, alignment & (alignment - 1) == 0, alignment <= 1 << 30 else {
        throw fail("alignment must be a power of two, got \(alignment)")
    }
    var kv = metadata
    var keys = Set<String>()
    for (k, v) in kv {
        guard !k.isEmpty else { throw fail("metadata key is empty") }
        guard keys.insert(k).inserted else { throw fail("metadata key '\(k)' appears twice") }
        try checkValue(v, key: k, path: path, depth: 0)
    }
    if let a = kv.first(where: { $0.key == "general.alignment" })?.value {
        guard a.int == alignment else { throw fail("general.alignment is \(a) but the file is written with alignment \(alignment)") }
    } else if alignment != 32 {
        kv.append((key: "general.alignment", value: .uint32(UInt32(alignment))))
    }
    var names = Set<String>()
    for t in tensors {
        guard !t.name.isEmpty, t.name.utf8.count < 64 else {
            throw fail("tensor name '\(t.name)' must be 1 to 63 bytes (GGML_MAX_NAME)")
        }
        guard names.insert(t.name).inserted else { throw fail("tensor '\(t.name)' appears twice") }
        guard (1...4).contains(t.shape.count), t.shape.allSatisfy({ $0 > 0 }) else {
            throw fail("tensor '\(t.name)' has shape \(t.shape) (1 to 4 positive dimensions)")
        }
        guard t.shape.last! % t.type.blockSize == 0 else {
            throw fail("tensor '\(t.name)' (\(t.type.name)) row length \(t.shape.last!) is not a multiple of the block size \(t.type.blockSize)")
        }
    }
    var isDir = false
    if fileExists(path, isDirectory: &isDir) {
        if isDir { throw fail("is a folder; give a .gguf file path") }
        if !force { throw fail("already exists; pass --force to replace it") }
    }

    var header = ByteSink()
    header.u32(0x4655_4747)  // "GGUF"
    header.u32(3)
    header.u64(UInt64(tensors.count))
    header.u64(UInt64(kv.count))
    for (k, v) in kv {
        header.string(k)
        header.u32(typeID(v))
        header.value(v)
    }
    var offset = 0
    for t in tensors {
        header.string(t.name)
        header.u32(UInt32(t.shape.count))
        for d in t.shape.reversed() { header.u64(UInt64(d)) }
        header.u32(t.type.ggmlTypeID)
        header.u64(UInt64(offset))
        offset += padded(t.byteCount, alignment)
    }
    header.pad(to: alignment)

    let out = try AtomicFile(path: path)
    do {
        try out.write(header.bytes)
        for t in tensors {
            let data = try t.bytes()
            guard data.count == t.byteCount else {
                throw fail("tensor '\(t.name)' produced \(data.count) bytes, expected \(t.byteCount) for \(t.type.name) \(t.shape)")
            }
            try out.write(data)
            let pad = padded(data.count, alignment) - data.count
            if pad > 0 { try out.write([UInt8](repeating: 0, count: pad)) }
        }
        return try out.commit(replace: force)
    } catch {
        out.abandon()
        throw error
    }
}

private func padded(_ n: Int, _ a: Int) -> Int { (n + a - 1) / a * a }

private func checkValue(_ v: GGUFValue, key: String, path: String, depth: Int) throws {
    guard case .array(let items) = v else { return }
    guard depth < GGUFFile.maxNesting else { throw ModelFileError(path, "metadata '\(key)' nests arrays deeper than \(GGUFFile.maxNesting)") }
    // The element type is taken from the first item (gguf-py refuses empty arrays for the same reason).
    guard let first = items.first else { throw ModelFileError(path, "metadata '\(key)' is an empty array (its element type cannot be written)") }
    let t = typeID(first)
    for (i, item) in items.enumerated() {
        guard typeID(item) == t else {
            throw ModelFileError(path, "metadata '\(key)'[\(i)] is \(item.typeName) but [0] is \(first.typeName): GGUF arrays hold one type")
        }
        try checkValue(item, key: key, path: path, depth: depth + 1)
    }
}

/// gguf.h `enum gguf_type`.
private func typeID(_ v: GGUFValue) -> UInt32 {
    switch v {
    case .uint8: return 0
    case .int8: return 1
    case .uint16: return 2
    case .int16: return 3
    case .uint32: return 4
    case .int32: return 5
    case .float32: return 6
    case .bool: return 7
    case .string: return 8
    case .array: return 9
    case .uint64: return 10
    case .int64: return 11
    case .float64: return 12
    }
}

extension TensorType {
    /// ggml.h `enum ggml_type` (the inverse of `init(ggmlTypeID:)`).
    public var ggmlTypeID: UInt32 {
        switch self {
        case .f32: return 0
        case .f16: return 1
        case .q4_0: return 2
        case .q4_1: return 3
        case .q5_0: return 6
        case .q5_1: return 7
        case .q8_0: return 8
        case .q4_K: return 12
        case .q5_K: return 13
        case .q6_K: return 14
        case .bf16: return 30
        }
    }
}

/// Little-endian serialisation of the header.
private struct ByteSink {
    var bytes: [UInt8] = []
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func string(_ s: String) { u64(UInt64(s.utf8.count)); bytes += s.utf8 }
    mutating func pad(to a: Int) { bytes += [UInt8](repeating: 0, count: padded(bytes.count, a) - bytes.count) }
    mutating func value(_ v: GGUFValue) {
        switch v {
        case .uint8(let x): bytes.append(x)
        case .int8(let x): bytes.append(UInt8(bitPattern: x))
        case .uint16(let x): withUnsafeBytes(of: x.littleEndian) { bytes += $0 }
        case .int16(let x): withUnsafeBytes(of: x.littleEndian) { bytes += $0 }
        case .uint32(let x): u32(x)
        case .int32(let x): u32(UInt32(bitPattern: x))
        case .float32(let x): u32(x.bitPattern)
        case .bool(let x): bytes.append(x ? 1 : 0)
        case .string(let s): string(s)
        case .uint64(let x): u64(x)
        case .int64(let x): u64(UInt64(bitPattern: x))
        case .float64(let x): u64(x.bitPattern)
        case .array(let items):
            u32(typeID(items[0]))  // non-empty: checked before writing
            u64(UInt64(items.count))
            for item in items { value(item) }
        }
    }
}

private func systemWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { write(fd, p, n) }

private func fileExists(_ path: String, isDirectory: inout Bool) -> Bool {
    var st = stat()
    guard stat(path, &st) == 0 else { return false }
    isDirectory = (st.st_mode & S_IFMT) == S_IFDIR
    return true
}

/// A file written under a temporary name in its final folder, hashed as it is written, synced
/// and then moved into place. Without `replace` the move is `link` + `unlink`, which fails
/// instead of overwriting a file that appeared meanwhile.
public final class AtomicFile {
    public let path: String
    let temp: String
    private var fd: Int32
    private var hasher = SHA256()
    private var written = 0
    private var buffer: [UInt8] = []

    public init(path: String) throws {
        self.path = path
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        temp = "\(dir).\(name).tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ModelFileError(path, "cannot create \(temp): \(String(cString: strerror(errno)))")
        }
        buffer.reserveCapacity(1 << 20)
    }

    public func write(_ bytes: [UInt8]) throws {
        hasher.update(bytes)
        written += bytes.count
        if buffer.count + bytes.count > 1 << 20 { try flush() }
        if bytes.count >= 1 << 20 { try writeAll(bytes) } else { buffer += bytes }
    }

    private func flush() throws {
        try writeAll(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { b in
            var done = 0
            while done < b.count {
                let n = systemWrite(fd, b.baseAddress! + done, b.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw ModelFileError(temp, "write failed: \(String(cString: strerror(errno)))")
                }
                done += n
            }
        }
    }

    /// Syncs and moves the file into place; returns its path, sha256 and size.
    public func commit(replace: Bool) throws -> WrittenFile {
        try flush()
        guard fsync(fd) == 0 else { throw ModelFileError(temp, "fsync failed: \(String(cString: strerror(errno)))") }
        close(fd)
        fd = -1
        if replace {
            guard rename(temp, path) == 0 else {
                throw ModelFileError(path, "cannot rename \(temp) into place: \(String(cString: strerror(errno)))")
            }
        } else {
            guard link(temp, path) == 0 else {
                let e = errno
                throw ModelFileError(path, e == EEXIST ? "already exists; pass --force to replace it"
                                     : "cannot move \(temp) into place: \(String(cString: strerror(e)))")
            }
            unlink(temp)
        }
        return WrittenFile(path: path, sha256: hasher.hexDigest(), bytes: written)
    }

    /// Removes the temporary file (after an error).
    public func abandon() {
        if fd >= 0 { close(fd); fd = -1 }
        unlink(temp)
    }

    deinit { if fd >= 0 { close(fd); unlink(temp) } }
}
