import Testing
@testable import Kernels

/// Large buffers are 2 MB aligned (a huge page can back them), small ones 64-byte aligned, and
/// both hold what is written.
@Suite struct LargeBufferTests {
    @Test func alignmentFollowsTheSize() throws {
        for (floats, align) in [(1, 64), (1000, 64), (LargeBuffer.hugeThreshold / 4, LargeBuffer.hugePage),
                                (3_000_001, LargeBuffer.hugePage)] {
            let p = try LargeBuffer.allocate(floats: floats, for: "a test buffer")
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

    /// A size no machine has, a negative one and an overflowing one are errors naming the purpose.
    @Test func impossibleSizesAreErrors() {
        for floats: Int in [1 << 60, Int.max / 2, -5] {
            let e = #expect(throws: AllocationError.self) { try LargeBuffer.allocate(floats: floats, for: "the test's activations") }
            #expect(e?.description.contains("out of memory") == true && e?.description.contains("the test's activations") == true,
                    "\(String(describing: e))")
        }
        let e = #expect(throws: AllocationError.self) { try LargeBuffer.allocate(bytes: -1, for: "x") }
        #expect(e?.for("y").description.contains("for y") == true)
    }
}
