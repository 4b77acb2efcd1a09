import Foundation
import Kernels
import Notebook
import Plot
import Record
import REPL
import Training
import Transformer
import ChatTemplate

/// Runs notebook cells against live state (model, data, adapter) and records every execution:
/// resolved parameters, seeds, file hashes, per-step metrics, generations, artifacts.
///
/// One `NotebookSession` is one recorded run (created at the first cell): a `tunelab run`, a
/// REPL session, or a replay.
public final class NotebookSession: CellExecutor {
    public let db: ExperimentDB
    public let notebook: Notebook?
    public let runKind: RunKind
    public let parentRunID: Int64?
    /// Handles `:runs`, `:plot`, … (the CLI's record views); nil → no such commands.
    public var commandHandler: ((String, [String]) throws -> Bool)?
    /// Quiet: no progress lines or streamed generations (tests, replays print their own).
    public var quiet = false
    public private(set) var runID: Int64?
    public private(set) var lastCellID: Int64?

    // Live state the cells build on.
    var model: LanguageModel?
    var modelSpec = ""
    var data: PreparedData?
    var adapter: LoRAAdapter?
    var adapterPath: String?
    var threads = 0
    private var hashCache: [String: String] = [:]

    public init(db: ExperimentDB, notebook: Notebook?, runKind: RunKind, parentRunID: Int64? = nil) {
        self.db = db; self.notebook = notebook; self.runKind = runKind; self.parentRunID = parentRunID
    }

    // MARK: run record

    func ensureRun() throws -> Int64 {
        if let runID { return runID }
        var nbID: Int64? = nil
        if let nb = notebook {
            let sha = SHA256.hex(Array(nb.text.utf8))
            nbID = try db.notebookID(path: nb.path, sha256: sha, title: nb.title, content: nb.text)
        }
        let id = try db.createRun(kind: runKind, notebookID: nbID, parentRunID: parentRunID, environment: environment())
        runID = id
        return id
    }

    func environment() -> RunEnvironment {
        let dir = notebook.map { URL(fileURLWithPath: $0.path).deletingLastPathComponent().path } ?? FileManager.default.currentDirectoryPath
        var extra: [String: String] = ["os": ProcessInfo.processInfo.operatingSystemVersionString,
                                       "cores": "\(ProcessInfo.processInfo.activeProcessorCount)"]
        if let exe = Bundle.main.executablePath { extra["executable"] = exe }
        // What a compute_dtype = bf16 cell would run on (the cell's own parameters say whether it did).
        extra["bf16"] = BF16.backend
        return RunEnvironment(toolVersion: toolVersion, gitCommit: gitCommit(in: dir), hostCPU: RunEnvironment.hostCPUModel,
                              threads: Parallel.workers, blas: BLAS.config, extra: extra)
    }

    public func finish(interrupted: Bool) {
        guard let runID else { return }
        try? db.finishRun(runID, status: interrupted ? .interrupted : (failed ? .failed : .completed), error: lastError)
    }
    private var failed = false
    private var lastError: String?

    // MARK: cells

    public func execute(_ cell: Cell, params: ResolvedParams, changes: [String: String]) throws -> String {
        let run = try ensureRun()
        let files = try inputFiles(cell.kind, params)
        let seed: UInt64? = params["seed"]?.intValue.map { UInt64(max(0, $0)) }
        let cellID = try db.startCell(runID: run, cellIndex: cell.index, kind: cell.kind.rawValue, params: params.recorded,
                                      changes: changes, seed: seed, files: files)
        lastCellID = cellID
        let start = Date()
        do {
            let (summary, interrupted) = try perform(cell, params, cellID: cellID)
            try db.finishCell(cellID, outcome: interrupted ? .interrupted : .ok, durationSeconds: Date().timeIntervalSince(start))
            if interrupted { throw CellInterrupted(summary: summary) }
            return summary
        } catch let e as CellInterrupted {
            throw e
        } catch {
            failed = true; lastError = "\(error)"
            try? db.finishCell(cellID, outcome: .error, error: "\(error)", durationSeconds: Date().timeIntervalSince(start))
            throw error
        }
    }

    public func command(_ name: String, arguments: [String]) throws -> Bool {
        try commandHandler?(name, arguments) ?? false
    }

    /// Files a cell reads, hashed into the record (path → sha256) so a replay can refuse changed inputs.
    func inputFiles(_ kind: CellKind, _ p: ResolvedParams) throws -> [String: String] {
        var out: [String: String] = [:]
        func add(_ path: String) {
            guard !path.isEmpty, !path.hasPrefix("hf:"), FileManager.default.fileExists(atPath: path) else { return }
            if let h = hashCache[path] ?? (try? hashPath(path)) { hashCache[path] = h; out[path] = h }
        }
        switch kind {
        case .load:
            let spec = p.string("model")
            add((try? ModelLocator.resolve(spec)) ?? spec)
        case .format:
            add(inputPath(p.string("data")))
            if p.string("template_text").isEmpty { add(inputPath(p.string("template"))) }
        case .train:
            if !p.string("resume").isEmpty { add(inputPath(p.string("resume")) + "/adapter_model.safetensors") }
        case .infer:
            let a = p.string("adapter")
            if a != "auto" && a != "none" { add(inputPath(a) + "/adapter_model.safetensors") }
        default: break
        }
        return out
    }

    struct CellInterrupted: Error, CustomStringConvertible {
        let summary: String
        var description: String { "interrupted: \(summary)" }
    }

    func perform(_ cell: Cell, _ p: ResolvedParams, cellID: Int64) throws -> (String, Bool) {
        switch cell.kind {
        case .load: return (try load(p), false)
        case .format: return (try format(p), false)
        case .train: return try train(p, cell: cell, cellID: cellID)
        case .infer: return (try infer(p, cellID: cellID), false)
        case .eval: return (try eval(p, cellID: cellID), false)
        case .export: return (try export(p, cellID: cellID), false)
        }
    }

    func load(_ p: ResolvedParams) throws -> String {
        let t = p.int("threads")
        threads = t > 0 ? t : ProcessInfo.processInfo.activeProcessorCount
        BLAS.setThreads(threads)
        let spec = p.string("model")
        let lm = try loadLanguageModel(spec)
        model = lm; modelSpec = spec
        data = nil; adapter = nil; adapterPath = nil
        let c = lm.config
        return "\(URL(fileURLWithPath: lm.path).lastPathComponent): \(c.architecture), \(c.numLayers) layers, hidden \(c.hiddenSize), vocab \(c.vocabSize), \(String(format: "%.0f", Double(lm.weights.weightBytes) / 1e6)) MB of weights, \(threads) threads"
    }

    /// A relative input path (data, template, adapter, checkpoint) as the notebook means it: from
    /// the working directory when it is there, else from the nearest folder above the notebook
    /// that has it. Notebooks in a checkout name files from its root (`notebooks/data/…`), so
    /// `tunelab run path/to/checkout/notebooks/x.md` works from any directory. Outputs stay
    /// relative to the working directory.
    func inputPath(_ path: String) -> String {
        let fm = FileManager.default
        guard !path.isEmpty, !path.hasPrefix("/"), !path.hasPrefix("hf:"), let nb = notebook,
              !fm.fileExists(atPath: path) else { return path }
        var dir = URL(fileURLWithPath: nb.path).deletingLastPathComponent().standardizedFileURL
        while true {
            let candidate = dir.appendingPathComponent(path).path
            if fm.fileExists(atPath: candidate) { return candidate }
            let parent = dir.deletingLastPathComponent()
            if parent.path == dir.path { return path }
            dir = parent
        }
    }

    func requireModel() throws -> LanguageModel {
        guard let model else { throw SessionError("no model loaded: run a load cell first") }
        return model
    }

    func format(_ p: ResolvedParams) throws -> String {
        let lm = try requireModel()
        var s = FormatSettings()
        s.data = inputPath(p.string("data")); s.format = p.string("format"); s.columns = p.string("columns")
        s.split = p.string("split"); s.template = inputPath(p.string("template")); s.templateText = p.string("template_text")
        s.maxSeqLength = p.int("max_seq_length"); s.trainOn = p.string("train_on"); s.packing = p.bool("packing")
        s.valFraction = p.double("val_fraction"); s.seed = UInt64(max(0, p.int("seed")))
        let d = try prepareData(s, tokenizer: lm.tokenizer)
        data = d
        return d.summary
    }

    func trainConfig(_ p: ResolvedParams) throws -> TrainConfig {
        var c = TrainConfig()
        var targets: [LoRATarget] = []
        for n in p.strings("targets") {
            guard let t = LoRATarget(name: n) else { throw SessionError("train.targets: unknown projection \"\(n)\" (q, k, v, o, gate, up, down)") }
            targets.append(t)
        }
        c.lora = LoRAConfig(rank: p.int("r"), alpha: p.double("lora_alpha"), dropout: p.double("lora_dropout"),
                            targets: targets, useRSLoRA: p.bool("use_rslora"))
        c.batchSize = p.int("batch_size"); c.gradAccum = p.int("grad_accum"); c.lr = p.double("lr")
        guard let k = LRSchedule.Kind(rawValue: p.string("scheduler")) else {
            throw SessionError("train.scheduler: unknown \"\(p.string("scheduler"))\"")
        }
        c.scheduler = k
        c.warmupSteps = p.int("warmup_steps"); c.warmupRatio = p.double("warmup_ratio")
        c.maxSteps = p.int("max_steps"); c.epochs = p.int("epochs"); c.weightDecay = p.double("weight_decay")
        c.maxGradNorm = p.double("max_grad_norm"); c.seed = UInt64(max(0, p.int("seed")))
        c.evalEvery = p.int("eval_every"); c.saveEvery = p.int("save_every")
        c.gradientCheckpointing = p.bool("gradient_checkpointing")
        c.computeDType = ComputeDType(rawValue: p.string("compute_dtype")) ?? .fp32   // the schema allows only its cases
        do { try c.validate() } catch { throw SessionError("train.\(error)") }
        return c
    }

    func train(_ p: ResolvedParams, cell: Cell, cellID: Int64) throws -> (String, Bool) {
        let lm = try requireModel()
        guard let data else { throw SessionError("no training data: run a format cell first") }
        let config = try trainConfig(p)
        let run = try ensureRun()
        var out = p.string("out")
        if out.isEmpty { out = "runs/run-\(run)-cell\(cell.index)" }
        let writer = db.metricWriter(runID: run, cellID: cellID)
        let (trainer, report) = try runTraining(weights: lm.weights, data: data, config: config, outputDirectory: out,
                                                baseModelName: modelSpec == "default" ? lm.path : modelSpec,
                                                resume: inputPath(p.string("resume")), quiet: quiet) { m in
            try writer.add(step: m.step, ["loss": m.loss, "grad_norm": m.gradNorm, "lr": m.lr,
                                          "tokens_per_s": m.tokensPerSecond, "trained_tokens": Double(m.trainedTokens)])
            if let e = m.evalLoss { try writer.add(step: m.step, name: "eval_loss", value: e) }
        }
        try writer.close()
        adapter = trainer.adapter
        adapterPath = report.adapterPath
        if let a = report.adapterPath { try artifact(cellID, a + "/adapter_model.safetensors", kind: "adapter") }
        for c in report.checkpoints { try artifact(cellID, c + "/adapter_model.safetensors", kind: "checkpoint") }
        try artifact(cellID, out + "/metrics.jsonl", kind: "metrics")
        if p.bool("plot"), !trainer.history.isEmpty {
            let png = out + "/curves.png"
            try plotHistory(trainer.history, path: png, title: "run \(run): loss")
            try artifact(cellID, png, kind: "plot")
        }
        if case .diverged(let why) = report.outcome { throw SessionError("training diverged: \(why)") }
        return (report.summary, report.outcome == .interrupted)
    }

    func artifact(_ cellID: Int64, _ path: String, kind: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { return }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int).flatMap { $0 }.map(Int64.init)
        try db.addArtifact(cellID: cellID, path: path, kind: kind, sha256: try? hashPath(path), bytes: size)
    }

    /// The model to generate with: the base, the session's adapter, or an adapter folder.
    func inferenceModel(_ spec: String) throws -> (LanguageModel, String) {
        let lm = try requireModel()
        switch spec {
        case "none": return (lm, "none")
        case "auto":
            guard let adapter else { return (lm, "none") }
            return (try lm.replacingWeights(adapter.applied(to: lm.weights)), adapterPath ?? "session")
        default:
            let a = try LoRAAdapter.load(directory: inputPath(spec), model: lm.config)
            return (try lm.replacingWeights(a.applied(to: lm.weights)), spec)
        }
    }

    func infer(_ p: ResolvedParams, cellID: Int64) throws -> String {
        let (lm, adapterName) = try inferenceModel(p.string("adapter"))
        var prompts: [String] = []
        if !p.string("prompt").isEmpty {
            prompts = [p.string("prompt")]
        } else {
            let q = p.string("question")
            if let t = data?.template {
                if !q.isEmpty { prompts = [t.inferencePrompt(question: q)] }
                else if let data, !data.validationRows.isEmpty {
                    let rows = try validationRowRange(p.string("rows"), count: data.validationRows.count)
                    prompts = try rows.map { try t.inferencePrompt(data.validationRows[$0]) }
                }
            } else if !q.isEmpty {
                prompts = [try lm.renderChat([ChatMessage(role: "user", content: q)])]
            }
        }
        guard !prompts.isEmpty else {
            throw SessionError("infer: give a question (or a prompt); with no format cell run there is no validation row to ask")
        }
        let sampling = SamplingParams(temperature: Float(p.double("temperature")), topK: p.int("top_k"),
                                      topP: Float(p.double("top_p")), repetitionPenalty: Float(p.double("repetition_penalty")),
                                      seed: UInt64(max(0, p.int("seed"))))
        var settings = p.recorded
        settings["adapter"] = adapterName
        var summaries: [String] = [], eosCount = 0, thinkCount = 0, tokens = 0, speed = 0.0
        for prompt in prompts {
            if Interrupt.requested { break }
            let ids = lm.tokenizer.encode(prompt, addSpecialTokens: true)
            if !quiet { print(prompt, terminator: ""); fflush(stdout) }
            let r = try lm.generate(promptIds: ids, maxNewTokens: p.int("max_new_tokens"), sampling: sampling, onText: { piece in
                if !self.quiet { print(piece, terminator: ""); fflush(stdout) }
                return !Interrupt.requested
            })
            if !quiet { print("\n") }
            let eos = r.stop == .endOfTurn, think = r.text.contains("</think>")
            try db.addGeneration(cellID: cellID, prompt: prompt, settings: settings, output: r.text, nTokens: r.ids.count,
                                 stoppedOnEOS: eos, tokensPerSecond: r.decodeTokensPerSecond)
            eosCount += eos ? 1 : 0; thinkCount += think ? 1 : 0; tokens += r.ids.count; speed += r.decodeTokensPerSecond
            summaries.append("\(r.ids.count) tokens (\(eos ? "stopped on EOS" : "no EOS: \(r.stop.rawValue)")\(think ? ", </think> closed" : ""))")
        }
        let n = summaries.count
        let rate = String(format: "%.1f", speed / Double(max(n, 1)))
        if n == 1 { return "\(summaries[0]), adapter \(adapterName), \(rate) tok/s" }
        return "\(n) answers: \(eosCount) stopped on EOS, \(thinkCount) closed </think>, \(tokens / max(n, 1)) tokens on average; adapter \(adapterName), \(rate) tok/s"
    }

    /// "N" or "A:B" (end exclusive, clamped to the rows there are) → row indices.
    private func validationRowRange(_ spec: String, count: Int) throws -> [Int] {
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let bad = SessionError("infer.rows: expected \"N\" or \"A:B\" with 0 ≤ A < B, got \"\(spec)\" (\(count) validation rows)")
        let first: Int, end: Int
        if parts.count == 1 {
            guard let i = Int(parts[0]), i >= 0 else { throw bad }
            (first, end) = (i, i + 1)
        } else {
            guard parts.count == 2, let a = Int(parts[0].isEmpty ? "0" : parts[0]),
                  let b = Int(parts[1].isEmpty ? "\(count)" : parts[1]), a >= 0, a < b else { throw bad }
            (first, end) = (a, b)
        }
        guard first < count else {
            throw SessionError("infer.rows: row \(first) does not exist: the validation split has \(count) rows (0…\(count - 1))")
        }
        return Array(first..<min(end, count))
    }

    func eval(_ p: ResolvedParams, cellID: Int64) throws -> String {
        let lm = try requireModel()
        guard let data else { throw SessionError("no data: run a format cell first") }
        var seqs: [TrainSequence]
        switch p.string("split") {
        case "validation", "": seqs = data.validation
        case "train": seqs = data.train
        default: throw SessionError("eval.split: \"validation\" or \"train\", got \"\(p.string("split"))\"")
        }
        if p.int("max_rows") > 0 { seqs = Array(seqs.prefix(p.int("max_rows"))) }
        guard !seqs.isEmpty else { throw SessionError("eval: the \(p.string("split")) split is empty (set format.val_fraction > 0)") }
        let base = try evaluationLoss(weights: lm.weights, adapter: nil, sequences: seqs)
        var s = String(format: "base loss %.4f", base)
        if let adapter {
            let tuned = try evaluationLoss(weights: lm.weights, adapter: adapter, sequences: seqs)
            s += String(format: " → adapter loss %.4f", tuned)
            if let run = runID {
                let w = db.metricWriter(runID: run, cellID: cellID)
                try w.add(step: 0, name: "eval_loss", value: tuned)
                try w.close()
            }
        }
        return s + " on \(seqs.count) \(p.string("split")) sequences"
    }

    func export(_ p: ResolvedParams, cellID: Int64) throws -> String {
        let lm = try requireModel()
        guard let adapter else { throw SessionError("export: no adapter in this session: run a train cell first") }
        var out = p.string("out")
        if out.isEmpty { out = "runs/run-\(try ensureRun())-export" }
        if p.bool("merge") {
            guard let dtype = MergeDType(rawValue: p.string("dtype")) else {
                throw SessionError("export.dtype: \(MergeDType.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(p.string("dtype"))\"")
            }
            try mergeAdapter(model: lm, adapter: adapter, outputDirectory: out, dtype: dtype)
            try artifact(cellID, out + "/model.safetensors", kind: "merged-model")
            return "merged model (\(dtype.rawValue)) → \(out)"
        }
        try adapter.save(directory: out, baseModel: modelSpec)
        try artifact(cellID, out + "/adapter_model.safetensors", kind: "adapter")
        return "adapter → \(out)"
    }
}

/// Loss curves (train, and eval where measured) of one training run as a PNG.
public func plotHistory(_ h: [StepMetrics], path: String, title: String) throws {
    var series = [Series(name: "train loss", steps: h.map { ($0.step, $0.loss) })]
    let ev = h.compactMap { m in m.evalLoss.map { (m.step, $0) } }
    if !ev.isEmpty { series.append(Series(name: "eval loss", steps: ev)) }
    let img = renderLineChart(series: series, options: ChartOptions(title: title, yLabel: "loss", smoothing: h.count > 20 ? 0.6 : 0))
    try img.writePNG(path: path)
}

/// sha256 of a file, or of a folder's files (sorted names and contents).
func hashPath(_ path: String) throws -> String {
    var isDir: ObjCBool = false
    FileManager.default.fileExists(atPath: path, isDirectory: &isDir)
    if !isDir.boolValue { return try sha256(file: path) }
    let names = try FileManager.default.contentsOfDirectory(atPath: path).filter { !$0.hasPrefix(".") }.sorted()
    var all = ""
    for n in names { all += n + ":" + (try hashPath(path + "/" + n)) + "\n" }
    return SHA256.hex(Array(all.utf8))
}

let toolVersion = "0.2.0"

/// HEAD of the git repository holding `dir`, with "+dirty" when it has changes (nil if none).
func gitCommit(in dir: String) -> String? {
    func git(_ args: [String]) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git", "-C", dir] + args
        let out = Pipe()
        p.standardOutput = out; p.standardError = Pipe()
        guard (try? p.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
    guard let head = git(["rev-parse", "HEAD"]), !head.isEmpty else { return nil }
    let dirty = git(["status", "--porcelain", "--untracked-files=no"]).map { !$0.isEmpty } ?? false
    return head + (dirty ? "+dirty" : "")
}
