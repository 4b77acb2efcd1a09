import ArgumentParser
import Foundation
import Metrics

/// `tunelab metrics`: BLEU-4 and ROUGE-1/2/L of two aligned files of JSON strings.
struct MetricsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "BLEU-4 and ROUGE-1/2/L of predictions against references, as LLaMA-Factory computes them.",
        discussion: """
        Each file holds one JSON string per line; line i of --predictions is scored against line i of \
        --references. BLEU-4: NLTK sentence_bleu on characters, smoothing method3; ROUGE: jieba words, \
        rouge-chinese F-scores; each row ×100 rounded to 4 decimals, then averaged (LLaMA-Factory's \
        ComputeSimilarity). jieba's data comes from scripts/setup.sh (models/jieba, or $TUNELAB_JIEBA).
        """)

    @Option(name: .long, help: "File of predicted texts, one JSON string per line.")
    var predictions: String

    @Option(name: .long, help: "File of reference texts, one JSON string per line.")
    var references: String

    @Option(name: .long, help: "Worker threads (default: all cores).")
    var threads: Int?

    @Flag(name: .long, help: "Print {\"bleu4\":…,\"rouge1\":…,\"rouge2\":…,\"rougeL\":…} only.")
    var json = false

    func run() throws {
        let preds: [String], refs: [String]
        do {
            preds = try JSONStringLines.read(path: predictions)
            refs = try JSONStringLines.read(path: references)
        } catch { throw UserError("\(error)") }
        guard preds.count == refs.count else {
            let (short, long) = preds.count < refs.count ? (predictions, references) : (references, predictions)
            throw UserError("\(predictions) has \(preds.count) lines but \(references) has \(refs.count): \(long):\(min(preds.count, refs.count) + 1) has no counterpart in \(short)")
        }
        let jieba: Jieba
        do { jieba = try JiebaData.shared() } catch { throw UserError("\(error)") }
        let similarity = Similarity(jieba: jieba)
        let rows = similarity.rows(predictions: preds, references: refs,
                                   threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
        let scores = similarity.scores(rows)
        if json {
            // Swift's Double description is the shortest round-tripping decimal, as Python's repr.
            print("{" + scores.map { "\"\($0.card.name)\":\($0.value)" }.joined(separator: ",") + "}")
            return
        }
        print("metric   value     rows")
        for s in scores {
            print(s.card.name.padding(toLength: 9, withPad: " ", startingAt: 0)
                  + String(format: "%-10.4f", s.value) + "\(s.rows)")
        }
        print("")
        for s in scores {
            print("""
            \(s.card.name): \(s.card.tokenisation); smoothing: \(s.card.smoothing)
              \(s.card.averaging)
              = \(s.card.equivalence)
            """)
        }
    }
}
