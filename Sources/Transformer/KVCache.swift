import Kernels

/// Keys and values of every past position, per layer: [position × kvHeads·headDim].
/// Grows by doubling, so a long generation never re-copies more than O(n) in total.
public final class KVCache: @unchecked Sendable {
    public private(set) var count = 0
    let width: Int
    var capacity: Int
    var keys: [UnsafeMutablePointer<Float>]
    var values: [UnsafeMutablePointer<Float>]

    /// Empty: memory comes with the first `reserve`.
    init(layers: Int, width: Int) {
        self.width = width
        self.capacity = 0
        let empty = LargeBuffer.placeholder.assumingMemoryBound(to: Float.self)
        keys = Array(repeating: empty, count: layers)
        values = Array(repeating: empty, count: layers)
    }

    deinit { for p in keys + values { LargeBuffer.free(p) } }

    /// Makes room for `n` more positions (at least 256, doubling). A length the machine cannot
    /// hold is an `AllocationError` and leaves the cache as it was.
    func reserve(_ n: Int) throws {
        guard count + n > capacity else { return }
        var c = max(capacity, 256)
        while c < count + n { c *= 2 }
        let (floats, overflow) = c.multipliedReportingOverflow(by: width)
        guard !overflow else { throw AllocationError(bytes: Int.max, purpose: "the KV cache of \(count + n) positions") }
        var newKeys: [UnsafeMutablePointer<Float>] = [], newValues: [UnsafeMutablePointer<Float>] = []
        do {
            for _ in 0..<keys.count {
                newKeys.append(try LargeBuffer.allocate(floats: floats, for: "the KV cache"))
                newValues.append(try LargeBuffer.allocate(floats: floats, for: "the KV cache"))
            }
        } catch let e as AllocationError {
            for p in newKeys + newValues { LargeBuffer.free(p) }
            throw e.for("the KV cache of \(count + n) positions (\(keys.count) layers × 2 × \(c) × \(width) floats)")
        }
        for l in 0..<keys.count {
            newKeys[l].update(from: keys[l], count: count * width)
            newValues[l].update(from: values[l], count: count * width)
            LargeBuffer.free(keys[l]); LargeBuffer.free(values[l])
        }
        keys = newKeys
        values = newValues
        capacity = c
    }

    func advance(_ n: Int) { count += n }

    /// Becomes a copy of `other` (same layers and width): its positions, bit for bit.
    func copy(from other: KVCache) throws {
        precondition(other.width == width && other.keys.count == keys.count, "KVCache: copy between different shapes")
        count = 0
        try reserve(other.count)
        for l in 0..<keys.count {
            keys[l].update(from: other.keys[l], count: other.count * width)
            values[l].update(from: other.values[l], count: other.count * width)
        }
        count = other.count
    }

    /// Forgets positions from `n` on (e.g. to reuse a shared prompt prefix).
    public func truncate(to n: Int) { count = min(count, max(0, n)) }
    public var bytes: Int { 2 * keys.count * capacity * width * 4 }
}
