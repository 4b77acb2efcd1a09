import Foundation

/// NLTK's `sentence_bleu` (nltk/translate/bleu_score.py, 3.9.1) with one reference and the default
/// weights (0.25 × 4), on sequences of code points — what LLaMA-Factory calls with `list(text)`.
///
/// Reproduced decisions of NLTK: modified precision p_n = clipped matches / max(1, hypothesis n-grams)
/// (so an order longer than the hypothesis is 0/1); if there is no unigram match at all the score is 0
/// (this covers an empty hypothesis); brevity penalty 1 if the hypothesis is longer than the reference,
/// else exp(1 − r/h); score = BP · exp(fsum(0.25 · log p_n)) over the p_n > 0. Precisions are exact
/// fractions in NLTK, so each is one correctly rounded division here.
public enum BLEU {
    /// NLTK `SmoothingFunction` methods reproduced.
    public enum Smoothing: String, Codable, Sendable {
        /// `method3` (NIST geometric): the k-th order with no match counts as 1 / (2^k · denominator).
        case method3
        /// `method0` (NLTK's default, no smoothing): an order with no match counts as `sys.float_info.min`.
        case none
    }

    public static let order = 4

    /// `sentence_bleu([reference], hypothesis, smoothing_function=…)` in 0…1.
    public static func sentenceBLEU(reference: [UInt32], hypothesis: [UInt32], smoothing: Smoothing = .method3) -> Double {
        var numerators = [Int](repeating: 0, count: order)
        var denominators = [Int](repeating: 1, count: order)
        for n in 1...order {
            let (matched, total) = clippedMatches(reference: reference, hypothesis: hypothesis, n: n)
            numerators[n - 1] = matched
            denominators[n - 1] = max(1, total)
        }
        if numerators[0] == 0 { return 0 }

        var precisions = [Double](repeating: 0, count: order)
        var k = 1
        for i in 0..<order {
            if numerators[i] != 0 {
                precisions[i] = Double(numerators[i]) / Double(denominators[i])
            } else {
                switch smoothing {
                case .method3:
                    precisions[i] = 1 / Double((1 << k) * denominators[i])
                    k += 1
                case .none:
                    precisions[i] = Double.leastNormalMagnitude   // sys.float_info.min
                }
            }
        }
        let logSum = PythonNumerics.fsum(precisions.filter { $0 > 0 }.map { 0.25 * log($0) })
        return brevityPenalty(referenceLength: reference.count, hypothesisLength: hypothesis.count) * exp(logSum)
    }

    /// NLTK's `brevity_penalty(closest_ref_len, hyp_len)`.
    static func brevityPenalty(referenceLength r: Int, hypothesisLength h: Int) -> Double {
        if h > r { return 1 }
        if h == 0 { return 0 }
        return exp(1 - Double(r) / Double(h))
    }

    /// (Σ over hypothesis n-grams of min(count in hypothesis, count in reference), number of hypothesis n-grams).
    static func clippedMatches(reference: [UInt32], hypothesis: [UInt32], n: Int) -> (Int, Int) {
        guard hypothesis.count >= n else { return (0, 0) }
        // n-gram → (count in hypothesis, count in reference); code points are < 2^21, so lanes never collide.
        var counts: [SIMD4<UInt32>: SIMD2<Int32>] = [:]
        counts.reserveCapacity(hypothesis.count)
        hypothesis.withUnsafeBufferPointer { h in
            for i in 0...(h.count - n) { counts[gram(h, i, n), default: .zero].x += 1 }
        }
        if reference.count >= n {
            reference.withUnsafeBufferPointer { r in
                for i in 0...(r.count - n) {
                    let g = gram(r, i, n)
                    if counts[g] != nil { counts[g]!.y += 1 }
                }
            }
        }
        var matched = 0
        for c in counts.values { matched += Int(min(c.x, c.y)) }
        return (matched, hypothesis.count - n + 1)
    }

    @inline(__always)
    static func gram(_ s: UnsafeBufferPointer<UInt32>, _ i: Int, _ n: Int) -> SIMD4<UInt32> {
        var g = SIMD4<UInt32>(repeating: .max)
        for j in 0..<n { g[j] = s[i + j] }
        return g
    }
}
