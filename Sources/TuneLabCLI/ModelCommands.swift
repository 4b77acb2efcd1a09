import ArgumentParser
import Foundation
import Kernels
import ModelFiles
import Transformer
import ChatTemplate
import Tokenization
import Session

func configureThreads(_ n: Int?) {
    let t = max(1, n ?? ProcessInfo.processInfo.activeProcessorCount)
    BLAS.setThreads(t)
}

func loadModel(_ o: ModelOptions) throws -> LanguageModel {
    configureThreads(o.threads)
    do { return try loadLanguageModel(o.model) } catch { throw UserError("\(error)") }
}

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the token ids of a text as JSON.")
    @OptionGroup var options: ModelOptions
    @Flag(name: .long, help: "Add the model's special tokens (e.g. BOS) as its tokenizer config says.")
    var addSpecialTokens = false
    @Argument(help: "The text to tokenize.") var text: String

    func run() throws {
        configureThreads(options.threads)
        let tok: Tokenizer
        do { tok = try LanguageModel.loadTokenizer(options.model) } catch { throw UserError("\(error)") }
        let ids = tok.encode(text, addSpecialTokens: addSpecialTokens)
        if options.json {
            writeJSON(["ids": ids, "tokens": ids.map { tok.token($0) ?? "" }, "count": ids.count])
        } else {
            writeJSON(ids)
        }
    }
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a prompt (greedy unless --temperature > 0). The continuation goes to stdout, speed to stderr.")
    @OptionGroup var options: ModelOptions
    @Option(name: .long, help: "The prompt text.") var prompt: String
    @Flag(name: .long, help: "Wrap the prompt as a user turn with the model's own chat template.") var chat = false
    @Option(name: .long, help: "System message (with --chat).") var system: String?
    @Option(name: .long) var maxNewTokens: Int = 128
    @Option(name: .long) var temperature: Float = 0
    @Option(name: .long) var topK: Int = 0
    @Option(name: .long) var topP: Float = 1
    @Option(name: .long) var repetitionPenalty: Float = 1
    @Option(name: .long) var seed: UInt64 = 0
    @Option(name: .long, help: "Stop when this text appears (repeatable).") var stop: [String] = []
    @Flag(name: .long, help: "Keep generating past end-of-turn tokens.") var ignoreEos = false
    @Option(name: .long, help: "A LoRA adapter folder (PEFT format) to apply, unmerged.") var adapter: String?

    func run() throws {
        var lm = try loadModel(options)
        if let adapter { lm = try applyAdapter(adapter, to: lm) }
        var text = prompt
        if chat {
            var msgs: [ChatMessage] = []
            if let system { msgs.append(ChatMessage(role: "system", content: system)) }
            msgs.append(ChatMessage(role: "user", content: prompt))
            do { text = try lm.renderChat(msgs) } catch { throw UserError("\(error)") }
        }
        let ids = lm.tokenizer.encode(text, addSpecialTokens: !chat)
        let sampling = SamplingParams(temperature: temperature, topK: topK, topP: topP,
                                      repetitionPenalty: repetitionPenalty, seed: seed)
        let json = options.json
        let out = FileHandle.standardOutput
        let r: GenerationResult
        do {
            r = try lm.generate(promptIds: ids, maxNewTokens: maxNewTokens, sampling: sampling, stopStrings: stop,
                                stopOnEndOfTurn: !ignoreEos, onText: { piece in
                if !json { out.write(piece.data(using: .utf8)!) }
                return true
            })
        } catch { throw UserError("\(error)") }
        if json {
            writeJSON(["text": r.text, "ids": r.ids, "stop": r.stop.rawValue, "prompt_tokens": r.promptTokens,
                       "new_tokens": r.ids.count, "prompt_tok_s": r.promptTokensPerSecond,
                       "decode_tok_s": r.decodeTokensPerSecond])
        } else {
            out.write("\n".data(using: .utf8)!)
            stderr(String(format: "[%d prompt tokens %.1f tok/s · %d new tokens %.1f tok/s · stop: %@]",
                          r.promptTokens, r.promptTokensPerSecond, r.ids.count, r.decodeTokensPerSecond, r.stop.rawValue))
        }
    }
}

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Mean negative log-likelihood per token and perplexity of a text.")
    @OptionGroup var options: ModelOptions
    @Option(name: .long, help: "The text to score.") var text: String?
    @Option(name: .long, help: "A UTF-8 file to score instead of --text.") var file: String?

    @Option(name: .long, help: "A LoRA adapter folder (PEFT format) to apply, unmerged.") var adapter: String?

    func run() throws {
        let body: String
        switch (text, file) {
        case let (t?, nil): body = t
        case let (nil, f?):
            guard let s = try? String(contentsOfFile: f, encoding: .utf8) else { throw UserError("\(f): cannot read as UTF-8 text") }
            body = s
        default: throw UserError("give exactly one of --text or --file")
        }
        var lm = try loadModel(options)
        if let adapter { lm = try applyAdapter(adapter, to: lm) }
        let ids = lm.tokenizer.encode(body)
        let r: (nll: Double, perTokenNLL: [Double])
        do { r = try lm.score(ids: ids) } catch { throw UserError("\(error)") }
        let ppl = exp(r.nll)
        if options.json {
            writeJSON(["nll": r.nll, "perplexity": ppl, "tokens": ids.count])
        } else {
            print(String(format: "nll %.6f  perplexity %.4f  tokens %d", r.nll, ppl, ids.count))
        }
    }
}
