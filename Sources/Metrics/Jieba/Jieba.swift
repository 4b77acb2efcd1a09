import Foundation

/// jieba 0.42.1's `jieba.cut(sentence)` in its default ("accurate") mode, `cut_all=False`, on code points.
///
/// 1. The text is split into runs of `[\u4E00-\u9FD5a-zA-Z0-9+#&._%-]` ("Han blocks") and the rest.
///    Outside the runs, `\r\n` and each whitespace character (Python's `\s`) are tokens, and so is every
///    other single character.
/// 2. A Han block: the DAG of dictionary words starting at each position; the route maximising
///    Σ (log freq − log total) right to left (ties to the longer word); consecutive one-character steps
///    are collected, and such a run of ≥ 2 characters that is not itself a dictionary word goes to the
///    HMM (`hmm: true`: finalseg — Viterbi over Han runs, `[a-zA-Z0-9]+(\.\d+)?%?` and the text between
///    kept whole elsewhere) or, with `hmm: false`, consecutive ASCII letters/digits are joined instead.
public struct Jieba: Sendable {
    public let dictionary: JiebaDictionary
    public let hmm: JiebaHMM
    /// Package version the data came from (models/jieba/source.json), for metric cards.
    public let version: String
    private let logTotal: Double

    public init(dictionary: JiebaDictionary, hmm: JiebaHMM, version: String) {
        self.dictionary = dictionary
        self.hmm = hmm
        self.version = version
        logTotal = log(Double(dictionary.total))
    }

    /// Token ranges into `text` (code points), in order; they tile the text.
    public func cut(_ text: [UInt32], hmm useHMM: Bool = true) -> [Range<Int>] {
        var out: [Range<Int>] = []
        out.reserveCapacity(text.count / 2 + 1)
        var i = 0
        let n = text.count
        while i < n {
            if Self.inHanBlock(text[i]) {
                var j = i + 1
                while j < n && Self.inHanBlock(text[j]) { j += 1 }
                cutBlock(text[i..<j], hmm: useHMM, into: &out)
                i = j
            } else {
                let len = text[i] == 0x0D && i + 1 < n && text[i + 1] == 0x0A ? 2 : 1
                out.append(i..<(i + len))
                i += len
            }
        }
        return out
    }

    /// `jieba.cut` as strings.
    public func cut(_ text: String, hmm useHMM: Bool = true) -> [String] {
        let cps = text.unicodeScalars.map(\.value)
        return cut(cps, hmm: useHMM).map { Self.string(cps[$0]) }
    }

    static func string(_ cps: ArraySlice<UInt32>) -> String {
        var s = String.UnicodeScalarView()
        for c in cps { s.append(Unicode.Scalar(c)!) }
        return String(s)
    }

    /// `re_han_default`'s class.
    @inline(__always)
    static func inHanBlock(_ c: UInt32) -> Bool {
        isHan(c) || isASCIIAlnum(c) || c == 0x2B || c == 0x23 || c == 0x26 || c == 0x2E || c == 0x5F || c == 0x25 || c == 0x2D
    }

    @inline(__always) static func isHan(_ c: UInt32) -> Bool { (0x4E00...0x9FD5).contains(c) }
    @inline(__always) static func isASCIIDigit(_ c: UInt32) -> Bool { (0x30...0x39).contains(c) }
    @inline(__always) static func isASCIIAlnum(_ c: UInt32) -> Bool {
        isASCIIDigit(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c)
    }

    // MARK: - One Han block (`__cut_DAG` / `__cut_DAG_NO_HMM`)

    /// The max-probability route: `route[i]` = end (exclusive) of the word starting at i.
    func route(_ s: ArraySlice<UInt32>) -> [Int] {
        let n = s.count, base = s.startIndex
        var best = [Double](repeating: 0, count: n + 1)
        var end = [Int](repeating: 0, count: n + 1)
        var candidates: [(last: Int, freq: Int)] = []
        for k in stride(from: n - 1, through: 0, by: -1) {
            // get_DAG: words starting at k (prefix walk); none → the single character, frequency 1.
            candidates.removeAll(keepingCapacity: true)
            var node: Int32 = 0
            var i = k
            while i < n, let next = dictionary.child(of: node, s[base + i]) {
                node = next
                let f = dictionary.frequency(node)
                if f != 0 { candidates.append((i, f)) }
                i += 1
            }
            if candidates.isEmpty { candidates.append((k, 1)) }
            // calc: max over (log(freq) - logtotal + route[x+1], x), ties to the larger x.
            var bestP = 0.0, bestX = -1
            for (x, f) in candidates {
                let p = (log(Double(f)) - logTotal) + best[x + 1]
                if bestX < 0 || p > bestP || (p == bestP && x > bestX) { bestP = p; bestX = x }
            }
            best[k] = bestP
            end[k] = bestX + 1
        }
        return end
    }

    func cutBlock(_ s: ArraySlice<UInt32>, hmm useHMM: Bool, into out: inout [Range<Int>]) {
        let route = route(s)
        let base = s.startIndex, n = s.count
        var x = 0
        if !useHMM {
            var bufStart = -1
            while x < n {
                let y = route[x]
                if y - x == 1 && Self.isASCIIAlnum(s[base + x]) {
                    if bufStart < 0 { bufStart = x }
                } else {
                    if bufStart >= 0 { out.append((base + bufStart)..<(base + x)); bufStart = -1 }
                    out.append((base + x)..<(base + y))
                }
                x = y
            }
            if bufStart >= 0 { out.append((base + bufStart)..<(base + n)) }
            return
        }
        var bufStart = 0, bufLen = 0
        func flush() {
            guard bufLen > 0 else { return }
            let buf = s[(base + bufStart)..<(base + bufStart + bufLen)]
            if bufLen == 1 {
                out.append(buf.indices)
            } else if (dictionary.frequency(of: buf) ?? 0) == 0 {
                finalsegCut(buf, into: &out)
            } else {
                for i in buf.indices { out.append(i..<(i + 1)) }
            }
            bufLen = 0
        }
        while x < n {
            let y = route[x]
            if y - x == 1 {
                if bufLen == 0 { bufStart = x }
                bufLen += 1
            } else {
                flush()
                out.append((base + x)..<(base + y))
            }
            x = y
        }
        flush()
    }

    /// `finalseg.cut`: Han runs through the HMM; elsewhere `[a-zA-Z0-9]+(?:\.\d+)?%?` matches and the
    /// text between them are tokens (only ASCII reaches here, so `\d` is [0-9]).
    func finalsegCut(_ s: ArraySlice<UInt32>, into out: inout [Range<Int>]) {
        var i = s.startIndex
        let end = s.endIndex
        while i < end {
            if Self.isHan(s[i]) {
                var j = i + 1
                while j < end && Self.isHan(s[j]) { j += 1 }
                hmm.cutHan(s[i..<j], into: &out)
                i = j
                continue
            }
            var j = i + 1
            while j < end && !Self.isHan(s[j]) { j += 1 }
            skipSplit(s[i..<j], into: &out)
            i = j
        }
    }

    private func skipSplit(_ s: ArraySlice<UInt32>, into out: inout [Range<Int>]) {
        var pending = s.startIndex, i = s.startIndex
        let end = s.endIndex
        while i < end {
            guard Self.isASCIIAlnum(s[i]) else { i += 1; continue }
            var j = i + 1
            while j < end && Self.isASCIIAlnum(s[j]) { j += 1 }
            if j + 1 < end && s[j] == 0x2E && Self.isASCIIDigit(s[j + 1]) {
                j += 2
                while j < end && Self.isASCIIDigit(s[j]) { j += 1 }
            }
            if j < end && s[j] == 0x25 { j += 1 }
            if pending < i { out.append(pending..<i) }
            out.append(i..<j)
            pending = j
            i = j
        }
        if pending < end { out.append(pending..<end) }
    }
}
