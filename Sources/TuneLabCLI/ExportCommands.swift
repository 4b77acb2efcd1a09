import ArgumentParser
import Foundation
import ModelFiles
import Training
import Transformer

extension GGUFQuant: ExpressibleByArgument {}

struct ExportGGUF: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-gguf",
        abstract: "Write the model (with a LoRA adapter merged) as a GGUF file llama.cpp and Ollama load.",
        discussion: """
            Matrices in --quant (f16, q8_0, q4_0; f32 for a lossless file); norms and biases stay F32. The \
            tokenizer, chat template and special-token ids travel with the file. --modelfile also writes an \
            Ollama Modelfile next to it (ChatML and Llama-3 chat templates). Written to a temporary file and \
            renamed; an existing output is refused unless --force.
            """)
    @OptionGroup var options: ModelOptions
    @Option(name: .long, help: "A LoRA adapter folder (PEFT format) to merge.") var adapter: String?
    @Option(name: .long, help: "Matrix type: f16 (default), q8_0, q4_0 or f32.") var quant: GGUFQuant = .f16
    @Option(name: .long, help: "Output .gguf file.") var out: String
    @Flag(name: .long, help: "Replace existing output files.") var force = false
    @Flag(name: .long, help: "Also write an Ollama Modelfile next to the GGUF.") var modelfile = false

    func run() throws {
        let lm = try loadModel(options)
        let start = Date()
        do {
            let a = try adapter.map { try LoRAAdapter.load(directory: $0, model: lm.config) }
            let files = try exportGGUF(model: lm, adapter: a, to: out,
                                       options: GGUFExportOptions(quant: quant, force: force, modelfile: modelfile))
            report(files, seconds: Date().timeIntervalSince(start), json: options.json)
        } catch let e as UserError {
            throw e
        } catch {
            throw UserError("\(error)")
        }
    }
}

struct ExportLoRA: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-lora",
        abstract: "Write a LoRA adapter as a GGUF LoRA that llama.cpp's --lora loads on the base model.")
    @OptionGroup var options: ModelOptions
    @Option(name: .long, help: "The adapter folder (adapter_config.json + adapter_model.safetensors).") var adapter: String
    @Option(name: .long, help: "Output format (only gguf).") var format: String = "gguf"
    @Option(name: .long, help: "Output .gguf file.") var out: String
    @Flag(name: .long, help: "Replace an existing output file.") var force = false

    func run() throws {
        guard format == "gguf" else { throw UserError("--format \(format): only gguf is supported") }
        let lm = try loadModel(options)
        let start = Date()
        do {
            let a = try LoRAAdapter.load(directory: adapter, model: lm.config)
            let file = try exportLoRAGGUF(adapter: a, model: lm, to: out, force: force)
            report([file], seconds: Date().timeIntervalSince(start), json: options.json)
        } catch let e as UserError {
            throw e
        } catch {
            throw UserError("\(error)")
        }
    }
}

private func report(_ files: [WrittenFile], seconds: Double, json: Bool) {
    if json {
        writeJSON(["files": files.map { ["path": $0.path, "sha256": $0.sha256, "bytes": $0.bytes] }, "seconds": seconds])
    } else {
        for f in files { print(String(format: "wrote %@ (%.1f MB) sha256 %@", f.path, Double(f.bytes) / 1e6, f.sha256)) }
        print(String(format: "in %.1f s", seconds))
    }
}
