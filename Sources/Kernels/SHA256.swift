#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// A small SHA-256 (FIPS 180-4) rather than swift-crypto: CryptoKit is absent on Linux, and
// swift-crypto would add BoringSSL (minutes of build, a large dependency) for one hash.

/// Incremental SHA-256.
public struct SHA256 {
    private var h: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
        (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19)
    private var block = [UInt8](repeating: 0, count: 64)
    private var blockCount = 0
    private var totalBytes: UInt64 = 0

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var p = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        var n = bytes.count
        totalBytes &+= UInt64(n)
        if blockCount > 0 {
            let take = min(64 - blockCount, n)
            block.withUnsafeMutableBufferPointer { b in
                for i in 0..<take { b[blockCount + i] = p[i] }
            }
            blockCount += take; p += take; n -= take
            if blockCount == 64 {
                block.withUnsafeBufferPointer { b in compress(b.baseAddress!, blocks: 1) }
                blockCount = 0
            }
        }
        if n >= 64 {
            compress(p, blocks: n / 64)
            p += n / 64 * 64; n %= 64
        }
        if n > 0 {
            block.withUnsafeMutableBufferPointer { b in
                for i in 0..<n { b[i] = p[i] }
            }
            blockCount = n
        }
    }

    public mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        if let done: Void = bytes.withContiguousStorageIfAvailable({ update(UnsafeRawBufferPointer($0)) }) { return done }
        Array(bytes).withUnsafeBytes { update($0) }
    }

    /// The 32-byte digest. The hasher itself is left unchanged.
    public func finalize() -> [UInt8] {
        var copy = self
        let bitLength = totalBytes &* 8
        var pad: [UInt8] = [0x80]
        let padZeros = (55 - blockCount + 64) % 64
        pad += [UInt8](repeating: 0, count: padZeros)
        for i in (0..<8).reversed() { pad.append(UInt8(truncatingIfNeeded: bitLength >> (UInt64(i) * 8))) }
        pad.withUnsafeBytes { copy.update($0) }  // ends exactly on a block boundary
        let words = [copy.h.0, copy.h.1, copy.h.2, copy.h.3, copy.h.4, copy.h.5, copy.h.6, copy.h.7]
        return words.flatMap { w in (0..<4).map { UInt8(truncatingIfNeeded: w >> (24 - 8 * UInt32($0))) } }
    }

    /// Digest of `bytes` as lower-case hex.
    public static func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var h = SHA256(); h.update(bytes); return h.hexDigest()
    }
    public func finalizeHex() -> String { hexDigest() }

    /// Lower-case hex digest, the form `sha256sum` prints.
    public func hexDigest() -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for b in finalize() { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    @inline(__always) private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }

    private mutating func compress(_ data: UnsafePointer<UInt8>, blocks: Int) {
        var (a0, b0, c0, d0, e0, f0, g0, h0) = h
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { ws in
            Self.k.withUnsafeBufferPointer { k in
                for blk in 0..<blocks {
                    let p = data + blk * 64
                    for i in 0..<16 {
                        ws[i] = UInt32(p[4 * i]) << 24 | UInt32(p[4 * i + 1]) << 16 | UInt32(p[4 * i + 2]) << 8 | UInt32(p[4 * i + 3])
                    }
                    for i in 16..<64 {
                        let s0 = Self.rotr(ws[i - 15], 7) ^ Self.rotr(ws[i - 15], 18) ^ (ws[i - 15] >> 3)
                        let s1 = Self.rotr(ws[i - 2], 17) ^ Self.rotr(ws[i - 2], 19) ^ (ws[i - 2] >> 10)
                        ws[i] = ws[i - 16] &+ s0 &+ ws[i - 7] &+ s1
                    }
                    var (a, b, c, d, e, f, g, hh) = (a0, b0, c0, d0, e0, f0, g0, h0)
                    for i in 0..<64 {
                        let s1 = Self.rotr(e, 6) ^ Self.rotr(e, 11) ^ Self.rotr(e, 25)
                        let ch = (e & f) ^ (~e & g)
                        let t1 = hh &+ s1 &+ ch &+ k[i] &+ ws[i]
                        let s0 = Self.rotr(a, 2) ^ Self.rotr(a, 13) ^ Self.rotr(a, 22)
                        let maj = (a & b) ^ (a & c) ^ (b & c)
                        let t2 = s0 &+ maj
                        hh = g; g = f; f = e; e = d &+ t1
                        d = c; c = b; b = a; a = t1 &+ t2
                    }
                    a0 &+= a; b0 &+= b; c0 &+= c; d0 &+= d; e0 &+= e; f0 &+= f; g0 &+= g; h0 &+= hh
                }
            }
        }
        h = (a0, b0, c0, d0, e0, f0, g0, h0)
    }
}

/// Streams a file through SHA-256 (1 MiB reads) and returns the lower-case hex digest.
public func sha256(file path: String) throws -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw HashError("cannot open \(path) to hash it: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var hasher = SHA256()
    let size = 1 << 20
    let buf = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    defer { buf.deallocate() }
    while true {
        let n = read(fd, buf, size)
        if n == 0 { break }
        if n < 0 {
            if errno == EINTR { continue }
            throw HashError("reading \(path) to hash it: \(String(cString: strerror(errno)))")
        }
        hasher.update(UnsafeRawBufferPointer(start: buf, count: n))
    }
    return hasher.hexDigest()
}

/// A file that could not be read for hashing.
public struct HashError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
