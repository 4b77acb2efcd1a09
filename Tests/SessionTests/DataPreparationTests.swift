import Foundation
import Testing
import Tokenization
import Transformer
import Notebook
@testable import Session

/// The `format` step: data → template → tokens with EOS trained → split (→ packing).
@Suite struct DataPreparationTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    func settings() throws -> FormatConfig {
        try CellConfigs.format(["data": .string(Self.repo.appendingPathComponent("notebooks/data/medical-cot-sample.jsonl").path),
                                "template": .string(Self.repo.appendingPathComponent("notebooks/templates/medical-cot.txt").path),
                                "max_seq_length": .int(400)])
    }
    func tokenizer() throws -> Tokenizer {
        try LanguageModel.loadTokenizer(Self.repo.appendingPathComponent("Tests/Fixtures/tiny-llama3").path)
    }

    @Test func splitsTokenisesAndTrainsTheEOS() throws {
        let tok = try tokenizer()
        let d = try prepareData(settings(), tokenizer: tok)
        #expect(d.train.count + d.validation.count == 24)
        #expect(d.validation.count == 2 && d.validationRows.count == 2)
        let eos = try #require(tok.eosTokenId)
        for s in d.train where s.ids.count < 400 {
            // The last trained target is EOS: the model learns to stop.
            #expect(s.targets.last(where: { $0 != -100 }) == eos)
        }
        let s = try settings()
        #expect(d.files["data"] == s.data && d.files["template"] == s.template)
        #expect(d.summary.contains("22 training / 2 validation"))
    }

    @Test func packingKeepsEveryTrainedToken() throws {
        var s = try settings()
        s.valFraction = 0
        s.maxSeqLength = 1200
        let plain = try prepareData(s, tokenizer: try tokenizer())
        s.packing = true
        let packed = try prepareData(s, tokenizer: try tokenizer())
        #expect(packed.train.count < plain.train.count)
        #expect(packed.train.reduce(0) { $0 + $1.trainedTokens } == plain.train.reduce(0) { $0 + $1.trainedTokens })
        #expect(packed.train.allSatisfy { $0.ids.count <= 1200 })
        #expect(packed.train.contains { $0.segments.count > 1 })
    }

    @Test func badSettingsSayWhichKey() throws {
        // Each bad value is refused where the cell is built, naming the key (or flag) that set it.
        func refusal(_ o: [String: ParamValue], flags: [String: String] = [:]) -> String {
            do { _ = try CellConfigs.format(o, flags: flags); return "accepted" } catch { return "\(error)" }
        }
        #expect(refusal(["format": .string("csv")]).hasPrefix("format.format: 'csv' is not one of auto, medical-o1"))
        #expect(refusal(["train_on": .string("prompt")]).hasPrefix("format.train_on:"))
        #expect(refusal(["format": .string("mapping")]).hasPrefix("format.columns:"))
        #expect(refusal(["columns": .string("question=q")]).hasPrefix("format.columns: only used with format = \"mapping\""))
        #expect(refusal(["split": .string("train[0:x]")], flags: ["split": "--split"]).hasPrefix("--split (format.split):"))
        #expect(refusal(["template": .string("/nonexistent/t.txt")]).contains("/nonexistent/t.txt: no such template file"))
        var s = try settings(); s.data = "/nonexistent/data.jsonl"
        do { _ = try prepareData(s, tokenizer: try tokenizer()); Issue.record("accepted a missing file") }
        catch { #expect("\(error)".contains("/nonexistent/data.jsonl")) }
    }
}
