import Foundation

/// LLaMA-Factory's `ComputeSimilarity` (src/llamafactory/train/sft/metric.py): BLEU-4 and ROUGE-1/2/L
/// of predictions against references, per row ×100 rounded to 4 decimals, reported as the mean.
public struct Similarity: Sendable {
    /// The unrounded scores of one row, in 0…1 (what nltk / rouge-chinese return).
    public struct Row: Equatable, Sendable {
        public var bleu4: Double, rouge1: Double, rouge2: Double, rougeL: Double

        /// As LLaMA-Factory stores a row: `round(x * 100, 4)`.
        public var rounded: Row {
            Row(bleu4: PythonNumerics.round(bleu4 * 100), rouge1: PythonNumerics.round(rouge1 * 100),
                rouge2: PythonNumerics.round(rouge2 * 100), rougeL: PythonNumerics.round(rougeL * 100))
        }
        public subscript(_ metric: Metric) -> Double {
            switch metric {
            case .bleu4: bleu4
            case .rouge1: rouge1
            case .rouge2: rouge2
            case .rougeL: rougeL
            }
        }
    }

    public enum Metric: String, CaseIterable, Codable, Sendable { case bleu4, rouge1, rouge2, rougeL }

    public let jieba: Jieba
    /// Off only for negative controls: LLaMA-Factory runs jieba with the HMM and BLEU with method3.
    public var hmm = true
    public var smoothing = BLEU.Smoothing.method3

    public init(jieba: Jieba) { self.jieba = jieba }

    /// One row: `prediction` scored against `reference`.
    public func row(prediction: String, reference: String) -> Row {
        let pred = prediction.unicodeScalars.map(\.value), ref = reference.unicodeScalars.map(\.value)
        let bleu = BLEU.sentenceBLEU(reference: ref, hypothesis: pred, smoothing: smoothing)
        // " ".join(jieba.cut(text)); all three ROUGE scores are 0 when either side has no token after .split().
        let hyp = joinedTokens(pred), refJoined = joinedTokens(ref)
        guard hyp.contains(where: { !PythonNumerics.isWhitespace($0) }),
              refJoined.contains(where: { !PythonNumerics.isWhitespace($0) }) else {
            return Row(bleu4: bleu, rouge1: 0, rouge2: 0, rougeL: 0)
        }
        let r = RougeChinese.scores(hypothesis: hyp, reference: refJoined)
        return Row(bleu4: bleu, rouge1: r.rouge1.f, rouge2: r.rouge2.f, rougeL: r.rougeL.f)
    }

    /// The jieba tokens of `text` joined with single spaces, as code points.
    func joinedTokens(_ text: [UInt32]) -> [UInt32] {
        var out: [UInt32] = []
        out.reserveCapacity(text.count * 2)
        for (k, r) in jieba.cut(text, hmm: hmm).enumerated() {
            if k > 0 { out.append(0x20) }
            out.append(contentsOf: text[r])
        }
        return out
    }

    /// Per-row scores for aligned lists (rows spread over `threads` workers; results in row order).
    public func rows(predictions: [String], references: [String], threads: Int = 1) -> [Row] {
        precondition(predictions.count == references.count)
        let n = predictions.count
        var out = [Row](repeating: Row(bleu4: 0, rouge1: 0, rouge2: 0, rougeL: 0), count: n)
        let workers = max(1, min(threads, n))
        if workers == 1 {
            for i in 0..<n { out[i] = row(prediction: predictions[i], reference: references[i]) }
            return out
        }
        out.withUnsafeMutableBufferPointer { buf in
            let base = UncheckedSendable(buf)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                var i = w
                while i < n {
                    base.value[i] = row(prediction: predictions[i], reference: references[i])
                    i += workers
                }
            }
        }
        return out
    }

    /// The four reported scores: mean over rows of the rounded per-row values (`float(np.mean(v))`),
    /// each with its card.
    public func scores(_ rows: [Row]) -> [MetricScore] {
        Metric.allCases.map { m in
            MetricScore(card: card(m), value: PythonNumerics.mean(rows.map { $0.rounded[m] }), rows: rows.count)
        }
    }

    /// The card describing how `metric` is computed by this configuration.
    public func card(_ metric: Metric) -> MetricCard {
        MetricCard.similarity(metric, jiebaVersion: jieba.version, hmm: hmm, smoothing: smoothing)
    }
}

struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
