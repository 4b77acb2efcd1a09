import Foundation

/// jieba's `finalseg`: the B/M/E/S hidden Markov model that splits runs of characters the dictionary
/// route left as single characters. The tables (log probabilities) are jieba's prob_start / prob_trans /
/// prob_emit, read from the TSV scripts/setup.sh converts them to.
public struct JiebaHMM: Sendable {
    /// States in jieba's order 'BMES'; ties in `max` over (prob, state) tuples go to the larger letter,
    /// and the letters sort B < E < M < S.
    enum State: Int, CaseIterable { case B = 0, M = 1, E = 2, S = 3 }
    static let letters: [Character] = ["B", "M", "E", "S"]
    /// jieba's PrevStatus: the states each state can follow.
    static let previous: [[State]] = [[.E, .S], [.M, .B], [.B, .M], [.S, .E]]
    /// Letter rank for tie-breaking (B < E < M < S).
    static let rank: [Int] = [0, 2, 1, 3]
    public static let minFloat = -3.14e100

    var start: [Double]                  // by State
    var trans: [[Double]]                // [from][to], minFloat where jieba has no entry
    var emit: [UInt32: SIMD4<Double>]    // code point → log P(char | state) by State, minFloat if absent

    /// Parses hmm.tsv: `start STATE P`, `trans FROM TO P`, `emit STATE HEX_CODE_POINT P`; '#' comments.
    /// Works on the bytes (the 35k emission lines parse in a few milliseconds).
    public init(tsv: Data, path: String) throws {
        start = [Double](repeating: Self.minFloat, count: 4)
        trans = [[Double]](repeating: [Double](repeating: Self.minFloat, count: 4), count: 4)
        var emitByState: [UInt32: SIMD4<Double>] = [:]
        emitByState.reserveCapacity(8192)
        var counts = (start: 0, trans: 0, emit: 0)
        let bytes = [UInt8](tsv)
        var lineNumber = 0
        for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.isEmpty || line.first == 0x23 { continue }
            let f = line.split(separator: 0x09, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            func bad() -> MetricsError {
                MetricsError("\(path):\(lineNumber): invalid HMM table line \"\(String(decoding: line.prefix(60), as: UTF8.self))\"")
            }
            func state(_ s: String) throws -> Int {
                guard s.count == 1, let i = Self.letters.firstIndex(of: s.first!) else { throw bad() }
                return i
            }
            guard let p = Double(f[f.count - 1]) else { throw bad() }
            switch (f[0], f.count) {
            case ("start", 3):
                start[try state(f[1])] = p; counts.start += 1
            case ("trans", 4):
                trans[try state(f[1])][try state(f[2])] = p; counts.trans += 1
            case ("emit", 4):
                guard let cp = UInt32(f[2], radix: 16) else { throw bad() }
                emitByState[cp, default: SIMD4(repeating: Self.minFloat)][try state(f[1])] = p; counts.emit += 1
            default:
                throw bad()
            }
        }
        guard counts.start == 4, counts.trans == 8, counts.emit > 0 else {
            throw MetricsError("\(path): incomplete HMM tables (\(counts.start) start, \(counts.trans) transition, \(counts.emit) emission entries; jieba has 4, 8 and ~35k)")
        }
        emit = emitByState
    }

    /// `finalseg.__cut` on a run of U+4E00–U+9FD5 characters: Viterbi, then words from the B…E / S labels.
    func cutHan(_ s: ArraySlice<UInt32>, into out: inout [Range<Int>]) {
        let n = s.count
        guard n > 0 else { return }
        let base = s.startIndex
        let missing = SIMD4<Double>(repeating: Self.minFloat)
        var v = [Double](repeating: 0, count: 4)
        var back = [Int8](repeating: 0, count: 4 * n)   // back[t*4 + y] = best previous state
        let e0 = emit[s[base]] ?? missing
        for y in 0..<4 { v[y] = start[y] + e0[y] }
        var next = v
        for t in 1..<n {
            let em = emit[s[base + t]] ?? missing
            for y in 0..<4 {
                var best = -Double.infinity, bestState = -1
                for y0 in Self.previous[y] {
                    let p = v[y0.rawValue] + trans[y0.rawValue][y] + em[y]
                    if bestState < 0 || p > best || (p == best && Self.rank[y0.rawValue] > Self.rank[bestState]) {
                        best = p; bestState = y0.rawValue
                    }
                }
                next[y] = best
                back[t * 4 + y] = Int8(bestState)
            }
            swap(&v, &next)
        }
        // max((V[-1][y], y) for y in 'ES'): S wins a tie.
        var state = v[State.S.rawValue] >= v[State.E.rawValue] ? State.S.rawValue : State.E.rawValue
        var labels = [Int](repeating: 0, count: n)
        for t in stride(from: n - 1, through: 0, by: -1) {
            labels[t] = state
            if t > 0 { state = Int(back[t * 4 + state]) }
        }
        var begin = 0, nextStart = 0
        for i in 0..<n {
            switch labels[i] {
            case State.B.rawValue: begin = i
            case State.E.rawValue: out.append((base + begin)..<(base + i + 1)); nextStart = i + 1
            case State.S.rawValue: out.append((base + i)..<(base + i + 1)); nextStart = i + 1
            default: break
            }
        }
        if nextStart < n { out.append((base + nextStart)..<(base + n)) }
    }
}
