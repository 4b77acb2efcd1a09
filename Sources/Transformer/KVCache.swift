/// Keys and values of every past position, per layer: [position × kvHeads·headDim].
/// Grows by doubling, so a long generation never re-copies more than O(n) in total.
public final class KVCache: @unchecked Sendable {
    public private(set) var count = 0
    let width: Int
    var capacity: Int
    var keys: [UnsafeMutablePointer<Float>]
    var values: [UnsafeMutablePointer<Float>]

    init(layers: Int, width: Int, capacity: Int = 256) {
        self.width = width
        self.capacity = capacity
        keys = (0..<layers).map { _ in .allocate(capacity: capacity * width) }
        values = (0..<layers).map { _ in .allocate(capacity: capacity * width) }
    }

    deinit { for p in keys + values { p.deallocate() } }

    /// Makes room for `n` more positions.
    func reserve(_ n: Int) {
        guard count + n > capacity else { return }
        var c = capacity
        while c < count + n { c *= 2 }
        for l in 0..<keys.count {
            for which in 0..<2 {
                let old = which == 0 ? keys[l] : values[l]
                let new = UnsafeMutablePointer<Float>.allocate(capacity: c * width)
                new.update(from: old, count: count * width)
                old.deallocate()
                if which == 0 { keys[l] = new } else { values[l] = new }
            }
        }
        capacity = c
    }

    func advance(_ n: Int) { count += n }

    /// Becomes a copy of `other` (same layers and width): its positions, bit for bit.
    func copy(from other: KVCache) {
        precondition(other.width == width && other.keys.count == keys.count, "KVCache: copy between different shapes")
        count = 0
        reserve(other.count)
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
