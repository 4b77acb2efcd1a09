import ArgumentParser
import Foundation
import Training
import Transformer

extension MergeDType: ExpressibleByArgument {}

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge a LoRA adapter (PEFT folder) into its base model and write a Hugging Face model folder.",
        discussion: """
            W' = W + scaling·B·A for every adapted projection (quantised GGUF weights are dequantised). The output \
            folder (config.json, model.safetensors, generation_config.json, tokenizer) loads in transformers and \
            in `tunelab --model <out>`. It is written to <out>.tmp and renamed when complete.
            """)
    @OptionGroup var options: ModelOptions
    @Option(name: .long, help: "The adapter folder (adapter_config.json + adapter_model.safetensors, as PEFT saves).")
    var adapter: String
    @Option(name: .long, help: "Output folder (must not exist).") var out: String
    @Option(name: .long, help: "Element type of the merged weights: f32 (default), f16 or bf16.") var dtype: MergeDType = .f32

    func run() throws {
        let lm = try loadModel(options)
        let start = Date()
        do {
            let a = try LoRAAdapter.load(directory: adapter, model: lm.config)
            try mergeAdapter(model: lm, adapter: a, outputDirectory: out, dtype: dtype)
            let bytes = (try? FileManager.default.attributesOfItem(atPath: out + "/model.safetensors")[.size] as? Int) ?? 0
            let seconds = Date().timeIntervalSince(start)
            if options.json {
                writeJSON(["out": out, "dtype": dtype.rawValue, "rank": a.config.rank, "alpha": a.config.alpha,
                           "targets": a.config.targets.map(\.moduleName), "model_bytes": bytes, "seconds": seconds])
            } else {
                print(String(format: "merged r=%d adapter (%@) into %@ (%@, %.1f MB) in %.1f s", a.config.rank,
                             a.config.targets.map(\.moduleName).joined(separator: ","), out, dtype.rawValue,
                             Double(bytes) / 1e6, seconds))
            }
        } catch let e as UserError {
            throw e
        } catch {
            throw UserError("\(error)")
        }
    }
}
