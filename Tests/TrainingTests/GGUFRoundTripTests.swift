import Foundation
import Testing
import ModelFiles
@testable import Training
import Transformer

/// The export cell's round trip: a correct file reads back to logits equal (bit for bit) to the
/// merged weights encoded in memory, and the check catches files that are wrong.
@Suite struct GGUFRoundTripTests {
    static func tiny(_ name: String) throws -> (LanguageModel, LoRAAdapter) {
        let base = try LanguageModel.load(PEFTFixtures.path(name))
        return (base, try LoRAAdapter.load(directory: PEFTFixtures.path("peft/\(name)/adapter"), model: base.config))
    }

    @Test(arguments: ["tiny-llama3", "tiny-qwen2"], GGUFQuant.allCases)
    func aCorrectExportReadsBackEqual(_ model: String, _ quant: GGUFQuant) throws {
        let (base, adapter) = try Self.tiny(model)
        let path = try PEFTFixtures.tempDir("rt") + "/m.gguf"
        _ = try exportGGUF(model: base, adapter: adapter, to: path, options: GGUFExportOptions(quant: quant))
        let r = try checkMergedGGUF(at: path, base: base, adapter: adapter, quant: quant)
        #expect(r.passed, "\(r.summary)")
        #expect(r.fileMaxAbs == 0)
        // The encoding's own cost is measured, and is that of the weight type.
        if quant == .f32 { #expect(r.maxAbs < 1e-3 && r.greedySame, "\(r.summary)") }
        if quant == .q4_0 { #expect(r.maxAbs > 0) }
    }

    /// Negative controls: Llama's Q/K rows left in HF order; the adapter left out; one weight
    /// byte changed on disk. Each is caught.
    @Test func aWrongExportIsCaught() throws {
        let (base, adapter) = try Self.tiny("tiny-llama3")
        let dir = try PEFTFixtures.tempDir("rt-wrong")
        _ = try exportGGUF(model: base, adapter: adapter, to: dir + "/p.gguf", options: GGUFExportOptions(quant: .f32), permuteQK: false)
        let unpermuted = try checkMergedGGUF(at: dir + "/p.gguf", base: base, adapter: adapter, quant: .f32)
        #expect(!unpermuted.passed && unpermuted.summary.contains("differ from the merged weights"), "\(unpermuted.summary)")

        _ = try exportGGUF(model: base, adapter: nil, to: dir + "/n.gguf", options: GGUFExportOptions(quant: .q8_0))
        let noAdapter = try checkMergedGGUF(at: dir + "/n.gguf", base: base, adapter: adapter, quant: .q8_0)
        #expect(!noAdapter.passed && noAdapter.fileMaxAbs > 0)

        _ = try exportGGUF(model: base, adapter: adapter, to: dir + "/c.gguf", options: GGUFExportOptions(quant: .f16))
        let g = try GGUFFile(path: dir + "/c.gguf")
        let head = Data(bytes: try g.tensor("blk.0.attn_v.weight").data, count: 64)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/c.gguf"))
        let at = try #require(bytes.range(of: head)).lowerBound
        bytes[at + 1] ^= 0x40   // the high byte of an f16 weight
        try bytes.write(to: URL(fileURLWithPath: dir + "/c.gguf"))
        let flipped = try checkMergedGGUF(at: dir + "/c.gguf", base: base, adapter: adapter, quant: .f16)
        #expect(!flipped.passed, "\(flipped.summary)")
    }

    @Test func theLoRAGGUFReadsBackExactlyAndAChangedValueIsNamed() throws {
        let (base, adapter) = try Self.tiny("tiny-llama3")
        let path = try PEFTFixtures.tempDir("rt-lora") + "/a.gguf"
        _ = try exportLoRAGGUF(adapter: adapter, model: base, to: path)
        let ok = try checkLoRAGGUF(at: path, adapter: adapter, model: base)
        #expect(ok.passed && ok.tensorsCompared == 2 * adapter.keys.count, "\(ok.summary)")
        // The adapter the file is checked against differs in one value of layer 1's q B.
        var other = adapter
        other.layers[1][.q]!.b[3] += 1
        let bad = try checkLoRAGGUF(at: path, adapter: other, model: base)
        #expect(!bad.passed && bad.summary.contains("blk.1.attn_q.weight.lora_b differs"), "\(bad.summary)")
    }
}
