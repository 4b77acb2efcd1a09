import Foundation
import Kernels
import Metrics
import Notebook
import Training
import Transformer

/// `eval`: the teacher-forced loss on the format cell's validation (or training) examples, of the
/// base model and of the session's adapter; and, with generated-answer metrics, answers to the
/// validation rows (recorded with their row and per-row scores) scored against the rows'
/// responses (BLEU-4 / ROUGE as LLaMA-Factory), for format, stopping and choice accuracy. Every
/// score is recorded with its metric card.
final class EvalCell: SessionCell {
    let split: EvalSplit
    let maxRows: Int
    let metrics: [EvalMetric]
    let adapter: AdapterChoice
    let maxNewTokens: Int
    let sampling: SamplingParams
    let batch: Int

    var seed: UInt64? { metrics.contains(where: \.needsGeneration) ? sampling.seed : nil }

    init(_ p: ResolvedParams, state: SessionState) throws {
        split = EvalSplit(rawValue: p.string("split")) ?? .validation   // the schema's choices are the enum's cases
        maxRows = p.int("max_rows")
        var ms: [EvalMetric] = []
        for name in p.strings("metrics") {
            guard let m = EvalMetric(rawValue: name) else { throw p.error("metrics", "unknown metric \"\(name)\"") }
            if ms.contains(m) { throw p.error("metrics", "\"\(name)\" is listed twice") }
            ms.append(m)
        }
        if ms.isEmpty { throw p.error("metrics", "empty: name at least one (\(EvalMetric.allCases.map(\.rawValue).joined(separator: ", ")))") }
        metrics = ms
        if split == .train, ms.contains(where: \.needsGeneration) {
            throw p.error("split", "generated answers are scored on validation rows only (the training rows' answers were seen in training)")
        }
        if ms.contains(where: { [.bleu4, .rouge1, .rouge2, .rougeL].contains($0) }) {
            do { _ = try JiebaData.locate() } catch { throw p.error("metrics", "\(error)") }
        }
        adapter = try AdapterChoice(p, state: state)
        maxNewTokens = p.int("max_new_tokens")
        sampling = SamplingParams(temperature: Float(p.double("temperature")), topP: Float(p.double("top_p")), seed: UInt64(p.int("seed")))
        batch = p.int("batch")
    }

    func inputs(_ state: SessionState, _ recorder: RunRecorder) throws -> [CellInput] { adapter.input }

    func run(_ state: SessionState, _ ctx: CellContext) throws -> CellResult {
        let lm = try state.requireModel()
        let data = try state.requireData(for: .eval)
        var parts: [String] = []
        var facts: [String: Any] = [:]
        var cards: [String: MetricCard] = [:]
        let w = ctx.db.metricWriter(runID: ctx.runID, cellID: ctx.cellID)
        if metrics.contains(.loss) {
            var seqs = split == .validation ? data.validation : data.train
            if maxRows > 0 { seqs = Array(seqs.prefix(maxRows)) }
            guard !seqs.isEmpty else {
                throw ctx.params.error("split", "the \(split.rawValue) split is empty" + (split == .validation ? " (set format.val_fraction > 0)" : ""))
            }
            let base = try evaluationLoss(weights: lm.weights, adapter: nil, sequences: seqs)
            try w.add(step: 0, name: "base_eval_loss", value: base)
            var s = String(format: "base loss %.4f", base)
            facts["base_eval_loss"] = base
            if let adapter = state.adapter {
                let tuned = try evaluationLoss(weights: lm.weights, adapter: adapter, sequences: seqs)
                s += String(format: " → adapter loss %.4f", tuned)
                try w.add(step: 0, name: "eval_loss", value: tuned)
                facts["eval_loss"] = tuned
            }
            parts.append(s + " on \(seqs.count) \(split.rawValue) sequences")
        }
        let generated = metrics.filter(\.needsGeneration)
        if !generated.isEmpty {
            let (scores, unfinished) = try generateAndScore(state, ctx, generated)
            if let unfinished {
                // Ctrl-C: the answers finished so far are recorded (without scores: an average over
                // the rows that happened to finish would not be the metric); the cell is interrupted.
                try w.close()
                parts.append(unfinished)
                return CellResult(summary: parts.joined(separator: "; "), interrupted: true, facts: facts)
            }
            for s in scores {
                try w.add(step: 0, name: s.card.name, value: s.value)
                cards[s.card.name] = s.card
                facts[s.card.name] = s.value
            }
            parts.append(scores.map { "\($0.card.name) \(String(format: "%.4f", $0.value))" }.joined(separator: ", ")
                         + " on \(scores.first?.rows ?? 0) generated answers")
        }
        try w.close()
        if !cards.isEmpty {
            let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys]
            try ctx.db.setCellDetails(ctx.cellID, ["metric_cards": String(decoding: try enc.encode(cards), as: UTF8.self)])
        }
        return CellResult(summary: parts.joined(separator: "; "), facts: facts)
    }

    /// Answers to the validation rows (greedy unless a temperature is set; row i samples with
    /// seed + i), each recorded with its row and scores; the requested aggregates. After Ctrl-C:
    /// no scores, the finished answers recorded, and what happened (`unfinished`).
    func generateAndScore(_ state: SessionState, _ ctx: CellContext, _ wanted: [EvalMetric]) throws
        -> (scores: [MetricScore], unfinished: String?) {
        let data = try state.requireData(for: .eval)
        var rows = data.validationRows
        if maxRows > 0 { rows = Array(rows.prefix(maxRows)) }
        guard !rows.isEmpty else { throw ctx.params.error("split", "no validation rows to answer (set format.val_fraction > 0)") }
        let (lm, adapterName) = try state.inferenceModel(adapter)
        var prompts: [String] = [], references: [String] = []
        for r in rows {
            prompts.append(try data.template.inferencePrompt(r))
            references.append(try data.template.render(r, source: "eval").response)
        }
        let results = try generate(lm, prompts: prompts, progress: !state.quiet)
        var settings = ctx.params.recorded
        settings["adapter"] = adapterName
        if results.count < prompts.count {
            for (i, r) in results.enumerated() {
                var s = settings
                s["row"] = "\(rows[i].index)"
                try ctx.db.addGeneration(cellID: ctx.cellID, prompt: prompts[i], settings: s, output: r.text, nTokens: r.ids.count,
                                         stoppedOnEOS: r.stop == .endOfTurn, tokensPerSecond: r.decodeTokensPerSecond, outputIDs: r.ids)
            }
            return ([], "eval interrupted after \(results.count) of \(prompts.count) answers (recorded, not scored)")
        }
        // The prompt may open the reasoning block (the medical-cot template ends with "<think>"):
        // the answer as the model wrote it starts there.
        let outputs = zip(prompts, results).map { p, r in Self.openBlock(p) + r.text }

        var scores: [MetricScore] = []
        var perRow = [[String: String]](repeating: [:], count: rows.count)
        let textual = wanted.compactMap { Similarity.Metric(rawValue: $0.rawValue) }
        if !textual.isEmpty {
            let sim = Similarity(jieba: try JiebaData.shared())
            let rowScores = sim.rows(predictions: outputs, references: references, threads: Parallel.workers)
            let all = sim.scores(rowScores)
            scores += all.filter { s in textual.contains { $0.rawValue == s.card.name } }
            for (i, r) in rowScores.enumerated() { for m in textual { perRow[i][m.rawValue] = "\(r.rounded[m])" } }
        }
        for m in wanted {
            switch m {
            case .thinkFormat:
                scores.append(GenerationMetrics.thinkFormat(outputs))
                for (i, o) in outputs.enumerated() { perRow[i]["think_format"] = GenerationMetrics.isThinkFormatted(o) ? "1" : "0" }
            case .stopsOnEOS:
                let n = results.filter { $0.stop == .endOfTurn }.count
                scores.append(MetricScore(card: .stopsOnEOS, value: Double(n) / Double(results.count), rows: results.count))
            case .meanLength:
                scores.append(GenerationMetrics.meanTokens(results.map(\.ids.count), tokenizer: URL(fileURLWithPath: lm.path).lastPathComponent))
            case .accuracy:
                var options: [[String: String]] = [], gold: [String] = []
                for r in rows {
                    let o = r.columns.filter { $0.key.hasPrefix("options.") }.reduce(into: [String: String]()) { $0[String($1.key.dropFirst(8))] = $1.value }
                    guard !o.isEmpty, let g = r.columns["answer_idx"] else {
                        throw ctx.params.error("metrics", "accuracy needs MedQA-style rows with `options` and `answer_idx`; row \(r.index) has none")
                    }
                    options.append(o); gold.append(g)
                }
                let answers = outputs.map(Rewards.answerPart)   // only the answer after the reasoning counts
                scores.append(ChoiceAccuracy.accuracy(answers: answers, options: options, gold: gold).score)
                for i in rows.indices { perRow[i]["choice"] = ChoiceAccuracy.choice(in: answers[i], options: options[i]) ?? "-"; perRow[i]["gold"] = gold[i] }
            default: break
            }
        }
        for (i, r) in results.enumerated() {
            var s = settings
            s["row"] = "\(rows[i].index)"
            for (k, v) in perRow[i] { s["score." + k] = v }
            try ctx.db.addGeneration(cellID: ctx.cellID, prompt: prompts[i], settings: s, output: r.text, nTokens: r.ids.count,
                                     stoppedOnEOS: r.stop == .endOfTurn, tokensPerSecond: r.decodeTokensPerSecond, outputIDs: r.ids)
        }
        return (scores, nil)
    }

    /// One answer per prompt, `batch` prompts decoded together (answer i samples with seed + i;
    /// `generateBatch` gives what one-at-a-time generation gives). Ctrl-C stops it between
    /// batches: the answers so far.
    func generate(_ lm: LanguageModel, prompts: [String], progress: Bool) throws -> [GenerationResult] {
        var out: [GenerationResult] = []
        let ids = prompts.map { lm.tokenizer.encode($0, addSpecialTokens: true) }
        var i = 0
        while i < ids.count {
            if Interrupt.requested { break }
            let n = min(max(batch, 1), ids.count - i)
            out += try lm.generateBatch(prompts: Array(ids[i..<i + n]), maxNewTokens: maxNewTokens, sampling: sampling,
                                        seeds: (i..<i + n).map { sampling.seed &+ UInt64($0) })
            i += n
            if progress { FileHandle.standardError.write(Data("eval: \(i)/\(ids.count) answers\n".utf8)) }
        }
        return out
    }

    /// The unclosed `<think>` (and what follows it) at the end of a prompt, or "".
    static func openBlock(_ prompt: String) -> String {
        guard let open = prompt.range(of: "<think>", options: .backwards) else { return "" }
        let tail = prompt[open.lowerBound...]
        return tail.contains("</think>") ? "" : String(tail)
    }
}

extension MetricCard {
    /// `stops_on_eos`: the share of answers that ended on an end-of-turn token.
    static let stopsOnEOS = MetricCard(
        name: "stops_on_eos", tokenisation: "none", smoothing: "none",
        averaging: "share of answers (0–1) whose generation stopped on an end-of-turn token, not the token limit",
        equivalence: "TuneLab generation stop reason")
}
