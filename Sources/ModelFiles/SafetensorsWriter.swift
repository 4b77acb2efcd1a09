#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes F32 tensors as a .safetensors file, byte for byte as the safetensors library does for
/// the same tensors: compact JSON header, tensors ordered by name (UTF-8 byte order), header
/// padded with spaces to a multiple of 8. The `__metadata__` entry is left out when `metadata`
/// is empty (the library's `metadata=None`); its keys are sorted (the library's order is random).
/// Atomic: written to a temporary file in the same folder, synced, then renamed over `path`.
public func writeSafetensors(path: String, tensors: [(name: String, shape: [Int], data: [Float])], metadata: [String: String]) throws {
    var names = Set<String>()
    for t in tensors {
        guard t.name != "__metadata__", names.insert(t.name).inserted else {
            throw ModelFileError(path, "tensor name '\(t.name)' is reserved or used twice")
        }
        guard t.shape.allSatisfy({ $0 >= 0 }), t.shape.reduce(1, *) == t.data.count else {
            throw ModelFileError(path, "tensor '\(t.name)': shape \(t.shape) does not hold \(t.data.count) values")
        }
    }
    let ordered = tensors.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }

    var json = "{"
    var first = true
    if !metadata.isEmpty {
        json += "\"__metadata__\":{"
        json += metadata.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            .map { "\(jsonStringLiteral($0.key)):\(jsonStringLiteral($0.value))" }.joined(separator: ",")
        json += "}"
        first = false
    }
    var offset = 0
    for t in ordered {
        if !first { json += "," }
        first = false
        let end = offset + 4 * t.data.count
        json += "\(jsonStringLiteral(t.name)):{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(end)]}"
        offset = end
    }
    json += "}"
    var header = Array(json.utf8)
    header += [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)

    let slash = path.lastIndex(of: "/").map { String(path[...$0]) } ?? ""
    let name = path[(path.lastIndex(of: "/").map { path.index(after: $0) } ?? path.startIndex)...]
    let temp = "\(slash).\(name).tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))"
    let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw ModelFileError(path, "cannot create \(temp): \(String(cString: strerror(errno)))") }
    var ok = false
    defer {
        if !ok { unlink(temp) }
    }
    do {
        defer { close(fd) }
        var length = UInt64(header.count).littleEndian
        try withUnsafeBytes(of: &length) { try writeAll(fd, $0, temp) }
        try header.withUnsafeBytes { try writeAll(fd, $0, temp) }
        for t in ordered {
            // Little-endian Float32 is the in-memory layout on the platforms we build for.
            try t.data.withUnsafeBytes { try writeAll(fd, $0, temp) }
        }
        guard fsync(fd) == 0 else { throw ModelFileError(temp, "fsync failed: \(String(cString: strerror(errno)))") }
    }
    guard rename(temp, path) == 0 else {
        throw ModelFileError(path, "cannot rename \(temp) into place: \(String(cString: strerror(errno)))")
    }
    ok = true
}

private func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ path: String) throws {
    var done = 0
    while done < bytes.count {
        let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
        if n < 0 {
            if errno == EINTR { continue }
            throw ModelFileError(path, "write failed: \(String(cString: strerror(errno)))")
        }
        done += n
    }
}

/// A JSON string literal. Default: as serde_json writes it (the safetensors library, HF
/// `tokenizers`): UTF-8 kept, only quotes, backslashes and control characters escaped.
/// `asciiOnly`: as Python's `json.dumps` (ensure_ascii): everything outside printable ASCII as
/// `\uXXXX` UTF-16 units.
public func jsonStringLiteral(_ s: String, asciiOnly: Bool = false) -> String {
    var out = "\""
    func hex(_ v: UInt32) { let h = String(v, radix: 16); out += "\\u" + String(repeating: "0", count: 4 - h.count) + h }
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\u{08}": out += "\\b"
        case "\u{0C}": out += "\\f"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case let c where c.value < 0x20 || (asciiOnly && c.value >= 0x7F):
            for unit in String(c).utf16 { hex(UInt32(unit)) }
        default: out.unicodeScalars.append(u)
        }
    }
    return out + "\""
}
