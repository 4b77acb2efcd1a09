import Foundation

/// rouge-chinese 1.0.3's `Rouge().get_scores(hyp, ref)[0]` (rouge_chinese/rouge.py, rouge_score.py)
/// on two texts of space-separated tokens, as LLaMA-Factory passes them.
///
/// Reproduced: `cut_sent` (the four sentence-splitting substitutions, `rstrip`, split on "\n");
/// each non-empty part normalised to `" ".join(part.split())` and split on " " again (a whitespace-only
/// part gives one empty word); ROUGE-1/2 on the SETS of word n-grams of the flattened word list
/// (`exclusive=True`; bigrams cross sentence ends); ROUGE-L in 1.0.3 is `rouge_l_summary_level`,
/// which — despite its name — is the plain LCS of the two flattened word lists (no union LCS);
/// F = 2·((P·R) / (P + R + 1e-8)), P or R = 0.0 when its count is 0.
public enum RougeChinese {
    public struct Scores: Equatable, Sendable {
        public var p: Double, r: Double, f: Double
    }

    /// F, P, R for rouge-1, rouge-2, rouge-l. Precondition of rouge-chinese: neither text is blank
    /// (LLaMA-Factory checks this before calling; see `Similarity`).
    public static func scores(hypothesis: [UInt32], reference: [UInt32]) -> (rouge1: Scores, rouge2: Scores, rougeL: Scores) {
        var vocabulary: [ArraySlice<UInt32>: Int32] = [:]
        let hypText = cutSentences(hypothesis), refText = cutSentences(reference)
        let hyp = words(hypText, &vocabulary), ref = words(refText, &vocabulary)
        let r1 = rougeN(hyp, ref, n: 1), r2 = rougeN(hyp, ref, n: 2)
        let lcs = Double(lcsLength(ref, hyp))
        let r = lcs / Double(ref.count), p = lcs / Double(hyp.count)
        return (r1, r2, Scores(p: p, r: r, f: f1(p, r)))
    }

    @inline(__always)
    static func f1(_ p: Double, _ r: Double) -> Double { 2.0 * ((p * r) / (p + r + 1e-8)) }

    static func rougeN(_ hyp: [Int32], _ ref: [Int32], n: Int) -> Scores {
        func grams(_ w: [Int32]) -> Set<Int64> {
            guard w.count >= n else { return [] }
            var s = Set<Int64>(minimumCapacity: w.count)
            for i in 0...(w.count - n) {
                s.insert(n == 1 ? Int64(w[i]) : Int64(w[i]) << 32 | Int64(w[i + 1]))
            }
            return s
        }
        precondition(n == 1 || n == 2)
        let h = grams(hyp), r = grams(ref)
        let overlap = Double(h.intersection(r).count)
        let p = h.isEmpty ? 0.0 : overlap / Double(h.count)
        let rec = r.isEmpty ? 0.0 : overlap / Double(r.count)
        return Scores(p: p, r: rec, f: f1(p, rec))
    }

    /// Length of the longest common subsequence (two-row dynamic programme).
    static func lcsLength(_ x: [Int32], _ y: [Int32]) -> Int {
        guard !x.isEmpty, !y.isEmpty else { return 0 }
        var prev = [Int32](repeating: 0, count: y.count + 1), cur = prev
        for i in 1...x.count {
            let xi = x[i - 1]
            for j in 1...y.count {
                cur[j] = xi == y[j - 1] ? prev[j - 1] + 1 : max(prev[j], cur[j - 1])
            }
            swap(&prev, &cur)
        }
        return Int(prev[y.count])
    }

    /// The flattened word list of `[" ".join(p.split()) for p in parts if len(p) > 0]` split on " ",
    /// words interned by their exact code points (Python's str equality, not canonical equivalence).
    static func words(_ text: [UInt32], _ vocabulary: inout [ArraySlice<UInt32>: Int32]) -> [Int32] {
        var out: [Int32] = []
        func intern(_ w: ArraySlice<UInt32>) -> Int32 {
            if let id = vocabulary[w] { return id }
            let id = Int32(vocabulary.count)
            vocabulary[w] = id
            return id
        }
        var partStart = 0
        for k in 0...text.count where k == text.count || text[k] == 0x0A {
            defer { partStart = k + 1 }
            guard k > partStart else { continue }               // `if len(_) > 0`
            var any = false, i = partStart
            while i < k {
                if PythonNumerics.isWhitespace(text[i]) { i += 1; continue }
                var j = i + 1
                while j < k && !PythonNumerics.isWhitespace(text[j]) { j += 1 }
                out.append(intern(text[i..<j]))
                any = true
                i = j
            }
            if !any { out.append(intern([])) }                  // "".split(" ") == [""]
        }
        return out
    }

    // MARK: - Rouge.cut_sent

    @inline(__always) static func isEnd(_ c: UInt32) -> Bool { c == 0x3002 || c == 0xFF01 || c == 0xFF1F || c == 0x3F }  // 。！？?
    @inline(__always) static func isCloseQuote(_ c: UInt32) -> Bool { c == 0x201D || c == 0x2019 }                       // ” ’
    @inline(__always) static func isEndOrComma(_ c: UInt32) -> Bool { isEnd(c) || c == 0xFF0C }                            // ，。！？?

    /// `cut_sent(para)` joined back with "\n": the substitutions, then `rstrip()` (split happens in `words`).
    static func cutSentences(_ para: [UInt32]) -> [UInt32] {
        // re.sub('([。！？\?])([^”’])', r"\1\n\2")
        var s = substitute(para, width: 2) { s, i in isEnd(s[i]) && !isCloseQuote(s[i + 1]) ? 1 : nil }
        // re.sub('(\.{6})([^”’])', r"\1\n\2")
        s = substitute(s, width: 7) { s, i in (0..<6).allSatisfy { s[i + $0] == 0x2E } && !isCloseQuote(s[i + 6]) ? 6 : nil }
        // re.sub('(\…{2})([^”’])', r"\1\n\2")
        s = substitute(s, width: 3) { s, i in s[i] == 0x2026 && s[i + 1] == 0x2026 && !isCloseQuote(s[i + 2]) ? 2 : nil }
        // re.sub('([。！？\?][”’])([^，。！？\?])', r'\1\n\2')
        s = substitute(s, width: 3) { s, i in isEnd(s[i]) && isCloseQuote(s[i + 1]) && !isEndOrComma(s[i + 2]) ? 2 : nil }
        while let last = s.last, PythonNumerics.isWhitespace(last) { s.removeLast() }
        return s
    }

    /// One left-to-right `re.sub` pass of a fixed-width pattern: where `match` returns the length of
    /// group 1, a "\n" goes after it and scanning resumes after the whole match.
    private static func substitute(_ s: [UInt32], width: Int, _ match: ([UInt32], Int) -> Int?) -> [UInt32] {
        var out: [UInt32] = []
        out.reserveCapacity(s.count + 8)
        var i = 0
        while i < s.count {
            if i + width <= s.count, let g = match(s, i) {
                out.append(contentsOf: s[i..<(i + g)])
                out.append(0x0A)
                out.append(contentsOf: s[(i + g)..<(i + width)])
                i += width
            } else {
                out.append(s[i])
                i += 1
            }
        }
        return out
    }
}
