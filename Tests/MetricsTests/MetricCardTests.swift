import Foundation
import Testing
@testable import Metrics

@Suite struct MetricCardTests {
    @Test func scoresRoundTripThroughJSON() throws {
        let s = MetricScore(card: .similarity(.rougeL), value: 29.31179023746702, rows: 379)
        let back = try JSONDecoder().decode(MetricScore.self, from: try JSONEncoder().encode(s))
        #expect(back == s)
        #expect(s.card.tokenisation.contains("jieba 0.42.1") && s.card.equivalence.contains("rouge-chinese 1.0.3"))
        #expect(MetricCard.similarity(.bleu4).smoothing == "NLTK method3")
        #expect(MetricCard.similarity(.bleu4).equivalence.contains("nltk 3.9.1"))
    }

    @Test func onlyMatchingCardsCompare() throws {
        let a = MetricScore(card: .similarity(.bleu4), value: 20, rows: 10)
        let b = MetricScore(card: .similarity(.bleu4), value: 25, rows: 64)
        #expect(try a.difference(to: b) == 5)
        let c = MetricScore(card: .similarity(.bleu4, smoothing: .none), value: 25, rows: 10)
        #expect(throws: MetricsError.self) { try a.difference(to: c) }
        do { _ = try a.difference(to: c) } catch {
            #expect("\(error)".contains("smoothing differs"), "\(error)")
        }
        let d = MetricScore(card: .similarity(.rouge1, hmm: false), value: 1, rows: 1)
        do { _ = try MetricScore(card: .similarity(.rouge1), value: 1, rows: 1).difference(to: d) } catch {
            #expect("\(error)".contains("tokenisation differs"), "\(error)")
        }
    }
}
