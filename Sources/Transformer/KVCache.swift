import Kernels

/// Keys and values of every past position, per layer, head-major: head h's keys are
/// `capacity` rows of `headDim` floats, keys(layer, h)[pos·headDim + d]. Why head-major: a decode
/// step reads each head's keys and values as one contiguous stream; with the rows of all heads
/// interleaved ([position × heads·headDim]) the reads went 256 bytes at a time with gaps, and
/// the attention of a batched decode step waited on memory (40% of its samples on one load).
/// Grows by doubling, so a long generation never re-copies more than O(n) in total.
public final class KVCache: @unchecked Sendable {
    public private(set) var count = 0
    let heads: Int
    let headDim: Int
    var capacity: Int
    private var keyBuffers: [UnsafeMutablePointer<Float>]
    private var valueBuffers: [UnsafeMutablePointer<Float>]

    /// Empty: memory comes with the first `reserve`.
    init(layers: Int, heads: Int, headDim: Int) {
        self.heads = heads
        self.headDim = headDim
        self.capacity = 0
        let empty = LargeBuffer.placeholder.assumingMemoryBound(to: Float.self)
        keyBuffers = Array(repeating: empty, count: layers)
        valueBuffers = Array(repeating: empty, count: layers)
    }

    deinit { for p in keyBuffers + valueBuffers { LargeBuffer.free(p) } }

    /// Head `head`'s keys (values) in `layer`: position p at [p·headDim ..< (p+1)·headDim].
    @inline(__always) func keys(_ layer: Int, head: Int) -> UnsafeMutablePointer<Float> {
        keyBuffers[layer] + head * capacity * headDim
    }
    @inline(__always) func values(_ layer: Int, head: Int) -> UnsafeMutablePointer<Float> {
        valueBuffers[layer] + head * capacity * headDim
    }

    /// Writes n new positions' keys and values (rows of heads·headDim floats, as the projections
    /// give them) at positions count ..< count + n of `layer` (room made by `reserve`).
    func store(layer: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, rows n: Int) {
        let width = heads * headDim
        for h in 0..<heads {
            let kd = keys(layer, head: h) + count * headDim, vd = values(layer, head: h) + count * headDim
            for i in 0..<n {
                (kd + i * headDim).update(from: k + i * width + h * headDim, count: headDim)
                (vd + i * headDim).update(from: v + i * width + h * headDim, count: headDim)
            }
        }
    }

    /// Makes room for `n` more positions (at least 256, doubling). A length the machine cannot
    /// hold is an `AllocationError` and leaves the cache as it was.
    func reserve(_ n: Int) throws {
        guard count + n > capacity else { return }
        var c = max(capacity, 256)
        while c < count + n { c *= 2 }
        let (floats, overflow) = c.multipliedReportingOverflow(by: heads * headDim)
        guard !overflow else { throw AllocationError(bytes: Int.max, purpose: "the KV cache of \(count + n) positions") }
        var newKeys: [UnsafeMutablePointer<Float>] = [], newValues: [UnsafeMutablePointer<Float>] = []
        do {
            for _ in 0..<keyBuffers.count {
                newKeys.append(try LargeBuffer.allocate(floats: floats, for: "the KV cache"))
                newValues.append(try LargeBuffer.allocate(floats: floats, for: "the KV cache"))
            }
        } catch let e as AllocationError {
            for p in newKeys + newValues { LargeBuffer.free(p) }
            throw e.for("the KV cache of \(count + n) positions (\(keyBuffers.count) layers × 2 × \(c) × \(heads * headDim) floats)")
        }
        for l in 0..<keyBuffers.count {
            for h in 0..<heads {
                (newKeys[l] + h * c * headDim).update(from: keys(l, head: h), count: count * headDim)
                (newValues[l] + h * c * headDim).update(from: values(l, head: h), count: count * headDim)
            }
            LargeBuffer.free(keyBuffers[l]); LargeBuffer.free(valueBuffers[l])
        }
        keyBuffers = newKeys
        valueBuffers = newValues
        capacity = c
    }

    func advance(_ n: Int) { count += n }

    /// Becomes a copy of `other` (same layers and shape): its positions, bit for bit.
    func copy(from other: KVCache) throws {
        precondition(other.heads == heads && other.headDim == headDim && other.keyBuffers.count == keyBuffers.count,
                     "KVCache: copy between different shapes")
        count = 0
        try reserve(other.count)
        for l in 0..<keyBuffers.count {
            for h in 0..<heads {
                keys(l, head: h).update(from: other.keys(l, head: h), count: other.count * headDim)
                values(l, head: h).update(from: other.values(l, head: h), count: other.count * headDim)
            }
        }
        count = other.count
    }

    /// Forgets positions from `n` on (e.g. to reuse a shared prompt prefix).
    public func truncate(to n: Int) { count = min(count, max(0, n)) }
    public var bytes: Int { 2 * keyBuffers.count * capacity * heads * headDim * 4 }
}
