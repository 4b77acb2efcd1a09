import Foundation
import ChatTemplate
import Kernels
import Notebook
import Training
import Transformer

/// `infer`: generate answers (a question, a raw prompt, or validation rows), streamed to the
/// terminal and recorded with their token ids.
final class InferCell: SessionCell {
    enum Source: Equatable {
        /// Used as is (or wrapped as a chat user turn when `chat`).
        case prompt(String)
        /// Formatted with the session's template (or the chat template when no format cell ran).
        case question(String)
        /// Validation rows of the format cell.
        case rows(String)
    }
    let source: Source
    let chat: Bool
    let system: String
    let adapter: AdapterChoice
    let maxNewTokens: Int
    let sampling: SamplingParams
    let stop: [String]
    let ignoreEOS: Bool

    var seed: UInt64? { sampling.seed }

    init(_ p: ResolvedParams, state: SessionState) throws {
        if !p.string("prompt").isEmpty { source = .prompt(p.string("prompt")) }
        else if !p.string("question").isEmpty { source = .question(p.string("question")) }
        else {
            source = .rows(p.string("rows"))
            _ = try Self.rowRange(p.string("rows"), count: Int.max, p: p)
        }
        chat = p.bool("chat"); system = p.string("system")
        if chat, source != .prompt(p.string("prompt")) { throw p.error("chat", "wraps a raw prompt: set prompt, not question or rows") }
        if !system.isEmpty && !chat { throw p.error("system", "is used only with chat = true") }
        adapter = try AdapterChoice(p, state: state)
        maxNewTokens = p.int("max_new_tokens")
        sampling = SamplingParams(temperature: Float(p.double("temperature")), topK: p.int("top_k"), topP: Float(p.double("top_p")),
                                  repetitionPenalty: Float(p.double("repetition_penalty")), seed: UInt64(p.int("seed")))
        stop = p.strings("stop")
        if stop.contains("") { throw p.error("stop", "an empty stop string would stop at once") }
        ignoreEOS = p.bool("ignore_eos")
    }

    func inputs(_ state: SessionState, _ recorder: RunRecorder) throws -> [CellInput] { adapter.input }

    func run(_ state: SessionState, _ ctx: CellContext) throws -> CellResult {
        let (lm, adapterName) = try state.inferenceModel(adapter)
        var prompts: [(text: String, special: Bool)] = []
        switch source {
        case .prompt(let text):
            if chat {
                var msgs: [ChatMessage] = []
                if !system.isEmpty { msgs.append(ChatMessage(role: "system", content: system)) }
                msgs.append(ChatMessage(role: "user", content: text))
                prompts = [(try lm.renderChat(msgs), false)]   // the template already holds any BOS
            } else {
                prompts = [(text, true)]
            }
        case .question(let q):
            if let t = state.data?.template { prompts = [(t.inferencePrompt(question: q), true)] }
            else { prompts = [(try lm.renderChat([ChatMessage(role: "user", content: q)]), false)] }
        case .rows(let spec):
            guard let data = state.data, !data.validationRows.isEmpty else {
                throw ctx.params.error("rows", "no validation rows to ask: run a format cell with val_fraction > 0, or give a question or prompt")
            }
            prompts = try Self.rowRange(spec, count: data.validationRows.count, p: ctx.params).map { (try data.template.inferencePrompt(data.validationRows[$0]), true) }
        }
        var settings = ctx.params.recorded
        settings["adapter"] = adapterName
        var summaries: [String] = [], eosCount = 0, thinkCount = 0, tokens = 0, speed = 0.0
        var facts: [[String: Any]] = []
        for prompt in prompts {
            if Interrupt.requested { break }
            let ids = lm.tokenizer.encode(prompt.text, addSpecialTokens: prompt.special)
            if !state.quiet && state.echoPrompts { print(prompt.text, terminator: ""); fflush(stdout) }
            let r = try lm.generate(promptIds: ids, maxNewTokens: maxNewTokens, sampling: sampling, stopStrings: stop,
                                    stopOnEndOfTurn: !ignoreEOS, onText: { piece in
                if !state.quiet { print(piece, terminator: ""); fflush(stdout) }
                return !Interrupt.requested
            })
            if !state.quiet && state.echoPrompts { print("\n") }
            let eos = r.stop == .endOfTurn, think = r.text.contains("</think>")
            try ctx.db.addGeneration(cellID: ctx.cellID, prompt: prompt.text, settings: settings, output: r.text, nTokens: r.ids.count,
                                     stoppedOnEOS: eos, tokensPerSecond: r.decodeTokensPerSecond, outputIDs: r.ids)
            facts.append(["text": r.text, "ids": r.ids, "stop": r.stop.rawValue, "prompt_tokens": r.promptTokens,
                          "new_tokens": r.ids.count, "prompt_tok_s": r.promptTokensPerSecond, "decode_tok_s": r.decodeTokensPerSecond])
            eosCount += eos ? 1 : 0; thinkCount += think ? 1 : 0; tokens += r.ids.count; speed += r.decodeTokensPerSecond
            summaries.append("\(r.ids.count) tokens (\(eos ? "stopped on EOS" : "no EOS: \(r.stop.rawValue)")\(think ? ", </think> closed" : ""))")
        }
        let n = summaries.count
        let rate = String(format: "%.1f", speed / Double(max(n, 1)))
        if n == 1 { return CellResult(summary: "\(summaries[0]), adapter \(adapterName), \(rate) tok/s", facts: facts[0]) }
        return CellResult(summary: "\(n) answers: \(eosCount) stopped on EOS, \(thinkCount) closed </think>, \(tokens / max(n, 1)) tokens on average; adapter \(adapterName), \(rate) tok/s",
                          facts: ["answers": facts])
    }

    /// "N" or "A:B" (end exclusive, clamped to the rows there are) → row indices.
    static func rowRange(_ spec: String, count: Int, p: ResolvedParams) throws -> [Int] {
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        let bad = p.error("rows", "expected \"N\" or \"A:B\" with 0 ≤ A < B, got \"\(spec)\"")
        let first: Int, end: Int
        if parts.count == 1 {
            guard let i = Int(parts[0]), i >= 0 else { throw bad }
            (first, end) = (i, i + 1)
        } else {
            guard parts.count == 2, let a = Int(parts[0].isEmpty ? "0" : parts[0]),
                  let b = parts[1].isEmpty ? count : Int(parts[1]), a >= 0, a < b else { throw bad }
            (first, end) = (a, b)
        }
        if count == Int.max { return [] }   // syntax check only
        guard first < count else {
            throw p.error("rows", "row \(first) does not exist: the validation split has \(count) rows (0…\(count - 1))")
        }
        return Array(first..<min(end, count))
    }
}

extension SessionState {
    /// The model to generate or score with: the base, the session's adapter, or an adapter folder
    /// (applied unmerged; the base stays quantised).
    func inferenceModel(_ choice: AdapterChoice) throws -> (LanguageModel, String) {
        let lm = try requireModel()
        switch choice {
        case .none: return (lm, "none")
        case .session:
            guard let adapter else { return (lm, "none") }
            return (try lm.replacingWeights(adapter.applied(to: lm.weights)), adapterPath ?? "session")
        case .folder(let dir):
            let a = try LoRAAdapter.load(directory: dir, model: lm.config)
            return (try lm.replacingWeights(a.applied(to: lm.weights)), dir)
        }
    }
}
