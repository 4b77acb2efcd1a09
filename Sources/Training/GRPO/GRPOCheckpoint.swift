import Foundation
import Kernels
import Transformer

/// What a GRPO checkpoint holds besides the adapter and the optimiser moments: the data order
/// and position, the three random streams (dropout, data, sampling seeds), the history, and the
/// generated batch still being trained on (with num_iterations > 1), so a resume samples and
/// trains exactly what the uninterrupted run would.
struct GRPOTrainerState: Codable {
    var format = 1
    var step: Int
    var totalSteps: Int
    var epoch: Int
    var cursor: Int
    var order: [Int]
    var dataRNG: SeededRNG
    var dropoutRNG: SeededRNG
    var samplingRNG: SeededRNG
    var config: GRPOConfig
    var history: [GRPOStepMetrics]
    var baseModel: String
    var prompts: Int
    /// FNV-1a over every prompt's ids.
    var dataFingerprint: String
    var buffer: GenerationBatch?
}

/// A GRPO checkpoint folder: `adapter_config.json` + `adapter_model.safetensors` (PEFT),
/// `optimizer.bin`, `grpo_state.json`, and for `reference = adapter` the frozen starting adapter
/// in `reference/`. Written to a temp folder and renamed, as SFT checkpoints.
enum GRPOCheckpointFiles {
    static let state = "grpo_state.json"
    static let reference = "reference"
}

func fingerprint(_ prompts: [GRPOPrompt]) -> String {
    fingerprint(prompts.map { TrainSequence(ids: $0.ids, labels: $0.ids) })
}

/// JSON coders that keep non-finite numbers (a reward std of one value is NaN).
private func stateEncoder() -> JSONEncoder {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys]
    e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return e
}

private func stateDecoder() -> JSONDecoder {
    let d = JSONDecoder()
    d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return d
}

extension GRPOTrainer {
    @discardableResult
    func saveCheckpoint() throws -> String? {
        guard let out = outputDirectory, step > 0 else { return nil }
        let path = out + "/checkpoint-\(step)"
        // The buffer is needed only when the next step trains on it again.
        let keep = step % config.numIterations != 0 ? buffer : nil
        let state = GRPOTrainerState(step: step, totalSteps: totalSteps, epoch: epoch, cursor: cursor, order: order,
                                     dataRNG: dataRNG, dropoutRNG: dropoutRNG, samplingRNG: samplingRNG, config: config,
                                     history: history, baseModel: baseModelName, prompts: prompts.count,
                                     dataFingerprint: fingerprint(prompts), buffer: keep)
        let adapter = self.adapter
        let reference = config.reference == .adapter ? referenceAdapter : nil
        let optimizerBytes = optimizer.state.serialized()
        try writeFolderAtomically(path) { dir in
            try adapter.save(directory: dir, baseModel: baseModelName)
            if let reference { try reference.save(directory: dir + "/" + GRPOCheckpointFiles.reference, baseModel: baseModelName) }
            try writeFileAtomically(path: dir + "/" + CheckpointFiles.optimizer, bytes: Array(optimizerBytes))
            try writeFileAtomically(path: dir + "/" + GRPOCheckpointFiles.state, bytes: Array(try stateEncoder().encode(state)))
        }
        return path
    }

    /// The frozen starting adapter (`reference = adapter`) as an adapter.
    var referenceAdapter: LoRAAdapter {
        var a = adapter
        for (i, key) in model.keys.enumerated() {
            a.layers[key.layer][key.target]!.a = policy.referenceTensors[2 * i]
            a.layers[key.layer][key.target]!.b = policy.referenceTensors[2 * i + 1]
        }
        return a
    }

    func saveFinalAdapter() throws {
        guard let out = outputDirectory else { return }
        let adapter = self.adapter
        try writeFolderAtomically(out + "/adapter") { dir in try adapter.save(directory: dir, baseModel: baseModelName) }
    }

    /// One JSON line per step in `<out>/metrics.jsonl`, the recorded names as keys.
    func appendMetrics(_ m: GRPOStepMetrics) throws {
        guard let out = outputDirectory else { return }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let path = out + "/metrics.jsonl"
        if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        guard let fh = FileHandle(forWritingAtPath: path) else { throw TrainError("\(path): cannot open for appending") }
        defer { try? fh.close() }
        fh.seekToEndOfFile()
        fh.write(metricsLine(m).data(using: .utf8)!)
    }

    func metricsLine(_ m: GRPOStepMetrics) -> String {
        func json(_ x: Double) -> String { x.isFinite ? "\(x)" : "null" }
        let fields = ["\"step\":\(m.step)"] + m.named(rewardNames: config.rewardNames).map { "\"\($0.0)\":\(json($0.1))" }
            + ["\"tokens\":\(m.tokens)", "\"completion_tokens\":\(m.completionTokens)"]
        return "{" + fields.joined(separator: ",") + "}\n"
    }

    /// Continues the run saved in `checkpoint` (same settings except how often to save, same
    /// prompts): adapter, reference, optimiser moments, schedule step, data position, the random
    /// streams and any generated batch still in use restored.
    public static func resume(from checkpoint: String, model lm: LanguageModel, prompts: [GRPOPrompt], config: GRPOConfig,
                              scorer: @escaping GRPORewardScorer, outputDirectory: String?, baseModelName: String) throws -> GRPOTrainer {
        let statePath = checkpoint + "/" + GRPOCheckpointFiles.state
        guard let data = FileManager.default.contents(atPath: statePath) else {
            throw TrainError("\(checkpoint): not a GRPO checkpoint (no \(GRPOCheckpointFiles.state))")
        }
        let state: GRPOTrainerState
        do { state = try stateDecoder().decode(GRPOTrainerState.self, from: data) } catch {
            throw TrainError("\(statePath): unreadable trainer state: \(error)")
        }
        var mine = config, theirs = state.config
        for c in [\GRPOConfig.train.saveEvery, \GRPOConfig.train.evalEvery, \GRPOConfig.generationBatch] {
            mine[keyPath: c] = 0; theirs[keyPath: c] = 0
        }
        mine.train.gradientCheckpointing = false; theirs.train.gradientCheckpointing = false
        guard mine == theirs else {
            throw TrainError("\(checkpoint): the checkpoint was trained with other settings; resume needs the same ones")
        }
        guard state.prompts == prompts.count, state.dataFingerprint == fingerprint(prompts) else {
            throw TrainError("\(checkpoint): the prompts differ from the checkpoint's (\(state.prompts) prompts, fingerprint \(state.dataFingerprint); now \(prompts.count), \(fingerprint(prompts)))")
        }
        let adapter: LoRAAdapter, reference: LoRAAdapter?
        do {
            adapter = try LoRAAdapter.load(directory: checkpoint, model: lm.config)
            reference = config.reference == .adapter
                ? try LoRAAdapter.load(directory: checkpoint + "/" + GRPOCheckpointFiles.reference, model: lm.config) : nil
        } catch { throw TrainError("\(checkpoint): \(error)") }
        let t = try GRPOTrainer(model: lm, prompts: prompts, config: config, scorer: scorer, outputDirectory: outputDirectory,
                                baseModelName: baseModelName, initialAdapter: adapter)
        if let reference { try t.policy.setReferenceTensors(reference.keys.flatMap { k in
            [reference.layers[k.layer][k.target]!.a, reference.layers[k.layer][k.target]!.b] }) }
        let optPath = checkpoint + "/" + CheckpointFiles.optimizer
        guard let optData = FileManager.default.contents(atPath: optPath) else {
            throw TrainError("\(checkpoint): missing \(CheckpointFiles.optimizer)")
        }
        let optState = try AdamWState(serialized: optData)
        guard optState.tensors.map(\.m.count) == t.model.params.map(\.count) else {
            throw TrainError("\(optPath): optimiser state does not match the adapter's tensors")
        }
        t.optimizer = try AdamW(state: optState)
        guard state.order.count == prompts.count, state.cursor <= prompts.count else {
            throw TrainError("\(statePath): data position \(state.cursor) of \(state.order.count) does not fit \(prompts.count) prompts")
        }
        t.step = state.step; t.epoch = state.epoch; t.cursor = state.cursor; t.order = state.order
        t.dataRNG = state.dataRNG; t.dropoutRNG = state.dropoutRNG; t.samplingRNG = state.samplingRNG
        t.history = state.history
        t.buffer = state.buffer
        if let out = outputDirectory {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            try writeFileAtomically(path: out + "/metrics.jsonl", bytes: Array(state.history.map(t.metricsLine).joined().utf8))
        }
        return t
    }
}
