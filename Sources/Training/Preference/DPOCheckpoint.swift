import Foundation
import Kernels
import Transformer

/// What a DPO checkpoint holds besides the adapter and the optimiser moments: the data order and
/// position, both random streams, the history, and the reference log-probs cached so far (so a
/// resume never recomputes them against an adapter that has moved).
struct DPOTrainerState: Codable {
    var format = 1
    var step: Int
    var totalSteps: Int
    var epoch: Int
    var cursor: Int
    var order: [Int]
    var dataRNG: SeededRNG
    var dropoutRNG: SeededRNG
    var config: DPOConfig
    var history: [DPOStepMetrics]
    var baseModel: String
    var trainPairs: Int
    /// FNV-1a over every pair's chosen and rejected ids and targets.
    var dataFingerprint: String
    var trainReference: [ReferenceLogProbs?]
    var validationReference: [ReferenceLogProbs?]
}

/// A DPO checkpoint folder: `adapter_config.json` + `adapter_model.safetensors` (PEFT),
/// `optimizer.bin`, `dpo_state.json`, and for `reference = adapter` the frozen starting adapter
/// in `reference/`. Written to a temp folder and renamed, as SFT checkpoints.
enum DPOCheckpointFiles {
    static let state = "dpo_state.json"
    static let reference = "reference"
}

func fingerprint(_ pairs: [PreferenceSequences]) -> String {
    fingerprint(pairs.flatMap { [$0.chosen, $0.rejected] })
}

extension DPOTrainer {
    @discardableResult
    func saveCheckpoint() throws -> String? {
        guard let out = outputDirectory, step > 0 else { return nil }
        let path = out + "/checkpoint-\(step)"
        let state = DPOTrainerState(step: step, totalSteps: totalSteps, epoch: epoch, cursor: cursor, order: order,
                                    dataRNG: dataRNG, dropoutRNG: dropoutRNG, config: config, history: history,
                                    baseModel: baseModelName, trainPairs: train.count, dataFingerprint: fingerprint(train),
                                    trainReference: trainReference, validationReference: validationReference)
        let adapter = self.adapter
        let reference = config.reference == .adapter ? referenceAdapter : nil
        let optimizerBytes = optimizer.state.serialized()
        try writeFolderAtomically(path) { dir in
            try adapter.save(directory: dir, baseModel: baseModelName)
            if let reference { try reference.save(directory: dir + "/" + DPOCheckpointFiles.reference, baseModel: baseModelName) }
            try writeFileAtomically(path: dir + "/" + CheckpointFiles.optimizer, bytes: Array(optimizerBytes),
                                    what: "the optimiser moments", pauseHalfway: "checkpoint-write")
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try writeFileAtomically(path: dir + "/" + DPOCheckpointFiles.state, bytes: Array(try enc.encode(state)), what: "the trainer state")
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
    func appendMetrics(_ m: DPOStepMetrics) throws {
        guard let out = outputDirectory else { return }
        try appendToFile(path: out + "/metrics.jsonl", Self.metricsLine(m), what: "the metrics of step \(m.step)")
    }

    static func metricsLine(_ m: DPOStepMetrics) -> String {
        func json(_ x: Double) -> String { x.isFinite ? "\(x)" : "null" }
        let fields = ["\"step\":\(m.step)"] + m.named.map { "\"\($0.0)\":\(json($0.1))" }
            + ["\"tokens\":\(m.tokens)", "\"completion_tokens\":\(m.completionTokens)", "\"seconds\":\(json(m.seconds))"]
        return "{" + fields.joined(separator: ",") + "}\n"
    }

    /// Continues the run saved in `checkpoint` (same settings except how often to save and
    /// evaluate, same pairs): adapter, reference (and its cached log-probs), optimiser moments,
    /// schedule step, data position and RNG streams restored.
    public static func resume(from checkpoint: String, weights: ModelWeights, train: [PreferenceSequences],
                              validation: [PreferenceSequences] = [], config: DPOConfig, outputDirectory: String?,
                              baseModelName: String) throws -> DPOTrainer {
        if let why = incompleteCheckpointReason(checkpoint) { throw TrainError(why) }
        let statePath = checkpoint + "/" + DPOCheckpointFiles.state
        guard let data = FileManager.default.contents(atPath: statePath) else {
            throw TrainError("\(checkpoint): not a DPO checkpoint (no \(DPOCheckpointFiles.state))")
        }
        let state: DPOTrainerState
        do { state = try JSONDecoder().decode(DPOTrainerState.self, from: data) } catch {
            throw TrainError("\(statePath): unreadable trainer state: \(error)")
        }
        var mine = config, theirs = state.config
        for c in [\DPOConfig.train.saveEvery, \DPOConfig.train.evalEvery] { mine[keyPath: c] = 0; theirs[keyPath: c] = 0 }
        mine.train.gradientCheckpointing = false; theirs.train.gradientCheckpointing = false
        guard mine == theirs else {
            throw TrainError("\(checkpoint): the checkpoint was trained with other settings; resume needs the same ones")
        }
        guard state.trainPairs == train.count, state.dataFingerprint == fingerprint(train),
              state.validationReference.count == validation.count else {
            throw TrainError("\(checkpoint): the preference pairs differ from the checkpoint's (\(state.trainPairs) pairs, fingerprint \(state.dataFingerprint); now \(train.count), \(fingerprint(train)))")
        }
        let adapter: LoRAAdapter, reference: LoRAAdapter?
        do {
            adapter = try LoRAAdapter.load(directory: checkpoint, model: weights.config)
            reference = config.reference == .adapter
                ? try LoRAAdapter.load(directory: checkpoint + "/" + DPOCheckpointFiles.reference, model: weights.config) : nil
        } catch { throw TrainError("\(checkpoint): \(error)") }
        let t = try DPOTrainer(weights: weights, train: train, validation: validation, config: config,
                               outputDirectory: outputDirectory, baseModelName: baseModelName, initialAdapter: adapter)
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
        guard state.order.count == train.count, state.cursor <= train.count else {
            throw TrainError("\(statePath): data position \(state.cursor) of \(state.order.count) does not fit \(train.count) pairs")
        }
        t.step = state.step; t.epoch = state.epoch; t.cursor = state.cursor; t.order = state.order
        t.dataRNG = state.dataRNG; t.dropoutRNG = state.dropoutRNG
        t.history = state.history
        t.trainReference = state.trainReference; t.validationReference = state.validationReference
        return t
    }
}
