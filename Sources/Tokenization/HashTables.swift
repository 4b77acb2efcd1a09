import Foundation

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
    // Slot: high 32 bits of the key's hash << 32 | entry index + 1; 0 = empty. The hash tag
    // rejects most non-matching slots without touching the entry or the key bytes.
    private var slots: [UInt64]
    private var mask: Int
    private var keyArena: [UInt8] = []
    // Per entry: key start, key length, value a, value b.
    private var entries: [Int32] = []
    private(set) var count = 0

    init(capacity: Int = 1024) {
        var cap = 16
        while cap < capacity * 2 { cap <<= 1 }
        slots = [UInt64](repeating: 0, count: cap)
        mask = cap - 1
    }

    /// Multiply-xorshift over 8-byte words (the key bytes are not adversarial).
    @inline(__always)
    static func hash(_ key: UnsafeBufferPointer<UInt8>) -> UInt64 {
        let n = key.count
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(n)
        guard let base = key.baseAddress else { return h }
        let raw = UnsafeRawPointer(base)
        var i = 0
        while i + 8 <= n {
            h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 31
            i += 8
        }
        if i < n {
            var w: UInt64 = 0
            var shift: UInt64 = 0
            while i < n { w |= UInt64(base[i]) << shift; shift += 8; i += 1 }
            h = (h ^ w) &* 0x94D0_49BB_1331_11EB
            h ^= h >> 29
        }
        h = h &* 0xBF58_476D_1CE4_E5B9
        return h ^ (h >> 32)
    }

    @inline(__always)
    private static func tag(_ h: UInt64) -> UInt64 { h & 0xFFFF_FFFF_0000_0000 }

    private func index(of key: UnsafeBufferPointer<UInt8>) -> Int? {
        let h = Self.hash(key)
        let tag = Self.tag(h)
        var s = Int(truncatingIfNeeded: h) & mask
        return slots.withUnsafeBufferPointer { sl in
            entries.withUnsafeBufferPointer { e in
                keyArena.withUnsafeBufferPointer { arena in
                    while true {
                        let v = sl[s]
                        if v == 0 { return nil }
                        if v & 0xFFFF_FFFF_0000_0000 == tag {
                            let idx = Int(v & 0xFFFF_FFFF) - 1
                            let base = idx * 4
                            if Int(e[base + 1]) == key.count {
                                let start = Int(e[base])
                                if key.count == 0 || memcmp(arena.baseAddress! + start, key.baseAddress!, key.count) == 0 {
                                    return idx
                                }
                            }
                        }
                        s = (s + 1) & mask
                    }
                }
            }
        }
    }

    /// Replaces the values of `key`, or inserts it.
    mutating func set(_ key: UnsafeBufferPointer<UInt8>, _ a: Int32, _ b: Int32) {
        if let idx = index(of: key) {
            entries[idx * 4 + 2] = a
            entries[idx * 4 + 3] = b
        } else {
            insert(key, a, b)
        }
    }

    func find(_ key: UnsafeBufferPointer<UInt8>) -> (Int32, Int32)? {
        guard let idx = index(of: key) else { return nil }
        return (entries[idx * 4 + 2], entries[idx * 4 + 3])
    }

    /// Inserts a key known to be absent.
    mutating func insert(_ key: UnsafeBufferPointer<UInt8>, _ a: Int32, _ b: Int32) {
        if (count + 1) * 2 > slots.count { grow() }
        entries.append(Int32(keyArena.count))
        entries.append(Int32(key.count))
        entries.append(a)
        entries.append(b)
        keyArena.append(contentsOf: key)
        place(count, hash: Self.hash(key))
        count += 1
    }

    private mutating func place(_ idx: Int, hash h: UInt64) {
        var s = Int(truncatingIfNeeded: h) & mask
        while slots[s] != 0 { s = (s + 1) & mask }
        slots[s] = Self.tag(h) | UInt64(idx + 1)
    }

    private mutating func grow() {
        let cap = slots.count * 2
        slots = [UInt64](repeating: 0, count: cap)
        mask = cap - 1
        for i in 0..<count {
            let start = Int(entries[i * 4]), len = Int(entries[i * 4 + 1])
            let h = keyArena.withUnsafeBufferPointer { Self.hash(UnsafeBufferPointer(rebasing: $0[start..<start + len])) }
            place(i, hash: h)
        }
    }

    mutating func removeAll() {
        slots = [UInt64](repeating: 0, count: 1024)
        mask = 1023
        keyArena.removeAll(keepingCapacity: true)
        entries.removeAll(keepingCapacity: true)
        count = 0
    }
}
