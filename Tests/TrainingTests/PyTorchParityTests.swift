import Foundation
import Kernels
import ModelFiles
import Testing
import Transformer
@testable import Training

/// SmolLM2 (the Q4_1 GGUF, dequantised identically by transformers) with a PEFT adapter of
/// random A and B, against PyTorch + PEFT (scripts/make_lora_parity_references.py →
/// Tests/Fixtures/lora_parity): the loss, every LoRA gradient, and ten AdamW steps.
@Suite(.serialized) struct PyTorchParityTests {
    static let dir = TinyModels.root.appendingPathComponent("lora_parity").path
    static let modelPath = TinyModels.root.deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path

    func setup() throws -> (LanguageModel, LoRAAdapter, [TrainSequence], [String: Any]) {
        let lm = try LanguageModel.load(Self.modelPath)
        let adapter = try LoRAAdapter.load(directory: Self.dir, model: lm.config)
        let batch = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.dir + "/batch.json"))) as? [String: Any])
        let seqs = (batch["sequences"] as! [[String: Any]]).map { TrainSequence(ids: $0["ids"] as! [Int], labels: $0["labels"] as! [Int]) }
        let meta = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.dir + "/meta.json"))) as? [String: Any])
        return (lm, adapter, seqs, meta)
    }

    @Test func lossAndEveryLoRAGradientMatchPEFT() throws {
        let (lm, adapter, seqs, meta) = try setup()
        let count = seqs.reduce(0) { $0 + $1.trainedTokens }
        #expect(count == meta["trained_tokens"] as? Int)
        let m = try LoRAModel(weights: lm.weights, adapter: adapter)
        var rng = SeededRNG(seed: 0)
        m.zeroGrads()
        let r = try m.run(seqs, gradScale: 1 / Float(count), dropoutRNG: &rng)
        let loss = r.loss / Double(count), ref = meta["loss"] as! Double
        let lossRel = abs(loss - ref) / ref
        #expect(lossRel < 1e-4, "loss \(loss) vs PyTorch \(ref)")
        let (worst, worstName) = try Self.worstGradientError(m, reference: Self.dir + "/grads.safetensors")
        #expect(worst < 1e-3, "worst gradient \(worstName): relative L2 error \(worst)")
        print("SmolLM2 LoRA parity: loss rel \(lossRel), worst of 420 gradients rel L2 \(worst) (\(worstName))")
    }

    /// The largest relative L2 error of the model's LoRA gradients against a safetensors file of PEFT-named ones.
    static func worstGradientError(_ m: LoRAModel, reference path: String) throws -> (Double, String) {
        let all = try gradientErrors(m, reference: path)
        let worst = all.max { $0.value < $1.value }!
        return (worst.value, worst.key)
    }

    /// The relative L2 error of each LoRA gradient, by PEFT name.
    static func gradientErrors(_ m: LoRAModel, reference path: String) throws -> [String: Double] {
        let grads = try SafetensorsArchive(path: path)
        var out: [String: Double] = [:]
        for (i, key) in m.keys.enumerated() {
            for (j, factor) in ["A", "B"].enumerated() {
                let name = LoRAAdapter.peftTensorName(layer: key.layer, target: key.target, factor: factor)
                let t = try #require(grads.tensors[name], "no reference gradient \(name)")
                var want = [Float](repeating: 0, count: t.count)
                want.withUnsafeMutableBufferPointer { dequantize(t.type, t.data, count: t.count, into: $0.baseAddress!) }
                let got = m.grads[2 * i + j]
                #expect(got.count == want.count)
                var num = 0.0, den = 0.0
                for (a, b) in zip(got, want) { num += Double(a - b) * Double(a - b); den += Double(b) * Double(b) }
                out[name] = (num / max(den, 1e-30)).squareRoot()
            }
        }
        return out
    }

    /// compute_dtype = bf16 against PyTorch computing the same thing (frozen products on
    /// bf16-rounded operands with fp32 sums: scripts/make_bf16_parity_references.py). bf16 is
    /// chaotic at its own precision, so two correct implementations differ by bf16 noise; the
    /// reference measures that noise (the same model with float64 sums) and the bounds are twice
    /// it. This catches gross errors (wrong operands, layouts, rounding mode) but cannot tell bf16
    /// from fp32 (fp32 is within the same noise); that each product computes exactly the bf16
    /// semantics is checked in `FrozenBF16Tests` and `BF16Tests`, and that a bf16 run differs
    /// from an fp32 one in `TrainerTests`.
    @Test func bf16ComputeMatchesItsPyTorchReference() throws {
        let (lm, adapter, seqs, meta) = try setup()
        let ref = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.dir + "/bf16.json"))) as? [String: Any])
        let noise = try #require(ref["noise_floor"] as? [String: Any])
        let count = seqs.reduce(0) { $0 + $1.trainedTokens }
        #expect(count == ref["trained_tokens"] as? Int)
        let m = try LoRAModel(weights: lm.weights, adapter: adapter, computeDType: .bf16)
        var rng = SeededRNG(seed: 0)
        m.zeroGrads()
        let r = try m.run(seqs, gradScale: 1 / Float(count), dropoutRNG: &rng)
        let loss = r.loss / Double(count), want = ref["loss"] as! Double, fp32 = meta["loss"] as! Double
        let lossRel = abs(loss - want) / want
        #expect(lossRel <= 2 * (noise["loss_rel_diff"] as! Double), "bf16 loss \(loss) vs PyTorch bf16 \(want) (fp32: \(fp32))")
        let errors = try Self.gradientErrors(m, reference: Self.dir + "/bf16_grads.safetensors")
        let sorted = errors.values.sorted(), median = sorted[sorted.count / 2], worst = sorted.last!
        #expect(median <= 2 * (noise["grad_rel_l2_diff_median"] as! Double), "median gradient relative L2 error \(median)")
        #expect(worst <= 2 * (noise["grad_rel_l2_diff_max"] as! Double), "worst gradient relative L2 error \(worst)")
        let fromFP32 = try Self.gradientErrors(m, reference: Self.dir + "/grads.safetensors").values.sorted()
        print("SmolLM2 bf16 parity: loss rel \(lossRel), gradient rel L2 median \(median) worst \(worst);"
              + " the same against the fp32 reference: median \(fromFP32[fromFP32.count / 2]) worst \(fromFP32.last!)")
    }

    @Test func tenAdamWStepsFollowPyTorch() throws {
        let (lm, adapter, seqs, _) = try setup()
        let steps = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.dir + "/steps.json"))) as? [String: Any])
        let ref = steps["steps"] as! [[String: Any]]
        var c = TrainConfig.fixture
        c.lora = adapter.config
        c.batchSize = 2; c.gradAccum = 1; c.lr = 2e-3; c.scheduler = .linear; c.warmupSteps = 2; c.maxSteps = 10
        c.weightDecay = 0.01; c.maxGradNorm = 0.5; c.saveEvery = 0
        let t = try Trainer(weights: lm.weights, train: seqs, config: c, outputDirectory: nil, baseModelName: "smollm2",
                            initialAdapter: adapter)
        #expect(try t.run(shouldStop: { false }) == .completed)
        var worstLoss = 0.0, worstNorm = 0.0
        for (m, r) in zip(t.history, ref) {
            #expect(m.lr == r["lr"] as! Double)
            worstLoss = max(worstLoss, abs(m.loss - (r["loss"] as! Double)) / (r["loss"] as! Double))
            worstNorm = max(worstNorm, abs(m.gradNorm - (r["grad_norm"] as! Double)) / (r["grad_norm"] as! Double))
        }
        #expect(t.history.count == 10)
        #expect(worstLoss < 1e-3 && worstNorm < 1e-3, "loss rel \(worstLoss), grad-norm rel \(worstNorm)")
        print("SmolLM2 10 AdamW steps: losses within \(worstLoss), grad norms within \(worstNorm) of PyTorch (\(t.history.first!.loss) → \(t.history.last!.loss))")
    }
}

/// A frozen projection computed in bf16 equals the exact product of the bf16-rounded input and
/// dequantised weight (plus the bias, which stays fp32), forward and input-gradient, up to fp32
/// accumulation: on SmolLM2's real Q4_1 weights (q: 576 → 576, gate: 576 → 1536, down:
/// 1536 → 576, the tied head) and on the tiny Qwen2's biased q/k/v (BF16 file, F32 biases).
@Suite struct FrozenBF16Tests {
    static func check(_ name: String, _ w: Linear, m: Int = 37) {
        Parallel.workers = 2
        var rng = SeededRNG(seed: 3)
        let x = (0..<(m * w.cols)).map { _ in rng.nextFloat() * 4 - 2 }
        let dy = (0..<(m * w.rows)).map { _ in rng.nextFloat() * 2 - 1 }
        var wf = [Float](repeating: 0, count: w.rows * w.cols)
        wf.withUnsafeMutableBufferPointer { w.dequantizeRows(0, w.rows, into: $0.baseAddress!) }
        let wr = wf.map { Double(BF16.float(BF16.round($0))) }
        let f = FrozenLinear(linear: w, scratch: Scratch(), bf16: BF16Base())
        var y = [Float](repeating: 0, count: m * w.rows), dx = [Float](repeating: 0.5, count: m * w.cols)
        try! f.forward(x, m: m, &y)
        try! f.backwardInput(dy, m: m, &dx)
        var worstY = 0.0, worstDX = 0.0, scaleY = 0.0, scaleDX = 0.0
        for i in 0..<m {
            let xr = (0..<w.cols).map { Double(BF16.float(BF16.round(x[i * w.cols + $0]))) }
            for r in 0..<w.rows {
                var s = Double(w.bias?[r] ?? 0)
                for j in 0..<w.cols { s += xr[j] * wr[r * w.cols + j] }
                worstY = max(worstY, abs(Double(y[i * w.rows + r]) - s)); scaleY = max(scaleY, abs(s))
            }
            let dyr = (0..<w.rows).map { Double(BF16.float(BF16.round(dy[i * w.rows + $0]))) }
            for j in 0..<w.cols {
                var s = 0.5
                for r in 0..<w.rows { s += dyr[r] * wr[r * w.cols + j] }
                worstDX = max(worstDX, abs(Double(dx[i * w.cols + j]) - s)); scaleDX = max(scaleDX, abs(s))
            }
        }
        #expect(worstY <= 1e-5 * scaleY, "\(name) forward: \(worstY) of \(scaleY)")
        #expect(worstDX <= 1e-5 * scaleDX, "\(name) input gradient: \(worstDX) of \(scaleDX)")
    }

    @Test func smolLM2Q41Weights() throws {
        let lm = try LanguageModel.load(PyTorchParityTests.modelPath)
        let L = lm.weights.layers[3]
        for (name, w) in [("q", L.q), ("gate", L.gate), ("down", L.down), ("head", lm.weights.lmHead)] { Self.check(name, w) }
    }

    @Test func qwen2BiasedProjections() throws {
        let lm = try TinyModels.load("tiny-qwen2")
        let L = lm.weights.layers[0]
        #expect(L.q.bias != nil && L.k.bias != nil && L.v.bias != nil)
        for (name, w) in [("q", L.q), ("k", L.k), ("v", L.v), ("o", L.o)] { Self.check("tiny-qwen2 \(name)", w, m: 5) }
    }
}
