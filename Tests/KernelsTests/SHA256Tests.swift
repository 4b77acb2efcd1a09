import Foundation
import Testing
@testable import Kernels

/// Vectors from NIST FIPS 180-2 Appendix B / the NIST CSRC examples (SHA-256).
@Suite struct SHA256Tests {
    func hex(_ s: String) -> String {
        var h = SHA256()
        h.update(Array(s.utf8))
        return h.hexDigest()
    }

    @Test func nistShortMessages() {
        #expect(hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu")
                == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
    }

    @Test func nistMillionA() {
        var h = SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { h.update(chunk) }
        #expect(h.hexDigest() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Splitting the input at any boundary (inside a block, across blocks, 55/56/64-byte edges
    /// of the padding) must not change the digest.
    @Test func incrementalEqualsOneShot() {
        var rng = SplitMix(seed: 7)
        for length in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 4099] {
            let data = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            var one = SHA256()
            one.update(data)
            var pieces = SHA256()
            var i = 0
            while i < length {
                let n = min(length - i, Int(rng.next() % 70))
                pieces.update(data[i..<(i + n)])
                i += n
            }
            #expect(pieces.hexDigest() == one.hexDigest(), "length \(length)")
            #expect(one.finalize().count == 32)
        }
    }

    /// The file path: the million-'a' vector through a file, and a file larger than the
    /// 1 MiB read buffer compared with hashing the same bytes in memory.
    @Test func hashesFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sha-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        let a = dir.appendingPathComponent("a.bin")
        try Data(repeating: UInt8(ascii: "a"), count: 1_000_000).write(to: a)
        #expect(try sha256(file: a.path) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")

        var rng = SplitMix(seed: 11)
        let big = (0..<(2_621_440 + 17)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let b = dir.appendingPathComponent("b.bin")
        try Data(big).write(to: b)
        var h = SHA256()
        h.update(big)
        #expect(try sha256(file: b.path) == h.hexDigest())

        #expect(throws: HashError.self) { try sha256(file: dir.appendingPathComponent("missing").path) }
    }
}

/// Deterministic generator for test data.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e3779b97f4a7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58476d1ce4e5b9
        z = (z ^ (z >> 27)) &* 0x94d049bb133111eb
        return z ^ (z >> 31)
    }
}
