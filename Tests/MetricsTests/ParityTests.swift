import Foundation
import Testing
@testable import Metrics

/// One fixture pair with its texts rebuilt (recipe) or read (edge case).
struct ParityPair {
    let index: Int
    let group: String
    let prediction: String, reference: String
    let predictionSide: [String: Any], referenceSide: [String: Any]
    let raw: [String: Double], rounded: [String: Double]
}

/// The fixture's scores are repr strings: Swift's Double(String) reads them exactly (Foundation's JSON numbers do not).
func exactDoubles(_ v: Any?) -> [String: Double] { (v as! [String: String]).mapValues { Double($0)! } }

let parityPairs: [ParityPair] = {
    let pairs = parityFixture["pairs"] as! [[String: Any]]
    return pairs.enumerated().map { i, p in
        let ps = p["prediction"] as! [String: Any], rs = p["reference"] as! [String: Any]
        return ParityPair(index: i, group: p["group"] as! String,
                          prediction: try! text(of: ps), reference: try! text(of: rs),
                          predictionSide: ps, referenceSide: rs,
                          raw: exactDoubles(p["raw"]), rounded: exactDoubles(p["rounded"]))
    }
}()

/// How far a configuration of `Similarity` is from the reference on every pair.
struct ParityReport: CustomStringConvertible {
    var maxAbs: [Similarity.Metric: Double] = [:]           // |Δ| of the ×100 unrounded scores
    var worstPair: [Similarity.Metric: Int] = [:]
    var roundedMismatches: [Similarity.Metric: Int] = [:]   // rows whose rounded value differs
    var exact = 0                                           // pairs equal in all four, bit for bit
    var means: [Similarity.Metric: Double] = [:]

    var description: String {
        Similarity.Metric.allCases.map { m in
            "\(m.rawValue): max |Δ| \(maxAbs[m] ?? 0) (pair \(worstPair[m] ?? -1)), rounded mismatches \(roundedMismatches[m] ?? 0)"
        }.joined(separator: "; ") + "; bit-identical pairs \(exact)"
    }

    init(_ sim: Similarity, _ pairs: [ParityPair]) {
        let rows = sim.rows(predictions: pairs.map(\.prediction), references: pairs.map(\.reference), threads: 2)
        for (p, row) in zip(pairs, rows) {
            var allExact = true
            for m in Similarity.Metric.allCases {
                let d = abs(row[m] * 100 - p.raw[m.rawValue]! * 100)
                if d > (maxAbs[m] ?? -1) { maxAbs[m] = d; worstPair[m] = p.index }
                if row.rounded[m] != p.rounded[m.rawValue]! { roundedMismatches[m, default: 0] += 1 }
                if row[m] != p.raw[m.rawValue]! { allExact = false }
            }
            if allExact { exact += 1 }
        }
        for s in sim.scores(rows) { means[Similarity.Metric(rawValue: s.card.name)!] = s.value }
    }
}

@Suite struct ParityTests {
    @Test func fixtureCoversEnoughPairs() {
        let groups = Dictionary(grouping: parityPairs, by: { $0.group.prefix(2) }).mapValues(\.count)
        #expect(parityPairs.count >= 300)
        #expect(groups["en"]! >= 100 && groups["zh"]! >= 150 && groups["ed"]! >= 40, "\(groups)")
    }

    @Test func versionsAndWhitespaceMatchTheReference() {
        let v = parityFixture["versions"] as! [String: String]
        #expect(v["nltk"] == ReferenceVersions.nltk)
        #expect(v["rouge-chinese"] == ReferenceVersions.rougeChinese)
        #expect(v["jieba"] == ReferenceVersions.jieba)
        #expect(testJieba.version == ReferenceVersions.jieba)
        let python = Set((parityFixture["python_whitespace"] as! [Int]).map(UInt32.init))
        let ours = Set((0...0x10FFFF).map(UInt32.init).filter(PythonNumerics.isWhitespace))
        #expect(ours == python)
    }

    /// The recipe rebuilds the very texts the reference scored (JSON parsing, code-point slicing).
    @Test func recipesRebuildTheReferenceTexts() {
        for p in parityPairs {
            #expect(sha256Hex(p.prediction) == p.predictionSide["sha256"] as? String, "pair \(p.index) prediction")
            #expect(sha256Hex(p.reference) == p.referenceSide["sha256"] as? String, "pair \(p.index) reference")
        }
    }

    @Test func jiebaSegmentsEveryPairTextAsJieba() {
        var mismatches: [String] = []
        for p in parityPairs {
            for (name, t, side) in [("prediction", p.prediction, p.predictionSide), ("reference", p.reference, p.referenceSide)] {
                let tokens = testJieba.cut(t)
                if tokensSHA256(tokens) != side["tokens_sha256"] as? String || tokens.count != side["tokens"] as? Int {
                    mismatches.append("pair \(p.index) \(name) (\(p.group)): \(tokens.count) tokens vs \(side["tokens"]!); \(tokens.prefix(30))")
                }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) texts segmented differently:\n\(mismatches.prefix(5).joined(separator: "\n"))")
        print("jieba parity: \(2 * parityPairs.count) pair texts, \(mismatches.count) differ")
    }

    /// Every Chinese text field of every row of the Chinese data files (4,300 texts).
    @Test func jiebaSegmentsEveryChineseRowAsJieba() throws {
        var total = 0, differ: [String] = []
        for entry in parityFixture["segmentation"] as! [[String: Any]] {
            let file = entry["file"] as! String, path = entry["field"] as! String
            let rows = try sharedRows(file)
            let digests = entry["tokens_sha256_16"] as! [String]
            #expect(rows.count == digests.count)
            for (i, row) in rows.enumerated() {
                total += 1
                let t = field(row, path)
                if tokensSHA256(testJieba.cut(t)).prefix(16) != digests[i] { differ.append("\(file) row \(i) \(path)") }
            }
        }
        #expect(total >= 4000)
        #expect(differ.isEmpty, "\(differ.count) of \(total) differ, first: \(differ.prefix(5))")
        print("jieba parity: \(total) data-set texts, \(differ.count) differ")
    }

    /// Within 1e-6 unrounded (×100), rounded values equal, the reported means equal np.mean's bits.
    @Test func scoresMatchLLaMAFactory() {
        let report = ParityReport(Similarity(jieba: testJieba), parityPairs)
        print("parity (\(parityPairs.count) pairs): \(report)")
        let means = exactDoubles(parityFixture["means"])
        for m in Similarity.Metric.allCases {
            #expect(report.maxAbs[m]! <= 1e-6, "\(m): \(report)")
            #expect(report.roundedMismatches[m, default: 0] == 0, "\(m): \(report)")
            #expect(report.means[m] == means[m.rawValue], "\(m) mean \(report.means[m]!) vs \(means[m.rawValue]!)")
        }
    }

    /// The same comparison fails when the computation deviates from LLaMA-Factory's.
    @Test func negativeControlsFail() {
        var noHMM = Similarity(jieba: testJieba)
        noHMM.hmm = false
        let a = ParityReport(noHMM, parityPairs)
        print("negative control, HMM off: \(a)")
        #expect(a.maxAbs[.rouge1]! > 1e-3 && a.roundedMismatches[.rougeL, default: 0] > 10)
        #expect(a.maxAbs[.bleu4]! <= 1e-6)     // BLEU does not use jieba

        var noSmoothing = Similarity(jieba: testJieba)
        noSmoothing.smoothing = .none
        let b = ParityReport(noSmoothing, parityPairs)
        print("negative control, NLTK method0 instead of method3: \(b)")
        #expect(b.maxAbs[.bleu4]! > 1 && b.roundedMismatches[.bleu4, default: 0] > 10)

        #expect(noHMM.card(.rouge1) != Similarity(jieba: testJieba).card(.rouge1))
        #expect(noSmoothing.card(.bleu4) != Similarity(jieba: testJieba).card(.bleu4))
        #expect(noSmoothing.card(.rouge1) == Similarity(jieba: testJieba).card(.rouge1))
    }
}
