import Foundation
import Kernels
import Testing
import Transformer
@testable import Training

/// Whole-model checks of the LoRA trainer on the tiny fixture models (Llama-3 F16, Qwen2 BF16
/// with q/k/v biases, and both as quantised GGUF = the QLoRA path).

enum TinyModels {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures").standardized
    static func load(_ name: String) throws -> LanguageModel {
        let path = name.hasSuffix(".gguf") ? root.appendingPathComponent("tiny-gguf/\(name)").path
                                           : root.appendingPathComponent(name).path
        return try LanguageModel.load(path)
    }

    /// Random sequences: the first ~40% is prompt (label −100), the rest is trained.
    static func sequences(_ n: Int, lengths: ClosedRange<Int>, vocab: Int, seed: UInt64) -> [TrainSequence] {
        var rng = SeededRNG(seed: seed)
        return (0..<n).map { _ in
            let len = lengths.lowerBound + Int(rng.next() % UInt64(lengths.count))
            let ids = (0..<len).map { _ in Int(rng.next() % UInt64(vocab)) }
            let p = len * 2 / 5
            let labels = ids.enumerated().map { $0.offset < p ? -100 : $0.element }
            return TrainSequence(ids: ids, labels: labels)
        }
    }

    /// An adapter with PEFT's A and a random nonzero B, so both factors get gradients.
    static func adapter(_ lm: LanguageModel, rank: Int = 4, alpha: Double = 8, seed: UInt64 = 7,
                        targets: [LoRATarget] = LoRATarget.allCases, rsLoRA: Bool = false) throws -> LoRAAdapter {
        var rng = SeededRNG(seed: seed)
        var a = try LoRAAdapter.initialized(config: LoRAConfig.fixture(rank: rank, alpha: alpha, targets: targets, useRSLoRA: rsLoRA),
                                            model: lm.config, rng: &rng)
        for i in a.layers.indices {
            for t in a.config.targets {
                let n = a.layers[i][t]!.b.count
                a.layers[i][t]!.b = (0..<n).map { _ in (rng.nextFloat() * 2 - 1) * 0.05 }
            }
        }
        return a
    }
}

private func meanLoss(_ m: LoRAModel, _ batch: [TrainSequence]) throws -> Double {
    var rng = SeededRNG(seed: 0)
    let r = try m.run(batch, backward: false, dropoutRNG: &rng)
    return r.loss / Double(r.count)
}

@Suite struct LoRAModelGradientTests {
    /// Directional derivative of the mean loss along a random direction over one target's A and
    /// B in every layer, against central differences; per target, so a wrong term in any
    /// projection's path shows. Float32 forward, so the tolerance is 2%; the check must reject
    /// the same gradient scaled by 1.1.
    @Test(arguments: ["tiny-llama3", "tiny-qwen2", "tiny-llama3.gguf", "tiny-qwen2.gguf"])
    func directionalDerivativesMatchFiniteDifferences(model name: String) throws {
        let lm = try TinyModels.load(name)
        let adapter = try TinyModels.adapter(lm)
        let m = try LoRAModel(weights: lm.weights, adapter: adapter)
        let batch = TinyModels.sequences(3, lengths: 12...40, vocab: lm.config.vocabSize, seed: 11)
        var rng = SeededRNG(seed: 1)
        m.zeroGrads()
        let r = try m.run(batch, gradScale: 1, dropoutRNG: &rng)
        let count = Double(r.count)
        var worst = 0.0
        for target in LoRATarget.allCases {
            var dirRNG = SeededRNG(seed: 100 + UInt64(target.index))
            let idx = m.keys.indices.filter { m.keys[$0].target == target }
            var dirs: [Int: [Float]] = [:]
            var analytic = 0.0
            for i in idx {
                for p in [2 * i, 2 * i + 1] {
                    let u = (0..<m.params[p].count).map { _ in dirRNG.nextFloat() * 2 - 1 }
                    dirs[p] = u
                    for j in u.indices { analytic += Double(u[j]) * Double(m.grads[p][j]) / count }
                }
            }
            let eps: Float = 2e-3
            let saved = m.params
            func shifted(_ s: Float) throws -> Double {
                for (p, u) in dirs { for j in u.indices { m.params[p][j] = saved[p][j] + s * u[j] } }
                defer { m.params = saved }
                return try meanLoss(m, batch)
            }
            let numeric = (try shifted(eps) - shifted(-eps)) / Double(2 * eps)
            let rel = abs(analytic - numeric) / max(abs(numeric), 1e-6)
            worst = max(worst, rel)
            #expect(rel < 2e-2, "\(name) \(target): analytic \(analytic), numeric \(numeric)")
            #expect(abs(1.1 * analytic - numeric) / abs(numeric) > 2e-2, "\(name) \(target): the check cannot tell a 10% error")
        }
        print("\(name): worst relative error of the 7 directional derivatives \(worst)")
    }

    /// Recomputing each layer (or only the attention probabilities) in the backward gives
    /// bit-identical gradients; with dropout the recomputed layer must draw the same masks.
    @Test(arguments: [("tiny-qwen2", 0.0), ("tiny-llama3", 0.1)])
    func gradientCheckpointingGivesTheSameGradients(model: String, dropout: Double) throws {
        let lm = try TinyModels.load(model)
        var adapter = try TinyModels.adapter(lm)
        adapter.config.dropout = dropout
        let batch = TinyModels.sequences(2, lengths: 20...30, vocab: lm.config.vocabSize, seed: 5)
        var results: [[[Float]]] = []
        // Kept attention probabilities, recomputed ones (cache budget 0), whole-layer recompute.
        for (ckpt, cacheBytes) in [(false, 1 << 30), (false, 0), (true, 1 << 30)] {
            let m = try LoRAModel(weights: lm.weights, adapter: adapter, gradientCheckpointing: ckpt)
            m.attentionCacheBytes = cacheBytes
            var rng = SeededRNG(seed: 3)
            m.zeroGrads()
            _ = try m.run(batch, gradScale: 0.01, dropoutRNG: &rng)
            results.append(m.grads)
        }
        #expect(results[0].contains { $0.contains { $0 != 0 } })
        do { let same = results[0] == results[1]; #expect(same) }
        do { let same = results[0] == results[2]; #expect(same) }
    }

    /// Two examples packed into one sequence (block-diagonal attention, restarted positions)
    /// train exactly like the two examples side by side.
    @Test func packedSequenceEqualsSeparateSequences() throws {
        let lm = try TinyModels.load("tiny-llama3")
        let adapter = try TinyModels.adapter(lm)
        let two = TinyModels.sequences(2, lengths: 15...25, vocab: lm.config.vocabSize, seed: 9)
        func labels(_ s: TrainSequence) -> [Int] { [-100] + s.targets.dropLast() }
        let packed = TrainSequence(ids: two[0].ids + two[1].ids, labels: labels(two[0]) + labels(two[1]),
                                   segmentStarts: [0, two[0].ids.count])
        #expect(packed.trainedTokens == two[0].trainedTokens + two[1].trainedTokens)
        var out: [(Double, [[Float]])] = []
        for batch in [two, [packed]] {
            let m = try LoRAModel(weights: lm.weights, adapter: adapter)
            var rng = SeededRNG(seed: 3)
            m.zeroGrads()
            let r = try m.run(batch, gradScale: 0.05, dropoutRNG: &rng)
            out.append((r.loss, m.grads))
        }
        do { let same = out[0].0 == out[1].0; #expect(same) }
        do { let same = out[0].1 == out[1].1; #expect(same) }
    }
}

@Suite struct TrainerTests {
    func config(steps: Int, batch: Int = 2, accum: Int = 2) -> TrainConfig {
        var c = TrainConfig.fixture
        c.lora = LoRAConfig.fixture(rank: 4, alpha: 8)
        c.batchSize = batch; c.gradAccum = accum
        c.lr = 5e-3; c.warmupSteps = 1; c.maxSteps = steps; c.saveEvery = 0
        c.seed = 42
        return c
    }

    /// 4 micro-batches of 1 with accumulation give the gradient of one batch of 4: the loss is
    /// normalised by the trained tokens of the whole window, not averaged per micro-batch.
    @Test func accumulationEqualsOneBigBatch() throws {
        let lm = try TinyModels.load("tiny-llama3")
        let adapter = try TinyModels.adapter(lm)
        let seqs = TinyModels.sequences(4, lengths: 8...40, vocab: lm.config.vocabSize, seed: 21)
        let total = seqs.reduce(0) { $0 + $1.trainedTokens }
        let big = try LoRAModel(weights: lm.weights, adapter: adapter)
        var rng = SeededRNG(seed: 0)
        big.zeroGrads()
        let lb = try big.run(seqs, gradScale: 1 / Float(total), dropoutRNG: &rng).loss
        let acc = try LoRAModel(weights: lm.weights, adapter: adapter)
        acc.zeroGrads()
        var la = 0.0
        for s in seqs { la += try acc.run([s], gradScale: 1 / Float(total), dropoutRNG: &rng).loss }
        #expect(abs(la - lb) / lb < 1e-6)
        var num = 0.0, den = 0.0
        for (g1, g2) in zip(big.grads, acc.grads) {
            for (a, b) in zip(g1, g2) { num += Double(a - b) * Double(a - b); den += Double(a) * Double(a) }
        }
        let rel = (num / den).squareRoot()
        #expect(rel < 1e-5, "relative gradient difference \(rel)")
        // Negative control: averaging per micro-batch (the common bug) is far off when lengths differ.
        let wrong = try LoRAModel(weights: lm.weights, adapter: adapter)
        wrong.zeroGrads()
        for s in seqs { _ = try wrong.run([s], gradScale: 1 / Float(4 * s.trainedTokens), dropoutRNG: &rng) }
        num = 0
        for (g1, g2) in zip(big.grads, wrong.grads) { for (a, b) in zip(g1, g2) { num += Double(a - b) * Double(a - b) } }
        #expect((num / den).squareRoot() > 1e-2)
    }

    @Test(arguments: ComputeDType.allCases)
    func trainingLowersTheLossAndResumeIsBitIdentical(dtype: ComputeDType) throws {
        let lm = try TinyModels.load("tiny-llama3.gguf")
        let seqs = TinyModels.sequences(12, lengths: 10...30, vocab: lm.config.vocabSize, seed: 8)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tunelab-resume-\(dtype)-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var c = config(steps: 8)
        c.saveEvery = 3; c.computeDType = dtype
        let full = try Trainer(weights: lm.weights, train: seqs, config: c, outputDirectory: dir + "/full", baseModelName: "tiny")
        #expect(try full.run() == .completed)
        #expect(full.history.count == 8)
        #expect(full.history.last!.loss < full.history.first!.loss)
        #expect(FileManager.default.fileExists(atPath: dir + "/full/checkpoint-3/trainer_state.json"))
        #expect(FileManager.default.fileExists(atPath: dir + "/full/checkpoint-8/optimizer.bin"))
        #expect(FileManager.default.fileExists(atPath: dir + "/full/adapter/adapter_model.safetensors"))

        let resumed = try Trainer.resume(from: dir + "/full/checkpoint-3", weights: lm.weights, train: seqs, config: c,
                                         outputDirectory: dir + "/resumed", baseModelName: "tiny")
        #expect(resumed.step == 3)
        #expect(try resumed.run() == .completed)
        #expect(resumed.history.map(\.loss) == full.history.map(\.loss))
        #expect(resumed.history.map(\.gradNorm) == full.history.map(\.gradNorm))
        #expect(resumed.history.map(\.lr) == full.history.map(\.lr))
        #expect(resumed.adapter == full.adapter)
        let lines = try String(contentsOfFile: dir + "/resumed/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 8)

        // Negative control: the same resume without the optimiser moments (same adapter, data
        // position and schedule step) takes a different step: the moments matter and are restored.
        let withMoments = try Trainer.resume(from: dir + "/full/checkpoint-3", weights: lm.weights, train: seqs, config: c,
                                             outputDirectory: nil, baseModelName: "tiny")
        let fresh = try Trainer(weights: lm.weights, train: seqs, config: c, outputDirectory: nil, baseModelName: "tiny",
                                initialAdapter: try LoRAAdapter.load(directory: dir + "/full/checkpoint-3", model: lm.config))
        fresh.step = 3; fresh.order = withMoments.order; fresh.cursor = withMoments.cursor
        fresh.epoch = withMoments.epoch; fresh.dataRNG = withMoments.dataRNG
        let a = try withMoments.trainStep(), b = try fresh.trainStep()
        #expect(a.loss == b.loss, "same adapter and batch before the update")
        #expect(withMoments.adapter != fresh.adapter, "a resume without the optimiser moments must not land on the same adapter")
    }

    /// compute_dtype = bf16 (repeat and resume: `trainingLowersTheLossAndResumeIsBitIdentical`):
    /// a resume in fp32 is refused, and the curve is bf16's own (close to fp32's, not equal).
    @Test func bf16IsItsOwnCurveAndAResumeKeepsIt() throws {
        let lm = try TinyModels.load("tiny-llama3.gguf")
        let seqs = TinyModels.sequences(8, lengths: 10...30, vocab: lm.config.vocabSize, seed: 5)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tunelab-bf16-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var c = config(steps: 6)
        c.saveEvery = 3; c.computeDType = .bf16
        let bf16 = try Trainer(weights: lm.weights, train: seqs, config: c, outputDirectory: dir, baseModelName: "tiny")
        #expect(try bf16.run() == .completed)
        var fp32 = c
        fp32.computeDType = .fp32
        do {
            _ = try Trainer.resume(from: dir + "/checkpoint-3", weights: lm.weights, train: seqs, config: fp32,
                                   outputDirectory: nil, baseModelName: "tiny")
            Issue.record("a bf16 checkpoint resumed in fp32")
        } catch { #expect("\(error)".contains("computeDType")) }
        let f = try Trainer(weights: lm.weights, train: seqs, config: fp32, outputDirectory: nil, baseModelName: "tiny")
        #expect(try f.run() == .completed)
        #expect(f.history.map(\.loss) != bf16.history.map(\.loss))
        for (a, b) in zip(f.history, bf16.history) {
            #expect(abs(a.loss - b.loss) / a.loss < 1e-2, "step \(a.step): fp32 \(a.loss), bf16 \(b.loss)")
        }
    }

    @Test func resumeRefusesOtherSettingsOrData() throws {
        let lm = try TinyModels.load("tiny-llama3")
        let seqs = TinyModels.sequences(6, lengths: 10...20, vocab: lm.config.vocabSize, seed: 8)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tunelab-refuse-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var c = config(steps: 2)
        c.saveEvery = 1
        _ = try Trainer(weights: lm.weights, train: seqs, config: c, outputDirectory: dir, baseModelName: "tiny").run()
        var other = c
        other.lr = 1e-3
        #expect(throws: TrainError.self) {
            try Trainer.resume(from: dir + "/checkpoint-1", weights: lm.weights, train: seqs, config: other,
                               outputDirectory: nil, baseModelName: "tiny")
        }
        do {
            _ = try Trainer.resume(from: dir + "/checkpoint-1", weights: lm.weights, train: seqs, config: other,
                                   outputDirectory: nil, baseModelName: "tiny")
        } catch {
            #expect("\(error)".contains("lr = "))
            #expect(!"\(error)".contains("lora = "), "equal LoRA settings must not be listed as a difference: \(error)")
        }
        #expect(throws: TrainError.self) {
            try Trainer.resume(from: dir + "/checkpoint-1", weights: lm.weights, train: Array(seqs.dropLast()), config: c,
                               outputDirectory: nil, baseModelName: "tiny")
        }
    }

    /// An absurd learning rate overflows the weights; the run must stop at the first non-finite
    /// step without applying it, reporting only a checkpoint that reads back finite as good.
    @Test func divergenceStopsAndKeepsTheLastGoodCheckpoint() throws {
        let lm = try TinyModels.load("tiny-llama3")
        let seqs = TinyModels.sequences(8, lengths: 10...20, vocab: lm.config.vocabSize, seed: 3)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tunelab-nan-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var c = config(steps: 6)
        c.lr = 1e30; c.warmupSteps = 0; c.maxGradNorm = 0; c.saveEvery = 1
        let t = try Trainer(weights: lm.weights, train: seqs, config: c, outputDirectory: dir, baseModelName: "tiny")
        let outcome = try t.run()
        guard case .diverged(let d) = outcome else { Issue.record("expected divergence, got \(outcome)"); return }
        #expect(d.step == t.step + 1)
        #expect("\(d)".contains("step \(t.step + 1)"))
        #expect(t.step >= 1 && t.step < 6)
        #expect(d.rows.count == 4 && d.rows.allSatisfy { seqs.indices.contains($0) })
        #expect(FileManager.default.fileExists(atPath: dir + "/checkpoint-\(t.step)/adapter_model.safetensors"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/checkpoint-\(t.step + 1)"))
        if let good = d.checkpoint { #expect(t.checkpointProblem(good) == nil) }
        #expect(d.rejectedCheckpoints.count + (d.checkpoint == nil ? 0 : 1) <= t.step)
        print("lr 1e30: \(d)")
    }

    /// A NaN put into one LoRA gradient at step 5 (the test hook) stops the run before that
    /// update and names the step, its training rows and the tensor; the kept checkpoint, resumed
    /// with the hook off, continues into exactly the uninterrupted run. A checkpoint holding a
    /// non-finite optimiser moment is not reported as good: the one before it is.
    @Test func aPoisonedStepIsReportedAndTheKeptCheckpointResumesTheSameRun() throws {
        let lm = try TinyModels.load("tiny-llama3.gguf")
        let seqs = TinyModels.sequences(12, lengths: 10...30, vocab: lm.config.vocabSize, seed: 8)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tunelab-poison-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var c = config(steps: 7)
        c.saveEvery = 1
        let full = try Trainer(weights: lm.weights, train: seqs, config: c, outputDirectory: dir + "/full", baseModelName: "tiny")
        #expect(try full.run() == .completed)

        let poisoned = try Trainer(weights: lm.weights, train: seqs, config: c, outputDirectory: dir + "/poisoned", baseModelName: "tiny")
        poisoned.afterBackward = { step, _, grads in if step == 5 { grads[9][3] = .nan } }
        guard case .diverged(let d) = try poisoned.run() else { Issue.record("expected divergence"); return }
        #expect(d.step == 5 && poisoned.step == 4)
        let key = poisoned.model.keys[4]   // gradient 9 = B of the fifth adapted projection
        #expect(d.tensor == LoRAAdapter.peftTensorName(layer: key.layer, target: key.target, factor: "B"))
        #expect(d.tensor.hasSuffix("lora_B.weight"))
        #expect(d.value.isNaN && d.gradNorm.isNaN)
        #expect(d.loss == full.history[4].loss, "the loss before the poison is the uninterrupted run's step 5")
        #expect(d.checkpoint == dir + "/poisoned/checkpoint-4" && d.rejectedCheckpoints.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: dir + "/poisoned/checkpoint-5"))
        // The rows are the step's batch: at the kept checkpoint's adapter, they give the step's loss
        // (micro-batches of 2, as the trainer runs them).
        #expect(d.rows.count == 4 && Set(d.rows).count == 4)
        let before = try LoRAModel(weights: lm.weights, adapter: try LoRAAdapter.load(directory: d.checkpoint!, model: lm.config))
        var rng = SeededRNG(seed: 0), loss = 0.0
        let trained = d.rows.reduce(0) { $0 + seqs[$1].trainedTokens }
        for mb in [Array(d.rows[0..<2]), Array(d.rows[2..<4])] {
            loss += try before.run(mb.map { seqs[$0] }, gradScale: 1 / Float(trained), dropoutRNG: &rng).loss
        }
        #expect(loss / Double(trained) == d.loss)
        let json = try JSONEncoder().encode(d)
        #expect(try JSONDecoder().decode(Divergence.self, from: json) == d, "\(String(decoding: json, as: UTF8.self))")

        let resumed = try Trainer.resume(from: d.checkpoint!, weights: lm.weights, train: seqs, config: c,
                                         outputDirectory: dir + "/resumed", baseModelName: "tiny")
        #expect(try resumed.run() == .completed)
        #expect(resumed.history.map(\.loss) == full.history.map(\.loss))
        #expect(resumed.history.map(\.gradNorm) == full.history.map(\.gradNorm))
        #expect(resumed.adapter == full.adapter)

        // An infinite loss at step 5, and checkpoint 4's moments overwritten with an infinity:
        // checkpoint 4 is rejected (saying why), checkpoint 3 is the last good one.
        let bad = try Trainer(weights: lm.weights, train: seqs, config: c, outputDirectory: dir + "/bad", baseModelName: "tiny")
        bad.afterBackward = { step, loss, _ in if step == 5 { loss = .infinity } }
        let outcome = try bad.run(onCheckpoint: { path in
            guard path.hasSuffix("/checkpoint-4") else { return }
            let file = path + "/" + CheckpointFiles.optimizer
            var state = try AdamWState(serialized: try Data(contentsOf: URL(fileURLWithPath: file)))
            state.tensors[2].v[0] = .infinity
            try state.serialized().write(to: URL(fileURLWithPath: file))
        })
        guard case .diverged(let e) = outcome else { Issue.record("expected divergence"); return }
        #expect(e.step == 5 && e.tensor == "loss" && e.value == .infinity)
        #expect(e.rows == d.rows)
        #expect(e.checkpoint == dir + "/bad/checkpoint-3")
        #expect(e.rejectedCheckpoints.count == 1)
        #expect(e.rejectedCheckpoints.first?.contains("checkpoint-4: optimizer.bin: the moments of tensor 2") == true,
                "\(e.rejectedCheckpoints)")
        print("poisoned: \(d)\ninfinite loss: \(e)")
    }

    @Test func badSettingsNameTheKey() throws {
        let lm = try TinyModels.load("tiny-llama3")
        let seqs = TinyModels.sequences(2, lengths: 10...20, vocab: lm.config.vocabSize, seed: 3)
        var c = config(steps: 2)
        c.lr = 0
        do {
            _ = try Trainer(weights: lm.weights, train: seqs, config: c, outputDirectory: nil, baseModelName: "t")
            Issue.record("lr = 0 accepted")
        } catch { #expect("\(error)".hasPrefix("lr:")) }
        #expect(throws: TrainError.self) {
            try Trainer(weights: lm.weights, train: [], config: self.config(steps: 2), outputDirectory: nil, baseModelName: "t")
        }
        let masked = TrainSequence(ids: [1, 2, 3], labels: [-100, -100, -100])
        do {
            _ = try Trainer(weights: lm.weights, train: seqs + [masked], config: self.config(steps: 2), outputDirectory: nil, baseModelName: "t")
            Issue.record("a sequence without trained tokens was accepted")
        } catch { #expect("\(error)".contains("sequence 2")) }
    }
}
