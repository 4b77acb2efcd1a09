import Foundation
import Testing
import Tokenization
import Transformer
@testable import Session

/// The `format` step: data → template → tokens with EOS trained → split (→ packing).
@Suite struct DataPreparationTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    func settings() -> FormatSettings {
        var s = FormatSettings()
        s.data = Self.repo.appendingPathComponent("notebooks/data/medical-cot-sample.jsonl").path
        s.template = Self.repo.appendingPathComponent("notebooks/templates/medical-cot.txt").path
        s.maxSeqLength = 400
        return s
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
        #expect(d.files["data"] == settings().data && d.files["template"] == settings().template)
        #expect(d.summary.contains("22 training / 2 validation"))
    }

    @Test func packingKeepsEveryTrainedToken() throws {
        var s = settings()
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
        var s = settings()
        s.format = "csv"
        #expect(throws: SessionError.self) { try prepareData(s, tokenizer: try tokenizer()) }
        do { _ = try prepareData(s, tokenizer: try tokenizer()) } catch { #expect("\(error)".hasPrefix("format:")) }
        s = settings(); s.trainOn = "prompt"
        do { _ = try prepareData(s, tokenizer: try tokenizer()); Issue.record("accepted train_on = prompt") }
        catch { #expect("\(error)".hasPrefix("train_on:")) }
        s = settings(); s.data = "/nonexistent/data.jsonl"
        do { _ = try prepareData(s, tokenizer: try tokenizer()); Issue.record("accepted a missing file") }
        catch { #expect("\(error)".contains("/nonexistent/data.jsonl")) }
    }
}
