import Kernels
import Testing
@testable import Training

/// Growable activation buffers report an impossible size as an AllocationError and stay usable.
@Test func impossibleActivationBufferIsAnError() throws {
    let f = FloatBuffer()
    let e = try #require(throws: AllocationError.self) { _ = try f.get(1 << 61) }
    #expect(e.description.contains("floats of activations"), "\(e)")
    let p = try f.zeroed(100)
    #expect(p[99] == 0 && f.capacity == 100)
    let h = HalfBuffer()
    #expect(throws: AllocationError.self) { _ = try h.get(Int.max / 2) }
    #expect(try h.get(10) == h.pointer)
}
