#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory mapping of a whole file. Glibc mmap, not Data(.mappedIfSafe): on Linux the
/// latter reads the whole file into memory.
final class MappedFile: @unchecked Sendable {
    let path: String
    let bytes: UnsafeRawBufferPointer

    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ModelFileError(path, "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ModelFileError(path, "cannot stat: \(String(cString: strerror(errno)))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw ModelFileError(path, "not a regular file") }
        let size = Int(st.st_size)
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw ModelFileError(path, "cannot map \(size) bytes: \(String(cString: strerror(errno)))")
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    var count: Int { bytes.count }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}

/// Bounds-checked little-endian cursor over untrusted bytes; every failure names file and offset.
struct ByteReader {
    let path: String
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    init(path: String, bytes: UnsafeRawBufferPointer) {
        self.path = path
        self.bytes = bytes
    }

    var remaining: Int { bytes.count - offset }

    func error(_ message: String, at: Int? = nil) -> ModelFileError {
        ModelFileError(path, message, offset: at ?? offset)
    }

    mutating func need(_ n: Int, _ what: @autoclosure () -> String) throws {
        guard n >= 0, n <= remaining else {
            throw error("file ends inside \(what()): needs \(n) bytes, \(remaining) left (truncated?)")
        }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try need(MemoryLayout<T>.size, what())
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(littleEndian: v)
    }

    /// A u64 count or length that must fit in what is left of the file, `unit` bytes per item.
    mutating func readCount(_ what: @autoclosure () -> String, unit: Int) throws -> Int {
        let at = offset
        let raw = try read(UInt64.self, what())
        guard raw <= UInt64(remaining / max(unit, 1)) else {
            throw error("\(what()) is \(raw), more than the \(remaining) bytes left in the file can hold", at: at)
        }
        return Int(raw)
    }

    /// A u64 length and that many bytes of UTF-8 (invalid UTF-8 is an error, as in gguf-py's
    /// reader: a replacement character would silently change a token or a template). `maxBytes`
    /// caps the length.
    mutating func readString(_ what: @autoclosure () -> String, maxBytes: Int = Int.max) throws -> String {
        let at = offset
        let n = try readCount("length of \(what())", unit: 1)
        guard n <= maxBytes else {
            throw error("\(what()) is \(n) bytes long (at most \(maxBytes))", at: at)
        }
        guard let s = String(validating: UnsafeRawBufferPointer(rebasing: bytes[offset ..< offset + n]), as: UTF8.self) else {
            throw error("\(what()) is not valid UTF-8", at: at)
        }
        offset += n
        return s
    }
}
