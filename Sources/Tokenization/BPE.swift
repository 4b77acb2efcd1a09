import Foundation

/// Working storage for one encode call, so the merge loop does not allocate per word.
struct BPEScratch {
    var ids: [Int32] = []
    var ranks: [UInt64] = []
    var prev: [Int32] = []
    var next: [Int32] = []
    var heap: [UInt64] = []
}

/// Byte-level BPE: a word's UTF-8 bytes start as byte tokens and the adjacent pair with the
/// lowest merge rank (leftmost on ties) merges until none applies — HF `tokenizers`' order.
final class BPEModel: @unchecked Sendable {
    /// Token id of each byte's stand-in character, -1 if the vocabulary lacks it.
    let byteIds: [Int32]
    let pairs: PairTable
    /// HF `ignore_merges` (Llama-3): a word that is itself in the vocabulary is one token.
    let ignoreMerges: Bool
    /// Byte-level vocabulary by raw bytes (for ignore_merges).
    private let vocabBytes: ByteStringTable

    // Per-word cache (words repeat heavily in real text). Guarded by `lock`.
    private var cache = ByteStringTable(capacity: 8192)
    private var cacheIds: [Int32] = []
    private let lock = NSLock()
    private static let cacheLimit = 500_000

    /// Words longer than this (bytes) use the heap-ordered merge loop.
    static let heapThreshold = 64

    init(byteIds: [Int32], pairs: PairTable, ignoreMerges: Bool, vocabBytes: ByteStringTable) {
        self.byteIds = byteIds
        self.pairs = pairs
        self.ignoreMerges = ignoreMerges
        self.vocabBytes = vocabBytes
    }

    func encode(_ word: UnsafeBufferPointer<UInt8>, into out: inout [Int], scratch: inout BPEScratch) {
        let n = word.count
        if n == 0 { return }
        if n == 1 {
            let id = byteIds[Int(word[0])]
            if id >= 0 { out.append(Int(id)) }
            return
        }
        if ignoreMerges, let (id, _) = vocabBytes.find(word) {
            out.append(Int(id))
            return
        }
        lock.lock()
        if let (start, count) = cache.find(word) {
            for k in Int(start)..<Int(start + count) { out.append(Int(cacheIds[k])) }
            lock.unlock()
            return
        }
        lock.unlock()

        if n <= Self.heapThreshold { mergeSmall(word, &scratch) } else { mergeHeap(word, &scratch) }

        lock.lock()
        if cache.count >= Self.cacheLimit || cacheIds.count >= Self.cacheLimit * 8 {
            cache.removeAll()
            cacheIds.removeAll(keepingCapacity: true)
        }
        cache.insert(word, Int32(cacheIds.count), Int32(scratch.ids.count))
        cacheIds.append(contentsOf: scratch.ids)
        lock.unlock()
        for id in scratch.ids { out.append(Int(id)) }
    }

    /// Uncached merge (tests compare both loops).
    func mergeUncached(_ word: [UInt8], heap: Bool) -> [Int] {
        var s = BPEScratch()
        word.withUnsafeBufferPointer { if heap { mergeHeap($0, &s) } else { mergeSmall($0, &s) } }
        return s.ids.map(Int.init)
    }

    private func initialIds(_ word: UnsafeBufferPointer<UInt8>, _ ids: inout [Int32]) {
        ids.removeAll(keepingCapacity: true)
        for b in word {
            let id = byteIds[Int(b)]
            if id >= 0 { ids.append(id) }  // HF drops characters missing from a vocabulary without unk
        }
    }

    /// Array loop for short words: rescans pair ranks, O(n²) but tiny n.
    private func mergeSmall(_ word: UnsafeBufferPointer<UInt8>, _ s: inout BPEScratch) {
        initialIds(word, &s.ids)
        var n = s.ids.count
        if n < 2 { return }
        s.ranks.removeAll(keepingCapacity: true)
        for i in 0..<(n - 1) { s.ranks.append(pairs.lookup(s.ids[i], s.ids[i + 1])) }
        s.ids.withUnsafeMutableBufferPointer { ids in
            s.ranks.withUnsafeMutableBufferPointer { ranks in
                while n > 1 {
                    // Values compare by rank first (upper 32 bits); the first minimum is the leftmost.
                    var best = UInt64.max, m = -1
                    for i in 0..<(n - 1) where ranks[i] < best { best = ranks[i]; m = i }
                    if m < 0 { break }
                    ids[m] = Int32(truncatingIfNeeded: best & 0xFFFF_FFFF)
                    // Remove symbol m+1 and pair m.
                    var k = m + 1
                    while k < n - 1 { ids[k] = ids[k + 1]; k += 1 }
                    k = m
                    while k < n - 2 { ranks[k] = ranks[k + 1]; k += 1 }
                    n -= 1
                    if m > 0 { ranks[m - 1] = pairs.lookup(ids[m - 1], ids[m]) }
                    if m < n - 1 { ranks[m] = pairs.lookup(ids[m], ids[m + 1]) }
                }
            }
        }
        s.ids.removeSubrange(n...)
    }

    /// Linked symbols and a min-heap of (rank, position) for long words, as HF's `merge_all`.
    private func mergeHeap(_ word: UnsafeBufferPointer<UInt8>, _ s: inout BPEScratch) {
        initialIds(word, &s.ids)
        let n = s.ids.count
        if n < 2 { return }
        s.prev.removeAll(keepingCapacity: true)
        s.next.removeAll(keepingCapacity: true)
        for i in 0..<n {
            s.prev.append(Int32(i - 1))
            s.next.append(i + 1 < n ? Int32(i + 1) : -1)
        }
        var heap = MinHeap(storage: s.heap)
        for i in 0..<(n - 1) {
            let r = pairs.lookup(s.ids[i], s.ids[i + 1])
            if r != UInt64.max { heap.push((r >> 32) << 32 | UInt64(i)) }
        }
        var alive = n
        while let top = heap.pop() {
            let pos = Int(top & 0xFFFF_FFFF), rank = top >> 32
            let nx = Int(s.next[pos])
            // Dead symbols have prev == -2; stale entries no longer name the same pair.
            if s.prev[pos] == -2 || nx < 0 { continue }
            let r = pairs.lookup(s.ids[pos], s.ids[nx])
            if r == UInt64.max || r >> 32 != rank { continue }
            s.ids[pos] = Int32(truncatingIfNeeded: r & 0xFFFF_FFFF)
            let after = s.next[nx]
            s.next[pos] = after
            if after >= 0 { s.prev[Int(after)] = Int32(pos) }
            s.prev[nx] = -2
            alive -= 1
            let p = Int(s.prev[pos])
            if p >= 0 {
                let rp = pairs.lookup(s.ids[p], s.ids[pos])
                if rp != UInt64.max { heap.push((rp >> 32) << 32 | UInt64(p)) }
            }
            if after >= 0 {
                let rn = pairs.lookup(s.ids[pos], s.ids[Int(after)])
                if rn != UInt64.max { heap.push((rn >> 32) << 32 | UInt64(pos)) }
            }
        }
        s.heap = heap.storage
        var out: [Int32] = []
        out.reserveCapacity(alive)
        var i = 0
        while i >= 0 {
            out.append(s.ids[i])
            i = Int(s.next[i])
        }
        s.ids = out
    }
}

struct MinHeap {
    var storage: [UInt64]
    init(storage: [UInt64]) {
        self.storage = storage
        self.storage.removeAll(keepingCapacity: true)
    }

    mutating func push(_ v: UInt64) {
        storage.append(v)
        var i = storage.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if storage[p] <= v { break }
            storage[i] = storage[p]
            i = p
        }
        storage[i] = v
    }

    mutating func pop() -> UInt64? {
        guard let last = storage.popLast() else { return nil }
        if storage.isEmpty { return last }
        let top = storage[0]
        let n = storage.count
        var i = 0
        while true {
            let l = 2 * i + 1
            if l >= n { break }
            let r = l + 1
            let c = (r < n && storage[r] < storage[l]) ? r : l
            if storage[c] >= last { break }
            storage[i] = storage[c]
            i = c
        }
        storage[i] = last
        return top
    }
}
