import ArgumentParser
import Foundation
import Kernels
import Notebook
import Session
import Tokenization
import Transformer

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the token ids of a text as JSON.")
    @Option(name: .long, help: "'default' (SmolLM2-135M-Instruct Q4_1), a .gguf file, or a Hugging Face model folder.")
    var model: String = CellSchema.spec(.load, "model")!.defaultValue.stringValue!
    @Flag(name: .long, help: "Add the model's special tokens (e.g. BOS) as its tokenizer config says.")
    var addSpecialTokens = false
    @Flag(name: .long, help: "Machine-readable JSON output (ids, tokens, count).") var json = false
    @Argument(help: "The text to tokenize.") var text: String

    func run() throws {
        let tok: Tokenizer
        do { tok = try LanguageModel.loadTokenizer(model) } catch { throw UserError("\(error)") }
        let ids = tok.encode(text, addSpecialTokens: addSpecialTokens)
        if json {
            writeJSON(["ids": ids, "tokens": ids.map { tok.token($0) ?? "" }, "count": ids.count])
        } else {
            writeJSON(ids)
        }
    }
}

struct Generate: ParsableCommand {
    static let kinds: [CellKind] = [.load, .infer]
    static let configuration = CommandConfiguration(
        abstract: "Continue a prompt (a load and an infer cell; recorded as a run). The continuation goes to stdout.",
        discussion: cellFlagsHelp(kinds, intro: "Greedy unless --temperature > 0; --chat wraps --prompt with the model's chat template."))
    @OptionGroup var record: RecordFlags
    @Argument(parsing: .allUnrecognized, help: "Cell parameters as flags (see below).") var flags: [String] = []

    func run() throws {
        _ = try runCells(Self.kinds, flags: flags, record: record, command: "generate", printSummary: false, echoPrompts: false)
        if !record.json { print("") }   // the streamed continuation ends without a newline
    }
}

struct Score: ParsableCommand {
    static let kinds: [CellKind] = [.load, .score]
    static let configuration = CommandConfiguration(
        abstract: "Mean negative log-likelihood per token and perplexity of a text (a load and a score cell; recorded).",
        discussion: cellFlagsHelp(kinds, intro: "Give --text or --file; --adapter applies a PEFT adapter folder."))
    @OptionGroup var record: RecordFlags
    @Argument(parsing: .allUnrecognized, help: "Cell parameters as flags (see below).") var flags: [String] = []

    func run() throws {
        _ = try runCells(Self.kinds, flags: flags, record: record, command: "score")
    }
}
