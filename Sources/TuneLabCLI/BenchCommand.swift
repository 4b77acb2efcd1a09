import ArgumentParser
import Foundation
import Transformer
import Training
import Session
import Notebook
import Dataset
import Kernels
import ModelFiles

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Benchmarks (compare with scripts/bench_*.sh, which also runs the PyTorch reference).",
                                                    subcommands: [BenchInfer.self, BenchTrain.self])
}

/// Peak resident set size of this process, in MB (Linux reports ru_maxrss in KiB).
func peakRSSMB() -> Double {
    var u = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
    return Double(u.ru_maxrss) / 1024
}

struct BenchInfer: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "infer",
        abstract: "Prompt tokens/s (one prefill), decode tokens/s (greedy, KV cache) and peak RSS.")
    @OptionGroup var options: ModelOptions
    @Option(name: .long) var promptTokens = 512
    @Option(name: .long) var newTokens = 128
    @Option(name: .long, help: "Repetitions; the median is reported.") var repeats = 3
    @Option(name: .long, help: "A JSON array of prompt ids (e.g. the PyTorch reference's), instead of the built-in prompt.")
    var promptIds: String?
    @Flag(name: .long, help: "Dequantise all weights to fp32 at load instead of on the fly.") var dequantAtLoad = false
    @Option(name: .long, help: "Decode this many prompts (the prompt shifted by 0…N−1 ids) one at a time and as one batch (generateBatch), alternately; reports both decode speeds and whether the ids are identical.")
    var batch: Int?

    func run() throws {
        if let batch {
            guard batch >= 1 else { throw UserError("--batch must be ≥ 1 (got \(batch))") }
            guard promptIds == nil else { throw UserError("--batch builds its own prompts; drop --prompt-ids") }
            return try runBatch(batch)
        }
        configureThreads(options.threads ?? 2)
        let t0 = Date()
        let lm: LanguageModel
        do { lm = try LanguageModel.load(options.model, materialize: dequantAtLoad) } catch { throw UserError("\(error)") }
        let loadS = Date().timeIntervalSince(t0)
        var prompt = benchPrompt(lm, count: promptTokens)
        if let f = promptIds {
            guard let data = FileManager.default.contents(atPath: f),
                  let ids = try? JSONSerialization.jsonObject(with: data) as? [Int], !ids.isEmpty else {
                throw UserError("\(f): expected a non-empty JSON array of token ids")
            }
            prompt = Array(ids.prefix(promptTokens))
        }
        _ = try lm.forward(Array(prompt.prefix(8)), cache: lm.forward.makeCache())   // touch the mapping once
        var pre: [Double] = [], dec: [Double] = []
        for _ in 0..<max(1, repeats) {
            let r = try lm.generate(promptIds: prompt, maxNewTokens: newTokens, stopOnEndOfTurn: false)
            pre.append(r.promptTokensPerSecond); dec.append(r.decodeTokensPerSecond)
        }
        func median(_ x: [Double]) -> Double { x.sorted()[x.count / 2] }
        let result: [String: Any] = [
            "prompt_tokens": prompt.count, "new_tokens": newTokens, "threads": options.threads ?? 2,
            "prompt_tok_s": median(pre), "decode_tok_s": median(dec), "peak_rss_mb": peakRSSMB(),
            "load_s": loadS, "dequant_at_load": dequantAtLoad, "weight_mb": Double(lm.weights.weightBytes) / 1e6,
        ]
        if options.json { writeJSON(result); return }
        print(String(format: "prompt %d tokens: %.1f tok/s · decode %d tokens: %.1f tok/s · peak RSS %.0f MB · load %.2f s%@",
                     prompt.count, median(pre), newTokens, median(dec), peakRSSMB(), loadS,
                     dequantAtLoad ? " (fp32 weights)" : ""))
    }
}

extension BenchInfer {
    /// Greedy decoding of N prompts: one at a time (`generate`) against together
    /// (`generateBatch`), alternating per repetition. Decode tokens/s counts the tokens after
    /// each sequence's first (which comes from its prefill, the same call in both).
    func runBatch(_ n: Int) throws {
        configureThreads(options.threads ?? 2)
        let lm: LanguageModel
        do { lm = try LanguageModel.load(options.model, materialize: dequantAtLoad) } catch { throw UserError("\(error)") }
        let base = benchPrompt(lm, count: promptTokens + n - 1)
        let prompts = (0..<n).map { Array(base[$0..<($0 + promptTokens)]) }
        _ = try lm.forward(Array(prompts[0].prefix(8)), cache: lm.forward.makeCache())   // touch the mapping once
        var seq: [Double] = [], bat: [Double] = [], identical = true
        for _ in 0..<max(1, repeats) {
            var tokens = 0, seconds = 0.0
            var one: [[Int]] = []
            for p in prompts {
                let r = try lm.generate(promptIds: p, maxNewTokens: newTokens, stopOnEndOfTurn: false)
                tokens += max(0, r.ids.count - 1); seconds += r.decodeSeconds; one.append(r.ids)
            }
            seq.append(Double(tokens) / seconds)
            let rs = try lm.generateBatch(prompts: prompts, maxNewTokens: newTokens, stopOnEndOfTurn: false)
            let bt = rs.reduce(0) { $0 + max(0, $1.ids.count - 1) }
            bat.append(Double(bt) / rs[0].decodeSeconds)
            identical = identical && rs.map(\.ids) == one
        }
        func median(_ x: [Double]) -> Double { x.sorted()[x.count / 2] }
        let result: [String: Any] = [
            "batch": n, "prompt_tokens": promptTokens, "new_tokens": newTokens, "threads": options.threads ?? 2,
            "sequential_decode_tok_s": median(seq), "batched_decode_tok_s": median(bat),
            "speedup": median(bat) / median(seq), "identical_ids": identical, "peak_rss_mb": peakRSSMB(),
        ]
        if options.json { writeJSON(result); return }
        print(String(format: "batch %d × (%d prompt + %d new tokens): decode one at a time %.1f tok/s · batched %.1f tok/s · %.2f× · ids %@ · peak RSS %.0f MB",
                     n, promptTokens, newTokens, median(seq), median(bat), median(bat) / median(seq),
                     identical ? "identical" : "DIFFER", peakRSSMB()))
    }
}

/// The benchmark prompt: a fixed English paragraph repeated and cut to `count` ids — built the
/// same way by scripts/bench_torch_infer.py so both sides process identical tokens.
func benchPrompt(_ lm: LanguageModel, count: Int) -> [Int] {
    let paragraph = "A 45-year-old patient presents with fever, right lower quadrant pain and nausea for two days. "
        + "The physician considers appendicitis, orders a blood count and an ultrasound, and explains the reasoning step by step. "
    var ids: [Int] = []
    let piece = lm.tokenizer.encode(paragraph)
    while ids.count < count { ids += piece }
    return Array(ids.prefix(count))
}

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train",
        abstract: "LoRA training tokens/s, GFLOP/s and peak RSS on fixed-length sequences cut from a data set (scripts/bench_train.sh runs PyTorch + PEFT on the same batches).")
    @OptionGroup var options: ModelOptions
    @Option(name: .long, help: "Rows to cut sequences from (formatted with --template).")
    var data: String = "../shared/data/medical_o1_en_160.json"
    @Option(name: .long) var template: String = "notebooks/templates/medical-cot.txt"
    @Option(name: .long) var batchSize = 4
    @Option(name: .long) var seqLen = 256
    @Option(name: .long, help: "Timed optimiser steps (after --warmup untimed ones).") var steps = 3
    @Option(name: .long) var warmup = 1
    @Option(name: .long, help: "Also write the batches as JSON (for scripts/bench_torch_train.py).") var writeBatches: String?
    @Flag(name: .long, help: "Also print where a step's time goes (frozen products, LoRA, attention, LM head, the rest).")
    var profile = false
    @Argument(parsing: .allUnrecognized, help: "Train-cell parameters as flags (--r, --targets, --compute-dtype, --gradient-checkpointing, …; the schema's defaults).")
    var trainFlags: [String] = []

    func run() throws {
        configureThreads(options.threads ?? 2)
        let lm: LanguageModel
        do { lm = try LanguageModel.load(options.model) } catch { throw UserError("\(error)") }
        let seqs: [TrainSequence]
        do {
            seqs = try benchSequences(lm, data: data, template: template, count: batchSize * (steps + warmup), length: seqLen)
        } catch { throw UserError("\(error)") }
        if let f = writeBatches {
            let obj: [String: Any] = ["batch_size": batchSize, "seq_len": seqLen,
                                      "sequences": seqs.map { ["ids": $0.ids, "labels": [-100] + $0.targets.dropLast()] }]
            let d = try JSONSerialization.data(withJSONObject: obj)
            guard FileManager.default.createFile(atPath: f, contents: d) else { throw UserError("\(f): cannot write") }
        }
        // The train cell's settings (schema defaults, these flags), then the bench's fixed shape.
        let c: TrainConfig
        do {
            let parsed = try CellFlags(kinds: [.train]).parse(trainFlags)
            var o = parsed.overrides[.train] ?? [:]
            o["batch_size"] = .int(batchSize); o["grad_accum"] = .int(1); o["max_steps"] = .int(steps + warmup)
            o["warmup_steps"] = .int(0); o["save_every"] = .int(0)
            c = try CellConfigs.train(o, flags: parsed.flags[.train] ?? [:])
        } catch { throw UserError("\(error)") }
        let gradientCheckpointing = c.gradientCheckpointing
        let t = try Trainer(weights: lm.weights, train: seqs, config: c, outputDirectory: nil, baseModelName: lm.path)
        var times: [Double] = []
        var trained = 0
        StepProfile.enabled = profile
        StepProfile.reset()
        _ = try t.run(shouldStop: { false }, onStep: { m in
            if m.step > warmup { times.append(m.seconds); trained += m.trainedTokens }
            if m.step == warmup { StepProfile.reset() }
        })
        StepProfile.enabled = false
        let secs = times.reduce(0, +)
        let tokens = Double(batchSize * seqLen * steps)
        let keeps = trainingKeepsAttentionProbabilities(lm.config, sequenceLengths: Array(repeating: seqLen, count: batchSize),
                                                        gradientCheckpointing: gradientCheckpointing)
        let flops = trainingFLOPs(lm.config, lora: c.lora, seqLen: seqLen, trainedFraction: Double(trained) / tokens,
                                  recompute: gradientCheckpointing, keepsProbabilities: keeps)
        var result: [String: Any] = [
            "tokens_per_s": tokens / secs, "trained_tokens_per_s": Double(trained) / secs, "peak_rss_mb": peakRSSMB(),
            "gflop_per_token": flops / 1e9, "gflop_s": flops * tokens / secs / 1e9, "step_seconds": times,
            "batch_size": batchSize, "seq_len": seqLen, "threads": options.threads ?? 2, "rank": c.lora.rank,
            "gradient_checkpointing": gradientCheckpointing, "blas": BLAS.config,
            "compute_dtype": c.computeDType.rawValue,
        ]
        if c.computeDType == .bf16 { result["bf16"] = BF16.backend }
        let phases = StepProfile.Phase.allCases.map { ($0, StepProfile.seconds[$0.rawValue] / Double(steps)) }
        if options.json {
            var r = result
            if profile { r["profile_seconds_per_step"] = Dictionary(uniqueKeysWithValues: phases.map { ("\($0.0)", $0.1) }) }
            writeJSON(r); return
        }
        print(String(format: "b%d×%d: %.1f tok/s (%.1f trained tok/s) · %.2f GFLOP/token → %.0f GFLOP/s · peak RSS %.0f MB",
                     batchSize, seqLen, tokens / secs, Double(trained) / secs, flops / 1e9, flops * tokens / secs / 1e9, peakRSSMB()))
        print("  BLAS: \(BLAS.config)" + (c.computeDType == .bf16 ? "; bf16 products: \(BF16.backend)" : ""))
        if profile {
            let total = phases.reduce(0) { $0 + $1.1 }
            for (p, s) in phases {
                print(String(format: "  %6.2f s/step  %5.1f%%  ", s, 100 * s / max(total, 1e-12)) + p.label)
            }
        }
    }
}

/// Fixed-length sequences: formatted rows' ids and labels concatenated and cut every `length`
/// tokens (one attention segment each, like an unpadded batch in PyTorch).
func benchSequences(_ lm: LanguageModel, data: String, template: String, count: Int, length: Int) throws -> [TrainSequence] {
    let s = try CellConfigs.format(["data": .string(data), "template": .string(template), "max_seq_length": .int(1 << 20),
                                    "val_fraction": .double(0)])
    let prepared = try prepareData(s, tokenizer: lm.tokenizer)
    var ids: [Int] = [], labels: [Int] = []
    var out: [TrainSequence] = []
    var i = 0
    while out.count < count {
        let e = prepared.train[i % prepared.train.count]
        ids += e.ids; labels += [-100] + e.targets.dropLast()
        while ids.count >= length && out.count < count {
            let piece = TrainSequence(ids: Array(ids[..<length]), labels: Array(labels[..<length]))
            // A piece cut from the middle of a long prompt has nothing to train on: skip it.
            if piece.trainedTokens > 0 { out.append(piece) }
            ids.removeFirst(length); labels.removeFirst(length)
        }
        i += 1
        if i > 20 * prepared.train.count + count {
            throw UserError("\(data): no \(length)-token piece of the formatted rows has a trained token; use a longer --seq-len")
        }
    }
    return out
}

/// Matrix-product FLOPs per input token of one LoRA training step as TuneLab computes it:
/// frozen projections forward and input-gradient (no weight gradient), LoRA forward and its
/// three backward products, causal attention over 64-row blocks (QKᵀ and PV up to each block's
/// last key; P recomputed in the backward only when it is not kept), and the LM head on trained
/// positions only (forward + input gradient). `recompute` is gradient checkpointing.
func trainingFLOPs(_ c: ModelConfig, lora: LoRAConfig, seqLen T: Int, trainedFraction: Double, recompute: Bool,
                   keepsProbabilities: Bool) -> Double {
    let d = Double(c.hiddenSize), qw = Double(c.numHeads * c.headDim), kvw = Double(c.numKVHeads * c.headDim)
    let ff = Double(c.intermediateSize), r = Double(lora.rank)
    let shapes: [(LoRATarget, Double, Double)] = [(.q, d, qw), (.k, d, kvw), (.v, d, kvw), (.o, qw, d),
                                                  (.gate, d, ff), (.up, d, ff), (.down, ff, d)]
    var perLayer = 0.0
    for (t, i, o) in shapes {
        let fwd = 2 * i * o
        perLayer += fwd * (recompute ? 3 : 2)
        if lora.targets.contains(t) { perLayer += 2 * r * (i + o) * (recompute ? 4 : 3) + 2 * r * (i + o) }
    }
    // QKᵀ and PV per query row over the keys it (block-wise) sees; the backward has 4 products.
    let attnFwd = 4 * attentionKeysPerQuery(sequenceLength: T) * Double(c.headDim) * Double(c.numHeads)
    perLayer += attnFwd * (recompute ? 2 : 1) + (keepsProbabilities ? 0 : attnFwd) + 2 * attnFwd
    let head = 2 * d * Double(c.vocabSize) * 2 * trainedFraction
    return perLayer * Double(c.numLayers) + head
}
