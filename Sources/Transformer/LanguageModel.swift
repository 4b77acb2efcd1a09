import Foundation
import ModelFiles
import Tokenization
import ChatTemplate

/// A loaded causal LM: weights, forward pass, tokenizer and the model's own chat template.
public final class LanguageModel: @unchecked Sendable {
    public let path: String
    public let format: String            // "gguf" | "safetensors"
    public let weights: ModelWeights
    public let forward: Forward
    public let tokenizer: Tokenizer
    public let chatTemplate: ChatTemplate?
    private let chatTemplateSource: String?
    public var config: ModelConfig { weights.config }

    init(path: String, format: String, weights: ModelWeights, tokenizer: Tokenizer, templateSource: String? = nil) throws {
        self.path = path; self.format = format; self.weights = weights; self.tokenizer = tokenizer
        forward = Forward(weights: weights)
        // Newer hub repos keep the template in chat_template.jinja rather than tokenizer_config.json:
        // `Tokenizer.load(directory:)` reads it (invalid UTF-8 there is an error, not a missing template).
        let source = tokenizer.chatTemplate ?? templateSource
        chatTemplateSource = source
        let origin = tokenizer.chatTemplateOrigin ?? path
        chatTemplate = try source.map { src in
            do { return try ChatTemplate(src) } catch { throw ModelLoadError("\(origin): \(error)") }
        }
    }

    /// The file (or GGUF file and key) the chat template came from, for messages.
    public var chatTemplateOrigin: String { tokenizer.chatTemplateOrigin ?? path }

    /// The same model (tokenizer, template, file) running on other weights, e.g. the base with a
    /// LoRA adapter applied (`ModelWeights.withLoRA`).
    public func replacingWeights(_ w: ModelWeights) throws -> LanguageModel {
        try LanguageModel(path: path, format: format, weights: w, tokenizer: tokenizer, templateSource: chatTemplateSource)
    }

    /// Loads `spec`: "default", a .gguf file, or a Hugging Face model folder
    /// (config.json + tokenizer.json + *.safetensors, sharded or not).
    /// `materialize` dequantises every matrix to fp32 at load (see QuantDot for why it is off).
    public static func load(_ spec: String, materialize: Bool = false) throws -> LanguageModel {
        let path = try ModelLocator.resolve(spec)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ModelLoadError("\(path): no such file or folder")
        }
        if isDir.boolValue {
            let cfgPath = path + "/config.json"
            guard FileManager.default.fileExists(atPath: cfgPath) else {
                throw ModelLoadError("\(path): not a model folder (no config.json)")
            }
            let config = try ModelConfig.fromHF(configPath: cfgPath)
            let tokPath = path + "/tokenizer.json"
            guard FileManager.default.fileExists(atPath: tokPath) else {
                throw ModelLoadError("\(path): missing tokenizer.json")
            }
            let tokenizer = try Tokenizer.load(directory: path)
            let st = try SafetensorsArchive(path: path)
            let source = ModelWeights.Source(lookup: { st.tensors[$0] }, owner: st, path: path)
            var w = try ModelWeights.load(config: config, source: source, ggufNames: false)
            if materialize { w = try w.materialize() }
            return try LanguageModel(path: path, format: "safetensors", weights: w, tokenizer: tokenizer)
        }
        if path.hasSuffix(".safetensors") {
            throw ModelLoadError("\(path): pass the model folder (with config.json and tokenizer.json), not a single .safetensors file")
        }
        let gguf = try GGUFFile(path: path)
        let config = try ModelConfig.fromGGUF(gguf)
        let tokenizer = try Tokenizer.load(gguf: gguf)
        let source = ModelWeights.Source(lookup: { gguf.tensors[$0] }, owner: gguf, path: path)
        var w = try ModelWeights.load(config: config, source: source, ggufNames: true)
        if materialize { w = try w.materialize() }
        return try LanguageModel(path: path, format: "gguf", weights: w, tokenizer: tokenizer)
    }

    /// Only the tokenizer of a model (a .gguf file or a model folder), without its weights.
    public static func loadTokenizer(_ spec: String) throws -> Tokenizer {
        let path = try ModelLocator.resolve(spec)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ModelLoadError("\(path): no such file or folder")
        }
        if isDir.boolValue { return try Tokenizer.load(directory: path) }
        return try Tokenizer.load(gguf: GGUFFile(path: path))
    }

    /// Renders a chat with the model's own template (ending with the assistant prompt).
    public func renderChat(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) throws -> String {
        guard let t = chatTemplate else {
            throw GenerationError("\(path): the model has no chat template; use a plain prompt")
        }
        do {
            return try t.render(messages: messages, addGenerationPrompt: addGenerationPrompt,
                                bosToken: tokenizer.bosToken, eosToken: tokenizer.eosToken)
        } catch let e as ChatTemplateError {
            // Name the file the template came from: a render error alone does not say whose template.
            throw GenerationError("\(chatTemplateOrigin): \(e)")
        }
    }
}

/// Finds model files: "default" is SmolLM2-135M-Instruct (Q4_1 GGUF) placed by scripts/setup.sh.
public enum ModelLocator {
    public static let defaultFile = "SmolLM2-135M-Instruct.Q4_1.gguf"

    public static func resolve(_ spec: String) throws -> String {
        guard spec == "default" else { return (spec as NSString).expandingTildeInPath }
        var candidates: [String] = []
        if let dir = ProcessInfo.processInfo.environment["TUNELAB_MODELS"] { candidates.append(dir) }
        // The repository holding the binary (…/.build/<config>/tunelab), then the working directory.
        for start in [executableDirectory(), FileManager.default.currentDirectoryPath].compactMap({ $0 }) {
            var dir = URL(fileURLWithPath: start)
            for _ in 0..<6 {
                candidates.append(dir.appendingPathComponent("models").path)
                dir.deleteLastPathComponent()
            }
        }
        for dir in candidates {
            let p = dir + "/" + defaultFile
            if FileManager.default.fileExists(atPath: p) { return p }
        }
        throw ModelLoadError("default model \(defaultFile) not found (looked in $TUNELAB_MODELS and models/ folders above the binary and the working directory); run `bash scripts/setup.sh` in the TuneLab checkout")
    }

    static func executableDirectory() -> String? {
        guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        return URL(fileURLWithPath: exe).resolvingSymlinksInPath().deletingLastPathComponent().path
    }
}
