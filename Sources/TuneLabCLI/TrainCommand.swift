import ArgumentParser
import Foundation
import Kernels
import Session
import Training
import Transformer

/// The format step's options, shared by `train` and `bench train`.
struct DataOptions: ParsableArguments {
    @Option(name: .long, help: "Training data: a JSON array or JSONL file.")
    var data: String = "notebooks/data/medical-cot-sample.jsonl"
    @Option(name: .long, help: "Record layout: auto, medical-o1, alpaca, sharegpt, question-think-answer, mapping.")
    var format: String = "auto"
    @Option(name: .long, help: "For --format mapping: question=COL,cot=COL,answer=COL[,system=COL].")
    var columns: String = ""
    @Option(name: .long, help: "Slice of the rows, e.g. train[0:100].")
    var split: String = ""
    @Option(name: .long, help: "Prompt template file ({Column} or {} placeholders; the response starts at the first response column).")
    var template: String = "notebooks/templates/medical-cot.txt"
    @Option(name: .long) var maxSeqLength: Int = 512
    @Option(name: .long, help: "response (default) or all.") var trainOn: String = "response"
    @Flag(name: .long, help: "Pack several examples per sequence (attention stays within each).") var packing = false
    @Option(name: .long, help: "Fraction of rows held out for validation (0 = none).") var valFraction: Double = 0.1
    @Option(name: .long, help: "Seed of the validation split.") var splitSeed: UInt64 = 3407

    var settings: FormatSettings {
        var s = FormatSettings()
        s.data = data; s.format = format; s.columns = columns; s.split = split; s.template = template
        s.maxSeqLength = maxSeqLength; s.trainOn = trainOn; s.packing = packing; s.valFraction = valFraction
        s.seed = splitSeed
        return s
    }
}

struct LoRAOptions: ParsableArguments {
    @Option(name: .customLong("r"), help: "LoRA rank.") var rank: Int = 16
    @Option(name: .long) var loraAlpha: Double = 16
    @Option(name: .long) var loraDropout: Double = 0
    @Flag(name: .long, help: "rsLoRA scaling alpha/sqrt(r).") var useRslora = false
    @Option(name: .long, help: "Comma-separated projections: q,k,v,o,gate,up,down (or q_proj, ...).")
    var targets: String = "q,k,v,o,gate,up,down"

    func config() throws -> LoRAConfig {
        var ts: [LoRATarget] = []
        for name in targets.split(separator: ",") {
            guard let t = LoRATarget(name: String(name)) else {
                throw UserError("--targets: unknown projection '\(name)' (q, k, v, o, gate, up, down)")
            }
            ts.append(t)
        }
        let c = LoRAConfig(rank: rank, alpha: loraAlpha, dropout: loraDropout, targets: ts, useRSLoRA: useRslora)
        do { try c.validate() } catch { throw UserError("\(error)") }
        return c
    }
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "LoRA/QLoRA fine-tuning (supervised, response-only loss). Writes checkpoints, the PEFT adapter and metrics.jsonl under --out.")
    @OptionGroup var options: ModelOptions
    @OptionGroup var dataOptions: DataOptions
    @OptionGroup var lora: LoRAOptions
    @Option(name: .long) var batchSize: Int = 2
    @Option(name: .long) var gradAccum: Int = 4
    @Option(name: .long) var lr: Double = 2e-4
    @Option(name: .long, help: "constant, constant_with_warmup, linear, cosine.") var scheduler: String = "linear"
    @Option(name: .long) var warmupSteps: Int = 5
    @Option(name: .long, help: "Warmup as a fraction of all steps (overrides --warmup-steps when > 0).") var warmupRatio: Double = 0
    @Option(name: .long, help: "Optimiser steps (0: use --epochs).") var maxSteps: Int = 60
    @Option(name: .long) var epochs: Int = 1
    @Option(name: .long) var weightDecay: Double = 0.01
    @Option(name: .long, help: "Clip the gradient norm (0 = off).") var maxGradNorm: Double = 1.0
    @Option(name: .long, help: "Seeds LoRA init, dropout and data order.") var seed: UInt64 = 3407
    @Option(name: .long, help: "Validation loss every N steps (0: at the end only).") var evalEvery: Int = 0
    @Option(name: .long, help: "Checkpoint every N steps (0: at the end only).") var saveEvery: Int = 20
    @Flag(name: .long, help: "Recompute each layer in the backward (less memory, ~30% more compute).") var gradientCheckpointing = false
    @Option(name: .customLong("compute-dtype"), help: "Frozen base products in fp32 (OpenBLAS) or bf16 with fp32 accumulation (oneDNN; ~2× faster on CPUs with AVX512-BF16 or AMX).")
    var computeDType: String = "fp32"
    @Option(name: .long, help: "Output folder.") var out: String
    @Option(name: .long, help: "Continue from a checkpoint folder (same settings and data).") var resume: String?

    func trainConfig() throws -> TrainConfig {
        var c = TrainConfig()
        c.lora = try lora.config()
        c.batchSize = batchSize; c.gradAccum = gradAccum; c.lr = lr
        guard let k = LRSchedule.Kind(rawValue: scheduler) else {
            throw UserError("--scheduler: unknown '\(scheduler)' (constant, constant_with_warmup, linear, cosine)")
        }
        c.scheduler = k
        c.warmupSteps = warmupSteps; c.warmupRatio = warmupRatio; c.maxSteps = maxSteps; c.epochs = epochs
        c.weightDecay = weightDecay; c.maxGradNorm = maxGradNorm; c.seed = seed; c.evalEvery = evalEvery
        c.saveEvery = saveEvery; c.gradientCheckpointing = gradientCheckpointing
        c.computeDType = try parseComputeDType(computeDType)
        do { try c.validate() } catch { throw UserError("\(error)") }
        return c
    }

    func run() throws {
        let config = try trainConfig()
        let lm = try loadModel(options)
        let data: PreparedData
        do { data = try prepareData(dataOptions.settings, tokenizer: lm.tokenizer) } catch { throw UserError("\(error)") }
        if !options.json { print(data.summary) }
        Interrupt.install()
        let report: TrainingReport
        do {
            (_, report) = try runTraining(weights: lm.weights, data: data, config: config, outputDirectory: out,
                                          baseModelName: lm.path, resume: resume, quiet: options.json)
        } catch { throw UserError("\(error)") }
        if options.json {
            writeJSON(["outcome": "\(report.outcome)", "steps": report.steps, "adapter": report.adapterPath ?? "",
                       "checkpoints": report.checkpoints, "loss": report.history.map(\.loss),
                       "eval_loss": report.history.compactMap(\.evalLoss), "seconds": report.seconds])
        } else {
            print(report.summary)
        }
        if case .diverged = report.outcome { throw ExitCode(2) }
        if report.outcome == .interrupted { throw ExitCode(130) }
    }
}

/// The model with a PEFT adapter folder applied (unmerged; the base stays quantised).
func applyAdapter(_ dir: String, to lm: LanguageModel) throws -> LanguageModel {
    do {
        let a = try LoRAAdapter.load(directory: dir, model: lm.config)
        return try lm.replacingWeights(a.applied(to: lm.weights))
    } catch { throw UserError("\(error)") }
}

/// `--compute-dtype` (fp32 | bf16); warns when this CPU has no bf16 instructions (still correct, slower).
func parseComputeDType(_ s: String) throws -> ComputeDType {
    guard let d = ComputeDType(rawValue: s.lowercased()) else {
        throw UserError("--compute-dtype: unknown '\(s)' (fp32, bf16)")
    }
    if d == .bf16 && !BF16.isNative {
        FileHandle.standardError.write(Data("warning: \(BF16.backend): bf16 products will be slower than fp32 here\n".utf8))
    }
    return d
}
