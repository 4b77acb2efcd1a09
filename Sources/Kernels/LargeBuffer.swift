import Glibc

/// Memory for large Float buffers (activations, dequantised weights, logits), backed by
/// transparent huge pages.
///
/// This machine's kernel gives huge pages only where asked (THP "madvise"). On 4 KB pages the
/// matrix products that write a layer's activations (6 MB for gate/up at 1024 rows) or pack a
/// freshly dequantised weight ran at 105–130 GFLOP/s inside a training step against 165–175
/// in isolation; on 2 MB pages they run at 145–163 (each frozen product timed inside
/// `tunelab bench train` b4×256, runs alternating with and without huge pages). Buffers below `hugeThreshold` get ordinary 64-byte-aligned memory.
public enum LargeBuffer {
    static let hugePage = 2 << 20
    static let hugeThreshold = 1 << 20

    /// At least `bytes` bytes, 64-byte aligned (2 MB aligned and huge-page advised when large).
    /// Release with `free`.
    public static func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        let huge = bytes >= hugeThreshold
        let size = huge ? (bytes + hugePage - 1) / hugePage * hugePage : Swift.max(bytes, 64)
        var p: UnsafeMutableRawPointer?
        guard posix_memalign(&p, huge ? hugePage : 64, size) == 0, let p else {
            fatalError("out of memory allocating \(bytes) bytes")
        }
        // Advice only: on a kernel without THP the buffer stays on small pages.
        if huge { _ = madvise(p, size, Int32(MADV_HUGEPAGE)) }
        return p
    }

    public static func allocate(floats n: Int) -> UnsafeMutablePointer<Float> {
        allocate(bytes: Swift.max(n, 1) * MemoryLayout<Float>.stride).bindMemory(to: Float.self, capacity: Swift.max(n, 1))
    }

    public static func free(_ p: UnsafeMutableRawPointer) { Glibc.free(p) }
    public static func free(_ p: UnsafeMutablePointer<Float>) { Glibc.free(UnsafeMutableRawPointer(p)) }
}
