import Foundation
import Kernels
import ModelFiles
import Training
import Transformer

/// A live one-line progress display: rewritten in place on a terminal, one line per step
/// otherwise (logs, pipes, tests).
public final class ProgressLine {
    let isTTY = isatty(STDOUT_FILENO) != 0
    let start = Date()
    public init() {}

    public func update(_ m: StepMetrics, total: Int, firstStep: Int) {
        let done = m.step - firstStep
        let elapsed = Date().timeIntervalSince(start)
        let eta = done > 0 ? elapsed / Double(done) * Double(total - m.step) : 0
        var s = String(format: "step %d/%d  loss %.4f  grad %.3f  lr %.2e  %.0f tok/s  ETA %@",
                       m.step, total, m.loss, m.gradNorm, m.lr, m.tokensPerSecond, formatDuration(eta))
        if let e = m.evalLoss { s += String(format: "  eval %.4f", e) }
        if isTTY {
            print("\r\u{1B}[2K" + s, terminator: m.step == total ? "\n" : "")
        } else {
            print(s)
        }
        fflush(stdout)
    }

    public func finishLine() { if isTTY { print(""); fflush(stdout) } }
}

/// A duration for people: "12.34s", "3m 05s", "1h 02m" ("-" when unknown).
public func formatDuration(_ t: Double) -> String {
    guard t.isFinite, t >= 0 else { return "-" }
    if t < 60 { return String(format: "%.2fs", t) }
    let s = Int(t.rounded())
    if s < 3600 { return "\(s / 60)m \(String(format: "%02d", s % 60))s" }
    return "\(s / 3600)h \(String(format: "%02d", s / 60 % 60))m"
}

/// What a training run produced.
public struct TrainingReport: Sendable {
    public var outcome: TrainOutcome
    public var steps: Int
    public var history: [StepMetrics]
    public var adapterPath: String?
    public var checkpoints: [String]
    public var seconds: Double
    public var parameterCount: Int

    public var summary: String {
        let last = history.last
        var s: String
        switch outcome {
        case .completed: s = "trained \(steps) steps"
        case .interrupted: s = "interrupted at step \(steps)"
        case .diverged(let why): s = "diverged: \(why)"
        }
        if let last { s += String(format: ", loss %.4f", last.loss) }
        if let e = history.last(where: { $0.evalLoss != nil })?.evalLoss { s += String(format: ", eval loss %.4f", e) }
        let toks = history.reduce(0) { $0 + $1.tokens }, secs = history.reduce(0) { $0 + $1.seconds }
        if secs > 0 { s += String(format: ", %.0f tok/s", Double(toks) / secs) }
        s += " in \(formatDuration(seconds))"
        if let adapterPath { s += "; adapter → \(adapterPath)" }
        return s
    }
}

/// Trains (or resumes) and prints progress. `onStep` sees each step before its progress line is
/// printed (the record commits the step's metrics there, so a printed step is a recorded one);
/// `onCheckpoint` each checkpoint as soon as it is complete. A failure while training (a full
/// disk, an unwritable record) is rethrown saying at which step training stopped and which
/// checkpoint to resume from.
public func runTraining(weights: ModelWeights, data: PreparedData, config: TrainConfig, outputDirectory: String,
                        baseModelName: String, resume: String? = nil, branching: Bool = false, quiet: Bool = false,
                        onStep: (StepMetrics) throws -> Void = { _ in },
                        onCheckpoint: (String) throws -> Void = { _ in }) throws -> (Trainer, TrainingReport) {
    try checkTrainingMemory(weights.config, lora: config.lora, longest: (data.train + data.validation).map(\.ids.count).max() ?? 0,
                            sequencesPerBatch: config.batchSize, gradientCheckpointing: config.gradientCheckpointing)
    let trainer: Trainer
    if let resume, !resume.isEmpty {
        trainer = try Trainer.resume(from: resume, weights: weights, train: data.train, validation: data.validation,
                                     config: config, outputDirectory: outputDirectory, baseModelName: baseModelName,
                                     changingSettings: branching)
    } else {
        trainer = try Trainer(weights: weights, train: data.train, validation: data.validation, config: config,
                              outputDirectory: outputDirectory, baseModelName: baseModelName)
    }
    let progress = ProgressLine()
    let first = trainer.step
    if !quiet {
        print("training \(trainer.parameterCount) LoRA parameters (r=\(config.lora.rank), \(config.lora.targets.map(\.rawValue).joined(separator: ","))) for \(trainer.totalSteps) steps\(first > 0 ? ", resuming at step \(first)" : ""); output → \(outputDirectory)")
    }
    var checkpoints: [String] = []
    let start = Date()
    Interrupt.clear()
    let outcome: TrainOutcome
    do {
        outcome = try trainer.run(onStep: { m in
            try onStep(m)
            if !quiet { progress.update(m, total: trainer.totalSteps, firstStep: first) }
        }, onCheckpoint: { checkpoints.append($0); try onCheckpoint($0) })
    } catch {
        if !quiet { progress.finishLine() }
        throw TrainError(stoppedMessage(error, step: trainer.step, total: trainer.totalSteps, lastCheckpoint: checkpoints.last ?? resume))
    }
    if !quiet, outcome != .completed { progress.finishLine() }
    let report = TrainingReport(outcome: outcome, steps: trainer.step, history: Array(trainer.history.dropFirst(first)),
                                adapterPath: outcome == .completed ? outputDirectory + "/adapter" : checkpoints.last,
                                checkpoints: checkpoints, seconds: Date().timeIntervalSince(start),
                                parameterCount: trainer.parameterCount)
    return (trainer, report)
}

/// A training failure (a full disk, an unwritable record) with where training stopped and what
/// is kept: the last complete checkpoint (`resume` takes it) and the steps recorded so far.
public func stoppedMessage(_ error: Error, step: Int, total: Int, lastCheckpoint: String?) -> String {
    var s = "\(error)\ntraining stopped at step \(step) of \(total); "
    if let c = lastCheckpoint, !c.isEmpty {
        s += "the last complete checkpoint is \(c) (continue with --resume \(c), or train.resume in a notebook)"
    } else {
        s += "no checkpoint was completed"
    }
    return s + "; the steps printed above are in the record"
}

/// Refuses settings whose training step could not fit in this machine's memory, naming them:
/// the LoRA rank (adapter, gradients, AdamW moments) and batch_size × the longest sequence
/// (set by max_seq_length / max_length and the data). Checked before the trainer allocates.
func checkTrainingMemory(_ c: ModelConfig, lora: LoRAConfig, longest: Int, sequencesPerBatch: Int,
                         gradientCheckpointing: Bool, sequenceKey: String = "max_seq_length") throws {
    try MemoryBudget.require(TrainingMemory.adapterBytes(c, lora: lora),
                             for: "r = \(lora.rank) (the adapter with its gradients and AdamW moments)")
    let (rows, overflow) = sequencesPerBatch.multipliedReportingOverflow(by: longest)
    let bytes = overflow ? Double.infinity
        : TrainingMemory.activationBytes(c, lora: lora, rows: rows, longest: longest, gradientCheckpointing: gradientCheckpointing)
        + TrainingMemory.adapterBytes(c, lora: lora)
    try MemoryBudget.require(bytes, for: "batch_size = \(sequencesPerBatch) × the longest sequence (\(longest) tokens, at most \(sequenceKey)) = \(overflow ? "too many" : String(rows)) rows per micro-batch")
}
