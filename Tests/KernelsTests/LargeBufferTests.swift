import Testing
@testable import Kernels

/// Large buffers are 2 MB aligned (a huge page can back them), small ones 64-byte aligned, and
/// both hold what is written.
@Suite struct LargeBufferTests {
    @Test func alignmentFollowsTheSize() {
        for (floats, align) in [(1, 64), (1000, 64), (LargeBuffer.hugeThreshold / 4, LargeBuffer.hugePage),
                                (3_000_001, LargeBuffer.hugePage)] {
            let p = LargeBuffer.allocate(floats: floats)
            defer { LargeBuffer.free(p) }
            #expect(Int(bitPattern: p) % align == 0, "\(floats) floats at \(p)")
            for i in stride(from: 0, to: floats, by: 997) { p[i] = Float(i) }
            p[floats - 1] = -1
            #expect(p[floats - 1] == -1)
            for i in stride(from: 0, to: floats - 1, by: 997) where p[i] != Float(i) {
                Issue.record("element \(i) of \(floats) reads \(p[i])")
                break
            }
        }
    }
}
