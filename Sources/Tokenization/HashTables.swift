/// Open-addressing map from a merge pair (left id, right id) to (rank, merged id).
/// Built once; lookups are the inner loop of BPE, so no SipHash and no allocation.
struct PairTable: Sendable {
    private var keys: [UInt64]
    private var values: [UInt64]
    private let mask: Int
    private static let empty = UInt64.max

    init(capacityFor count: Int) {
        var cap = 16
        while cap < count * 2 { cap <<= 1 }
        keys = [UInt64](repeating: Self.empty, count: cap)
        values = [UInt64](repeating: 0, count: cap)
        mask = cap - 1
    }

    @inline(__always)
    private static func slot(_ key: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    /// Inserts unless present; returns false when the key was already there (first one wins,
    /// as in HF where a later duplicate merge never fires).
    @discardableResult
    mutating func insert(left: Int32, right: Int32, rank: UInt32, merged: Int32) -> Bool {
        let key = UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
        var s = Self.slot(key, mask)
        while keys[s] != Self.empty {
            if keys[s] == key { return false }
            s = (s + 1) & mask
        }
        keys[s] = key
        values[s] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: merged))
        return true
    }

    /// (rank << 32 | merged id), or UInt64.max when the pair does not merge.
    @inline(__always)
    func lookup(_ left: Int32, _ right: Int32) -> UInt64 {
        let key = UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
        return keys.withUnsafeBufferPointer { k in
            var s = Self.slot(key, mask)
            while true {
                let kk = k[s]
                if kk == key { return values[s] }
                if kk == Self.empty { return UInt64.max }
                s = (s + 1) & mask
            }
        }
    }
}

/// Open-addressing map from a byte string to two Int32 values, keys kept in one arena.
/// Used for the byte-string vocabulary and for the per-word BPE cache.
struct ByteStringTable {
    private var slots: [Int32]
    private var mask: Int
    private var keyArena: [UInt8] = []
    // Per entry: key start, key length, value a, value b, hash (low 32 bits).
    private var entries: [Int32] = []
    private(set) var count = 0

    init(capacity: Int = 1024) {
        var cap = 16
        while cap < capacity * 2 { cap <<= 1 }
        slots = [Int32](repeating: -1, count: cap)
        mask = cap - 1
    }

    @inline(__always)
    static func hash(_ key: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in key { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h ^ (h >> 29)
    }

    func find(_ key: UnsafeBufferPointer<UInt8>) -> (Int32, Int32)? {
        let h = Self.hash(key)
        let h32 = Int32(truncatingIfNeeded: h)
        var s = Int(truncatingIfNeeded: h) & mask
        return slots.withUnsafeBufferPointer { sl in
            entries.withUnsafeBufferPointer { e in
                keyArena.withUnsafeBufferPointer { arena in
                    while true {
                        let idx = Int(sl[s])
                        if idx < 0 { return nil }
                        let base = idx * 5
                        if e[base + 4] == h32 && Int(e[base + 1]) == key.count {
                            let start = Int(e[base])
                            var same = true
                            for i in 0..<key.count where arena[start + i] != key[i] { same = false; break }
                            if same { return (e[base + 2], e[base + 3]) }
                        }
                        s = (s + 1) & mask
                    }
                }
            }
        }
    }

    /// Inserts a key known to be absent.
    mutating func insert(_ key: UnsafeBufferPointer<UInt8>, _ a: Int32, _ b: Int32) {
        if (count + 1) * 2 > slots.count { grow() }
        let h = Self.hash(key)
        let idx = Int32(count)
        entries.append(Int32(keyArena.count))
        entries.append(Int32(key.count))
        entries.append(a)
        entries.append(b)
        entries.append(Int32(truncatingIfNeeded: h))
        keyArena.append(contentsOf: key)
        place(idx, hash: h)
        count += 1
    }

    private mutating func place(_ idx: Int32, hash h: UInt64) {
        var s = Int(truncatingIfNeeded: h) & mask
        while slots[s] >= 0 { s = (s + 1) & mask }
        slots[s] = idx
    }

    private mutating func grow() {
        let cap = slots.count * 2
        slots = [Int32](repeating: -1, count: cap)
        mask = cap - 1
        for i in 0..<count {
            let start = Int(entries[i * 5]), len = Int(entries[i * 5 + 1])
            let h = keyArena.withUnsafeBufferPointer { Self.hash(UnsafeBufferPointer(rebasing: $0[start..<start + len])) }
            place(Int32(i), hash: h)
        }
    }

    mutating func removeAll() {
        slots = [Int32](repeating: -1, count: 1024)
        mask = 1023
        keyArena.removeAll(keepingCapacity: true)
        entries.removeAll(keepingCapacity: true)
        count = 0
    }

    var arenaBytes: Int { keyArena.count }
}
