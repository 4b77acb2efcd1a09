import ArgumentParser
import Foundation
import Transformer

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Benchmarks (compare with scripts/bench_*.sh, which also runs the PyTorch reference).",
                                                    subcommands: [BenchInfer.self])
}

/// Peak resident set size of this process, in MB (Linux reports ru_maxrss in KiB).
func peakRSSMB() -> Double {
    var u = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
    return Double(u.ru_maxrss) / 1024
}

struct BenchInfer: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "infer",
        abstract: "Prompt tokens/s (one prefill), decode tokens/s (greedy, KV cache) and peak RSS.")
    @OptionGroup var options: ModelOptions
    @Option(name: .long) var promptTokens = 512
    @Option(name: .long) var newTokens = 128
    @Option(name: .long, help: "Repetitions; the median is reported.") var repeats = 3
    @Option(name: .long, help: "A JSON array of prompt ids (e.g. the PyTorch reference's), instead of the built-in prompt.")
    var promptIds: String?
    @Flag(name: .long, help: "Dequantise all weights to fp32 at load instead of on the fly.") var dequantAtLoad = false

    func run() throws {
        configureThreads(options.threads ?? 2)
        let t0 = Date()
        let lm: LanguageModel
        do { lm = try LanguageModel.load(options.model, materialize: dequantAtLoad) } catch { throw UserError("\(error)") }
        let loadS = Date().timeIntervalSince(t0)
        var prompt = benchPrompt(lm, count: promptTokens)
        if let f = promptIds {
            guard let data = FileManager.default.contents(atPath: f),
                  let ids = try? JSONSerialization.jsonObject(with: data) as? [Int], !ids.isEmpty else {
                throw UserError("\(f): expected a non-empty JSON array of token ids")
            }
            prompt = Array(ids.prefix(promptTokens))
        }
        _ = try lm.forward(Array(prompt.prefix(8)), cache: lm.forward.makeCache())   // touch the mapping once
        var pre: [Double] = [], dec: [Double] = []
        for _ in 0..<max(1, repeats) {
            let r = try lm.generate(promptIds: prompt, maxNewTokens: newTokens, stopOnEndOfTurn: false)
            pre.append(r.promptTokensPerSecond); dec.append(r.decodeTokensPerSecond)
        }
        func median(_ x: [Double]) -> Double { x.sorted()[x.count / 2] }
        let result: [String: Any] = [
            "prompt_tokens": prompt.count, "new_tokens": newTokens, "threads": options.threads ?? 2,
            "prompt_tok_s": median(pre), "decode_tok_s": median(dec), "peak_rss_mb": peakRSSMB(),
            "load_s": loadS, "dequant_at_load": dequantAtLoad, "weight_mb": Double(lm.weights.weightBytes) / 1e6,
        ]
        if options.json { writeJSON(result); return }
        print(String(format: "prompt %d tokens: %.1f tok/s · decode %d tokens: %.1f tok/s · peak RSS %.0f MB · load %.2f s%@",
                     prompt.count, median(pre), newTokens, median(dec), peakRSSMB(), loadS,
                     dequantAtLoad ? " (fp32 weights)" : ""))
    }
}

/// The benchmark prompt: a fixed English paragraph repeated and cut to `count` ids — built the
/// same way by scripts/bench_torch_infer.py so both sides process identical tokens.
func benchPrompt(_ lm: LanguageModel, count: Int) -> [Int] {
    let paragraph = "A 45-year-old patient presents with fever, right lower quadrant pain and nausea for two days. "
        + "The physician considers appendicitis, orders a blood count and an ultrasound, and explains the reasoning step by step. "
    var ids: [Int] = []
    let piece = lm.tokenizer.encode(paragraph)
    while ids.count < count { ids += piece }
    return Array(ids.prefix(count))
}
