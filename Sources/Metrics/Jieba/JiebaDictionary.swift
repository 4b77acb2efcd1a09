import Foundation

/// jieba's prefix dictionary (`Tokenizer.gen_pfdict`): every word of dict.txt with its frequency and
/// every prefix of a word with frequency 0 unless it is a word itself; a word listed twice keeps its
/// last frequency while the total counts both, as in jieba. Held as a code-point trie whose edges
/// live in one open-addressing hash table (parent node, code point) → child node.
public struct JiebaDictionary: Sendable {
    /// Frequency per trie node (0 for a prefix that is not a word); node 0 is the empty string.
    private(set) var frequencies: [Int]
    /// Sum of all frequencies as listed (jieba's `total`).
    public private(set) var total: Int
    public private(set) var wordCount: Int
    /// Key and child side by side: one cache line per probe.
    private struct Slot { var key: UInt64; var child: Int32 }   // key = (parent << 21 | code point) + 1; 0 = empty
    private var slots: [Slot]
    private var used = 0
    private var mask: Int

    public var nodeCount: Int { frequencies.count }

    init(capacityHint: Int = 1 << 20) {
        var cap = 1024
        while cap < capacityHint * 2 { cap <<= 1 }
        slots = [Slot](repeating: Slot(key: 0, child: 0), count: cap)
        mask = cap - 1
        frequencies = [0]
        total = 0
        wordCount = 0
    }

    /// Parses dict.txt ("word freq [tag]" per line, UTF-8) as `gen_pfdict` does.
    public init(dictTxt data: Data, path: String) throws {
        self.init(capacityHint: max(1024, data.count / 12))
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            var lineStart = 0, lineNumber = 0
            var word: [UInt32] = []
            while lineStart < bytes.count {
                lineNumber += 1
                var lineEnd = lineStart
                while lineEnd < bytes.count && bytes[lineEnd] != 0x0A { lineEnd += 1 }
                // bytes.strip(): ASCII whitespace at both ends.
                var a = lineStart, b = lineEnd
                while a < b && Self.isASCIISpace(bytes[a]) { a += 1 }
                while b > a && Self.isASCIISpace(bytes[b - 1]) { b -= 1 }
                // word, freq = line.split(' ')[:2]
                var sp = a
                while sp < b && bytes[sp] != 0x20 { sp += 1 }
                var fe = sp + 1
                while fe < b && bytes[fe] != 0x20 { fe += 1 }
                guard sp < b, let freq = Self.parseInt(bytes, sp + 1, min(fe, b)) else {
                    throw MetricsError("\(path):\(lineNumber): invalid dictionary entry (expected \"word frequency [tag]\")")
                }
                word.removeAll(keepingCapacity: true)
                guard UTF8Decoding.decode(bytes, a, sp, into: &word) else {
                    throw MetricsError("\(path):\(lineNumber): not valid UTF-8")
                }
                insert(word, frequency: freq)
                lineStart = lineEnd + 1
            }
        }
    }

    mutating func insert(_ word: [UInt32], frequency: Int) {
        var node: Int32 = 0
        for c in word {
            if let child = child(of: node, c) {
                node = child
            } else {
                let new = Int32(frequencies.count)
                frequencies.append(0)
                setChild(of: node, c, new)
                node = new
            }
        }
        frequencies[Int(node)] = frequency
        total += frequency
        wordCount += 1
    }

    /// The node for `node`'s string followed by `c`, if that string is a word or a prefix of one.
    @inline(__always)
    public func child(of node: Int32, _ c: UInt32) -> Int32? {
        let key = (UInt64(node) << 21 | UInt64(c)) + 1
        return slots.withUnsafeBufferPointer { t in
            var slot = Self.hash(key) & mask
            while true {
                let k = t[slot].key
                if k == key { return t[slot].child }
                if k == 0 { return nil }
                slot = (slot + 1) & mask
            }
        }
    }

    @inline(__always)
    public func frequency(_ node: Int32) -> Int { frequencies[Int(node)] }

    /// `FREQ.get(word)` (nil when the string is neither a word nor a prefix of one).
    public func frequency<C: Collection>(of word: C) -> Int? where C.Element == UInt32 {
        var node: Int32 = 0
        for c in word {
            guard let next = child(of: node, c) else { return nil }
            node = next
        }
        return frequencies[Int(node)]
    }

    private mutating func setChild(of node: Int32, _ c: UInt32, _ child: Int32) {
        if (used + 1) * 2 > slots.count { grow() }
        let key = (UInt64(node) << 21 | UInt64(c)) + 1
        var slot = Self.hash(key) & mask
        while slots[slot].key != 0 { slot = (slot + 1) & mask }
        slots[slot] = Slot(key: key, child: child)
        used += 1
    }

    private mutating func grow() {
        let old = slots
        slots = [Slot](repeating: Slot(key: 0, child: 0), count: old.count * 2)
        mask = slots.count - 1
        for s in old where s.key != 0 {
            var slot = Self.hash(s.key) & mask
            while slots[slot].key != 0 { slot = (slot + 1) & mask }
            slots[slot] = s
        }
    }

    @inline(__always)
    private static func hash(_ key: UInt64) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32)
    }

    @inline(__always)
    private static func isASCIISpace(_ b: UInt8) -> Bool { b == 0x20 || (0x09...0x0D).contains(b) }

    /// A decimal integer with an optional sign (what `int()` accepts in dict.txt's frequency column).
    private static func parseInt(_ bytes: UnsafeBufferPointer<UInt8>, _ a: Int, _ b: Int) -> Int? {
        var i = a, negative = false
        if i < b && (bytes[i] == 0x2B || bytes[i] == 0x2D) { negative = bytes[i] == 0x2D; i += 1 }
        guard i < b else { return nil }
        var v = 0
        while i < b {
            let d = Int(bytes[i]) - 0x30
            guard (0...9).contains(d) else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(d)
            guard !o1 && !o2 else { return nil }
            v = s
            i += 1
        }
        return negative ? -v : v
    }
}

/// A strict UTF-8 decoder to code points (no overlong forms, no surrogates, ≤ U+10FFFF).
enum UTF8Decoding {
    static func decode(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, into out: inout [UInt32]) -> Bool {
        var i = start
        while i < end {
            let c0 = UInt32(b[i])
            if c0 < 0x80 { out.append(c0); i += 1; continue }
            let n: Int, minimum: UInt32
            var cp: UInt32
            switch c0 {
            case 0xC2...0xDF: n = 1; cp = c0 & 0x1F; minimum = 0x80
            case 0xE0...0xEF: n = 2; cp = c0 & 0x0F; minimum = 0x800
            case 0xF0...0xF4: n = 3; cp = c0 & 0x07; minimum = 0x10000
            default: return false
            }
            guard i + n < end else { return false }   // the continuation bytes are inside the slice
            for k in 1...n {
                let c = UInt32(b[i + k])
                guard c & 0xC0 == 0x80 else { return false }
                cp = cp << 6 | (c & 0x3F)
            }
            guard cp >= minimum, cp <= 0x10FFFF, !(0xD800...0xDFFF).contains(cp) else { return false }
            out.append(cp)
            i += n + 1
        }
        return true
    }
}
