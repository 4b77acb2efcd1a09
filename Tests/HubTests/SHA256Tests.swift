import Testing
@testable import Hub

// FIPS 180-4 / NIST CAVP example digests.
@Suite struct SHA256Tests {
    @Test func nistVectors() {
        #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")   // 448 bits: padding spills into a second block
        #expect(SHA256.hex(Array("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu".utf8))
                == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
    }

    /// One million 'a' fed in uneven pieces exercises the partial-block buffering.
    @Test func millionAInPieces() {
        let a = [UInt8](repeating: 0x61, count: 1_000_000)
        var h = SHA256()
        var i = 0
        var step = 1
        while i < a.count {
            let n = min(step, a.count - i)
            a[i..<i + n].withUnsafeBytes { h.update($0) }
            i += n
            step = step % 131 + 7
        }
        #expect(h.finalizeHex() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
