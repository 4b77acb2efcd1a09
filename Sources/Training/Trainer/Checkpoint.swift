import Foundation
import Kernels
import Transformer

/// What a checkpoint holds besides the adapter and the optimiser moments: enough to continue
/// the same run (schedule position, data order and position, both random streams) and to
/// refuse a resume that would silently change it (other settings, other data).
struct TrainerState: Codable {
    var format = 1
    var step: Int
    var totalSteps: Int
    var epoch: Int
    var cursor: Int
    var order: [Int]
    var dataRNG: SeededRNG
    var dropoutRNG: SeededRNG
    var config: TrainConfig
    var history: [StepMetrics]
    var baseModel: String
    var trainSequences: Int
    /// FNV-1a over the training ids and targets.
    var dataFingerprint: String
}

/// A checkpoint folder: `adapter_config.json` + `adapter_model.safetensors` (PEFT), `optimizer.bin`
/// (AdamW moments), `trainer_state.json`. Written to a hidden temp folder, then renamed.
enum CheckpointFiles {
    static let optimizer = "optimizer.bin"
    static let state = "trainer_state.json"
}

func fingerprint(_ seqs: [TrainSequence]) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    func mix(_ x: Int) {
        var v = UInt64(bitPattern: Int64(x))
        for _ in 0..<8 { h = (h ^ (v & 0xff)) &* 0x100_0000_01b3; v >>= 8 }
    }
    for s in seqs {
        mix(s.ids.count)
        s.ids.forEach(mix); s.targets.forEach(mix)
        s.segments.forEach { mix($0.lowerBound) }
    }
    return String(h, radix: 16)
}

extension Trainer {
    /// `<out>/checkpoint-<step>` (nil when the trainer writes nothing).
    @discardableResult
    func saveCheckpoint() throws -> String? {
        guard let out = outputDirectory, step > 0 else { return nil }
        let path = out + "/checkpoint-\(step)"
        let state = TrainerState(step: step, totalSteps: totalSteps, epoch: epoch, cursor: cursor, order: order,
                                 dataRNG: dataRNG, dropoutRNG: dropoutRNG, config: config, history: history,
                                 baseModel: baseModelName, trainSequences: train.count, dataFingerprint: fingerprint(train))
        let adapter = model.adapter
        let optimizerBytes = optimizer.state.serialized()
        try writeFolderAtomically(path) { dir in
            try adapter.save(directory: dir, baseModel: baseModelName)
            try writeFileAtomically(path: dir + "/" + CheckpointFiles.optimizer, bytes: Array(optimizerBytes),
                                    what: "the optimiser moments", pauseHalfway: "checkpoint-write")
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            // Last: a checkpoint folder without its state is never complete, even inside the temp folder.
            try writeFileAtomically(path: dir + "/" + CheckpointFiles.state, bytes: Array(try enc.encode(state)), what: "the trainer state")
        }
        checkpoints.removeAll { $0 == path }
        checkpoints.append(path)
        return path
    }

    /// `<out>/adapter`: the trained adapter in PEFT format.
    func saveFinalAdapter() throws {
        guard let out = outputDirectory else { return }
        let adapter = model.adapter
        try writeFolderAtomically(out + "/adapter") { dir in try adapter.save(directory: dir, baseModel: baseModelName) }
    }

    /// One JSON line per step in `<out>/metrics.jsonl` (one write per step; whole lines only).
    func appendMetrics(_ m: StepMetrics) throws {
        guard let out = outputDirectory else { return }
        try appendToFile(path: out + "/metrics.jsonl", Self.metricsLine(m), what: "the metrics of step \(m.step)")
    }

    static func metricsLine(_ m: StepMetrics) -> String {
        var fields = ["\"step\":\(m.step)", "\"loss\":\(json(m.loss))", "\"grad_norm\":\(json(m.gradNorm))",
                      "\"lr\":\(json(m.lr))", "\"tokens\":\(m.tokens)", "\"trained_tokens\":\(m.trainedTokens)",
                      "\"tokens_per_s\":\(json(m.tokensPerSecond))", "\"seconds\":\(json(m.seconds))"]
        if let e = m.evalLoss { fields.append("\"eval_loss\":\(json(e))") }
        return "{" + fields.joined(separator: ",") + "}\n"
    }
    private static func json(_ x: Double) -> String { x.isFinite ? "\(x)" : "null" }

    /// Continues the run saved in `checkpoint`: same settings (except how often to save and
    /// evaluate), same data; adapter, optimiser moments, schedule step, data position and RNG
    /// streams restored, so the following steps equal the uninterrupted run's.
    public static func resume(from checkpoint: String, weights: ModelWeights, train: [TrainSequence],
                              validation: [TrainSequence] = [], config: TrainConfig, outputDirectory: String?,
                              baseModelName: String, changingSettings: Bool = false) throws -> Trainer {
        if let why = incompleteCheckpointReason(checkpoint) { throw TrainError(why) }
        let statePath = checkpoint + "/" + CheckpointFiles.state
        guard let data = FileManager.default.contents(atPath: statePath) else {
            throw TrainError("\(checkpoint): not a checkpoint (no \(CheckpointFiles.state))")
        }
        let state: TrainerState
        do { state = try JSONDecoder().decode(TrainerState.self, from: data) } catch {
            throw TrainError("\(statePath): unreadable trainer state: \(error)")
        }
        var mine = config, theirs = state.config
        mine.saveEvery = 0; theirs.saveEvery = 0; mine.evalEvery = 0; theirs.evalEvery = 0
        mine.gradientCheckpointing = false; theirs.gradientCheckpointing = false
        if changingSettings {
            // A branch continues the same adapter under new settings: only its shape is fixed.
            guard config.lora.rank == theirs.lora.rank, Set(config.lora.targets) == Set(theirs.lora.targets) else {
                throw TrainError("\(checkpoint): a branch keeps the adapter's shape (r \(theirs.lora.rank), targets \(theirs.lora.targets.map(\.rawValue).joined(separator: ","))); got r \(config.lora.rank), targets \(config.lora.targets.map(\.rawValue).joined(separator: ","))")
            }
        } else {
            guard mine == theirs else {
                throw TrainError("\(checkpoint): the checkpoint was trained with other settings; resume needs the same ones (`tunelab branch` changes them). Checkpoint: \(describeDifference(theirs, mine))")
            }
        }
        guard state.trainSequences == train.count, state.dataFingerprint == fingerprint(train) else {
            throw TrainError("\(checkpoint): the training data differs from the checkpoint's (\(state.trainSequences) sequences, fingerprint \(state.dataFingerprint); now \(train.count), \(fingerprint(train)))")
        }
        let adapter: LoRAAdapter
        do { adapter = try LoRAAdapter.load(directory: checkpoint, model: weights.config) } catch {
            throw TrainError("\(checkpoint): \(error)")
        }
        let t = try Trainer(weights: weights, train: train, validation: validation, config: config,
                            outputDirectory: outputDirectory, baseModelName: baseModelName, initialAdapter: adapter)
        let optPath = checkpoint + "/" + CheckpointFiles.optimizer
        guard let optData = FileManager.default.contents(atPath: optPath) else {
            throw TrainError("\(checkpoint): missing \(CheckpointFiles.optimizer)")
        }
        var optState = try AdamWState(serialized: optData)
        if changingSettings { optState.config.lr = config.lr; optState.config.weightDecay = config.weightDecay }
        guard optState.tensors.map(\.m.count) == t.model.params.map(\.count) else {
            throw TrainError("\(optPath): optimiser state does not match the adapter's tensors")
        }
        t.optimizer = try AdamW(state: optState)
        guard state.order.count == train.count, state.cursor <= train.count else {
            throw TrainError("\(statePath): data position \(state.cursor) of \(state.order.count) does not fit \(train.count) sequences")
        }
        t.step = state.step
        t.epoch = state.epoch
        t.cursor = state.cursor
        t.order = state.order
        t.dataRNG = state.dataRNG
        t.dropoutRNG = state.dropoutRNG
        t.history = state.history
        t.checkpoints = [checkpoint]
        return t
    }

    private static func describeDifference(_ a: TrainConfig, _ b: TrainConfig) -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        func dict(_ c: TrainConfig) -> [String: String] {
            guard let d = try? enc.encode(c), let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any] else { return [:] }
            // Nested values (the LoRA settings) as sorted-key JSON: a dictionary's description
            // lists its keys in random order, which made equal settings look different.
            return o.mapValues { v in
                (try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .fragmentsAllowed]))
                    .flatMap { String(data: $0, encoding: .utf8) } ?? "\(v)"
            }
        }
        let da = dict(a), db = dict(b)
        let keys = Set(da.keys).union(db.keys).sorted().filter { da[$0] != db[$0] }
        return keys.map { "\($0) = \(da[$0] ?? "-"), now \(db[$0] ?? "-")" }.joined(separator: "; ")
    }
}
