import Foundation

/// How a score was computed. Two scores are comparable only when their cards are equal: the same
/// number from a different tokenisation, smoothing or averaging is a different quantity.
public struct MetricCard: Codable, Hashable, Sendable {
    /// The score's name ("bleu4", "rouge1", "think_format", …).
    public var name: String
    /// What the text is split into before counting ("Unicode code points (spaces included)", "jieba …").
    public var tokenisation: String
    /// Smoothing of zero counts ("NLTK method3", "none").
    public var smoothing: String
    /// How rows become the one number ("mean of per-row scores, each ×100 rounded to 4 d.p.").
    public var averaging: String
    /// The library computation this reproduces, with its version ("nltk 3.9.1 sentence_bleu …").
    public var equivalence: String

    public init(name: String, tokenisation: String, smoothing: String, averaging: String, equivalence: String) {
        self.name = name
        self.tokenisation = tokenisation
        self.smoothing = smoothing
        self.averaging = averaging
        self.equivalence = equivalence
    }
}

/// The reference libraries the metrics reproduce (also pinned in scripts/requirements-ref.txt and
/// checked against Tests/Fixtures/metrics/parity.json).
public enum ReferenceVersions {
    public static let nltk = "3.9.1"
    public static let rougeChinese = "1.0.3"
    public static var jieba: String { JiebaData.expectedVersion }
}

extension MetricCard {
    static let llamaFactoryAveraging = "mean of per-row scores, each ×100 rounded to 4 d.p. (np.mean)"

    /// Cards of LLaMA-Factory's ComputeSimilarity scores (and of the negative-control variants).
    public static func similarity(_ metric: Similarity.Metric, jiebaVersion: String = ReferenceVersions.jieba,
                                  hmm: Bool = true, smoothing: BLEU.Smoothing = .method3) -> MetricCard {
        switch metric {
        case .bleu4:
            return MetricCard(
                name: metric.rawValue, tokenisation: "Unicode code points (spaces included)",
                smoothing: smoothing == .method3 ? "NLTK method3" : "none (NLTK method0)", averaging: llamaFactoryAveraging,
                equivalence: "nltk \(ReferenceVersions.nltk) sentence_bleu([list(ref)], list(pred)), weights 0.25×4, as LLaMA-Factory ComputeSimilarity")
        case .rouge1, .rouge2, .rougeL:
            let n = metric == .rouge1 ? "rouge-1" : metric == .rouge2 ? "rouge-2" : "rouge-l"
            return MetricCard(
                name: metric.rawValue,
                tokenisation: "jieba \(jiebaVersion) default mode, HMM \(hmm ? "on" : "off"), tokens joined by spaces",
                smoothing: "none", averaging: llamaFactoryAveraging,
                equivalence: "rouge-chinese \(ReferenceVersions.rougeChinese) Rouge().get_scores(hyp, ref)[0][\"\(n)\"][\"f\"] (0 if either side has no token), as LLaMA-Factory ComputeSimilarity")
        }
    }
}

/// One reported number with its card.
public struct MetricScore: Codable, Equatable, Sendable {
    public var card: MetricCard
    public var value: Double
    /// Rows it was computed from.
    public var rows: Int

    public init(card: MetricCard, value: Double, rows: Int) {
        self.card = card
        self.value = value
        self.rows = rows
    }

    /// `other.value − value` when the cards match; an error naming the first differing field otherwise.
    public func difference(to other: MetricScore) throws -> Double {
        guard card == other.card else {
            let fields: [(String, KeyPath<MetricCard, String>)] = [
                ("name", \.name), ("tokenisation", \.tokenisation), ("smoothing", \.smoothing),
                ("averaging", \.averaging), ("equivalence", \.equivalence)]
            let (field, path) = fields.first { card[keyPath: $0.1] != other.card[keyPath: $0.1] }!
            throw MetricsError("\(card.name) scores are not comparable: \(field) differs (\"\(card[keyPath: path])\" vs \"\(other.card[keyPath: path])\")")
        }
        return other.value - value
    }
}
